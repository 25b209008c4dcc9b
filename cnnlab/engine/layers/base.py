"""The layer contract every layer class follows, and what each layer type declares about itself.

Public shapes are NCHW (images) and (N, features) (flat), float32 unless a test asks for float64.
Inside a network, activations travel *batch-last*: (C, H, W, N) and (features, N). In that layout
im2col copies, pooling windows and the flatten step all run over long contiguous stretches (the batch
is innermost), and flatten becomes a free reshape; measured, it made pooling and its backward several
times faster than NCHW. Each layer therefore implements its maths once, batch-last
(``forward_bl``/``backward_bl``), and the public ``forward``/``backward`` translate from and to the
batch-first layout for callers that hold NCHW arrays.

A layer type is one class in one module, and the class declares everything the rest of cnnlab needs
to know about it, as Keras layers carry ``get_config`` and ``compute_output_shape``:

- what it is called (``kind``, ``label``, ``description``, name prefixes) and what input it needs;
- its settings with their kinds, ranges, defaults and help (``settings``, see ``layers.settings``);
- shape inference (``infer``), its arrays (``weight_shapes``, ``buffer_shapes``; the parameter count
  is derived from them), and an estimate of the memory one training step takes (``step_elements``);
- how it is made from checked settings, the input shape and a Generator (``create``);
- forward and backward (``forward_bl``/``backward_bl``);
- what the lab needs to explain one of its units: which input window a unit reads
  (``unit_window``) and how its value comes about (``explain_unit``), plus short texts for the
  architecture drawing and editor (``describe``, ``params_formula``).

``spec.validate``/``build``, the architecture editor and drawing, and ``engine.explain`` read these
declarations; none of them lists layer types. Registering a new type is one line in
``layers/__init__.py``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from cnnlab.engine.layers.settings import Setting

Shape = tuple[int, ...]


def to_batch_last(x: np.ndarray) -> np.ndarray:
    """(N, ...) -> (..., N), contiguous."""
    # transpose with the axes spelled out: np.moveaxis checks its arguments in Python, which cost a
    # few microseconds, a tenth of a whole forward pass at batch 1.
    return np.ascontiguousarray(x.transpose(*range(1, x.ndim), 0))


def to_batch_first(x: np.ndarray) -> np.ndarray:
    """(..., N) -> (N, ...): always a new array.

    At N = 1 the moved view is already contiguous, and ``ascontiguousarray`` would hand back the very
    buffer a layer reuses on its next call (a convolution's gradient scratch): a caller's array would
    change under it. Outputs that leave a layer or the network therefore never alias its buffers.
    """
    return x.transpose(x.ndim - 1, *range(x.ndim - 1)).copy()


@dataclass(frozen=True)
class Window:
    """Which input positions one output position reads: output rows [t, b] read input rows
    [t * stride - pad_top, b * stride - pad_top + kh - 1] (columns alike). Padding rows lie outside."""

    kernel: tuple[int, int] = (1, 1)
    stride: int = 1
    pads: tuple[int, int] = (0, 0)  # top, left

    def back(self, box: tuple[int, int, int, int]) -> tuple[int, int, int, int]:
        """(top, left, bottom, right) on the output, inclusive -> the same on the input (not clipped)."""
        top, left, bottom, right = box
        (kh, kw), s, (pt, pl) = self.kernel, self.stride, self.pads
        return top * s - pt, left * s - pl, bottom * s - pt + kh - 1, right * s - pl + kw - 1


SAME_POSITION = Window()


@dataclass
class UnitSum:
    """How one unit's value is computed from its layer's input (one example, float64 copies).

    A weighted sum fills ``patch``/``kernel``/``products``/``per_channel`` (a convolution: each (C, kh,
    kw)) or ``contributions`` (a dense layer: input x weight, (F,)), and ``bias``. Anything else says
    its rule in words (``rule``), with the window it reads in ``patch`` (kh, kw), or the position in
    its input that it copies in ``source`` (a flatten).
    """

    total: float
    rule: str = ""
    patch: np.ndarray | None = None
    kernel: np.ndarray | None = None
    products: np.ndarray | None = None
    per_channel: np.ndarray | None = None
    bias: float = 0.0
    contributions: np.ndarray | None = None
    source: tuple[int, ...] | None = None


def pair(value: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    """A window size given as one number or two: 3 -> (3, 3), [3, 5] -> (3, 5)."""
    if isinstance(value, (tuple, list)):
        return int(value[0]), int(value[1])
    return int(value), int(value)


def size_text(value) -> str:
    """3 -> "3×3", [3, 5] -> "3×5"."""
    kh, kw = pair(value)
    return f"{kh}×{kw}"


class Layer:
    """One operation of the network, with its forward and backward pass.

    ``params`` and ``grads`` hold the same keys; ``backward`` overwrites ``grads`` (it does not
    accumulate). ``buffers`` holds state that is saved with the weights but never trained
    (BatchNorm's running statistics). A layer caches only what its backward needs.
    ``need_input_grad`` is cleared by the network for layers whose input gradient nobody uses
    (the first layer with weights), which saves a whole col2im pass per step.
    """

    kind = "layer"

    # -- the declaration (class attributes; see the module docstring) -----------------------------
    label = ""  # as the editor lists it: "Convolution"
    description = ""  # one line for the editor's palette and tooltips
    name_prefix = "layer"  # automatic names: conv1, conv2 ...
    display_prefix = ""  # the lesson's short names: "Conv" -> "Conv1" (default: name_prefix)
    numbered = True  # shown with its number ("Conv1"); False: the prefix alone ("Flatten")
    needs = "any"  # "image" (C, H, W), "flat" (F,) or "any"
    family = ""  # types of one family replace each other in place in the editor (poolings, activations)
    family_caption = ""  # the editor's caption and help for the choice within a family
    family_help = ""
    choice_label = ""  # this type's name in that choice (default: label)
    pointwise = False  # output unit (c, y, x) depends only on input unit (c, y, x) (activations ...)
    splittable = True  # a training batch may be cut into micro-batches: nothing couples its images
    settings: tuple[Setting, ...] = ()

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        return {s.name: s.default for s in cls.settings if not s.required}

    @classmethod
    def setting(cls, name: str) -> Setting | None:
        return next((s for s in cls.settings if s.name == name), None)

    @classmethod
    def infer(cls, s: dict[str, Any], shape: Shape) -> Shape:
        """Per-example output shape for checked settings ``s`` and input ``shape``; ValueError(reason)
        if the layer cannot work on that input. ``shape`` already has the rank ``needs`` asks for."""
        return tuple(shape)

    @classmethod
    def weight_shapes(cls, s: dict[str, Any], shape: Shape) -> dict[str, Shape]:
        """The trainable arrays' shapes (``params``); their sizes add up to the parameter count."""
        return {}

    @classmethod
    def buffer_shapes(cls, s: dict[str, Any], shape: Shape) -> dict[str, Shape]:
        """Arrays saved with the weights but never trained (``buffers``)."""
        return {}

    @classmethod
    def step_elements(cls, s: dict[str, Any], shape: Shape, out: Shape) -> int:
        """About how many numbers per example this layer holds during one training step: its output,
        its caches and scratch arrays, its input gradient. An estimate for the memory budget (measured
        on the presets: 0.8 to 1.7 times what tracemalloc sees)."""
        return 2 * math.prod(out) + math.prod(shape)  # output, its gradient, the input's gradient

    @classmethod
    def create(cls, s: dict[str, Any], shape: Shape, rng: np.random.Generator, dtype) -> Layer:
        """The layer for checked settings ``s`` on input ``shape``; weights drawn from ``rng``."""
        return cls()

    @classmethod
    def describe(cls, s: dict[str, Any]) -> str:
        """What it does, in a few words for the drawing's arrows: "3×3 conv", "ReLU"."""
        return cls.label

    @classmethod
    def params_formula(cls, s: dict[str, Any], shape: Shape, out: Shape, params: int) -> str:
        """How the parameter count comes about, as the lesson writes it."""
        return f"{params:,} parameters" if params else "no weights to learn"

    def config(self) -> dict[str, Any]:
        """This layer's settings, as a spec would give them (Keras' get_config)."""
        return {}

    def unit_window(self, shape: Shape) -> Window | None:
        """Which input positions one output position reads (for receptive fields); None: all of them."""
        return SAME_POSITION if self.pointwise else None

    def explain_unit(self, x: np.ndarray, unit: tuple[int, ...]) -> UnitSum | None:
        """How output ``unit`` comes about from input ``x`` (one example, no batch axis); None for a
        pointwise layer (the explanation follows it down to the layer that computes something)."""
        return None

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}
        self.name = self.kind
        self.need_input_grad = True

    # -- the public, batch-first API -------------------------------------------------------------
    def forward(self, x: np.ndarray, training: bool = False) -> np.ndarray:
        """x: (N, C, H, W) or (N, F) -> output in the same batch-first convention."""
        return to_batch_first(self.forward_bl(to_batch_last(x), training))

    def backward(self, dout: np.ndarray) -> np.ndarray | None:
        """dout: gradient of the loss w.r.t. the last ``forward`` output -> gradient w.r.t. its input."""
        dx = self.backward_bl(to_batch_last(dout))
        return None if dx is None else to_batch_first(dx)

    # -- the batch-last implementation -----------------------------------------------------------
    def forward_bl(self, x: np.ndarray, training: bool) -> np.ndarray:
        raise NotImplementedError

    def backward_bl(self, dout: np.ndarray) -> np.ndarray | None:
        raise NotImplementedError

    def output_shape(self, input_shape: Shape) -> Shape:
        """Per-example output shape (no batch axis) for a per-example input shape."""
        return type(self).infer(self.config(), tuple(input_shape))

    def astype(self, dtype: np.dtype) -> None:
        """Convert parameters and buffers (float64 for gradient checks, float32 to train)."""
        for store in (self.params, self.grads, self.buffers):
            for key, value in store.items():
                store[key] = value.astype(dtype)

    def _settings(self) -> str:
        return ""

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._settings()})"


class ParamLayer(Layer):
    """A layer with weights: allocates its gradient arrays alongside its parameters."""

    def _set_params(self, **arrays: np.ndarray) -> None:
        self.params = dict(arrays)
        self.grads = {key: np.zeros_like(value) for key, value in arrays.items()}
