"""Plain, readable loop implementations kept only so the tests can trust the fast kernels.

These follow the textbook definitions one output element at a time (NCHW). They are thousands of
times slower than the layers and must never be used outside tests.
"""

from __future__ import annotations

import numpy as np


def pad_nchw(x: np.ndarray, pads: tuple[int, int, int, int]) -> np.ndarray:
    top, bottom, left, right = pads
    return np.pad(x, ((0, 0), (0, 0), (top, bottom), (left, right)))


def conv2d_forward(x, weights, bias, stride, pads):
    """out[n, f, i, j] = sum over c, u, v of xpad[n, c, i*s + u, j*s + v] * W[f, c, u, v] + b[f]."""
    xp = pad_nchw(x, pads)
    n, c, h, w = xp.shape
    f, _, kh, kw = weights.shape
    oh, ow = (h - kh) // stride + 1, (w - kw) // stride + 1
    out = np.zeros((n, f, oh, ow), dtype=x.dtype)
    for b in range(n):
        for k in range(f):
            for i in range(oh):
                for j in range(ow):
                    patch = xp[b, :, i * stride : i * stride + kh, j * stride : j * stride + kw]
                    out[b, k, i, j] = np.sum(patch * weights[k]) + bias[k]
    return out


def conv2d_backward(x, weights, stride, pads, dout):
    """(dx, dW, db) for conv2d_forward, by distributing each output gradient over its window."""
    xp = pad_nchw(x, pads)
    n, c, h, w = xp.shape
    f, _, kh, kw = weights.shape
    oh, ow = dout.shape[2:]
    dxp, dw, db = np.zeros_like(xp), np.zeros_like(weights), np.zeros(f, dtype=x.dtype)
    for b in range(n):
        for k in range(f):
            for i in range(oh):
                for j in range(ow):
                    g = dout[b, k, i, j]
                    rows = slice(i * stride, i * stride + kh)
                    cols = slice(j * stride, j * stride + kw)
                    dw[k] += g * xp[b, :, rows, cols]
                    dxp[b, :, rows, cols] += g * weights[k]
                    db[k] += g
    top, bottom, left, right = pads
    dx = dxp[:, :, top : h - bottom, left : w - right]
    return dx, dw, db


def pool_forward(x, kernel, stride, mode):
    """Max or average over each kernel window; max ties go to the first element in row-major order."""
    n, c, h, w = x.shape
    kh, kw = kernel
    oh, ow = (h - kh) // stride + 1, (w - kw) // stride + 1
    out = np.zeros((n, c, oh, ow), dtype=x.dtype)
    for b in range(n):
        for ch in range(c):
            for i in range(oh):
                for j in range(ow):
                    window = x[b, ch, i * stride : i * stride + kh, j * stride : j * stride + kw]
                    out[b, ch, i, j] = window.max() if mode == "max" else window.mean()
    return out


def pool_backward(x, kernel, stride, mode, dout):
    n, c, h, w = x.shape
    kh, kw = kernel
    oh, ow = dout.shape[2:]
    dx = np.zeros_like(x)
    for b in range(n):
        for ch in range(c):
            for i in range(oh):
                for j in range(ow):
                    r, q = i * stride, j * stride
                    if mode == "max":
                        window = x[b, ch, r : r + kh, q : q + kw]
                        u, v = np.unravel_index(np.argmax(window), window.shape)
                        dx[b, ch, r + u, q + v] += dout[b, ch, i, j]
                    else:
                        dx[b, ch, r : r + kh, q : q + kw] += dout[b, ch, i, j] / (kh * kw)
    return dx
