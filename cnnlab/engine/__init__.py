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
``net.input_gradient(x, target_class)`` (saliency), ``explain_unit(net, acts, layer_index, unit)``
(a unit's receptive field and the sum behind it). Arrays returned by a network or a layer are always
new: they never share memory with its buffers. Save and load: ``save_checkpoint`` /
``load_checkpoint(path, budget=None)`` (``CheckpointError`` on any bad file; ``checkpoint.mismatch(spec)``
says in one line why its weights do not fit another network); ``network_from_state(spec, state_dict)``.

Limits: ``validate``/``build``/``load_checkpoint`` refuse (``SpecError`` naming the layer) a spec above a
``Budget`` (default 50 M parameters and 1 GiB of activations for one training step at batch 64; pass
``Budget(max_params=..., max_activation_bytes=..., batch_size=...)`` to change it), more than 200 layers,
an input side above 4096 or a number beyond 2**31. ``read_spec_file(path)`` reads a spec file within
bounds.

Every layer class follows the same contract (``layers.base.Layer``): ``forward(x, training)``,
``backward(dout) -> dx``, ``params`` and ``grads`` dicts with the same keys, ``__repr__``, and declares
its settings, shapes and explanation (``LAYER_TYPES``: kind -> class).
"""

from cnnlab.engine.checkpoint import (
    Checkpoint,
    CheckpointError,
    architecture_mismatch,
    load_checkpoint,
    save_checkpoint,
)
from cnnlab.engine.explain import UnitExplanation, explain_unit, receptive_field
from cnnlab.engine.init import INITIALISERS
from cnnlab.engine.layers import (
    ELU,
    LAYER_TYPES,
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
from cnnlab.engine.spec import (
    Budget,
    LayerInfo,
    NetSpec,
    SpecError,
    build,
    network_from_state,
    read_spec_file,
    shape_text,
    validate,
)

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
    "Budget",
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
    "UnitExplanation",
    "Warmup",
    "architecture_mismatch",
    "build",
    "explain_unit",
    "load_checkpoint",
    "load_preset",
    "log_softmax",
    "make_optimizer",
    "network_from_state",
    "read_spec_file",
    "receptive_field",
    "save_checkpoint",
    "schedule_from_dict",
    "schedule_to_dict",
    "shape_text",
    "softmax",
    "softmax_cross_entropy",
    "validate",
]
