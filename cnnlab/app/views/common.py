"""What the inspection views share: networks for looking inside (never the one being trained), theme
colours, and wiring a view to the window's ``AppState``.

``SnapshotNetwork`` keeps one private network per architecture and loads a snapshot's (read-only, copied)
weights into it; views that are handed snapshots predict with it, so nothing here ever touches the live
network in the training thread. ``as_network`` accepts what the window may hand a view: a ``Network``,
a ``Checkpoint`` (``load_checkpoint(path)``), or None.
"""

from __future__ import annotations

import numpy as np
from PySide6.QtGui import QColor

from cnnlab.app.widgets import colormaps
from cnnlab.engine import Checkpoint, NetSpec, Network, build


class SnapshotNetwork:
    def __init__(self) -> None:
        self.network: Network | None = None
        self._spec_json: str | None = None

    def update(self, snapshot) -> Network:
        """The private network holding ``snapshot.weights`` (rebuilt only when the spec changes)."""
        return self.load(snapshot.spec, snapshot.weights)

    def load(self, spec: NetSpec, weights) -> Network:
        text = spec.to_json(indent=None)
        if self.network is None or text != self._spec_json:
            self.network = build(spec, np.random.default_rng(0))
            self._spec_json = text
        self.network.load_state_dict(dict(weights))
        return self.network


def as_network(obj) -> Network | None:
    if obj is None or isinstance(obj, Network):
        return obj
    if isinstance(obj, Checkpoint):
        return obj.build_network()
    raise TypeError(f"expected a Network or a Checkpoint, got {type(obj).__name__}")


def class_names_for(network: Network | None, class_names=None) -> tuple[str, ...]:
    if class_names is not None:
        return tuple(str(n) for n in class_names)
    k = network.num_classes if network is not None else 10
    return tuple(str(i) for i in range(max(k, 0)))


def private_copy(network: Network) -> Network:
    """A network of the same spec holding copies of ``network``'s weights (for work spread over time,
    which must not see the weights change half-way)."""
    copy = build(network.spec, np.random.default_rng(0))
    copy.load_state_dict(network.state_dict())
    return copy


def theme_colors(theme) -> dict[str, tuple[int, int, int] | QColor]:
    """The colours the inspection views take from an ``app.theme.Theme`` (or the defaults without one)."""
    if theme is None:
        return {
            "background": QColor(255, 255, 255),
            "foreground": QColor(40, 44, 52),
            "good": colormaps.CORRECT,
            "bad": colormaps.WRONG,
        }
    return {
        "background": QColor(theme.plot_background),
        "foreground": QColor(theme.plot_foreground),
        "good": QColor(theme.good).getRgb()[:3],
        "bad": QColor(theme.bad).getRgb()[:3],
    }


def bind(view, state, *, network: bool = False, snapshot: bool = False, dataset: bool = False) -> None:
    """Connect a view to an ``AppState``: the inspector network, snapshots, the dataset and the theme go
    to the view's ``set_network``, ``set_snapshot``, ``set_dataset`` and ``apply_theme``, now and on
    every change. Views never hold the state otherwise, so they also work without one (tests, scripts)."""
    if state is None:
        return
    if hasattr(view, "apply_theme"):
        state.themeChanged.connect(view.apply_theme)
        view.apply_theme(state.theme)
    if dataset:
        state.datasetChanged.connect(view.set_dataset)
        if state.dataset is not None:
            view.set_dataset(state.dataset)
    if network:

        def push(net) -> None:
            view.set_network(net, state.class_names)

        state.inspectorChanged.connect(push)
        push(state.inspector())
    if snapshot:
        state.snapshotChanged.connect(view.set_snapshot)
        if state.snapshot is not None:
            view.set_snapshot(state.snapshot)
