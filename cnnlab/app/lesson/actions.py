"""What each lesson step's button does to the lab. Each setup returns one line saying what it did."""

from __future__ import annotations

from typing import TYPE_CHECKING

from PySide6.QtCore import QObject

from cnnlab.app.lesson.steps import Step
from cnnlab.engine import NetSpec, load_preset
from cnnlab.training import TrainConfig

if TYPE_CHECKING:
    from cnnlab.app.main_window import MainWindow

# The lesson's exercises run one epoch each on the lesson's small training set, so a comparison of three
# runs takes about a minute on a laptop; the full set is one setting away.
EXERCISE_EPOCHS = 1
EXERCISE_TRAIN_IMAGES = 6000


def changed_layers(spec: NetSpec, kind: str, **changes) -> NetSpec:
    """``spec`` with every layer of type ``kind`` changed (``type`` itself may be among the changes)."""
    layers = []
    for layer in spec.layers:
        layer = dict(layer)
        if layer.get("type") == kind:
            layer.update(changes)
        layers.append(layer)
    return spec.replace_layers(layers)


class LessonActions(QObject):
    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window

    # -- plumbing ------------------------------------------------------------------------------------
    def run_step(self, step: Step) -> str:
        """Open the step's workspace and carry out its setup; the panel shows the returned line."""
        w = self.window
        w.show_workspace(step.workspace)
        result = ""
        if step.setup:
            result = getattr(self, step.setup)() or ""
        w.lesson.set_result(result)
        return result

    def on_step_shown(self, index: int) -> None:
        self.window.settings.setValue("lesson/step", index)

    def shutdown(self) -> None:
        pass

    # -- setups --------------------------------------------------------------------------------------
    def _use_preset(self, name: str) -> bool:
        w = self.window
        if w.state.preset == name and w.state.checkpoint is None:
            return True
        return w.build_spec(load_preset(name))

    def load_seed(self) -> str:
        if not self._use_preset("seed"):
            return "The network was kept as it is."
        spec = self.window.state.config.spec
        self.window.show_view("editor")
        return f"The seed network is loaded: {spec.num_params():,} parameters."

    def train_seed(self) -> str:
        w = self.window
        if w.controller.is_running():
            w.show_view("curves")
            return "A run is already going: watch its curves."
        if not self._use_preset("seed"):
            return "The network was kept as it is."
        settings = TrainConfig.recommended("seed", w.state.config.dataset)
        w.state.update_config(epochs=settings.epochs, batch_size=settings.batch_size, lr=settings.lr)
        w.show_view("curves")
        if w.start_training():
            return "Training started: the curves fill in as it learns."
        return w.last_error or "Training could not start."

    def show_filters(self) -> str:
        self.window.show_view("filters")
        return "The filters of the network the views show; train a little and watch them change."

    def show_feature_maps(self) -> str:
        w = self.window
        w.show_view("feature_maps")
        pad = w.view("drawing")
        if pad is not None:
            pad.pad.setFocus()
        return "Draw a digit on the pad: the maps follow every stroke."

    def _edit(self, spec: NetSpec, words: str) -> str:
        w = self.window
        editor = w.view("editor")
        if editor is None:
            return "The editor could not be opened."
        editor.set_spec(spec)
        w.show_view("editor")
        return f"{words} Press Build to make it, then train it (Train)."

    def edit_kernel_5(self) -> str:
        seed = load_preset("seed")
        layers = [dict(layer) for layer in seed.layers]
        layers[0]["kernel"] = 5
        return self._edit(seed.replace_layers(layers), "The first convolution now has 5x5 filters.")

    def edit_filters_double(self) -> str:
        seed = load_preset("seed")
        layers = [dict(layer) for layer in seed.layers]
        for layer in layers:
            if layer["type"] == "conv2d":
                layer["filters"] *= 2
        return self._edit(seed.replace_layers(layers), "Both convolutions now have twice the filters.")

    def edit_avg_pool(self) -> str:
        spec = changed_layers(load_preset("seed"), "maxpool2d", type="avgpool2d")
        return self._edit(spec, "Both pooling layers now average instead of taking the maximum.")

    def _sweep(self, setting: str, values: list, what: str) -> str:
        w = self.window
        started = w.start_sweep(
            setting,
            values,
            base=w.state.config.replace(
                spec=load_preset("seed"), epochs=EXERCISE_EPOCHS, train_limit=EXERCISE_TRAIN_IMAGES
            ),
        )
        if not started:
            return w.last_error or "The comparison could not start."
        return (
            f"Training {len(values)} runs one after another ({what}), one epoch on "
            f"{EXERCISE_TRAIN_IMAGES:,} images each; the results fill in below as each run ends."
        )

    def compare_cnn_fc(self) -> str:
        return self._sweep("preset", ["seed", "fc-baseline"], "the CNN, then the fully connected network")

    def sweep_lr(self) -> str:
        return self._sweep("lr", [0.001, 0.01, 0.1], "learning rates 0.001, 0.01 and 0.1")

    def sweep_batch(self) -> str:
        return self._sweep("batch_size", [16, 32, 64], "batch sizes 16, 32 and 64")

    def sweep_optimizer(self) -> str:
        return self._sweep("optimizer", ["plain-sgd", "sgd", "adam@0.001"], "SGD, SGD with momentum, Adam")

    def sweep_activation(self) -> str:
        return self._sweep(
            "activation", ["relu", "tanh", "sigmoid", "leaky_relu"], "ReLU, tanh, sigmoid, leaky ReLU"
        )
