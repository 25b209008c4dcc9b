"""A 3x3 convolution followed by a 2x2 pool, computed with Winograd's minimal filtering F(2x2, 3x3).

Why: on mnist99 the second convolution's three matrix products (forward, weight gradient, input
gradient) were two thirds of a training step, and they ran near what OpenBLAS gives on one core. The
only way to make them faster is less arithmetic: F(2x2, 3x3) computes each 2x2 block of outputs from
a 4x4 block of inputs with 16 multiplications per input and output channel instead of 36 (2.25x
fewer), the rest being additions done on whole arrays. Measured on mnist99's second layer at batch 64
(one core): the three products took 20.6-20.8 ms as im2col products and 8.6-8.9 ms as Winograd's 16
smaller ones each, in the pieces below (which keep their operands in cache).

Why with a pool: a 2x2 block of outputs is exactly one window of the 2x2 pool after it, so the
output transform writes the block's four values straight into a pool order, (window offset, F,
cells): the fused stage's max pooling, gradient routing and activation (engine/fused.py) run on it
unchanged.

How (per input channel c, output channel f and block, with the usual matrices B, G, A):
  forward   V = B^T d B (4x4 input block d),  U = G g G^T (3x3 kernel g),  M = U * V,  Y = A^T M A;
            the sum over channels makes M one product per position (i, j) of the 4x4: M_ij = U_ij V_ij,
            (F, C) @ (C, cells), 16 products in one stacked matmul (per piece, below);
  backward  dM = A dY A^T,  dU_ij = dM_ij V_ij^T,  dg = G^T dU G,  dV_ij = U_ij^T dM_ij,
            dd = B dV B^T added back into the overlapping input blocks (neighbours share two rows and
            two columns).
The bias is added after the output transform; db is the sum of dM_11 (A^T e_11 A is a 2x2 block of
ones: M_11 is where a block's sum lives).

Exact zeros: an output whose 3x3 input window is all zeros (MNIST's background, after a ReLU) is
exactly the bias in a direct convolution, but here it comes out of sums that cancel, a few units in
the last place of its block's other inputs away from it. Those few units would break the exact ties
that max pooling and ReLU decide on (which position takes a window's gradient, whether the gradient
passes at zero), so the forward pass finds the empty windows (one pass over the input's nonzero
pattern) and sets them to the bias exactly. Only the value is corrected: the gradient of an output
with respect to its (zero) inputs is the kernel, as in the direct convolution.

Measured on mnist99 at batch 64 (one core, training steps interleaved with the im2col path in one
process): 25.7-27.3 ms a step against 33.2-34.4 ms.

Numbers: the results differ from the direct convolution's in the last float32 bits (other sums; the
transforms' coefficients are 0, +-1 and +-1/2, so nothing grows); the fast-path tests compare them with
the layer-by-layer path as for every other reordering. Blocks that no pooling window covers (the
floored border) are never computed, as in the pool order.
"""

from __future__ import annotations

import numpy as np

from cnnlab.engine.layers.conv import remembered_views
from cnnlab.engine.layers.scratch import Scratch

# G maps a 3-tap kernel to the 4 taps F(2, 3) multiplies with.
G = np.array([[1.0, 0.0, 0.0], [0.5, 0.5, 0.5], [0.5, -0.5, 0.5], [0.0, 0.0, 1.0]])
BIAS_AT = 5  # position (1, 1) of the 4x4, in row-major order

# Below these channel counts the 16 products are too thin for BLAS (measured: on the seed net's second
# layer, 8 -> 16 channels, Winograd was slower than the one im2col product).
MIN_CHANNELS = 16
MIN_FILTERS = 16
# Every step runs over the blocks in pieces (rows of blocks, or part of one) whose M and its gradient
# stay near the core: M of a whole batch is 4x the output, and streaming each transform's arrays
# through memory and back cost more than the products saved; smaller pieces cost more calls than they
# saved. Measured on mnist99's second layer at batch 64, one core, forward and backward together:
# 16.3 ms in pieces of one block row (448 cells, 1.8 MB of M), 19.6 ms whole, 19.0 ms in 28 pieces.
PIECE_FLOATS = 480_000  # of M per piece, at most (a piece holds at least one block)
MIN_IMAGES = 8  # below this, a row of blocks is too small a piece to pay for the calls


def prefer_winograd(conv, shape: tuple[int, ...], p: int, wide: bool, is_max: bool = True) -> bool:
    """Whether a fused conv-pool stage at this input shape (C, H, W, N) computes with Winograd's
    F(2x2, 3x3): a 3x3 kernel at stride 1 before a 2x2 max pool, with enough channels for the products
    to pay. Decided by the shape alone, so a given batch size always gives the same bits."""
    c = shape[0]
    return (
        not wide
        and is_max
        and p == 2
        and conv.kernel == (3, 3)
        and conv.stride == 1
        and c >= MIN_CHANNELS
        and conv.filters >= MIN_FILTERS
        and shape[3] >= MIN_IMAGES
    )


class WinogradPlan:
    """F(2x2, 3x3) for a stride-1 3x3 convolution over batch-last inputs of one shape (C, H, W, N),
    before a 2x2 max pool: ``convolve`` and ``gradients`` as in ``ConvPlan``.

    Layouts (each chosen so that every whole-array step runs over long contiguous stretches):
    - the padded input in *parity-major* order, (C, 2, PH + 1, 2, PW + 1, N): element [c, a, r, b, q, n]
      is padded[c, 2r + a, 2q + b, n], so the rows (columns) the blocks read at offset i are one slice
      [i % 2, i // 2 : ...];
    - V and its gradient as (16, C, PH, PW, N), M and its gradient (16, F, cells) per piece;
    - the output in *offset-major* pool order, (4, F, PH, PW, N): offset k = 2u + v of every pooling
      window is one contiguous (F, cells) block (``offsets``).
    """

    wide = False
    offset_major = True

    def __init__(self, conv, shape: tuple[int, ...]) -> None:
        c, h, w, n = shape
        self.conv, self.shape = conv, shape
        self.pads, self.oh, self.ow = conv.geometry(h, w)
        self.ph, self.pw, self.n = self.oh // 2, self.ow // 2, n
        self.kk = 4
        self.cells = self.ph * self.pw * n
        self.quads = (c, 2, self.ph + 1, 2, self.pw + 1, n)
        # Where the input's rows and columns of each parity land in the parity-major grid.
        self._rows = [_parity(self.pads[0], h, self.ph + 1, a) for a in (0, 1)]
        self._cols = [_parity(self.pads[2], w, self.pw + 1, b) for b in (0, 1)]
        # The pieces: (block row, first block column, end block column), fixed by the shape.
        # A piece is some whole rows of blocks, or part of one row.
        per_row = 16 * conv.filters * self.pw * n
        if per_row == 0:  # no block at all (an output narrower than a pooling window)
            self.pieces = []
        elif per_row <= PIECE_FLOATS:
            step = max(1, PIECE_FLOATS // per_row)
            self.pieces = [(r, min(r + step, self.ph), 0, self.pw) for r in range(0, self.ph, step)]
        else:
            step = max(1, -(-self.pw // -(-per_row // PIECE_FLOATS)))
            self.pieces = [
                (r, r + 1, q, min(q + step, self.pw)) for r in range(self.ph) for q in range(0, self.pw, step)
            ]
        self._views: list[tuple[np.ndarray, list[np.ndarray]]] = []
        self._scratch = Scratch()
        self._u: tuple = ()  # (w_aug, U) of the last call

    # -- forward -----------------------------------------------------------------------------------
    def convolve(self, x: np.ndarray, w_aug: np.ndarray, scratch: Scratch) -> tuple[np.ndarray, np.ndarray]:
        """(V, the output): V = B^T d B for every 4x4 input block (kept for the backward pass) and
        the convolution's output with its bias, (4, F * cells) in offset-major pool order."""
        c, _, _, n = x.shape
        f, ph, pw = self.conv.filters, self.ph, self.pw
        xq = scratch.get("quads", self.quads, x.dtype)  # the padding stays zero
        for quads, plain in self._parities(xq, x):
            quads[...] = plain
        keep = self._nonempty(x)
        u = self.kernels(w_aug)
        bias = w_aug[:, -1:].reshape(1, f, 1)
        v = scratch.get("wino_v", (16, c, ph, pw, n), x.dtype)
        out = scratch.get("z", (4, f * self.cells), x.dtype)
        z = out.reshape(4, f, ph, pw, n)
        work = self._scratch
        for r0, r1, q0, q1 in self.pieces:
            nr, kc = r1 - r0, q1 - q0
            k = nr * kc * n
            # Rows: t_i from the input rows 2r + i (i = 0..3), over the columns this piece reads.
            rows = [xq[:, i % 2, r0 + i // 2 : r1 + i // 2, :, q0 : q1 + 1] for i in range(4)]
            t = work.get("t", (4, c, nr, 2, kc + 1, n), x.dtype)
            np.subtract(rows[0], rows[2], out=t[0])
            np.add(rows[1], rows[2], out=t[1])
            np.subtract(rows[2], rows[1], out=t[2])
            np.subtract(rows[1], rows[3], out=t[3])
            # Columns, every row i at once: V_ij.
            e = [t[:, :, :, j % 2, j // 2 : j // 2 + kc] for j in range(4)]  # (4, C, nr, kc, N)
            vp = v[:, :, r0:r1, q0:q1].reshape(4, 4, c, nr, kc, n)
            np.subtract(e[0], e[2], out=vp[:, 0])
            np.add(e[1], e[2], out=vp[:, 1])
            np.subtract(e[2], e[1], out=vp[:, 2])
            np.subtract(e[1], e[3], out=vp[:, 3])
            m = np.matmul(u, vp.reshape(16, c, k), out=work.get("m", (16, f, k), x.dtype))
            mm = m.reshape(4, 4, f, k)
            # Output rows, every column j at once: s0 = m0 + m1 + m2, s1 = m1 - m2 - m3.
            s = work.get("s", (2, 4, f, k), x.dtype)
            np.add(mm[1], mm[2], out=s[0])
            np.subtract(mm[1], mm[2], out=s[1])
            s[0] += mm[0]
            s[1] -= mm[3]
            # Output columns, both rows u at once: y_u0 = s_u0 + s_u1 + s_u2, y_u1 = s_u1 - s_u2 - s_u3.
            piece = z[:, :, r0:r1, q0:q1].reshape(2, 2, f, k)
            np.add(s[:, 1], s[:, 2], out=piece[:, 0])
            np.subtract(s[:, 1], s[:, 2], out=piece[:, 1])
            piece[:, 0] += s[:, 0]
            piece[:, 1] -= s[:, 3]
            flat = piece.reshape(4, f, k)
            if keep is not None:  # empty windows: exactly zero before the bias
                flat *= keep[:, :, r0:r1, q0:q1].reshape(4, 1, k)
            flat += bias
        return v, out

    def _nonempty(self, x: np.ndarray) -> np.ndarray | None:
        """1.0 where an output's 3x3 input window holds a nonzero value, 0.0 where it is all zeros, as
        (4, 1, PH, PW, N) in offset-major pool order; None when no window is empty."""
        scratch = self._scratch
        c, h, w, n = x.shape
        ph, pw = self.ph, self.pw
        rows, cols = 2 * ph, 2 * pw
        nonzero = np.not_equal(x, 0, out=scratch.get("nonzero", x.shape, np.bool_))
        padded = scratch.get("any", (rows + 2, cols + 2, n), np.bool_)
        pt, pl = self.pads[0], self.pads[2]
        # The input positions the blocks read (padding and the floored border left out).
        r1, c1 = min(h, rows + 2 - pt), min(w, cols + 2 - pl)
        np.logical_or.reduce(nonzero[:, :r1, :c1], axis=0, out=padded[pt : pt + r1, pl : pl + c1])
        # Three shifted ORs along the columns, then three along the rows: the 3x3 windows.
        across = scratch.get("across", (rows + 2, cols, n), np.bool_)
        np.logical_or(padded[:, 0:cols], padded[:, 1 : cols + 1], out=across)
        across |= padded[:, 2 : cols + 2]
        window = scratch.get("window", (rows, cols, n), np.bool_)
        np.logical_or(across[0:rows], across[1 : rows + 1], out=window)
        window |= across[2 : rows + 2]
        if window.all():
            return None
        keep = scratch.get("keep", (2, 2, ph, pw, n), x.dtype)
        by_offset = window.reshape(ph, 2, pw, 2, n)
        for u in range(2):
            for v in range(2):
                keep[u, v] = by_offset[:, u, :, v]
        return keep.reshape(4, 1, ph, pw, n)

    def kernels(self, w_aug: np.ndarray) -> np.ndarray:
        """U = G g G^T for every kernel: (16, F, C) (the bias, w_aug's last column, is not in it);
        remembered for the ``w_aug`` of the last call (the backward pass gets the forward pass's)."""
        if self._u and self._u[0] is w_aug:
            return self._u[1]
        f, fc = len(w_aug), self.shape[0] * len(w_aug)
        g = _g(w_aug.dtype)
        kl = w_aug[:, :-1].reshape(fc, 3, 3)
        left = (g @ kl.transpose(1, 0, 2).reshape(3, fc * 3)).reshape(4, fc, 3)  # [i, fc, l]
        u = (left @ g.T).transpose(0, 2, 1)  # [i, j, fc]
        u = np.ascontiguousarray(u).reshape(16, f, -1)
        self._u = (w_aug, u)
        return u

    def offsets(self, z: np.ndarray) -> list[np.ndarray]:
        """The four (F, cells) blocks of an array in offset-major pool order."""
        return remembered_views(self._views, z, self._offsets)

    def _offsets(self, z: np.ndarray) -> list[np.ndarray]:
        by_offset = z.reshape(4, self.conv.filters, self.cells)
        return [by_offset[k] for k in range(4)]

    def pool_max(self, z: np.ndarray, out: np.ndarray) -> None:
        """Each window's maximum, (F, cells), in one call over the offsets."""
        np.maximum.reduce(z.reshape(4, self.conv.filters, self.cells), axis=0, out=out)

    # -- backward ----------------------------------------------------------------------------------
    def gradient_buffer(self, scratch: Scratch, dtype) -> np.ndarray:
        return scratch.get("dz", (4, self.conv.filters * self.cells), dtype)

    def gradients(
        self, dz: np.ndarray, v: np.ndarray, w_aug: np.ndarray, scratch: Scratch, input_grad: bool
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """(d[W | b] (F, C*9 + 1), dL/dx (C, H, W, N) or None) from dz in offset-major pool order and
        the forward pass's V and w_aug.

        Piece by piece, so dM and dV never leave the cache: dM = A dY A^T, dU = the pieces' sum of
        dM V^T, and for the input gradient dV = U^T dM, then B dV B^T added into the overlapping
        blocks of a parity-major grid. The pieces are fixed by the shape, so the sums' order (and the
        bits) are too."""
        c, h, w, n = self.shape
        f, fc = self.conv.filters, c * self.conv.filters
        u = self.kernels(w_aug)
        ut = np.ascontiguousarray(u.transpose(0, 2, 1)) if input_grad else None
        y5 = dz.reshape(4, f, self.ph, self.pw, n)
        du = scratch.get("du", (16, f, c), dz.dtype)
        part = scratch.get("du_part", (16, f, c), dz.dtype)
        db = np.zeros(f, dz.dtype)
        dxq = scratch.get("dquads", self.quads, dz.dtype, zero=True) if input_grad else None
        work = self._scratch
        for i, (r0, r1, q0, q1) in enumerate(self.pieces):
            k = (r1 - r0) * (q1 - q0) * n
            y = y5[:, :, r0:r1, q0:q1].reshape(2, 2, f, k)  # [u, v]
            dm = work.get("dm", (16, f, k), dz.dtype)
            d4 = dm.reshape(4, 4, f, k)
            rr = work.get("r", (4, 2, f, k), dz.dtype)
            # Rows (A = [[1, 0], [1, 1], [1, -1], [0, -1]]), both columns v at once.
            rr[0] = y[0]
            np.add(y[0], y[1], out=rr[1])
            np.subtract(y[0], y[1], out=rr[2])
            np.negative(y[1], out=rr[3])
            # Columns, every row i at once.
            d4[:, 0] = rr[:, 0]
            np.add(rr[:, 0], rr[:, 1], out=d4[:, 1])
            np.subtract(rr[:, 0], rr[:, 1], out=d4[:, 2])
            np.negative(rr[:, 1], out=d4[:, 3])
            vp = v[:, :, r0:r1, q0:q1].reshape(16, c, k)
            np.matmul(dm, vp.transpose(0, 2, 1), out=part if i else du)
            if i:
                du += part
            db += dm[BIAS_AT].sum(axis=1)
            if ut is not None and dxq is not None:
                self._add_input_gradient(
                    np.matmul(ut, dm, out=work.get("dv", (16, c, k), dz.dtype)), dxq, (r0, r1, q0, q1)
                )
        g = _g(dz.dtype)
        # dg[fc, k, l] = sum_ij G[i, k] dU[i, j, fc] G[j, l]
        right = du.reshape(4, 4, fc).transpose(0, 2, 1) @ g  # [i, fc, l]
        dg = (g.T @ right.reshape(4, fc * 3)).reshape(3, fc, 3).transpose(1, 0, 2)  # [fc, k, l]
        dw = np.empty((f, c * 9 + 1), dz.dtype)
        dw[:, :-1] = dg.reshape(f, -1)
        dw[:, -1] = db
        if dxq is None:
            return dw, None
        dx = np.zeros(self.shape, dz.dtype)  # input rows/columns no block reads get no gradient
        for quads, plain in self._parities(dxq, dx):
            plain[...] = quads
        return dw, dx

    def _parities(self, quads: np.ndarray, plain: np.ndarray):
        """(a view of the parity-major grid, the same positions of a (C, H, W, N) array) for each of the
        four row and column parities that hold input."""
        for a, (r0, r1, src_r) in enumerate(self._rows):
            for b, (q0, q1, src_q) in enumerate(self._cols):
                if r1 > r0 and q1 > q0:
                    rows = slice(src_r, src_r + 2 * (r1 - r0) - 1, 2)
                    cols = slice(src_q, src_q + 2 * (q1 - q0) - 1, 2)
                    yield quads[:, a, r0:r1, b, q0:q1], plain[:, rows, cols]

    def _add_input_gradient(self, dv: np.ndarray, dxq: np.ndarray, piece: tuple[int, int, int, int]) -> None:
        """B dV B^T of one piece's blocks added into the parity-major input gradient."""
        r0, r1, q0, q1 = piece
        c, n, nr, kc = self.shape[0], self.n, r1 - r0, q1 - q0
        work = self._scratch
        dv6 = dv.reshape(4, 4, c, nr, kc, n)  # [i, j]
        # Columns, every row i at once (the forward pass made V0 = e0 - e2, V1 = e1 + e2,
        # V2 = e2 - e1, V3 = e1 - e3): de0 = dV0, de1 = dV1 - dV2 + dV3, de2 = dV1 + dV2 - dV0,
        # de3 = -dV3, added where the blocks' columns overlap.
        de = work.get("de", (2, 4, c, nr, kc, n), dv.dtype)
        _sum3(dv6[:, 1], dv6[:, 2], dv6[:, 3], de[0], 1)
        _sum3(dv6[:, 1], dv6[:, 2], dv6[:, 0], de[1], -1)
        dt = work.get("dt", (4, c, nr, 2, kc + 1, n), dv.dtype)
        even, odd = dt[:, :, :, 0], dt[:, :, :, 1]  # (4, C, nr, kc + 1, N) each
        even[..., :kc, :] = dv6[:, 0]
        even[..., kc, :] = 0
        even[..., 1:, :] += de[1]
        odd[..., :kc, :] = de[0]
        odd[..., kc, :] = 0
        odd[..., 1:, :] -= dv6[:, 3]
        # Rows, likewise: dd0 = dt0, dd1 = dt1 - dt2 + dt3, dd2 = dt1 + dt2 - dt0, dd3 = -dt3; the
        # rows below the piece's first get the lower halves of the blocks above them.
        t0, t1, t2, t3 = dt
        dd = work.get("dd", (c, nr, 2, kc + 1, n), dv.dtype)
        cols = slice(q0, q1 + 1)
        dxq[:, 0, r0:r1, :, cols] += t0
        dxq[:, 1, r0:r1, :, cols] += _sum3(t1, t2, t3, dd, 1)
        dxq[:, 0, r0 + 1 : r1 + 1, :, cols] += _sum3(t1, t2, t0, dd, -1)
        dxq[:, 1, r0 + 1 : r1 + 1, :, cols] -= t3


def _sum3(a: np.ndarray, b: np.ndarray, c: np.ndarray, out: np.ndarray, sign: int) -> np.ndarray:
    """a - b + c (sign 1) or a + b - c (sign -1), into ``out``."""
    if sign > 0:
        np.subtract(a, b, out=out)
        out += c
    else:
        np.add(a, b, out=out)
        out -= c
    return out


def _g(dtype) -> np.ndarray:
    return G.astype(dtype)


def _parity(pad: int, size: int, quads: int, a: int) -> tuple[int, int, int]:
    """For the padded positions 2q + a (q < ``quads``) that hold input (pad <= 2q + a < pad + size):
    (first q, end q, the input position of the first)."""
    first = max(0, -(-(pad - a) // 2))
    end = min(quads, (pad + size - 1 - a) // 2 + 1)
    return first, max(first, end), 2 * first + a - pad
