"""Finite-difference gradient checks, used by the tests to trust every backward pass.

Checks run in float64: with central differences and eps = 1e-6 the numerical error is around 1e-10,
so an analytic gradient that is right agrees to far better than the 1e-5 the tests demand.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np


def relative_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """||a - n|| / (||a|| + ||n||): 0 when equal, 1 when unrelated, scale-free."""
    denom = np.linalg.norm(analytic) + np.linalg.norm(numeric)
    return 0.0 if denom == 0 else float(np.linalg.norm(analytic - numeric) / denom)


def numerical_gradient(
    f: Callable[[], float], x: np.ndarray, eps: float = 1e-6, indices: np.ndarray | None = None
) -> np.ndarray:
    """d f() / d x by central differences, perturbing ``x`` in place one element at a time.

    With ``indices`` (flat positions), only those elements are computed; the others stay 0.
    """
    grad = np.zeros_like(x, dtype=np.float64)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size) if indices is None else indices:
        old = flat[i]
        flat[i] = old + eps
        plus = f()
        flat[i] = old - eps
        minus = f()
        flat[i] = old
        gflat[i] = (plus - minus) / (2 * eps)
    return grad


def check_layer(layer, x: np.ndarray, rng: np.random.Generator, training: bool = True) -> dict[str, float]:
    """Relative errors of a layer's input and parameter gradients, in float64.

    The scalar checked is sum(forward(x) * R) for a fixed random R, whose gradient w.r.t. the output
    is R, so every output element takes part. Layers that draw randomness (Dropout) must be given a
    fixed mask by the caller.
    """
    layer.astype(np.float64)
    x = np.array(x, dtype=np.float64)
    out = layer.forward(x, training)
    weights = rng.standard_normal(out.shape)

    def scalar() -> float:
        return float(np.sum(layer.forward(x, training) * weights))

    layer.forward(x, training)
    dx = layer.backward(weights)
    analytic_params = {k: g.copy() for k, g in layer.grads.items()}
    errors = {"x": relative_error(dx, numerical_gradient(scalar, x))}
    for key, param in layer.params.items():
        errors[key] = relative_error(analytic_params[key], numerical_gradient(scalar, param))
    return errors


def check_network(
    network, x: np.ndarray, labels: np.ndarray, rng: np.random.Generator | None = None, per_array: int = 0
) -> dict[str, float]:
    """Relative errors of the full loss gradient w.r.t. the input and every parameter, in float64.

    With ``per_array`` > 0, each array is checked at that many random elements (drawn from ``rng``)
    instead of all of them, which keeps checks of large networks fast.
    """
    from cnnlab.engine.losses import softmax_cross_entropy

    network.astype(np.float64)
    x = np.array(x, dtype=np.float64)

    def loss() -> float:
        return softmax_cross_entropy(network.forward(x, training=False), labels)[0]

    logits = network.forward(x, training=False)
    _, dlogits = softmax_cross_entropy(logits, labels)
    dx = network.backward(dlogits, input_grad=True)
    analytic = {name: g.copy() for name, _, g in network.named_parameters()}

    def compare(analytic_grad: np.ndarray, array: np.ndarray) -> float:
        if per_array <= 0 or array.size <= per_array:
            return relative_error(analytic_grad, numerical_gradient(loss, array))
        picks = (rng or np.random.default_rng(0)).choice(array.size, per_array, replace=False)
        numeric = numerical_gradient(loss, array, indices=picks)
        return relative_error(analytic_grad.reshape(-1)[picks], numeric.reshape(-1)[picks])

    errors = {"input": compare(dx, x)}
    for name, param, _ in network.named_parameters():
        errors[name] = compare(analytic[name], param)
    return errors
