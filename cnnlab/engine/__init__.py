"""cnnlab's engine: a convolutional network written from scratch in NumPy.

Imports only NumPy and the standard library. The public API below is stable.

Build a network from a spec::

    import numpy as np
    from cnnlab.engine import NetSpec, build, load_preset, softmax_cross_entropy, SGD

    spec = load_preset("seed")                 # or NetSpec.from_json(text) / NetSpec.from_dict(data)
    infos = spec.validate()                    # shapes and parameter counts, or SpecError
    print(spec.summary())                      # Keras-style table
    net = build(spec, np.random.default_rng(0))

Forward, loss, backward, and an optimizer step (images are NCHW float32 in [0, 1])::

    logits = net.forward(x, training=True)     # x (N, 1, 28, 28) -> logits (N, 10)
    loss, dlogits = softmax_cross_entropy(logits, labels)
    net.backward(dlogits)                      # fills every layer's grads
    opt = SGD(net, lr=0.05, momentum=0.9)      # optimizers own their state
    opt.step()                                 # params -= ...; opt.lr may change between steps
    # shorthand for the first three lines: loss, logits = net.compute_gradients(x, labels)

Read and write parameters: ``net.layers[i].params`` / ``.grads`` (dicts with the same keys), or
``net.named_parameters()`` -> ("conv1.W", param, grad); ``net.state_dict()`` / ``load_state_dict()``.
Conv weights are (out_channels, in_channels, kh, kw); Dense weights are (in_features, out_features).

Look inside: ``net.predict_proba(x)``, ``net.activations(x)`` (every layer's output),
``net.input_gradient(x, target_class)`` (saliency). Save and load: ``save_checkpoint`` /
``load_checkpoint`` (``CheckpointError`` on any bad file).

Every layer class follows the same contract (``layers.base.Layer``): ``forward(x, training)``,
``backward(dout) -> dx``, ``params`` and ``grads`` dicts with the same keys, ``__repr__``.
"""

from cnnlab.engine.checkpoint import Checkpoint, CheckpointError, load_checkpoint, save_checkpoint
from cnnlab.engine.init import INITIALISERS
from cnnlab.engine.layers import (
    ELU,
    AvgPool2D,
    BatchNorm,
    Conv2D,
    Dense,
    Dropout,
    Flatten,
    Layer,
    LeakyReLU,
    MaxPool2D,
    ReLU,
    Sigmoid,
    Tanh,
)
from cnnlab.engine.losses import log_softmax, softmax, softmax_cross_entropy
from cnnlab.engine.network import Network
from cnnlab.engine.optim import OPTIMIZERS, SGD, Adam, AdamW, Optimizer, make_optimizer
from cnnlab.engine.presets import PRESET_NAMES, load_preset
from cnnlab.engine.schedules import (
    Constant,
    Cosine,
    Schedule,
    StepDecay,
    Warmup,
    schedule_from_dict,
    schedule_to_dict,
)
from cnnlab.engine.spec import LAYER_TYPES, LayerInfo, NetSpec, SpecError, build, shape_text, validate

__all__ = [
    "ELU",
    "INITIALISERS",
    "LAYER_TYPES",
    "OPTIMIZERS",
    "PRESET_NAMES",
    "SGD",
    "Adam",
    "AdamW",
    "AvgPool2D",
    "BatchNorm",
    "Checkpoint",
    "CheckpointError",
    "Constant",
    "Conv2D",
    "Cosine",
    "Dense",
    "Dropout",
    "Flatten",
    "Layer",
    "LayerInfo",
    "LeakyReLU",
    "MaxPool2D",
    "NetSpec",
    "Network",
    "Optimizer",
    "ReLU",
    "Schedule",
    "Sigmoid",
    "SpecError",
    "StepDecay",
    "Tanh",
    "Warmup",
    "build",
    "load_checkpoint",
    "load_preset",
    "log_softmax",
    "make_optimizer",
    "save_checkpoint",
    "schedule_from_dict",
    "schedule_to_dict",
    "shape_text",
    "softmax",
    "softmax_cross_entropy",
    "validate",
]
