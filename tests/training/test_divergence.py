"""Divergence is caught at the step where it happens, and the run goes back to one consistent step: its
weights, optimizer state, counters, random streams and curves all belong to the last good step."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cnnlab.engine import load_checkpoint
from cnnlab.training import Event, TrainingSession
from tests.training.conftest import seed_config, small_config


def quiet_config(**changes):
    """Snapshots only every 5 steps, never by time, no fast evaluations: what the session keeps as its
    last good point is known in advance."""
    settings = dict(snapshot_every=5, snapshot_seconds=1e9, eval_every=0, augment=True)
    settings.update(changes)
    return small_config(**settings)


def stopped_after(config, dataset, steps: int) -> TrainingSession:
    session = TrainingSession(config, dataset)
    session.pause()
    run = session.run()
    session.step(steps)
    for snapshot in run:
        if snapshot.event == Event.PAUSED and snapshot.step == steps:
            break
    session.stop()
    list(run)
    return session


def assert_consistent(path: Path, step: int) -> None:
    checkpoint = load_checkpoint(path)
    meta = checkpoint.metadata
    assert meta["step"] == step
    assert int(checkpoint.optimizer_state["steps"]) == step
    curve = meta["history"]["steps"]
    assert len(curve["step"]) == step and (not step or curve["step"][-1] == step)
    assert all(len(values) == step for values in curve.values())
    assert meta["images_seen"] == sum(min(32, 320 - (i * 32) % 320) for i in range(step))


def assert_same_arrays(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def inject(monkeypatch, session: TrainingSession, at_step: int, where: str) -> None:
    """Make step ``at_step`` go bad: its loss NaN ("loss"), its gradients NaN ("grads") or, after the
    update, a weight infinite ("weights")."""
    network, optimizer = session.network, session.optimizer
    compute, update = network.compute_gradients, optimizer.step

    def compute_gradients(x, y):
        loss, logits = compute(x, y)
        if session.step_count + 1 == at_step:
            if where == "loss":
                return float("nan"), logits
            if where == "grads":
                network.layers[0].grads["W"][0, 0, 0, 0] = np.inf
        return loss, logits

    def step():
        update()
        if where == "weights" and session.step_count + 1 == at_step:
            network.layers[-1].params["W"][0, 0] = np.inf

    monkeypatch.setattr(network, "compute_gradients", compute_gradients)
    monkeypatch.setattr(optimizer, "step", step)


@pytest.mark.parametrize(
    ("where", "back_to", "words"),
    [
        ("loss", 6, "The loss became nan at step 7"),
        ("grads", 6, "The gradients of conv1.W became too large to represent (NaN or infinite) at step 7"),
        # The update itself went bad: back to the last snapshot (every 5 steps).
        ("weights", 5, "The weights of dense1.W became too large to represent (NaN or infinite) at step 7"),
    ],
)
def test_a_bad_step_is_caught_where_it_happens_and_the_state_is_consistent(
    tiny, tmp_path: Path, monkeypatch, where, back_to, words
):
    config = quiet_config()
    end = tmp_path / "end.npz"
    session = TrainingSession(config, tiny, checkpoint_path=end)
    inject(monkeypatch, session, 7, where)
    snaps = list(session.run())
    final = snaps[-1]
    assert final.event == Event.DIVERGED and not final.running
    assert final.message.startswith(words) and f"after step {back_to}" in final.message
    assert final.step == back_to == session.step_count == final.extra["restored_step"]
    assert len(final.history.loss) == back_to and session.optimizer.steps == back_to
    assert all(np.isfinite(w).all() for w in final.weights.values())
    assert_consistent(end, back_to)

    # The same state as a run that simply stopped there, bit for bit, optimizer state included...
    reference = stopped_after(config, tiny, back_to)
    saved = load_checkpoint(end)
    assert_same_arrays(saved.weights, reference.network.state_dict())
    assert_same_arrays(saved.optimizer_state, reference.optimizer.state_dict())
    assert saved.metadata["data_rng"] == reference.checkpoint_metadata()["data_rng"]

    # ... so resuming it continues exactly as a run that never went wrong.
    monkeypatch.undo()
    resumed = TrainingSession(config, tiny, checkpoint=saved)
    resumed_snaps = list(resumed.run())
    straight = TrainingSession(config, tiny)
    straight_snaps = list(straight.run())
    assert_same_arrays(resumed.network.state_dict(), straight.network.state_dict())
    np.testing.assert_array_equal(resumed_snaps[-1].history.loss, straight_snaps[-1].history.loss)


def test_a_real_divergence_leaves_a_consistent_checkpoint(tiny, tmp_path: Path):
    """A learning rate of a million: whichever way it goes bad, the end state is one step's."""
    end = tmp_path / "end.npz"
    session = TrainingSession(
        seed_config(lr=1e6, schedule="constant", snapshot_every=50), tiny, checkpoint_path=end
    )
    final = list(session.run())[-1]
    assert final.event == Event.DIVERGED and "lower learning rate" in final.message
    assert_consistent(end, final.step)
    assert f"at step {final.step + 1}" in final.message or final.step % 50 == 0


def test_live_changes_after_the_good_step_count_from_it(tiny, monkeypatch):
    session = TrainingSession(quiet_config(), tiny)
    inject(monkeypatch, session, 9, "weights")
    compute = session.network.compute_gradients

    def compute_gradients(x, y):
        if session.step_count == 6:  # step 7: the change applies after it, past the good point (step 5)
            session.set_live(lr=0.2)
        return compute(x, y)

    monkeypatch.setattr(session.network, "compute_gradients", compute_gradients)
    final = list(session.run())[-1]
    assert final.event == Event.DIVERGED and final.step == 5
    assert final.history.changes == ((5, 160, "lr", 0.05, 0.2),) and final.hyperparameters["lr"] == 0.2


def test_warm_up_learns_from_its_first_step(tiny):
    config = small_config(warmup_steps=4, schedule="constant", lr=0.1, epochs=1)
    lrs = list(TrainingSession(config, tiny).run())[-1].history.lr
    np.testing.assert_allclose(lrs[:6], [0.025, 0.05, 0.075, 0.1, 0.1, 0.1])


def test_warm_up_then_cosine_starts_the_cosine_from_its_top(tiny):
    config = small_config(warmup_steps=2, schedule="cosine", lr=0.1, epochs=1)
    lrs = list(TrainingSession(config, tiny).run())[-1].history.lr
    assert lrs[0] == pytest.approx(0.05) and lrs[1] == pytest.approx(0.1) and lrs[2] == pytest.approx(0.1)
    assert lrs[3] < 0.1 and np.all(np.diff(lrs[2:]) <= 0)


def test_snapshot_events_are_constants_that_read_as_text(tiny):
    snaps = list(TrainingSession(small_config(epochs=1), tiny).run())
    assert all(isinstance(s.event, Event) for s in snaps)
    assert snaps[0].event == "started" and snaps[-1].event is Event.FINISHED
    assert {s.event for s in snaps} <= set(Event)
