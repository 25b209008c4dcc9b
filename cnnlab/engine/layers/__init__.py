"""Every layer type cnnlab's networks are made of: one module and one class each.

``LAYER_TYPES`` maps each type's ``kind`` (the spec's "type") to its class, in the order the editor
offers them. A new layer type is a new module here whose class declares itself (see ``base``) and
one line in ``_TYPES`` below.
"""

from cnnlab.engine.layers.activations import Activation
from cnnlab.engine.layers.avgpool import AvgPool2D
from cnnlab.engine.layers.base import Layer, UnitSum, Window, to_batch_first, to_batch_last
from cnnlab.engine.layers.batchnorm import BatchNorm
from cnnlab.engine.layers.conv import Conv2D
from cnnlab.engine.layers.dense import Dense
from cnnlab.engine.layers.dropout import Dropout
from cnnlab.engine.layers.elu import ELU
from cnnlab.engine.layers.flatten import Flatten
from cnnlab.engine.layers.leaky_relu import LeakyReLU
from cnnlab.engine.layers.maxpool import MaxPool2D
from cnnlab.engine.layers.pool import Pool2D
from cnnlab.engine.layers.relu import ReLU
from cnnlab.engine.layers.sigmoid import Sigmoid
from cnnlab.engine.layers.tanh import Tanh

_TYPES: tuple[type[Layer], ...] = (
    Conv2D,
    MaxPool2D,
    AvgPool2D,
    Dense,
    Flatten,
    Dropout,
    BatchNorm,
    ReLU,
    LeakyReLU,
    ELU,
    Tanh,
    Sigmoid,
)

LAYER_TYPES: dict[str, type[Layer]] = {cls.kind: cls for cls in _TYPES}


def family_of(kind: str) -> tuple[str, ...]:
    """The kinds a layer of ``kind`` may switch to in place (its family), or () if it has none."""
    cls = LAYER_TYPES.get(kind)
    if cls is None or not cls.family:
        return ()
    members = tuple(k for k, c in LAYER_TYPES.items() if c.family == cls.family)
    return members if len(members) > 1 else ()


__all__ = [
    "ELU",
    "LAYER_TYPES",
    "Activation",
    "AvgPool2D",
    "BatchNorm",
    "Conv2D",
    "Dense",
    "Dropout",
    "Flatten",
    "Layer",
    "LeakyReLU",
    "MaxPool2D",
    "Pool2D",
    "ReLU",
    "Sigmoid",
    "Tanh",
    "UnitSum",
    "Window",
    "family_of",
    "to_batch_first",
    "to_batch_last",
]
