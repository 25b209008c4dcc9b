"""2-D convolution (strictly, cross-correlation, as in every deep-learning library)."""

from __future__ import annotations

import math

import numpy as np

from cnnlab.engine.init import initialise
from cnnlab.engine.layers.base import ParamLayer, UnitSum, Window, pair, size_text
from cnnlab.engine.layers.scratch import Scratch
from cnnlab.engine.layers.settings import INIT, Padding, Size, Whole

PadSpec = int | str | tuple[int, int, int, int]


def resolve_padding(padding: PadSpec, size: tuple[int, int], kernel: tuple[int, int], stride: int):
    """Padding as (top, bottom, left, right).

    ``"same"`` follows TensorFlow: the output is ceil(size / stride) and any odd leftover padding goes
    to the bottom/right, so it is defined for every kernel and stride.
    """
    if isinstance(padding, str):
        if padding == "valid":
            return (0, 0, 0, 0)
        if padding == "same":
            pads = []
            for n, k in zip(size, kernel, strict=True):
                out = math.ceil(n / stride)
                total = max((out - 1) * stride + k - n, 0)
                pads += [total // 2, total - total // 2]
            return tuple(pads)
        raise ValueError(f"unknown padding {padding!r}")
    if isinstance(padding, (tuple, list)):
        return tuple(int(p) for p in padding)
    p = int(padding)
    return (p, p, p, p)


def window_count(size: int, kernel: int, stride: int) -> int:
    """How many windows fit along one axis (floor, like PyTorch); 0 or less means none."""
    return (size - kernel) // stride + 1 if size >= kernel else 0


def padded_patch(x: np.ndarray, top: int, left: int, kh: int, kw: int) -> np.ndarray:
    """x[:, top:top+kh, left:left+kw] of a (C, H, W) input as float64, zeros where it reaches into the
    padding (top and left may be negative); the rest of the input is never copied."""
    c, h, w = x.shape
    patch = np.zeros((c, kh, kw), dtype=np.float64)
    r0, r1, c0, c1 = max(top, 0), min(top + kh, h), max(left, 0), min(left + kw, w)
    if r0 < r1 and c0 < c1:
        patch[:, r0 - top : r1 - top, c0 - left : c1 - left] = x[:, r0:r1, c0:c1]
    return patch


class Conv2D(ParamLayer):
    """Convolution with ``filters`` kernels of ``kernel`` over all input channels.

    Shapes: x (N, C, H, W) -> (N, F, OH, OW); W (F, C, KH, KW); b (F,).
    Batch-last inside: x (C, H, W, N) -> (F, OH, OW, N).

    The forward pass is im2col plus one matrix product: the (C*KH*KW + 1, OH*OW*N) column matrix is
    gathered by one strided copy (never a loop over pixels), then [W | b] @ cols.
    """

    kind = "conv2d"
    label = "Convolution"
    description = "Slides small learned filters over the image; each filter makes one feature map."
    name_prefix, display_prefix = "conv", "Conv"
    needs = "image"
    family = "convolution"
    settings = (
        Whole(
            "filters",
            help="How many filters this layer learns; each makes one feature map (the output's channels).",
            starter=16,
            maximum=65_536,
        ),
        Size(
            "kernel",
            3,
            help="The window each filter looks at, in pixels: 3 means 3×3 (type 3x5 for a non-square one).",
        ),
        Whole(
            "stride",
            1,
            help="How many pixels the window moves between outputs; 2 roughly halves the output size.",
        ),
        Padding(
            "padding",
            "valid",
            help="Zeros added around the input: 'valid' adds none (the maps shrink by kernel - 1), 'same' "
            "keeps the size at stride 1, or type a number of pixels.",
        ),
        INIT,
    )

    @classmethod
    def infer(cls, s, shape):
        c, h, w = shape
        kh, kw = pair(s["kernel"])
        pads = resolve_padding(s["padding"], (h, w), (kh, kw), s["stride"])
        ph, pw = h + pads[0] + pads[1], w + pads[2] + pads[3]
        if kh > ph or kw > pw:
            where = f"its {h}x{w} input" + (f" ({ph}x{pw} with padding)" if (ph, pw) != (h, w) else "")
            raise ValueError(
                f"the {kh}x{kw} kernel does not fit in {where}; use a smaller kernel, add padding, "
                "or shrink the maps less before this layer"
            )
        return (s["filters"], window_count(ph, kh, s["stride"]), window_count(pw, kw, s["stride"]))

    @classmethod
    def weight_shapes(cls, s, shape):
        kh, kw = pair(s["kernel"])
        return {"W": (s["filters"], shape[0], kh, kw), "b": (s["filters"],)}

    @classmethod
    def step_elements(cls, s, shape, out):
        c, h, w = shape
        f, oh, ow = out
        kh, kw = pair(s["kernel"])
        pads = resolve_padding(s["padding"], (h, w), (kh, kw), s["stride"])
        hp, wp = h + pads[0] + pads[1], w + pads[2] + pads[3]
        columns = (c * kh * kw + 1) * oh * ow
        # output and its gradient, the im2col columns, padded input and its gradient, the wide grid
        return 2 * f * oh * ow + columns + 2 * c * hp * wp + f * oh * wp

    @classmethod
    def create(cls, s, shape, rng, dtype):
        return cls(
            shape[0], s["filters"], pair(s["kernel"]), s["stride"], s["padding"], s["init"], rng, dtype
        )

    @classmethod
    def describe(cls, s):
        extra = []
        if s["stride"] != 1:
            extra.append(f"stride {s['stride']}")
        if s["padding"] not in ("valid", 0):
            extra.append(f"{s['padding']} padding" if s["padding"] == "same" else f"pad {s['padding']}")
        return f"{size_text(s['kernel'])} conv" + (f"\n{', '.join(extra)}" if extra else "")

    @classmethod
    def params_formula(cls, s, shape, out, params):
        kh, kw = pair(s["kernel"])
        c, f = shape[0], out[0]
        return f"{kh}×{kw}×{c}×{f} = {kh * kw * c * f:,} weights + {f:,} biases = {params:,}"

    def __init__(
        self,
        in_channels: int,
        filters: int,
        kernel: int | tuple[int, int] = 3,
        stride: int = 1,
        padding: PadSpec = "valid",
        init: str = "he_normal",
        rng: np.random.Generator | None = None,
        dtype=np.float32,
    ) -> None:
        super().__init__()
        self.in_channels, self.filters = int(in_channels), int(filters)
        self.kernel = pair(kernel)
        self.stride = int(stride)
        self.padding = padding
        self.init = init
        kh, kw = self.kernel
        rng = rng if rng is not None else np.random.default_rng(0)
        fan_in, fan_out = in_channels * kh * kw, filters * kh * kw
        weights = initialise(init, (filters, in_channels, kh, kw), fan_in, fan_out, rng, dtype)
        self._set_params(W=weights, b=np.zeros(filters, dtype=dtype))
        self._scratch = Scratch()
        self._cache: tuple = ()  # what forward left for backward
        self._geometry: dict[tuple[int, int], tuple] = {}

    def config(self):
        return {
            "filters": self.filters,
            "kernel": list(self.kernel),
            "stride": self.stride,
            "padding": self.padding,
            "init": self.init,
        }

    def geometry(self, height: int, width: int):
        """(pads, out_height, out_width) for an input of this size."""
        found = self._geometry.get((height, width))
        if found is None:
            # Remembered per input size: at batch 1 this arithmetic cost more than the matmul.
            pads = resolve_padding(self.padding, (height, width), self.kernel, self.stride)
            kh, kw = self.kernel
            oh = window_count(height + pads[0] + pads[1], kh, self.stride)
            ow = window_count(width + pads[2] + pads[3], kw, self.stride)
            found = self._geometry[(height, width)] = (pads, oh, ow)
        return found

    def unit_window(self, shape):
        pads, _, _ = self.geometry(shape[1], shape[2])
        return Window(self.kernel, self.stride, (pads[0], pads[2]))

    def explain_unit(self, x, unit):
        """unit (f, y, x): the input patch the filter sits on (zeros in the padding), the filter, their
        products and per-channel sums, and the bias."""
        f, y0, x0 = unit
        pads, _, _ = self.geometry(x.shape[1], x.shape[2])
        kh, kw = self.kernel
        patch = padded_patch(x, y0 * self.stride - pads[0], x0 * self.stride - pads[2], kh, kw)
        kernel = np.asarray(self.params["W"][f], dtype=np.float64)
        products = patch * kernel
        per_channel = products.sum(axis=(1, 2))
        bias = float(self.params["b"][f])
        return UnitSum(
            float(per_channel.sum() + bias),
            patch=patch,
            kernel=kernel,
            products=products,
            per_channel=per_channel,
            bias=bias,
        )

    def forward_bl(self, x, training):
        c, h, w, n = x.shape
        pads, oh, ow = self.geometry(h, w)
        cols = gather_columns(self, x, pads, 1, oh, ow, self._scratch)
        w_aug = augmented_weights(self)
        out = (w_aug @ cols).reshape(self.filters, oh, ow, n)
        self._cache = (x.shape, cols, w_aug)
        return out

    def backward_bl(self, dout):
        shape, cols, w_aug = self._cache
        f = self.filters
        d2 = dout.reshape(f, -1)
        store_weight_grads(self, d2 @ cols.T)
        if not self.need_input_grad:
            return None
        c, h, w, n = shape
        pads, oh, ow = self.geometry(h, w)
        if self.stride == 1:
            grid = self._scratch.get("grid", (f, oh, w + pads[2] + pads[3], n), dout.dtype, zero=True)
            grid[:, :, :ow] = dout
            return wide_grid_input_gradient(self, grid, w_aug, shape, pads, ow, self._scratch)
        return scattered_input_gradient(self, d2, w_aug, shape, pads, 1, oh, ow, self._scratch)

    def astype(self, dtype):
        super().astype(dtype)
        self._scratch.clear()

    def _settings(self):
        kh, kw = self.kernel
        return (
            f"{self.in_channels}->{self.filters}, kernel={kh}x{kw}, stride={self.stride}, "
            f"padding={self.padding!r}, init={self.init!r}"
        )


# -- kernels shared with the fused conv-activation-pool path (engine/fused.py) -------------------------
#
# Both compute a convolution whose output positions are grouped by a pooling factor p: the columns
# are ordered (u, v, row, col, n) where output position (row*p + u, col*p + v) sits. With p = 1 that
# is the plain row-major order of a convolution on its own.


def pool_ordered_view(conv: Conv2D, xp: np.ndarray, p: int, ph: int, pw: int) -> np.ndarray:
    """A view of the padded input indexed like the columns: [c, i, j, u, v, row, col, n] reads
    xp[c, (row*p + u)*s + i, (col*p + v)*s + j, n].

    Built directly from strides: sliding_window_view gives such views too, but its Python wrapper
    alone cost 16 us per call, more than the whole first layer at batch 1.
    """
    kh, kw = conv.kernel
    s = conv.stride
    sc, sh, sw, sn = xp.strides
    return np.ndarray(
        (xp.shape[0], kh, kw, p, p, ph, pw, xp.shape[3]),
        xp.dtype,
        buffer=xp,
        strides=(sc, sh, sw, s * sh, s * sw, p * s * sh, p * s * sw, sn),
    )


def gather_columns(conv: Conv2D, x: np.ndarray, pads, p: int, ph: int, pw: int, scratch: Scratch):
    """im2col: the (C*KH*KW + 1, p*p*ph*pw*N) column matrix; the last row is ones, for the bias.

    One strided copy from a view of the input: measured as fast as or faster than one slice copy
    per kernel offset, and one call instead of KH*KW*p*p.
    """
    c, h, w, n = x.shape
    pt, pb, pl, pr = pads
    kh, kw = conv.kernel
    if pt or pb or pl or pr:
        # The border of this scratch array stays zero; only the interior is rewritten.
        xp = scratch.get("xpad", (c, h + pt + pb, w + pl + pr, n), x.dtype)
        xp[:, pt : pt + h, pl : pl + w] = x
    else:
        xp = np.ascontiguousarray(x)
    ckk = c * kh * kw
    cols = scratch.get("cols", (ckk + 1, p * p * ph * pw * n), x.dtype)
    if cols[ckk, 0] != 1:
        cols[ckk] = 1
    np.copyto(cols[:ckk].reshape(c, kh, kw, p, p, ph, pw, n), pool_ordered_view(conv, xp, p, ph, pw))
    return cols


def augmented_weights(conv: Conv2D) -> np.ndarray:
    """[W | b] as (F, C*KH*KW + 1): with the ones row of the columns, one product adds the bias."""
    w = conv.params["W"]
    return np.concatenate([w.reshape(len(w), -1), conv.params["b"][:, None]], axis=1)


def store_weight_grads(conv: Conv2D, dw_aug: np.ndarray) -> None:
    """Split d[W | b] back into the layer's gradients (the ones row made the last column db)."""
    conv.grads["W"][...] = dw_aug[:, :-1].reshape(conv.params["W"].shape)
    conv.grads["b"][...] = dw_aug[:, -1]


def wide_grid_input_gradient(conv: Conv2D, grid, w_aug, shape, pads, ow: int, scratch: Scratch):
    """dL/dx of a stride-1 convolution from the output gradient laid out on a *wide grid*.

    ``grid`` is (F, OH, Wp, N): the output gradient with each row padded to the full (padded) input
    width Wp, zeros beyond ``ow``. Flattened, every kernel offset (i, j) is then one constant shift
    (i*Wp + j)*N, so col2im becomes KH*KW contiguous slice-adds: measured 2-2.5x faster than adding
    into strided windows.
    """
    c, h, w, n = shape
    pt, pb, pl, pr = pads
    hp, wp = h + pt + pb, w + pl + pr
    f, oh = grid.shape[0], grid.shape[1]
    kh, kw = conv.kernel
    span = ((oh - 1) * wp + ow) * n  # from the first to the last real output position
    dcols = (w_aug[:, :-1].T @ grid.reshape(f, -1)[:, :span]).reshape(c, kh * kw, span)
    dxp = scratch.get("dxpad", (c, hp, wp, n), grid.dtype, zero=True)
    flat = dxp.reshape(c, -1)
    for i in range(kh):
        for j in range(kw):
            start = (i * wp + j) * n
            flat[:, start : start + span] += dcols[:, i * kw + j]
    return np.ascontiguousarray(dxp[:, pt : pt + h, pl : pl + w])


def scattered_input_gradient(conv: Conv2D, dz2, w_aug, shape, pads, p: int, ph: int, pw: int, scratch):
    """dL/dx for any stride: the columns' gradient added back through the same strided view.

    ``dz2`` is the output gradient in column order, (F, p*p*ph*pw*N). Windows may overlap (kernel
    larger than stride), so each kernel and pooling offset is added in turn: one slice-add per offset,
    never np.add.at.
    """
    c, h, w, n = shape
    pt, pb, pl, pr = pads
    kh, kw = conv.kernel
    dcols = (w_aug[:, :-1].T @ dz2).reshape(c, kh, kw, p, p, ph, pw, n)
    dxp = scratch.get("dxpad", (c, h + pt + pb, w + pl + pr, n), dz2.dtype, zero=True)
    target = pool_ordered_view(conv, dxp, p, ph, pw)
    for i in range(kh):
        for j in range(kw):
            for u in range(p):
                for v in range(p):
                    target[:, i, j, u, v] += dcols[:, i, j, u, v]
    return np.ascontiguousarray(dxp[:, pt : pt + h, pl : pl + w])
