"""A cnnlab network as plain PyTorch: a readable ``model.py``, ``model.safetensors`` and a README.

``model.py`` is generated from the spec: one ``nn.Module`` attribute per layer, a ``forward`` that
calls them in order (each line says the shape it makes), and ``load()``. It imports only torch and
safetensors, never cnnlab. The weights are saved in PyTorch's layouts under PyTorch's names
(``pytorch_state``): Conv2d ``weight`` (out, in, kh, kw) as the engine holds it, Linear ``weight``
(out, in) - the engine's Dense W (in, out) transposed -, BatchNorm ``weight``/``bias`` (gamma, beta)
and its running statistics. PyTorch is not a dependency of cnnlab: writing needs only safetensors.

Where PyTorch spells the engine differently: 'same' padding with an odd total (a stride above 1, an
even kernel) puts its extra row/column at the bottom/right, which ``nn.Conv2d(padding=...)`` cannot
say, so such a convolution gets an ``nn.ZeroPad2d`` before it; BatchNorm is ``BatchNorm2d`` on maps and
``BatchNorm1d`` on a flat vector; Dropout is kept (identity in ``eval()``, as in the engine).
"""

from __future__ import annotations

import json
import keyword
import os
import re
import textwrap
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

try:
    from safetensors.numpy import save as save_safetensors
except ImportError as exc:  # safetensors is a dependency; this only protects a trimmed installation
    from cnnlab.bridge.errors import missing_package

    raise missing_package("safetensors", "PyTorch export") from exc

from cnnlab import __version__
from cnnlab.bridge.errors import BridgeError
from cnnlab.bridge.plan import Step, class_names_for, model_card, plan
from cnnlab.engine import Network
from cnnlab.engine.checkpoint import write_atomic

MODEL_FILE, WEIGHTS_FILE, README_FILE = "model.py", "model.safetensors", "README.md"

# nn.Module's own attributes (PyTorch 2.x): a layer called "forward" or "train" must not hide them.
# fmt: off
_MODULE_ATTRIBUTES = frozenset((
    "T_destination", "add_module", "apply", "bfloat16", "buffers", "call_super_init", "children",
    "compile", "cpu", "cuda", "double", "dump_patches", "eval", "extra_repr", "float", "forward",
    "get_buffer", "get_extra_state", "get_parameter", "get_submodule", "half", "ipu", "load_state_dict",
    "modules", "mtia", "named_buffers", "named_children", "named_modules", "named_parameters",
    "parameters", "register_backward_hook", "register_buffer", "register_forward_hook",
    "register_forward_pre_hook", "register_full_backward_hook", "register_full_backward_pre_hook",
    "register_load_state_dict_post_hook", "register_load_state_dict_pre_hook", "register_module",
    "register_parameter", "register_state_dict_post_hook", "register_state_dict_pre_hook",
    "requires_grad_", "set_extra_state", "set_submodule", "share_memory", "state_dict", "to",
    "to_empty", "train", "training", "type", "xpu", "zero_grad", "torch", "nn", "x",
))
# fmt: on


def attribute_names(steps: Sequence[Step]) -> list[str]:
    """A Python attribute name per layer: the layer's own name where it is one ("conv1"), else made
    into one ("my conv" -> "my_conv", "forward" -> "forward_layer"), never twice the same."""
    used: set[str] = set()
    names = []
    for s in steps:
        name = re.sub(r"\W", "_", s.name, flags=re.ASCII).strip("_") or f"layer{s.index + 1}"
        if name[0].isdigit():
            name = f"layer_{name}"
        if keyword.iskeyword(name) or name in _MODULE_ATTRIBUTES:
            name = f"{name}_layer"
        found, n = name, 1
        while found in used:
            n += 1
            found = f"{name}_{n}"
        used.add(found)
        names.append(found)
    return names


# -- the weights ------------------------------------------------------------------------------------


def _conv_state(s: Step) -> dict[str, np.ndarray]:
    return {"weight": s.arrays["W"], "bias": s.arrays["b"]}


def _dense_state(s: Step) -> dict[str, np.ndarray]:
    return {"weight": np.ascontiguousarray(s.arrays["W"].T), "bias": s.arrays["b"]}


def _batchnorm_state(s: Step) -> dict[str, np.ndarray]:
    # num_batches_tracked is left out: the engine does not count batches, and BatchNorm's loader fills
    # it in (it only matters with momentum=None, which cnnlab never uses).
    a = s.arrays
    return {
        "weight": a["gamma"],
        "bias": a["beta"],
        "running_mean": a["running_mean"],
        "running_var": a["running_var"],
    }


_STATES: dict[str, Callable[[Step], dict[str, np.ndarray]]] = {
    "conv2d": _conv_state,
    "dense": _dense_state,
    "batchnorm": _batchnorm_state,
}


def pytorch_state(network: Network) -> dict[str, np.ndarray]:
    """The network's arrays as ``Net().state_dict()`` of the generated model.py names and lays them out:
    "conv1.weight" (out, in, kh, kw), "dense1.weight" (out, in), "bn1.running_var" ...; float32 copies."""
    steps = plan(network)
    state = {}
    for s, attr in zip(steps, attribute_names(steps), strict=True):
        convert = _STATES.get(s.kind)
        if convert is None:
            if s.arrays:
                raise BridgeError(
                    f"layer {s.name} ({s.kind}): its weights have no PyTorch form in cnnlab yet"
                )
            continue
        for key, value in convert(s).items():
            state[f"{attr}.{key}"] = np.array(value, dtype=np.float32, order="C")
    return state


# -- the code -------------------------------------------------------------------------------------------


def _conv_modules(s: Step, attr: str) -> list[tuple[str, str]]:
    c, f = s.input_shape[0], s.settings["filters"]
    kh, kw = s.kernel
    top, bottom, left, right = s.pads
    pieces = []
    if top == bottom and left == right:
        padding = (top, left)
    else:
        pieces.append(
            (
                f"{attr}_pad",
                f"nn.ZeroPad2d(({left}, {right}, {top}, {bottom}))  # left, right, top, "
                "bottom: 'same' puts the odd pixel below and to the right",
            )
        )
        padding = (0, 0)
    pieces.append(
        (attr, f"nn.Conv2d({c}, {f}, kernel_size=({kh}, {kw}), stride={s.stride}, padding={padding})")
    )
    return pieces


def _pool_module(cls: str) -> Callable[[Step, str], list[tuple[str, str]]]:
    def modules(s: Step, attr: str) -> list[tuple[str, str]]:
        kh, kw = s.kernel
        return [(attr, f"nn.{cls}(kernel_size=({kh}, {kw}), stride={s.stride})")]

    return modules


def _batchnorm_module(s: Step, attr: str) -> list[tuple[str, str]]:
    cls = "BatchNorm2d" if s.image else "BatchNorm1d"
    return [
        (
            attr,
            f"nn.{cls}({s.input_shape[0]}, eps={s.settings['eps']!r}, momentum={s.settings['momentum']!r})",
        )
    ]


def _simple(code: str | Callable[[Step], str]) -> Callable[[Step, str], list[tuple[str, str]]]:
    return lambda s, attr: [(attr, code(s) if callable(code) else code)]


MODULES: dict[str, Callable[[Step, str], list[tuple[str, str]]]] = {
    "conv2d": _conv_modules,
    "maxpool2d": _pool_module("MaxPool2d"),
    "avgpool2d": _pool_module("AvgPool2d"),
    "batchnorm": _batchnorm_module,
    "dropout": _simple(lambda s: f"nn.Dropout(p={s.settings['rate']!r})"),
    "flatten": _simple("nn.Flatten()  # (c, h, w) order, as the engine flattens"),
    "dense": _simple(lambda s: f"nn.Linear({s.input_shape[0]}, {s.settings['units']})"),
    "relu": _simple("nn.ReLU()"),
    "leaky_relu": _simple(lambda s: f"nn.LeakyReLU(negative_slope={s.settings['alpha']!r})"),
    "elu": _simple(lambda s: f"nn.ELU(alpha={s.settings['alpha']!r})"),
    "tanh": _simple("nn.Tanh()"),
    "sigmoid": _simple("nn.Sigmoid()"),
}


def _shape(shape: tuple[int, ...]) -> str:
    return "(N, " + ", ".join(str(d) for d in shape) + ")"


def pytorch_source(
    network: Network, class_names: Sequence[str] | None = None, dataset: str | None = None
) -> str:
    """The text of model.py for ``network``: ``Net`` (an nn.Module), ``CLASS_NAMES``, ``INPUT_SHAPE`` and
    ``load(weights=...)``."""
    steps = plan(network)
    names = class_names_for(network, class_names)
    card = model_card(network, names, "logits", dataset)
    spec = network.spec
    init_lines, forward_lines = [], []
    for s, attr in zip(steps, attribute_names(steps), strict=True):
        make = MODULES.get(s.kind)
        if make is None:
            raise BridgeError(
                f"layer {s.name} ({s.kind}): this kind of layer has no PyTorch form in cnnlab yet"
            )
        modules = make(s, attr)
        if attr != s.name:
            init_lines.append(f"        # cnnlab's layer {s.name!r}")
        for module_attr, code in modules:
            init_lines.append(f"        self.{module_attr} = {code}")
        for module_attr, _ in modules[:-1]:
            forward_lines.append(f"        x = self.{module_attr}(x)")
        forward_lines.append(f"        x = self.{modules[-1][0]}(x)  # -> {_shape(s.output_shape)}")
    k = int(spec.output_shape()[0])
    title = spec.name or "A network"
    trained = f", trained on {dataset}" if dataset else ""
    lines = [
        f'"""{title}: a network exported from cnnlab {__version__}{trained}.',
        "",
        *textwrap.wrap(f"Input: {card['preprocessing']}.", 100),
        f"Output: logits {_shape((k,))}, one per class of CLASS_NAMES; softmax(dim=1) gives probabilities.",
        "",
        *textwrap.wrap(
            f"The trained weights are in {WEIGHTS_FILE} beside this file, in PyTorch's layouts; load() reads "
            "them. Needs only torch and safetensors (pip install torch safetensors).",
            100,
        ),
        '"""',
        "",
        "from pathlib import Path",
        "",
        "import torch",
        "from torch import nn",
        "",
        f"CLASS_NAMES = {json.dumps(list(names))}",
        f"INPUT_SHAPE = {tuple(spec.input_shape)!r}  # channels, height, width",
        "",
        "",
        "class Net(nn.Module):",
        f'    """{spec.summary().splitlines()[0]} as cnnlab built it, layer by layer."""',
        "",
        "    def __init__(self) -> None:",
        "        super().__init__()",
        *init_lines,
        "",
        "    def forward(self, x: torch.Tensor) -> torch.Tensor:",
        f'        """x: {_shape(spec.input_shape)} float32 -> logits {_shape((k,))}."""',
        *forward_lines,
        "        return x",
        "",
        "",
        f'def load(weights: str | Path = Path(__file__).with_name("{WEIGHTS_FILE}")) -> Net:',
        '    """The network with its trained weights, in evaluation mode (dropout off, batch norm using its',
        '    running statistics)."""',
        "    from safetensors.torch import load_file",
        "",
        "    model = Net()",
        "    model.load_state_dict(load_file(str(weights)))",
        "    return model.eval()",
        "",
        "",
        'if __name__ == "__main__":',
        "    model = load()",
        "    images = torch.rand(2, *INPUT_SHAPE)  # stand-ins: prepare real images as the docstring says",
        "    with torch.no_grad():",
        "        probabilities = model(images).softmax(dim=1)",
        "    for p in probabilities:",
        "        best = int(p.argmax())",
        '        print(f"{CLASS_NAMES[best]} ({float(p[best]):.1%})")',
        "",
    ]
    return "\n".join(lines)


def readme(network: Network, class_names: Sequence[str], dataset: str | None = None) -> str:
    """The README.md written beside model.py: what the files are and how to load and run them."""
    spec = network.spec
    card = model_card(network, class_names, "logits", dataset)
    return f"""# {spec.name or "network"}, exported from cnnlab {__version__}

- `{MODEL_FILE}`: the network as a PyTorch `nn.Module` (`Net`), generated from its cnnlab spec; it
  imports only `torch` and `safetensors`.
- `{WEIGHTS_FILE}`: its trained weights in PyTorch's layouts ({spec.num_params():,} parameters).

{textwrap.fill(f"Input: {card['preprocessing']}.", 100)}

{textwrap.fill(f"Output: one logit per class, in the order of `CLASS_NAMES`: {', '.join(class_names)}.", 100)}

```
pip install torch safetensors
python {MODEL_FILE}        # loads the weights and classifies two random stand-in images
```

```python
import torch
from model import CLASS_NAMES, INPUT_SHAPE, load

model = load()                                # Net() with model.safetensors loaded, in eval() mode
images = torch.rand(8, *INPUT_SHAPE)          # your images: float32, NCHW, prepared as said above
with torch.no_grad():
    probabilities = model(images).softmax(dim=1)
print([CLASS_NAMES[i] for i in probabilities.argmax(dim=1).tolist()])
```

To train it further, call `model.train()` and use any PyTorch optimizer: dropout and batch
normalisation then behave as they did in cnnlab.
"""


@dataclass(frozen=True)
class PytorchExport:
    """The files ``export_pytorch`` wrote."""

    model: Path
    weights: Path
    readme: Path


def export_pytorch(
    network: Network,
    folder: str | os.PathLike,
    *,
    class_names: Sequence[str] | None = None,
    dataset: str | None = None,
) -> PytorchExport:
    """Write model.py, model.safetensors and README.md into ``folder`` (made if missing; files of those
    names are replaced, atomically). BridgeError for a network with no PyTorch form; WriteError if a
    file cannot be written."""
    folder = Path(folder)
    names = class_names_for(network, class_names)
    source = pytorch_source(network, names, dataset)
    meta = {"format": "pt", "producer": f"cnnlab {__version__}", "class_names": json.dumps(list(names))}
    weights = save_safetensors(pytorch_state(network), metadata=meta)
    text = readme(network, names, dataset)
    return PytorchExport(
        write_atomic(folder / MODEL_FILE, lambda handle: handle.write(source.encode("utf-8"))),
        write_atomic(folder / WEIGHTS_FILE, lambda handle: handle.write(weights)),
        write_atomic(folder / README_FILE, lambda handle: handle.write(text.encode("utf-8"))),
    )
