"""Make the PyTorch-exported ONNX files the import tests read (tests/bridge/fixtures/).

Needs torch (and onnxscript for the newer exporter), which cnnlab does not depend on; run it in a
throwaway environment:

    python -m venv /tmp/torchenv && /tmp/torchenv/bin/pip install torch onnx onnxscript
    /tmp/torchenv/bin/python tests/bridge/make_torch_fixtures.py

Each small network is exported by both of torch.onnx.export's exporters (TorchScript: dynamo=False;
torch.export: dynamo=True) with a free batch axis; small_cnn also with the newer exporter's default of
its weights in a file beside it. ``expected.npz`` holds one input batch ``x`` and PyTorch's output for it
under each file's name, so the tests compare cnnlab's import with PyTorch itself.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from torch import nn

HERE = Path(__file__).resolve().parent / "fixtures"


def small_cnn() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 4, 3),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(4, 6, 3, padding=1),
        nn.BatchNorm2d(6),
        nn.ReLU(),
        nn.AvgPool2d(2),
        nn.Flatten(),
        nn.Linear(6 * 6 * 6, 16),
        nn.ReLU(),
        nn.Dropout(0.25),
        nn.Linear(16, 10),
    )


def activations_mlp() -> nn.Module:
    return nn.Sequential(
        nn.Conv2d(1, 3, 5, stride=2),
        nn.LeakyReLU(0.1),
        nn.MaxPool2d(3, stride=2),  # overlapping windows
        nn.ELU(0.5),
        nn.Flatten(),
        nn.Linear(3 * 5 * 5, 12),
        nn.BatchNorm1d(12),
        nn.Tanh(),
        nn.Linear(12, 8),
        nn.Sigmoid(),
        nn.Linear(8, 10),
        nn.Softmax(dim=1),
    )


def padded_stride() -> nn.Module:
    """TensorFlow's 'same' for a stride-2 3x3 convolution on 28x28: one pixel at the bottom and right."""
    return nn.Sequential(
        nn.ZeroPad2d((0, 1, 0, 1)),
        nn.Conv2d(1, 4, 3, stride=2),
        nn.ReLU(),
        nn.AdaptiveAvgPool2d(1),
        nn.Flatten(),
        nn.Linear(4, 10),
    )


class Residual(nn.Module):
    """A skip connection: not a chain, so cnnlab must refuse it by name."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 1, 3, padding=1)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(28 * 28, 10))

    def forward(self, x):
        return self.head(x + self.conv(x))


class Upsampled(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.up = nn.Upsample(scale_factor=2)
        self.head = nn.Sequential(nn.Conv2d(1, 2, 3, stride=4), nn.Flatten(), nn.Linear(2 * 14 * 14, 10))

    def forward(self, x):
        return self.head(self.up(x))


NETS = {
    "small_cnn": small_cnn,
    "activations_mlp": activations_mlp,
    "padded_stride": padded_stride,
    "residual": Residual,
    "upsampled": Upsampled,
}


def randomise(model: nn.Module, gen: torch.Generator) -> None:
    """Running statistics that are not the defaults, so batch norm is really tested."""
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.running_mean.copy_(torch.randn(m.running_mean.shape, generator=gen) * 0.3)
            m.running_var.copy_(torch.rand(m.running_var.shape, generator=gen) + 0.5)
            m.weight.data.copy_(torch.rand(m.weight.shape, generator=gen) + 0.5)
            m.bias.data.copy_(torch.randn(m.bias.shape, generator=gen) * 0.1)


def export(model: nn.Module, x: torch.Tensor, path: Path, dynamo: bool, **more) -> None:
    if dynamo:
        more = {"dynamic_shapes": ({0: torch.export.Dim("batch")},), **more}
    else:
        more = {"dynamic_axes": {"input": {0: "batch"}, "output": {0: "batch"}}, **more}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # the newer exporter starts at opset 18
        torch.onnx.export(
            model,
            (x,),
            str(path),
            input_names=["input"],
            output_names=["output"],
            opset_version=18 if dynamo else 17,
            dynamo=dynamo,
            **more,
        )
    print(f"{path.name}: {path.stat().st_size:,} bytes")


def main() -> None:
    HERE.mkdir(exist_ok=True)
    gen = torch.Generator().manual_seed(15)
    x = torch.rand(5, 1, 28, 28, generator=gen)
    expected = {"x": x.numpy()}
    for name, make in NETS.items():
        torch.manual_seed(15)
        model = make()
        randomise(model, gen)
        model.eval()
        with torch.no_grad():
            y = model(x).numpy()
        for exporter, dynamo in (("ts", False), ("dynamo", True)):
            export(model, x, HERE / f"{name}_{exporter}.onnx", dynamo, external_data=False)
            expected[f"{name}_{exporter}"] = y
        if name == "small_cnn":
            export(model, x, HERE / f"{name}_external.onnx", True)  # writes small_cnn_external.onnx.data
            expected[f"{name}_external"] = y
    np.savez(HERE / "expected.npz", **expected)


if __name__ == "__main__":
    main()
