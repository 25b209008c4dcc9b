"""What the run controls say: their labels, enabled states and tooltips follow the run's state.

One set of controls (the toolbar's actions, also in the Train menu), so each must say exactly what it
would do now: Start starts fresh or continues a loaded network, Pause becomes Resume, and so on.
"""

from __future__ import annotations

from PySide6.QtWidgets import QStyle


def say_what_the_run_controls_do(a, controller, state, style) -> None:
    """``a``: the window's actions; ``controller``: the ``TrainingController``; ``state``: the
    ``AppState``; ``style``: the window's ``QStyle`` (for the pause/resume icon)."""
    active = controller.is_running()
    paused = controller.is_paused()
    seed = state.config.seed
    a["start"].setEnabled(not active)
    if active:
        a["start"].setText("&Start")
        start_tip = (
            "A run is paused: Resume (Space) goes on with it; Stop ends it before a new one can start."
            if paused
            else "A run is going: Stop it (Esc) before starting a new one."
        )
    elif state.checkpoint is not None:
        a["start"].setText("&Continue")
        start_tip = "Continue training the loaded network from where it was saved (Ctrl+Enter)."
    elif state.snapshot is not None:
        a["start"].setText("&Start new run")
        start_tip = (
            f"Start a new run from fresh random weights (seed {seed}) with the current settings; "
            "the last run stays in Compare (Ctrl+Enter)."
        )
    else:
        a["start"].setText("&Start")
        start_tip = (
            f"Train the network from fresh random weights (seed {seed}) with the current settings "
            "(Ctrl+Enter)."
        )
    a["start"].setToolTip(start_tip)
    a["pause"].setEnabled(active)
    a["pause"].setText("&Resume" if paused else "&Pause")
    a["pause"].setToolTip(
        "Go on training from where the run paused (Space)."
        if paused
        else "Pause training between two steps; the views keep the latest state (Space)."
    )
    a["pause"].setIcon(style.standardIcon(QStyle.SP_MediaPlay if paused else QStyle.SP_MediaPause))
    a["stop"].setEnabled(active)
    a["step"].setEnabled(not active or paused)
    a["step"].setToolTip(
        "Train exactly one more batch, then pause again (S)."
        if paused
        else "Start a run that trains exactly one batch and then pauses (S)."
    )
    a["step_epoch"].setEnabled(not active or paused)
    a["step_epoch"].setToolTip(
        "Train to the end of this epoch, measure the test set, then pause (E)."
        if paused
        else "Start a run that trains one epoch, measures the test set, then pauses (E)."
    )
