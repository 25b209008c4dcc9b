"""The headless CLI's work: settings from command-line values, evaluating a checkpoint, classifying
images, and the metrics report. Printing stays in ``cnnlab.cli``; decoding image files stays there too
(this floor receives arrays).

Everything read from a checkpoint's metadata here is checked before use (``ConfigError`` naming the
file and the field), and a network's input shape is checked against the images it is about to get.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cnnlab.data import (
    DATASETS,
    Dataset,
    DatasetNotFound,
    EmptyDrawing,
    load_dataset,
    mix_name,
    parse_share,
    prepare_image,
)
from cnnlab.engine import Budget, Checkpoint, NetSpec, Network, SpecError, load_preset, read_spec_file
from cnnlab.training import checks
from cnnlab.training.config import ConfigError, TrainConfig, recommended_settings
from cnnlab.training.files import WriteError, jsonable
from cnnlab.training.metrics import evaluate_network
from cnnlab.training.parallel import default_workers
from cnnlab.training.snapshot import Snapshot


def load_spec(
    preset: str | None = None, spec_path: str | Path | None = None, budget: Budget | None = None
) -> NetSpec:
    """The network to train: a preset by name, or a spec JSON file (``SpecError``/``ConfigError``),
    validated within ``budget`` (default ``Budget()``)."""
    if preset is not None and spec_path is not None:
        raise ConfigError("give either a preset or a spec file, not both")
    if spec_path is None:
        return load_preset(preset or "seed")
    path = Path(spec_path)
    spec = read_spec_file(path)  # bounded: a regular file, its size and nesting (SpecError naming it)
    try:
        spec.validate(budget=budget)
    except SpecError as exc:
        raise SpecError(f"{path.name}: {exc}") from None
    if not spec.name:
        spec = NetSpec(spec.input_shape, spec.layers, path.stem)
    return spec


def make_config(
    spec: NetSpec | None,
    dataset: str | None,
    *,
    resume: Checkpoint | None = None,
    **overrides: Any,
) -> TrainConfig:
    """The run's settings: the checkpoint's own when resuming, else the recommended ones for this
    network and dataset; then every override that is not None (values the user gave). A new run
    without ``workers`` gets ``parallel.default_workers()`` (the idle cores)."""
    given = {k: v for k, v in overrides.items() if v is not None}
    if resume is not None and "config" in resume.metadata:
        if spec is not None:
            raise ConfigError("a resumed run keeps its own network; leave out --preset and --spec")
        try:
            saved = dict(checks.mapping(resume.metadata["config"], "config"))
            # The network is the checkpoint's own (checked with its weights), whatever the copy says.
            saved["spec"] = resume.spec.to_dict()
            base = TrainConfig.from_dict(saved)
        except (ConfigError, SpecError) as exc:
            raise ConfigError(f"{_label(resume)}: its training settings cannot be used: {exc}") from None
        if dataset is not None:
            given["dataset"] = dataset
    else:
        if spec is None:
            spec = resume.spec if resume is not None else load_preset("seed")
        dataset = dataset or (checkpoint_dataset(resume) if resume is not None else None) or "mnist"
        base = TrainConfig(spec=spec, dataset=dataset, **recommended_settings(spec.name, dataset))
        given.setdefault("workers", default_workers())
    try:
        return base.replace(**given)
    except TypeError as exc:  # an unknown setting: a programming slip, said plainly all the same
        raise ConfigError(str(exc)) from None


def _label(checkpoint: Checkpoint) -> str:
    return Path(checkpoint.path).name if checkpoint.path is not None else "the checkpoint"


def prepare_out(out: str | Path) -> Path:
    """The CLI's ``--out`` folder, made now (before training), so that a path below a file or a folder
    that cannot be written to is said at once; ``WriteError`` (one line) if it cannot be."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {out}: exists and is not a folder")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise WriteError(out, exc) from None
    if not os.access(out, os.W_OK):
        raise ConfigError(f"--out {out}: this folder cannot be written to")
    return out


def dataset_name(dataset: str | None, mix: str | None = None) -> str | None:
    """``--dataset`` with ``--mix OTHER:SHARE`` as one dataset name (``mine+mnist:0.7``, see
    ``cnnlab.data.mixing``); ``DataError`` for a mix that cannot be written so."""
    if mix is None:
        return dataset
    if dataset is None:
        raise ConfigError("--mix needs --dataset: the dataset it is mixed into, such as --dataset mine")
    return mix_name(dataset, *parse_share(mix))


def starting_weights(checkpoint: Checkpoint) -> Checkpoint:
    """Only the weights of ``checkpoint``: a session given it starts a fresh run from them (fine-tuning),
    with its own settings, schedule and optimizer state."""
    return dataclasses.replace(checkpoint, optimizer_state=None, metadata={})


def load_data(name: str, data_dir: str | Path | None = None) -> Dataset:
    """``load_dataset`` whose not-found message also offers the generated digits."""
    try:
        return load_dataset(name, data_dir)
    except DatasetNotFound as exc:
        raise DatasetNotFound(f"{exc}; or try it now on generated digits with --dataset synthetic") from None


@dataclass(frozen=True)
class Evaluation:
    """A network measured on a test set."""

    accuracy: float
    loss: float
    per_class_accuracy: np.ndarray  # (K,), NaN for a class with no examples
    confusion: np.ndarray  # (K, K), rows = true class
    class_names: tuple[str, ...]
    count: int

    def to_dict(self) -> dict[str, Any]:
        return jsonable(
            {
                "accuracy": self.accuracy,
                "test_accuracy": self.accuracy,
                "loss": self.loss,
                "count": self.count,
                "class_names": list(self.class_names),
                "per_class_accuracy": self.per_class_accuracy,
                "confusion": self.confusion,
            }
        )


def evaluate(
    network: Network, dataset: Dataset, *, limit: int | None = None, chunk: int = 1000
) -> Evaluation:
    """Accuracy, loss, per-class accuracy and confusion of ``network`` on the dataset's test images."""
    images, labels = dataset.test_images, dataset.test_labels
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    num_classes = len(dataset.class_names)
    if network.num_classes != num_classes:
        raise ConfigError(
            f"the network has {network.num_classes} outputs but {dataset.name} has {num_classes} classes"
        )
    if len(labels) == 0:
        raise ConfigError(f"{dataset.name} has no test images to evaluate on")
    if network.spec is not None:
        checks.check_input_shape(network.spec.input_shape, (1, *images.shape[1:]), dataset.name)
    accuracy, loss, per_class, confusion = evaluate_network(network, images, labels, num_classes, chunk)
    return Evaluation(
        accuracy=accuracy,
        loss=loss,
        per_class_accuracy=per_class,
        confusion=confusion,
        class_names=tuple(dataset.class_names),
        count=len(labels),
    )


def checkpoint_dataset(checkpoint: Checkpoint) -> str:
    """The dataset a checkpoint was trained on (``mnist`` when it does not say); ``ConfigError`` when
    what it says is not a dataset's name."""
    meta = checkpoint.metadata
    config = meta.get("config")
    if not isinstance(config, dict):
        config = {}
    name = meta.get("dataset") or config.get("dataset") or "mnist"
    try:
        return checks.text(name, "dataset", 64)
    except ConfigError as exc:
        raise ConfigError(f"{_label(checkpoint)}: its metadata field {exc}") from None


def checkpoint_class_names(checkpoint: Checkpoint) -> tuple[str, ...]:
    """Class names from the checkpoint, else from its dataset, else the output indices."""
    names = checkpoint.metadata.get("class_names")
    outputs = int(checkpoint.spec.output_shape()[0])
    if isinstance(names, list) and len(names) == outputs and all(isinstance(n, str) for n in names):
        return tuple(checks.shown(n, 40) if len(n) > 40 else n for n in names)
    info = DATASETS.get(checkpoint_dataset(checkpoint))
    if info is not None and info.num_classes == outputs:
        return info.class_names
    return tuple(str(i) for i in range(outputs))


@dataclass(frozen=True)
class Prediction:
    """The top classes for one image, most likely first: (class index, class name, probability)."""

    source: str
    top: tuple[tuple[int, str, float], ...]
    probabilities: np.ndarray  # (K,)

    def to_dict(self) -> dict[str, Any]:
        return {
            "image": self.source,
            "top": [{"class": i, "name": name, "probability": p} for i, name, p in self.top],
        }


def classify(
    network: Network,
    drawings: Sequence[np.ndarray],
    class_names: Sequence[str],
    *,
    sources: Sequence[str] | None = None,
    top: int = 3,
) -> list[Prediction]:
    """Prepare each image MNIST-style (``cnnlab.data.prepare_image``, as the app does) and classify it.

    Raises ``EmptyDrawing`` (a ``DataError``) for an image with no ink.
    """
    sources = list(sources) if sources is not None else [f"image {i + 1}" for i in range(len(drawings))]
    if not drawings:
        return []
    if network.spec is not None:
        checks.check_input_shape(network.spec.input_shape, (1, 28, 28), "an image prepared MNIST-style")
    prepared = []
    for source, drawing in zip(sources, drawings, strict=True):
        try:
            prepared.append(prepare_image(drawing))
        except EmptyDrawing as exc:
            raise EmptyDrawing(f"{source}: {exc}") from None
        except ValueError as exc:  # not an image shape or type the preprocessing accepts
            raise ConfigError(f"{source}: {exc}") from None
    x = np.stack(prepared)[:, None]
    probs = network.predict_proba(x)
    k = max(1, min(top, probs.shape[1]))
    predictions = []
    for source, p in zip(sources, probs, strict=True):
        best = np.argsort(-p, kind="stable")[:k]
        predictions.append(Prediction(source, tuple((int(i), class_names[i], float(p[i])) for i in best), p))
    return predictions


def metrics_report(snapshot: Snapshot, evaluation: Evaluation | None = None, **more: Any) -> dict[str, Any]:
    """``metrics.json``: the final test figures and the per-epoch table, plus the run's settings.

    ``evaluation`` (a final test evaluation, e.g. after a stop in the middle of an epoch) wins over the
    snapshot's latest figures.
    """
    h = snapshot.history
    epochs = []
    for i in range(len(h.epoch_steps)):
        epochs.append(
            {
                "epoch": i + 1,
                "step": int(h.epoch_steps[i]),
                "train_loss": float(h.epoch_train_loss[i]),
                "train_accuracy": float(h.epoch_train_accuracy[i]),
                "test_accuracy": float(h.test_accuracy[i]),
                "test_loss": float(h.test_loss[i]) if h.test_loss is not None else None,
                "seconds": float(h.epoch_seconds[i]),
            }
        )
    if evaluation is not None:
        test = {
            "test_accuracy": evaluation.accuracy,
            "test_loss": evaluation.loss,
            "per_class_accuracy": evaluation.per_class_accuracy,
            "confusion": evaluation.confusion,
        }
    else:
        test = {
            "test_accuracy": snapshot.test_accuracy,
            "test_loss": epochs[-1]["test_loss"] if epochs else None,
            "per_class_accuracy": snapshot.per_class_accuracy,
            "confusion": snapshot.confusion,
        }
    config = snapshot.config
    report = {
        **test,
        "class_names": list(snapshot.class_names),
        "epochs": epochs,
        "status": snapshot.event,
        "message": snapshot.message,
        "steps": snapshot.step,
        "images_seen": snapshot.images_seen,
        "elapsed_seconds": snapshot.elapsed,
        "images_per_s": snapshot.images_per_s,
        "dataset": snapshot.dataset,
        "spec": snapshot.spec.name,
        "param_count": snapshot.spec.num_params(),
        "run_id": snapshot.run_id,
        "config": config.to_dict() if config is not None else None,
        "checkpoint": snapshot.extra.get("checkpoint"),
        **more,
    }
    return jsonable(report)
