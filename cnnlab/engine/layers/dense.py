"""Fully connected layer."""

from __future__ import annotations

import numpy as np

from cnnlab.engine.init import initialise
from cnnlab.engine.layers.base import ParamLayer, UnitSum
from cnnlab.engine.layers.settings import INIT, Whole


class Dense(ParamLayer):
    """y = x @ W + b.

    Shapes: x (N, in) -> (N, out); W (in, out); b (out,). Batch-last inside: (in, N) -> (out, N),
    computed as W.T @ x so that no array is transposed in memory (BLAS reads W transposed).
    """

    kind = "dense"
    label = "Fully connected"
    description = "Every input connects to every unit."
    name_prefix, display_prefix = "dense", "FC"
    needs = "flat"
    family = "dense"
    settings = (
        Whole(
            "units",
            help="How many outputs (neurons) this layer has; the last one needs one per class.",
            starter=64,
            maximum=1_000_000,
        ),
        INIT,
    )

    @classmethod
    def infer(cls, s, shape):
        return (s["units"],)

    @classmethod
    def weight_shapes(cls, s, shape):
        return {"W": (shape[0], s["units"]), "b": (s["units"],)}

    @classmethod
    def create(cls, s, shape, rng, dtype):
        return cls(shape[0], s["units"], s["init"], rng, dtype)

    @classmethod
    def describe(cls, s):
        return "fully connected"

    @classmethod
    def params_formula(cls, s, shape, out, params):
        n, u = shape[0], out[0]
        return f"{n:,}×{u:,} = {n * u:,} weights + {u:,} biases = {params:,}"

    def __init__(
        self,
        in_features: int,
        units: int,
        init: str = "he_normal",
        rng: np.random.Generator | None = None,
        dtype=np.float32,
    ) -> None:
        super().__init__()
        self.in_features, self.units, self.init = int(in_features), int(units), init
        rng = rng if rng is not None else np.random.default_rng(0)
        weights = initialise(init, (in_features, units), in_features, units, rng, dtype)
        self._set_params(W=weights, b=np.zeros(units, dtype=dtype))
        self._x: np.ndarray | None = None

    def config(self):
        return {"units": self.units, "init": self.init}

    def explain_unit(self, x, unit):
        """unit (u,): each input times its weight into this unit, and the bias."""
        (u,) = unit
        contributions = x.astype(np.float64) * np.asarray(self.params["W"][:, u], dtype=np.float64)
        bias = float(self.params["b"][u])
        return UnitSum(float(contributions.sum() + bias), contributions=contributions, bias=bias)

    def forward_bl(self, x, training):
        self._x = x
        out = self.params["W"].T @ x
        out += self.params["b"][:, None]
        return out

    def backward_bl(self, dout):
        x = self._x
        assert x is not None, "backward before forward"
        np.matmul(x, dout.T, out=self.grads["W"])
        self.grads["b"][...] = dout.sum(axis=1)
        if not self.need_input_grad:
            return None
        return self.params["W"] @ dout

    def _settings(self):
        return f"{self.in_features}->{self.units}, init={self.init!r}"
