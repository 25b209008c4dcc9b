"""A network: layers in sequence, with the loss at the end."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from cnnlab.engine.fused import plan_stages
from cnnlab.engine.inference import OneImage
from cnnlab.engine.layers.base import Layer, to_batch_first, to_batch_last
from cnnlab.engine.losses import softmax, softmax_cross_entropy_parts

# Training steps of small convolutional networks run in micro-batches of about this many images, their
# gradients added up: each micro-batch's columns, products and gradients stay in cache. Measured on the
# seed net: 32 images per micro-batch trained 9% faster per image than 64 at once, and batch 256 went
# from 23,000 to 32,000 images/s; lenet5 gained alike. Networks with more arithmetic per image than
# MICRO_BELOW multiply-adds (mnist99: 4.2 million) are limited by their matrix products, which only
# lose by being cut, and networks without convolutions (dense products) gain from larger batches.
MICRO_BATCH = 32
MICRO_BELOW = 1_000_000
# Evaluation of such networks runs in parts of about this many images: the seed net inferred 104,000
# images/s in parts of 64 against 54,000 in one pass over 1,024 (mnist99: the same either way).
INFER_PART = 64


class Network:
    """A sequence of layers built from a ``NetSpec`` (see ``cnnlab.engine.build``).

    ``forward`` maps images (N, C, H, W) to logits (N, K); ``backward`` takes dloss/dlogits and fills
    every layer's ``grads``. Between the two, activations travel batch-last (see ``layers.base``);
    conversion happens once at the input and once at the logits.
    """

    def __init__(self, layers: list[Layer], spec=None, fuse: bool = True) -> None:
        self.layers = list(layers)
        self.spec = spec
        # The steps forward/backward run: the layers themselves, or fused conv-act-pool groups.
        self.stages = plan_stages(self.layers) if fuse else list(self.layers)
        names = [layer.name for layer in self.layers]
        if len(set(names)) != len(names):
            raise ValueError(f"layer names must be unique, got {names}")
        self._input_grad: bool | None = None
        self._set_input_grad(False)
        self._micro: bool | None = None  # whether training steps run in micro-batches (decided once)
        self._pending: np.ndarray | None = None  # the input of a fast evaluation pass, if it was the last
        self._one: dict = {}  # input shape -> OneImage or None

    # -- the training path -------------------------------------------------------------------------
    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """x (N, C, H, W) -> logits (N, K). ``training`` switches Dropout and BatchNorm to batch mode.

        In evaluation mode, one image takes a prepared path (``engine.inference``), and small
        convolutional networks take a large batch in parts (``INFER_PART``); a backward pass after
        either runs the pass again the general way first (so ``x`` must not change in between).
        """
        x = np.asarray(x, dtype=self.dtype)
        n = len(x)
        if n == 1 and not training:
            one = self._one_image(x.shape[1:])
            if one is not None:
                self._pending = x  # the layers' caches do not hold this pass (see backward)
                return one(x)
        if training or n <= 2 * INFER_PART or not self._splits():
            return self._forward(x, training)
        parts = round(n / INFER_PART)
        size = -(-n // parts)
        out = np.concatenate([self._forward(x[i : i + size], False) for i in range(0, n, size)])
        self._pending = x
        return out

    def _one_image(self, shape: tuple[int, ...]):
        """The prepared one-image evaluation (``engine.inference``) for this input shape, or None where
        the network has a layer it does not cover."""
        found = self._one.get(shape, False)
        if found is False:
            supported = OneImage.supports(self.stages) and len(shape) == 3
            found = self._one[shape] = OneImage(self.stages, shape, self.dtype) if supported else None
        if found is not None and found.dtype != self.dtype:  # astype since: prepare again
            del self._one[shape]
            return self._one_image(shape)
        return found

    def _forward(self, x: np.ndarray, training: bool) -> np.ndarray:
        a = to_batch_last(np.asarray(x, dtype=self.dtype))
        for stage in self.stages:
            a = stage.forward_bl(a, training)
        self._pending = None
        return np.ascontiguousarray(a.T)

    def backward(self, dlogits: np.ndarray, input_grad: bool = False) -> np.ndarray | None:
        """dlogits (N, K) -> fills ``grads`` of every layer; returns dloss/dx (N, C, H, W) if asked.

        Without ``input_grad`` the pass stops at the first layer with weights: nothing below it needs
        a gradient, and the first convolution's input gradient is the most expensive one.
        """
        if self._pending is not None:
            # The last pass took a fast path (one image, or a large batch in parts) that leaves the
            # layers' caches alone: run it again the general way first.
            self._forward(self._pending, False)
        self._set_input_grad(input_grad)
        d = np.ascontiguousarray(np.asarray(dlogits, dtype=self.dtype).T)
        for stage in reversed(self.stages):
            d = stage.backward_bl(d)
            if d is None:
                return None
        return to_batch_first(d)

    def compute_gradients(self, x: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
        """One forward and backward pass in training mode: returns (mean loss, logits (N, K)).

        Small convolutional networks run it in micro-batches (``micro_batches``): the logits and loss
        are the same numbers as in one pass, the gradients the sum of the micro-batches' (so they may
        differ from one pass in the last float32 bits: another order of summation). The cuts depend
        on the batch size alone, so runs stay bit-identical for a given seed.
        """
        losses, logits = self.part_gradients(x, labels, len(x))
        return float(losses.mean()), logits

    def part_gradients(self, x: np.ndarray, labels: np.ndarray, total: int) -> tuple[np.ndarray, np.ndarray]:
        """``compute_gradients`` for a part ``x`` (n, C, H, W) of a batch of ``total`` images: fills
        ``grads`` with this part's share of the gradient of the batch's mean loss (the parts' gradients
        add up to the batch's) and returns (each image's loss (n,), logits (n, K)). Data-parallel
        training gives each worker one part."""
        x = np.asarray(x)
        labels = np.asarray(labels)
        cuts = self.micro_batches(len(x))
        if len(cuts) == 1:
            logits = self.forward(x, training=True)
            losses, dlogits = softmax_cross_entropy_parts(logits, labels, total)
            self.backward(dlogits)
            return losses, logits
        logit_parts: list[np.ndarray] = []
        loss_parts: list[np.ndarray] = []
        totals: list[np.ndarray] | None = None
        for start, stop in cuts:
            part = self.forward(x[start:stop], training=True)
            each, dpart = softmax_cross_entropy_parts(part, labels[start:stop], total)
            self.backward(dpart)
            grads = [grad for _, _, grad in self.named_parameters()]
            if totals is None:
                totals = [grad.copy() for grad in grads]
            else:
                for summed, grad in zip(totals, grads, strict=True):
                    summed += grad
            logit_parts.append(part)
            loss_parts.append(each)
        assert totals is not None  # more than one cut was made
        for summed, grad in zip(totals, grads, strict=True):
            grad[...] = summed
        return np.concatenate(loss_parts), np.concatenate(logit_parts)

    def micro_batches(self, n: int) -> list[tuple[int, int]]:
        """How a training batch of ``n`` images is cut: [(start, stop), ...], equal parts of about
        ``MICRO_BATCH`` images, or the whole batch (networks that are not small convolutional ones,
        or whose layers couple the images of a batch: BatchNorm's statistics, Dropout's draws)."""
        parts = round(n / MICRO_BATCH) if self._splits() else 1
        if parts <= 1:
            return [(0, n)]
        size = -(-n // parts)
        return [(start, min(start + size, n)) for start in range(0, n, size)]

    def _splits(self) -> bool:
        """Whether batches are cut into parts (decided once per network, from its layers)."""
        if self._micro is None:
            self._micro = self._micro_batching_pays()
        return self._micro

    def _micro_batching_pays(self) -> bool:
        if self.spec is None or not any(kind == "conv2d" for kind in self._kinds()):
            return False
        if any(not layer.splittable for layer in self.layers):
            return False
        return multiply_adds(self.spec) < MICRO_BELOW

    def _kinds(self) -> list[str]:
        return [layer.kind for layer in self.layers]

    def _set_input_grad(self, wanted: bool) -> None:
        if wanted == self._input_grad:
            return
        needed = wanted
        for layer in self.layers:
            layer.need_input_grad = needed
            needed = needed or bool(layer.params)
        self._input_grad = wanted

    # -- looking inside ----------------------------------------------------------------------------
    def predict_proba(self, x: np.ndarray, batch_size: int = 1000) -> np.ndarray:
        """Class probabilities (N, K) in evaluation mode, in chunks so memory stays bounded."""
        x = np.asarray(x)
        parts = [softmax(self.forward(x[i : i + batch_size])) for i in range(0, len(x), batch_size)]
        return np.concatenate(parts) if parts else np.zeros((0, self.num_classes), self.dtype)

    def activations(self, x: np.ndarray) -> list[tuple[str, np.ndarray]]:
        """Evaluation-mode output of every layer, batch-first: [("input", x), (layer name, output), ...]."""
        a = to_batch_last(np.asarray(x, dtype=self.dtype))
        out = [("input", np.array(x, dtype=self.dtype))]
        for layer in self.layers:
            a = layer.forward_bl(a, False)
            out.append((layer.name, to_batch_first(a)))
        return out

    def input_gradient(self, x: np.ndarray, target: int | np.ndarray) -> np.ndarray:
        """d(logit of ``target``)/d(input), (N, C, H, W): which pixels most change that class's score.

        Uses the same forward and backward code as training, in evaluation mode; weights and their
        gradients' meaning are untouched (``grads`` are overwritten, as by any backward pass).
        """
        logits = self._forward(np.asarray(x, dtype=self.dtype), training=False)
        seed = np.zeros_like(logits)
        seed[np.arange(len(logits)), np.broadcast_to(np.asarray(target), (len(logits),))] = 1.0
        try:
            grad = self.backward(seed, input_grad=True)
            assert grad is not None, "input_grad=True makes every stage pass its gradient on"
            return grad
        finally:
            self._set_input_grad(False)

    # -- parameters --------------------------------------------------------------------------------
    def named_parameters(self) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        """(qualified name, parameter, gradient) for every trainable array, e.g. ("conv1.W", W, dW)."""
        for layer in self.layers:
            for key, value in layer.params.items():
                yield f"{layer.name}.{key}", value, layer.grads[key]

    def state_dict(self) -> dict[str, np.ndarray]:
        """Copies of every parameter and buffer, by qualified name (e.g. "conv1.W", "bn1.running_mean")."""
        state = {}
        for layer in self.layers:
            for store in (layer.params, layer.buffers):
                for key, value in store.items():
                    state[f"{layer.name}.{key}"] = value.copy()
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Copy arrays into the network in place; every name must match in name and shape."""
        expected = {}
        for layer in self.layers:
            for store in (layer.params, layer.buffers):
                for key, value in store.items():
                    expected[f"{layer.name}.{key}"] = value
        missing = sorted(set(expected) - set(state))
        extra = sorted(set(state) - set(expected))
        if missing or extra:
            parts = []
            if missing:
                parts.append(f"missing {', '.join(missing)}")
            if extra:
                parts.append(f"unexpected {', '.join(extra)}")
            raise ValueError("weights do not fit this network: " + "; ".join(parts))
        for name, target in expected.items():
            value = np.asarray(state[name])
            if value.shape != target.shape:
                raise ValueError(
                    f"weights for {name} have shape {value.shape}, the network needs {target.shape}"
                )
            target[...] = value

    @property
    def num_params(self) -> int:
        return sum(p.size for _, p, _ in self.named_parameters())

    @property
    def dtype(self) -> np.dtype:
        for layer in self.layers:
            for p in layer.params.values():
                return p.dtype
        return np.dtype(np.float32)

    @property
    def num_classes(self) -> int:
        return int(self.spec.output_shape()[0]) if self.spec is not None else -1

    def astype(self, dtype) -> Network:
        """Convert every parameter and buffer in place (float64 for gradient checks)."""
        for layer in self.layers:
            layer.astype(np.dtype(dtype))
        return self

    def layer(self, name: str) -> Layer:
        for layer in self.layers:
            if layer.name == name:
                return layer
        raise KeyError(name)

    def __repr__(self) -> str:
        inner = "\n".join(f"  {layer.name}: {layer!r}" for layer in self.layers)
        return f"Network(\n{inner}\n)"


def multiply_adds(spec) -> int:
    """Multiply-adds of one image's forward pass through the layers with weight matrices (a
    convolution: its kernel's size at every output position; a dense layer: its matrix)."""
    from cnnlab.engine.spec import Budget  # spec imports this module

    total = 0
    for info in spec.validate(budget=Budget.unlimited()):
        weights = info.layer_type.weight_shapes(info.settings, info.input_shape).get("W")
        if weights is not None:
            positions = math.prod(info.output_shape[1:]) if len(info.output_shape) == 3 else 1
            total += math.prod(weights) * positions
    return total
