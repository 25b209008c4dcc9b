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
        self._plans: dict[tuple[int, ...], ConvPlan] = {}

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

    def _plan(self, shape) -> ConvPlan:
        found = self._plans.get(shape)
        if found is None:
            found = self._plans[shape] = ConvPlan(self, shape, 1)
        return found

    def forward_bl(self, x, training):
        plan = self._plan(x.shape)
        cols = plan.columns_of(x, self._scratch)
        w_aug = augmented_weights(self)
        out = plan.product(w_aug, cols, np.empty((self.filters, plan.columns), x.dtype))
        self._cache = (plan, cols, w_aug)
        return out.reshape(self.filters, plan.oh, plan.ow, plan.n)

    def backward_bl(self, dout):
        plan, cols, w_aug = self._cache
        d2 = np.ascontiguousarray(dout).reshape(self.filters, -1)
        store_weight_grads(self, plan.weight_gradient(d2, cols, self._scratch))
        if not self.need_input_grad:
            return None
        return plan.input_gradient(d2, w_aug, self._scratch)

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

# Products with one small side (C*KH*KW + 1 and F both small, as in a first layer on grey images) ran
# 3-4x faster in OpenBLAS when cut into pieces of a few thousand columns: measured on the seed net's
# first layer 92 us in pieces against 366 us whole for the weight gradient, on mnist99's 447 against
# 1,385. Each piece's two operands should stay under about this many bytes (the cliff lay near 600 KB).
PIECE_BYTES = 384 * 1024
# Larger products are limited by arithmetic, and pieces only added calls.
PIECE_BELOW = 64


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


def wide_grid_view(xp: np.ndarray, kh: int, kw: int, columns: int) -> np.ndarray:
    """The wide grid's columns as a view of a C-contiguous padded input (C, Hp, Wp, N): [c, i, j, q]
    reads the flattened input at q + (i*Wp + j)*N, every read in bounds.

    The strides are worked out from the shape rather than read: NumPy keeps any stride for an axis of
    length 1 (one image, batch-last, made by a transpose), and this view steps through flat memory.
    """
    c, hp, wp, n = xp.shape
    sn = xp.itemsize
    strides = (hp * wp * n * sn, wp * n * sn, n * sn, sn)
    return np.ndarray((c, kh, kw, columns), xp.dtype, buffer=xp, strides=strides)


def prefer_wide(conv: Conv2D, shape: tuple[int, ...], p: int) -> bool:
    """Whether a max-pooled convolution at this input shape computes on the *wide grid* (see
    ``ConvPlan``) rather than in pool order. Decided by the shape alone, so a given batch size always
    takes the same path (and gives the same bits).

    At one image the pool-ordered im2col copies runs of a few numbers each, and NumPy's cost per run
    dominated: on the seed net's second layer the copy took 7.7 us against 1.7 us for the wide
    grid's, which also pools through strided views at little extra cost. The first layer of a grey
    image gains nothing (measured even), and from a few images on, the pool order's contiguous pooling
    and the wide grid's extra columns (up to 40% more arithmetic) favour the pool order.
    """
    c, _, _, n = shape
    return n == 1 and c > 1 and p > 1 and conv.stride == 1


class ConvPlan:
    """A convolution over batch-last inputs of one shape (C, H, W, N), its output positions grouped by
    a pooling factor ``p`` (1: none): geometry, the pieces its products are cut into, and its kernels.

    The (C*KH*KW + 1, columns) column matrix ends in a row of ones (for the bias); its columns come in
    one of two orders:

    - *pool order* (the usual): (u, v, row, col, n) where output position (row*p + u, col*p + v) sits,
      so the (F, columns) product reshapes to (F, p*p, cells): one contiguous run per window offset;
    - *wide grid* (``wide``): every output row padded to the full (padded) input width Wp, so each
      kernel offset's columns are one contiguous stretch of the flattened input (one long run per
      channel and offset); the product is (F, rows, Wp, N), its columns beyond the real ones unused.
    """

    def __init__(self, conv: Conv2D, shape: tuple[int, ...], p: int, wide: bool = False) -> None:
        c, h, w, n = shape
        self.conv, self.shape, self.p, self.wide = conv, shape, p, wide
        self.pads, self.oh, self.ow = conv.geometry(h, w)
        self.ph, self.pw, self.n = self.oh // p, self.ow // p, n
        self.kk = p * p
        self.cells = self.ph * self.pw * n
        kh, kw = conv.kernel
        self.ckk = c * kh * kw
        pt, pb, pl, pr = self.pads
        self.padded = (c, h + pt + pb, w + pl + pr, n)
        wp = self.padded[2]
        if wide:
            # Only the rows and columns some pooling window reads.
            self.rows = p * self.ph
            self.columns = ((self.rows - 1) * wp + p * self.pw) * n if self.cells else 0
        else:
            self.rows = self.oh
            self.columns = self.kk * self.cells
        sides = self.ckk + 1 + conv.filters
        self.piece = max(256, PIECE_BYTES // (4 * sides)) if sides < PIECE_BELOW else max(self.columns, 1)
        self.column_pieces = self.pieces(self.columns)
        self._views: list[tuple[np.ndarray, list[np.ndarray]]] = []

    def pieces(self, columns: int) -> list[tuple[int, int]]:
        """Column ranges [start, stop) covering ``columns`` in pieces."""
        step = self.piece
        return [(start, min(start + step, columns)) for start in range(0, columns, step)]

    # -- forward -----------------------------------------------------------------------------------
    def columns_of(self, x: np.ndarray, scratch: Scratch) -> np.ndarray:
        """im2col: the (C*KH*KW + 1, columns) column matrix, by one strided copy from a view of the
        (padded) input, measured as fast as or faster than one slice copy per kernel offset."""
        c, h, w, n = x.shape
        pt, pb, pl, pr = self.pads
        if pt or pb or pl or pr:
            # The border of this scratch array stays zero; only the interior is rewritten.
            xp = scratch.get("xpad", self.padded, x.dtype)
            xp[:, pt : pt + h, pl : pl + w] = x
        else:
            xp = np.ascontiguousarray(x)
        cols = scratch.get("cols", (self.ckk + 1, self.columns), x.dtype, init=_ones_in_last_row)
        kh, kw = self.conv.kernel
        p = self.p
        if self.wide:
            view = wide_grid_view(xp, kh, kw, self.columns)
            np.copyto(cols[: self.ckk].reshape(c, kh, kw, self.columns), view)
        else:
            target = cols[: self.ckk].reshape(c, kh, kw, p, p, self.ph, self.pw, n)
            np.copyto(target, pool_ordered_view(self.conv, xp, p, self.ph, self.pw))
        return cols

    def convolve(self, x: np.ndarray, w_aug: np.ndarray, scratch: Scratch) -> tuple[np.ndarray, np.ndarray]:
        """(the column matrix, the output in this plan's order): im2col, then the product."""
        cols = self.columns_of(x, scratch)
        return cols, self.product(w_aug, cols, self.output_buffer(scratch, x.dtype))

    def gradients(
        self, dz: np.ndarray, cols: np.ndarray, w_aug: np.ndarray, scratch: Scratch, input_grad: bool
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """(d[W | b], dL/dx or None) from the output gradient dz in column order."""
        dw = self.weight_gradient(dz, cols, scratch)
        return dw, self.input_gradient(dz, w_aug, scratch) if input_grad else None

    def output_buffer(self, scratch: Scratch, dtype) -> np.ndarray:
        """Where the product goes: (F, columns), or (F, rows * Wp * N) on the wide grid."""
        f = self.conv.filters
        size = self.rows * self.padded[2] * self.n if self.wide else self.columns
        return scratch.get("z", (f, size), dtype)

    def product(self, w_aug: np.ndarray, cols: np.ndarray, out: np.ndarray) -> np.ndarray:
        """out[:, :columns] = [W | b] @ cols, piece by piece."""
        if len(self.column_pieces) == 1 and out.shape[1] == self.columns:
            return np.matmul(w_aug, cols, out=out)
        for start, stop in self.column_pieces:
            np.matmul(w_aug, cols[:, start:stop], out=out[:, start:stop])
        return out

    def offsets(self, z: np.ndarray) -> list[np.ndarray]:
        """The output (or a gradient laid out like it) at each window offset (u, v), in window order:
        kk views of (F, cells) in pool order, of (F, PH, PW, N) on the wide grid (``remembered_views``).
        """
        return remembered_views(self._views, z, self._offsets)

    def pool_max(self, z: np.ndarray, out: np.ndarray) -> None:
        """Each pooling window's maximum, (F, cells), in one call over the window axis (pool order)."""
        f = self.conv.filters
        np.maximum.reduce(z.reshape(f, self.kk, self.cells), axis=1, out=out)

    def _offsets(self, z: np.ndarray) -> list[np.ndarray]:
        f, p = len(z), self.p
        if not self.wide:
            by_offset = z.reshape(f, self.kk, self.cells)
            return [by_offset[:, k] for k in range(self.kk)]
        grid = z.reshape(f, -1, self.padded[2], self.n)
        last_row, last_col = p * (self.ph - 1) + 1, p * (self.pw - 1) + 1
        return [grid[:, u : u + last_row : p, v : v + last_col : p] for u in range(p) for v in range(p)]

    # -- backward ----------------------------------------------------------------------------------
    def gradient_buffer(self, scratch: Scratch, dtype) -> np.ndarray:
        """Where a max pool routes the output gradient (through ``offsets``): (F, columns) in pool order;
        on the wide grid, the (F, OH, Wp, N) grid the input gradient is computed from (positions that
        no window covers are never written, so they stay zero from allocation)."""
        f = self.conv.filters
        if self.wide:
            return scratch.get("grid", (f, self.oh * self.padded[2] * self.n), dtype)
        return scratch.get("dz", (f, self.columns), dtype)

    def weight_gradient(self, dz: np.ndarray, cols: np.ndarray, scratch: Scratch) -> np.ndarray:
        """d[W | b] (F, C*KH*KW + 1) from the output gradient dz (F, columns or more) in column order.

        Computed transposed, cols @ dz.T: measured 1.2-1.6x faster than dz @ cols.T on both presets.
        Cut into pieces, it is a sum of products: the last bits depend on where the cuts fall, which is
        fixed by the shapes alone, so a run stays bit-identical for a given batch size.
        """
        f = dz.shape[0]
        total = scratch.get("dw", (self.ckk + 1, f), dz.dtype)
        part = scratch.get("dw_part", (self.ckk + 1, f), dz.dtype)
        for k, (start, stop) in enumerate(self.column_pieces):
            np.matmul(cols[:, start:stop], dz[:, start:stop].T, out=part if k else total)
            if k:
                total += part
        return total.T

    def input_gradient(self, dz: np.ndarray, w_aug: np.ndarray, scratch: Scratch) -> np.ndarray:
        """dL/dx (C, H, W, N), a fresh array, from the output gradient dz (F, columns) in column order
        (on the wide grid: the gradient buffer itself).

        Stride 1 lays the output gradient out on a *wide grid*, (F, OH, Wp, N), every row padded to the
        full (padded) input width Wp, zeros beyond the real (or pooled) columns. Flattened, each kernel
        offset (i, j) is then one constant shift (i*Wp + j)*N, so col2im becomes KH*KW contiguous
        slice-adds: measured 2-2.5x faster than adding into strided windows. Other strides add the
        columns' gradient back through the pool-ordered view, one slice-add per kernel and pooling
        offset (windows may overlap), never np.add.at.
        """
        c, h, w, n = self.shape
        pt, pb, pl, pr = self.pads
        _, hp, wp, _ = self.padded
        kh, kw = self.conv.kernel
        f, p, ph, pw = dz.shape[0], self.p, self.ph, self.pw
        w_t = np.ascontiguousarray(w_aug[:, :-1].T)  # (C*KH*KW, F)
        dxp = scratch.get("dxpad", self.padded, dz.dtype, zero=True)
        if self.conv.stride == 1:
            if self.wide:
                grid = dz.reshape(f, self.oh, wp, n)
            else:
                # Only the positions the output gradient fills are ever written: the columns beyond
                # ow and the positions no pooling window covers (the floored border) stay zero from
                # allocation.
                grid = scratch.get("grid", (f, self.oh * wp * n), dz.dtype).reshape(f, self.oh, wp, n)
                if p == 1:
                    grid[:, :, : self.ow] = dz.reshape(f, self.oh, self.ow, n)
                else:
                    for k, part in enumerate(self.offsets(dz)):
                        u, v = divmod(k, p)
                        rows = slice(u, u + p * (ph - 1) + 1, p)
                        columns = slice(v, v + p * (pw - 1) + 1, p)
                        grid[:, rows, columns] = part.reshape(f, ph, pw, n)
            # From the first to the last output position a window covers (the floored border has no
            # gradient: leaving it out of the product changes no sum).
            rows, columns = (p * ph, p * pw) if p > 1 else (self.oh, self.ow)
            span = ((rows - 1) * wp + columns) * n if rows and columns else 0
            dcols = scratch.get("dcols", (self.ckk, span), dz.dtype)
            flat_grid = grid.reshape(f, -1)
            for start, stop in self.pieces(span):
                np.matmul(w_t, flat_grid[:, start:stop], out=dcols[:, start:stop])
            by_offset = dcols.reshape(c, kh * kw, span)
            flat = dxp.reshape(c, -1)
            for i in range(kh):
                for j in range(kw):
                    start = (i * wp + j) * n
                    flat[:, start : start + span] += by_offset[:, i * kw + j]
        else:
            dcols = (w_t @ dz).reshape(c, kh, kw, p, p, ph, pw, n)
            target = pool_ordered_view(self.conv, dxp, p, ph, pw)
            for i in range(kh):
                for j in range(kw):
                    for u in range(p):
                        for v in range(p):
                            target[:, i, j, u, v] += dcols[:, i, j, u, v]
        return np.ascontiguousarray(dxp[:, pt : pt + h, pl : pl + w])


def remembered_views(kept: list, z: np.ndarray, make) -> list[np.ndarray]:
    """``make(z)``, remembered in ``kept`` (a plan's list, changed in place) for the last four arrays
    asked about: the kept buffers come back call after call, and making the views each time cost a
    tenth of a forward pass at one image."""
    for array, views in kept:
        if array is z:
            return views
    views = make(z)
    kept[:] = [(z, views), *kept[:3]]
    return views


def _ones_in_last_row(cols: np.ndarray) -> None:
    cols[-1] = 1


def augmented_weights(conv: Conv2D) -> np.ndarray:
    """[W | b] as (F, C*KH*KW + 1): with the ones row of the columns, one product adds the bias.

    A fresh array each call (the weights may have changed in place since the last), filled by two
    copies: np.concatenate's own overhead cost twice as much at batch 1.
    """
    w, b = conv.params["W"], conv.params["b"]
    out = np.empty((len(w), w[0].size + 1), w.dtype)
    out[:, :-1] = w.reshape(len(w), -1)
    out[:, -1] = b
    return out


def store_weight_grads(conv: Conv2D, dw_aug: np.ndarray) -> None:
    """Split d[W | b] back into the layer's gradients (the ones row made the last column db)."""
    conv.grads["W"][...] = dw_aug[:, :-1].reshape(conv.params["W"].shape)
    conv.grads["b"][...] = dw_aug[:, -1]
