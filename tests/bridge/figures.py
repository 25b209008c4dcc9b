"""Figures for the bridge, per preset: ONNX export and import times, file sizes, and the largest
difference between onnxruntime's outputs and the engine's (probabilities and logits, on random inputs and
on real MNIST digits when CNNLAB_DATA_DIR has them). Not a test: times are measured, never asserted.

    CNNLAB_DATA_DIR=/path/to/data .venv/bin/python -m tests.bridge.figures
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

from cnnlab.bridge import export_onnx, export_pytorch, read_onnx
from cnnlab.data.idx import read_idx
from cnnlab.engine import PRESET_NAMES, load_preset, softmax
from tests.bridge.nets import trained_looking
from tests.conftest import real_data_dir


def best_of(seconds: list[float]) -> str:
    return f"{min(seconds) * 1000:.1f} ms"


def main() -> None:
    rng = np.random.default_rng(17)
    folder = real_data_dir()
    digits = None
    if folder is not None:
        digits = (
            read_idx(folder / "mnist" / "t10k-images-idx3-ubyte.gz")[:1000].astype(np.float32)[:, None] / 255
        )
    noise = rng.random((1000, 1, 28, 28), dtype=np.float32)
    print(
        "preset       params   onnx file  export   import   pytorch dir  max |diff| probs (random/real)",
        end="",
    )
    print("  logits")
    with tempfile.TemporaryDirectory() as tmp:
        for name in PRESET_NAMES:
            net = trained_looking(load_preset(name), rng)
            path = Path(tmp) / f"{name}.onnx"
            export_s, import_s = [], []
            for _ in range(3):
                t = time.perf_counter()
                export_onnx(net, path)
                export_s.append(time.perf_counter() - t)
                t = time.perf_counter()
                read_onnx(path)
                import_s.append(time.perf_counter() - t)
            pt = export_pytorch(net, Path(tmp) / f"{name}-pt")
            pt_bytes = sum(p.stat().st_size for p in (pt.model, pt.weights, pt.readme))
            diffs = []
            logits_path = export_onnx(net, Path(tmp) / f"{name}-logits.onnx", output="logits")
            for model_path, output in ((path, "probs"), (logits_path, "logits")):
                session = ort.InferenceSession(str(model_path), providers=["CPUExecutionProvider"])
                for x in (noise, digits):
                    if x is None:
                        diffs.append("-")
                        continue
                    ours = net.forward(x)
                    ours = softmax(ours) if output == "probs" else ours
                    diffs.append(f"{np.abs(session.run(None, {'input': x})[0] - ours).max():.1e}")
            print(
                f"{name:<11} {net.num_params:>8,} {path.stat().st_size / 1024:>8.1f} KiB "
                f"{best_of(export_s):>8} {best_of(import_s):>8} {pt_bytes / 1024:>8.1f} KiB   "
                f"{diffs[0]} / {diffs[1]}"
                f"{'':>14}{diffs[2]} / {diffs[3]}"
            )


if __name__ == "__main__":
    main()
