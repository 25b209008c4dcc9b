"""Optimizers. Each owns its state and updates the network's ``params`` from its ``grads`` in place.

``lr``, ``momentum`` and ``weight_decay`` are plain attributes: changing them between two steps takes
effect at the next step, with no rebuild and no loss of state.

Weight decay skips 1-D arrays: it applies to weight arrays (two or more dimensions: conv kernels, dense
matrices), never to biases or BatchNorm's gamma and beta, whose decay pulls offsets and scales toward
zero for no regularising gain. PyTorch's ``weight_decay`` decays every parameter it is given, so a
comparison with it must put those in a parameter group without decay.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np


def _weights_only(name: str, param: np.ndarray) -> bool:
    return param.ndim > 1


class Optimizer:
    kind = "optimizer"
    momentum: float  # every optimizer has one: SGD's own, Adam's first-moment decay (a property)

    def __init__(self, network, lr: float, weight_decay: float = 0.0) -> None:
        self.network = network
        self.lr = float(lr)
        self.weight_decay = float(weight_decay)
        self.steps = 0
        self.state: dict[str, dict[str, np.ndarray]] = {}

    def _slots(self) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        yield from self.network.named_parameters()

    def _state_for(self, name: str, param: np.ndarray, *keys: str) -> dict[str, np.ndarray]:
        slot = self.state.get(name)
        if slot is None or any(slot[k].shape != param.shape or slot[k].dtype != param.dtype for k in keys):
            slot = {k: np.zeros_like(param) for k in keys}
            self.state[name] = slot
        return slot

    def step(self) -> None:
        self.steps += 1
        for name, param, grad in self._slots():
            self._update(name, param, grad)

    def _update(self, name: str, param: np.ndarray, grad: np.ndarray) -> None:
        raise NotImplementedError

    def hyperparameters(self) -> dict[str, float]:
        return {"lr": self.lr, "weight_decay": self.weight_decay}

    def state_dict(self) -> dict[str, np.ndarray]:
        """Flat name -> array mapping (for checkpoints), including the step count."""
        flat = {"steps": np.array(self.steps, dtype=np.int64)}
        for name, slot in self.state.items():
            for key, value in slot.items():
                flat[f"{name}/{key}"] = value
        return flat

    def load_state_dict(self, flat: dict[str, np.ndarray]) -> None:
        shapes = {name: param for name, param, _ in self._slots()}
        state: dict[str, dict[str, np.ndarray]] = {}
        for key, value in flat.items():
            if key == "steps":
                continue
            name, _, slot_key = key.rpartition("/")
            if name not in shapes:
                raise ValueError(f"optimizer state names {name!r}, which this network does not have")
            if value.shape != shapes[name].shape:
                raise ValueError(
                    f"optimizer state {key!r} has shape {value.shape}, the parameter has {shapes[name].shape}"
                )
            state.setdefault(name, {})[slot_key] = np.array(value, dtype=shapes[name].dtype)
        self.state = state
        self.steps = int(flat.get("steps", 0))

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v:g}" for k, v in self.hyperparameters().items())
        return f"{type(self).__name__}({settings})"


class SGD(Optimizer):
    """Stochastic gradient descent, optionally with (Nesterov) momentum and L2 weight decay.

    v <- momentum * v + g;  p <- p - lr * v   (Nesterov: p <- p - lr * (g + momentum * v)),
    where g includes weight_decay * p for weight arrays.
    """

    kind = "sgd"

    def __init__(self, network, lr=0.01, momentum=0.0, nesterov=False, weight_decay=0.0) -> None:
        super().__init__(network, lr, weight_decay)
        self.momentum = float(momentum)
        self.nesterov = bool(nesterov)
        self._steps: dict[str, np.ndarray] = {}  # scratch, never saved

    def _update(self, name, param, grad):
        if self.weight_decay and _weights_only(name, param):
            grad = grad + self.weight_decay * param
        if self.momentum == 0.0:
            param -= self.lr * grad
            return
        velocity = self._state_for(name, param, "velocity")["velocity"]
        velocity *= self.momentum
        velocity += grad
        if self.nesterov:
            param -= self.lr * (grad + self.momentum * velocity)
        else:
            # The same product as param -= lr * velocity, into a kept array: a fresh one of a
            # megabyte or more costs its page faults on every step.
            param -= np.multiply(velocity, self.lr, out=self._step_buffer(name, param))

    def _step_buffer(self, name: str, param: np.ndarray) -> np.ndarray:
        found = self._steps.get(name)
        if found is None or found.shape != param.shape or found.dtype != param.dtype:
            found = self._steps[name] = np.empty_like(param)
        return found

    def hyperparameters(self):
        return {**super().hyperparameters(), "momentum": self.momentum, "nesterov": float(self.nesterov)}


class Adam(Optimizer):
    """Adam with bias correction; ``weight_decay`` is classic L2 (added to the gradient, weights only).

    m <- beta1 m + (1 - beta1) g;  v <- beta2 v + (1 - beta2) g^2;  with t the step number (from 1):
    p <- p - lr * sqrt(1 - beta2^t) / (1 - beta1^t) * m / (sqrt(v) + eps)

    The bias corrections are folded into the step size and ``eps`` is added to the *uncorrected*
    sqrt(v), the way Keras/TensorFlow do it (the Adam paper's "more efficient" form): it is the
    textbook m_hat / (sqrt(v_hat) + eps_hat) with eps_hat = eps * sqrt(1 - beta2^t). PyTorch adds eps to
    sqrt(v_hat) instead. The two agree once sqrt(v) is well above eps; they differ in the first steps
    and for gradients near eps in size, where this form takes slightly larger steps. Kept so because it
    saves two array passes per step, and the lab's curves were measured with it.
    """

    kind = "adam"
    decoupled = False

    def __init__(self, network, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0) -> None:
        super().__init__(network, lr, weight_decay)
        self.beta1, self.beta2, self.eps = float(beta1), float(beta2), float(eps)

    @property
    def momentum(self) -> float:
        """Adam's first-moment decay plays the role of momentum in the lab's controls."""
        return self.beta1

    @momentum.setter
    def momentum(self, value: float) -> None:
        self.beta1 = float(value)

    def _update(self, name, param, grad):
        if self.weight_decay and _weights_only(name, param):
            if self.decoupled:
                param -= self.lr * self.weight_decay * param
            else:
                grad = grad + self.weight_decay * param
        slot = self._state_for(name, param, "m", "v")
        m, v = slot["m"], slot["v"]
        m *= self.beta1
        m += (1 - self.beta1) * grad
        v *= self.beta2
        v += (1 - self.beta2) * (grad * grad)
        t = self.steps
        # A Python float keeps the update in the parameter's dtype (a NumPy float64 would promote).
        step_size = float(self.lr * math.sqrt(1 - self.beta2**t) / (1 - self.beta1**t))
        param -= step_size * m / (np.sqrt(v) + self.eps)

    def hyperparameters(self):
        return {**super().hyperparameters(), "beta1": self.beta1, "beta2": self.beta2, "eps": self.eps}


class AdamW(Adam):
    """Adam with decoupled weight decay: p <- p - lr * weight_decay * p, apart from the gradient."""

    kind = "adamw"
    decoupled = True

    def __init__(self, network, lr=0.001, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01) -> None:
        super().__init__(network, lr, beta1, beta2, eps, weight_decay)


OPTIMIZERS: dict[str, type[Optimizer]] = {"sgd": SGD, "adam": Adam, "adamw": AdamW}


def make_optimizer(name: str, network, **settings) -> Optimizer:
    try:
        cls = OPTIMIZERS[name]
    except KeyError:
        raise ValueError(f"unknown optimizer {name!r}; known: {', '.join(OPTIMIZERS)}") from None
    return cls(network, **settings)
