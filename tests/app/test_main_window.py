"""The main window on real widgets, offscreen: training in its worker thread, steered from the GUI."""

from __future__ import annotations

import numpy as np
import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from cnnlab.engine import NetSpec, load_preset
from cnnlab.training import TrainingSession

WAIT = 20_000


def weights_equal(a, b) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


def wait_for_step(qtbot, lab, step: int) -> None:
    qtbot.waitUntil(lambda: lab.state.snapshot is not None and lab.state.snapshot.step >= step, timeout=WAIT)


def wait_idle(qtbot, lab) -> None:
    """Until the run's thread has ended and its end (and last snapshot) has reached the window."""
    qtbot.waitUntil(
        lambda: lab.controller.active_threads() == 0 and not lab.controller.is_running(), timeout=WAIT
    )


def test_start_trains_in_a_worker_and_delivers_snapshots(qtbot, lab):
    received = []
    lab.state.snapshotChanged.connect(received.append)
    assert lab.start_training()
    wait_for_step(qtbot, lab, 8)
    assert lab.state.run_state == "running"
    steps = [s.step for s in received if s is not None]
    # In order; the runner hands the window only the newest snapshot when it lags, so the first one may
    # already be past step 0.
    assert steps and steps == sorted(steps)
    snap = lab.state.snapshot
    assert snap.loss is not None and np.isfinite(snap.loss)
    assert len(snap.history.steps) == snap.step
    # The views read the snapshot, never the live network: the inspector is a separate object.
    assert lab.state.inspector() is not lab.controller.session.network
    lab.stop_training()
    wait_idle(qtbot, lab)
    assert lab.state.run_state == "stopped"
    assert lab.state.snapshot.event == "stopped"


@pytest.mark.slow
def test_pause_step_exactly_one_batch_resume_stop(qtbot, lab):
    lab.start_training()
    wait_for_step(qtbot, lab, 3)
    lab.toggle_pause()
    assert lab.state.run_state == "paused"
    qtbot.waitUntil(lambda: lab.state.snapshot.paused, timeout=WAIT)
    paused = lab.state.snapshot
    qtbot.wait(300)
    assert lab.state.snapshot.step == paused.step, "training went on while paused"

    lab.step_batch()
    qtbot.waitUntil(
        lambda: lab.state.snapshot.step == paused.step + 1 and lab.state.snapshot.paused, timeout=WAIT
    )
    stepped = lab.state.snapshot
    assert stepped.images_seen == paused.images_seen + 64
    assert not weights_equal(stepped.weights, paused.weights), "one step must change the weights"
    qtbot.wait(300)
    assert lab.state.snapshot.step == paused.step + 1, "a step must train exactly one batch"
    assert weights_equal(lab.state.snapshot.weights, stepped.weights), "the weights changed while paused"

    lab.toggle_pause()  # resume
    assert lab.state.run_state == "running"
    wait_for_step(qtbot, lab, stepped.step + 3)
    assert not lab.state.snapshot.paused
    lab.stop_training()
    wait_idle(qtbot, lab)
    assert lab.state.snapshot.event == "stopped"
    assert not lab.actions["stop"].isEnabled() and lab.actions["start"].isEnabled()


def test_step_when_idle_starts_a_paused_run_with_one_batch(qtbot, lab):
    lab.step_batch()
    qtbot.waitUntil(lambda: lab.state.snapshot is not None and lab.state.snapshot.step == 1, timeout=WAIT)
    qtbot.waitUntil(lambda: lab.state.snapshot.paused, timeout=WAIT)
    assert lab.state.run_state == "paused"
    qtbot.wait(200)
    assert lab.state.snapshot.step == 1


def test_step_epoch_trains_to_the_epoch_end_then_pauses(qtbot, lab):
    lab.step_epoch()
    qtbot.waitUntil(lambda: lab.state.snapshot is not None and lab.state.snapshot.paused, timeout=WAIT)
    snap = lab.state.snapshot
    assert snap.epoch == 1 and snap.step == snap.steps_per_epoch == 10
    assert snap.test_accuracy is not None
    assert lab.state.run_state == "paused"


def test_live_settings_reach_the_running_session(qtbot, lab):
    lab.start_training()
    wait_for_step(qtbot, lab, 2)
    controls = lab.panel("controls")
    controls.lr.setValue(0.01)
    controls.batch_size.setValue(32)
    qtbot.waitUntil(
        lambda: (
            lab.state.snapshot.hyperparameters["lr"] == pytest.approx(0.01)
            and lab.state.snapshot.hyperparameters["batch_size"] == 32
        ),
        timeout=WAIT,
    )
    assert not controls.run_group.isEnabled(), "settings fixed for the run are locked while it goes"
    assert controls.live_group.isEnabled()
    lab.stop_training()
    wait_idle(qtbot, lab)
    assert controls.run_group.isEnabled()


class ExplodingSession(TrainingSession):
    """Trains two steps, then fails the way a bug deep in a layer would."""

    def run(self):
        for snapshot in super().run():
            yield snapshot
            if self.step_count >= 2:
                raise RuntimeError("a layer blew up at step 2")


def test_an_exception_in_the_worker_is_shown_and_the_app_goes_on(qtbot, lab):
    lab.controller.session_factory = ExplodingSession
    lab.start_training()
    qtbot.waitUntil(lambda: lab.banner.isVisible(), timeout=WAIT)
    assert "a layer blew up at step 2" in lab.banner.text()
    assert "RuntimeError" in lab.banner.details  # the traceback, behind "Details..."
    assert lab.state.run_state == "failed"
    wait_idle(qtbot, lab)

    lab.controller.session_factory = TrainingSession
    lab.start_training()
    assert not lab.banner.isVisible()
    wait_for_step(qtbot, lab, 3)
    lab.stop_training()
    wait_idle(qtbot, lab)


def test_a_spec_that_does_not_fit_the_data_is_refused_with_its_reason(qtbot, lab):
    wrong = NetSpec.from_dict(
        {**load_preset("seed").to_dict(), "layers": [{"type": "flatten"}, {"type": "dense", "units": 7}]}
    )
    lab.state.set_spec(wrong)
    assert not lab.start_training()
    assert lab.banner.isVisible()
    assert "Training could not start" in lab.banner.text()
    assert lab.controller.active_threads() == 0


@pytest.mark.slow  # fifty runs started and stopped
def test_starting_and_stopping_fifty_times_leaves_no_thread_running(qtbot, lab):
    for i in range(50):
        assert lab.start_training(), lab.last_error
        if i % 10 == 0:
            wait_for_step(qtbot, lab, 1)
        lab.stop_training()
        qtbot.waitUntil(lambda: not lab.controller.is_running(), timeout=WAIT)
    wait_idle(qtbot, lab)
    assert lab.controller.active_threads() == 0
    assert lab.state.run_state == "stopped"


def test_reset_discards_the_run_and_goes_back_to_fresh_weights(qtbot, lab):
    fresh = lab.state.inspector().state_dict()
    lab.start_training()
    wait_for_step(qtbot, lab, 5)
    lab.reset()
    assert lab.state.snapshot is None and lab.state.run_state == "idle"
    wait_idle(qtbot, lab)
    qtbot.wait(100)
    assert lab.state.snapshot is None, "a discarded run's late snapshots must be ignored"
    assert weights_equal(lab.state.inspector().state_dict(), fresh)
    assert lab.curves.readout_text().startswith("No training yet")


def test_inspector_follows_the_snapshots_not_the_live_network(qtbot, lab):
    lab.step_batch()
    qtbot.waitUntil(lambda: lab.state.snapshot is not None and lab.state.snapshot.paused, timeout=WAIT)
    net = lab.state.inspector()
    assert weights_equal(net.state_dict(), lab.state.snapshot.weights)
    x = lab.state.dataset.test_images[:4][:, None].astype(np.float32) / 255
    assert np.allclose(net.predict_proba(x).sum(axis=1), 1, atol=1e-5)


def test_checkpoint_save_and_open(qtbot, lab, tmp_path):
    lab.start_training()
    wait_for_step(qtbot, lab, 4)
    path = tmp_path / "mid-run.npz"
    assert lab.save_checkpoint_file(path)  # served by the training thread between two steps
    qtbot.waitUntil(path.exists, timeout=WAIT)
    lab.stop_training()
    wait_idle(qtbot, lab)
    finished = tmp_path / "after.npz"
    assert lab.save_checkpoint_file(finished)
    saved = lab.state.snapshot.weights

    lab.reset()
    assert lab.open_checkpoint_file(finished)
    assert weights_equal(lab.state.inspector().state_dict(), saved)
    assert not lab.open_checkpoint_file(tmp_path / "missing.npz")
    assert "Could not open the checkpoint" in lab.banner.text()


def test_export_plots_as_png(qtbot, lab, tmp_path):
    lab.step_epoch()
    qtbot.waitUntil(lambda: lab.state.snapshot is not None and lab.state.snapshot.paused, timeout=WAIT)
    path = tmp_path / "curves.png"
    assert lab.export_plots_file(path)
    image = QImage(str(path))
    assert not image.isNull() and image.width() > 100 and image.height() > 100


def test_every_command_has_a_shortcut_and_a_tooltip_and_help_lists_them(qtbot, lab):
    for key in ("start", "pause", "step", "step_epoch", "stop", "reset"):
        action = lab.actions[key]
        assert action.shortcuts() or "\t" in action.text(), key  # Stop's Esc is a soft key
        assert len(action.toolTip()) > 20, key
    dialog = lab.show_shortcuts()
    table = lab.shortcuts_table
    keys = {table.item(r, 0).text() for r in range(table.rowCount())}
    assert {"Space", "S", "E", "R", "Esc", "F1"} <= keys
    dialog.close()
    controls = lab.panel("controls")
    for widget in controls._editors.values():
        assert widget.toolTip(), widget


def test_space_pauses_and_resumes_through_the_keyboard(qtbot, lab):
    lab.start_training()
    wait_for_step(qtbot, lab, 2)
    lab.curves.setFocus()
    qtbot.keyClick(lab, Qt.Key_Space)
    assert lab.controller.is_paused()
    qtbot.keyClick(lab, Qt.Key_Space)
    assert not lab.controller.is_paused()
    qtbot.keyClick(lab, Qt.Key_Escape)  # no panel wants Esc here: it stops the run
    wait_idle(qtbot, lab)
    assert lab.state.run_state == "stopped"
    assert "Esc" in lab.actions["stop"].text()


def test_theme_switch_changes_palette_and_plots(qtbot, lab, qapp):
    light = qapp.palette().window().color().name()
    lab.toggle_theme()
    assert lab.state.theme.name == "dark"
    assert qapp.palette().window().color().name() != light
    assert lab.theme_actions["dark"].isChecked()
    lab.toggle_theme()
    assert lab.state.theme.name == "light"


def test_build_spec_asks_then_stops_the_run_and_uses_fresh_weights(qtbot, lab):
    lab.start_training()
    wait_for_step(qtbot, lab, 2)
    lab.confirm = lambda question: False
    assert not lab.build_spec(load_preset("lenet5"))
    assert lab.controller.is_running()
    lab.confirm = lambda question: True
    assert lab.build_spec(load_preset("lenet5"))
    assert lab.state.preset == "lenet5" and lab.state.snapshot is None
    wait_idle(qtbot, lab)
    assert lab.state.inspector().num_params == load_preset("lenet5").num_params()


def test_norms_and_curves_show_the_run_and_hidden_tabs_wait(qtbot, lab):
    norms = lab.panel("norms")
    assert not norms.isVisible(), "a panel in a tab behind another is hidden, so it does not redraw"
    lab.step_epoch()
    qtbot.waitUntil(lambda: lab.state.snapshot is not None and lab.state.snapshot.paused, timeout=WAIT)
    lab.show_panel("norms")
    qtbot.waitUntil(norms.isVisible, timeout=WAIT)
    qtbot.waitUntil(lambda: norms.shown_names() == ("conv1.W", "conv2.W", "dense1.W"), timeout=WAIT)
    _, grads = norms.curves["conv1.W"][1].getData()
    assert grads is not None and np.isfinite(grads[1:]).all()
    assert np.isnan(grads[0]), "no gradient before the first step: a gap on the log axis, not a fake 0"
    norms.biases.setChecked(True)
    assert "conv1.b" in norms.shown_names()
    lab.curves.flush()
    x, y = lab.curves.acc_test.getData()
    assert list(x) == [10] and 0 <= y[0] <= 100
    assert "test" in lab.curves.readout_text()
    lab.curves.log_loss.setChecked(True)
    lab.curves.flush()
