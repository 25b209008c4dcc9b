"""Ready-made networks shipped as JSON in ``cnnlab/assets/presets``.

- ``seed``: the lesson's CNN, Conv 8@3x3 - ReLU - MaxPool 2 - Conv 16@3x3 - ReLU - MaxPool 2 - Dense 10
  (5,258 parameters).
- ``fc-baseline``: the lesson's fully connected comparison, 784 - Dense 128 - ReLU - Dense 10 (101,770).
- ``lenet5``: LeCun's 1998 layout for 28x28 digits: tanh and average pooling (61,706).
- ``mnist99``: two padded conv blocks of 32 and 64 filters, Dense 128 with dropout, for 99%+ (421,642).
"""

from __future__ import annotations

from importlib.resources import files

from cnnlab.engine.spec import NetSpec, SpecError

PRESET_NAMES = ("seed", "fc-baseline", "lenet5", "mnist99")


def load_preset(name: str) -> NetSpec:
    if name not in PRESET_NAMES:
        raise SpecError(f"unknown preset {name!r}; the presets are {', '.join(PRESET_NAMES)}")
    # One path step at a time: in the frozen app the package is a MultiplexedPath, whose joinpath takes
    # a single argument on Python 3.11.
    text = (files("cnnlab.assets") / "presets" / f"{name}.json").read_text(encoding="utf-8")
    return NetSpec.from_json(text)
