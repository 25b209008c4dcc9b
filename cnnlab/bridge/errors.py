"""The one error the bridge raises, and the check that its optional packages are there."""

from __future__ import annotations

import importlib.util
import sys

# What each file format needs beyond cnnlab's floors, by the package's import name.
NEEDS = {"onnx": ("onnx",), "pytorch": ("safetensors",)}
_WHAT = {"onnx": "ONNX export and import", "pytorch": "PyTorch export"}


class BridgeError(ValueError):
    """A model that cannot cross the bridge, or a package missing for it: one line naming the file,
    the layer or the node, and what is wrong."""


def missing_package(package: str, what: str) -> BridgeError:
    if getattr(sys, "frozen", False):  # the one-folder bundle leaves ONNX out to stay small
        return BridgeError(
            f"{what} is not part of this bundle of cnnlab (its '{package}' package is left out to keep "
            "the bundle small); cnnlab installed with pip has it"
        )
    return BridgeError(
        f"{what} needs the '{package}' package, which this installation of cnnlab lacks "
        f"(pip install {package})"
    )


def unavailable(fmt: str) -> str | None:
    """None if ``fmt`` ("onnx" or "pytorch") can be written here; else why not, in one line.

    Looks the packages up without importing them (importing onnx takes most of a second), so a menu
    can ask this at start-up.
    """
    for package in NEEDS[fmt]:
        if importlib.util.find_spec(package) is None:
            return str(missing_package(package, _WHAT[fmt]))
    return None
