"""The training session: steering between steps, live settings, determinism, divergence, checkpoints."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest

from cnnlab.engine import load_checkpoint
from cnnlab.training import ConfigError, Snapshot, TrainingSession
from tests.training.conftest import seed_config, small_config


def until(run, predicate) -> list[Snapshot]:
    """Snapshots from ``run`` up to and including the first one that matches."""
    seen = []
    for snapshot in run:
        seen.append(snapshot)
        if predicate(snapshot):
            return seen
    raise AssertionError(f"the run ended ({seen[-1].event if seen else 'nothing'}) before the condition held")


def weights_of(session: TrainingSession) -> dict[str, np.ndarray]:
    return session.network.state_dict()


def assert_same_weights(a, b) -> None:
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_snapshots_are_read_only_copies(tiny):
    session = TrainingSession(small_config(), tiny)
    run = session.run()
    started = next(run)
    assert started.event == "started" and started.step == 0 and started.running
    assert started.grads == {} and started.loss is None
    first = until(run, lambda s: s.step == 1)[-1]
    for array in [*first.weights.values(), *first.grads.values(), first.history.loss]:
        assert not array.flags.writeable
    before = {k: v.copy() for k, v in first.weights.items()}
    next(run)  # trains on: the live network changes, the snapshot must not
    assert_same_weights(dict(first.weights), before)
    assert len(first.history.loss) == 1
    assert first.config == session.config and first.dataset == "tiny"
    with pytest.raises(TypeError):
        first.weights["conv1.W"] = None


def test_step_while_paused_trains_exactly_one_batch(tiny):
    reference = TrainingSession(small_config(), tiny)
    after_one = until(reference.run(), lambda s: s.step == 1)[-1]

    session = TrainingSession(small_config(), tiny)
    session.pause()
    run = session.run()
    started = next(run)
    paused = next(run)
    assert paused.event == "paused" and paused.paused and paused.step == 0
    assert_same_weights(dict(paused.weights), dict(started.weights))

    session.step()
    seen = until(run, lambda s: s.event == "paused")
    assert [s.step for s in seen] == [1] * len(seen)
    assert session.step_count == 1 and session.optimizer.steps == 1
    assert seen[-1].images_seen == 32
    changed = [k for k in started.weights if not np.array_equal(started.weights[k], seen[-1].weights[k])]
    assert changed, "one step changed no weight"
    # The one step is the same step an uninterrupted run takes first.
    assert_same_weights(dict(seen[-1].weights), dict(after_one.weights))
    assert_same_weights(weights_of(session), dict(after_one.weights))

    session.step(3)
    assert until(run, lambda s: s.event == "paused")[-1].step == 4
    session.stop()
    assert [s.event for s in run] == ["stopped"]


def test_step_epoch_pauses_at_the_end_of_the_epoch(tiny):
    session = TrainingSession(small_config(), tiny)
    session.pause()
    run = session.run()
    until(run, lambda s: s.event == "paused")
    session.step(2)
    until(run, lambda s: s.event == "paused")
    session.step_epoch()
    seen = until(run, lambda s: s.event == "paused")
    assert seen[-2].event == "epoch_end" and seen[-2].test_accuracy is not None
    assert seen[-1].step == 10 and seen[-1].epoch == 1 and seen[-1].step_in_epoch == 0
    session.resume()
    events = [s.event for s in run]
    assert events[-2:] == ["epoch_end", "finished"]
    assert session.step_count == 20


def test_stop_ends_the_run_between_steps(tiny):
    session = TrainingSession(small_config(), tiny)
    run = session.run()
    until(run, lambda s: s.step == 3)
    session.stop()
    rest = list(run)
    assert [s.event for s in rest] == ["stopped"]
    final = rest[0]
    assert not final.running and final.final and final.step == 3
    assert "stopped" in final.message.lower()
    assert session.ended and not session.paused
    with pytest.raises(RuntimeError, match="already run"):
        next(session.run())


def test_live_learning_rate_applies_at_the_next_step(tiny):
    config = small_config(spec=seed_config().spec, momentum=0.0, schedule="constant", lr=0.01)
    session = TrainingSession(config, tiny)
    session.pause()
    run = session.run()
    until(run, lambda s: s.event == "paused")
    session.step()
    before = until(run, lambda s: s.event == "paused")[-1]
    assert before.history.lr[-1] == pytest.approx(0.01)

    session.set_live(lr=0.5)
    fresh = next(run)  # a paused run shows the change at once
    assert fresh.event == "paused" and fresh.hyperparameters["lr"] == 0.5 and fresh.lr == pytest.approx(0.5)
    assert fresh.step == before.step

    session.step()
    after = until(run, lambda s: s.event == "paused")[-1]
    assert after.history.lr[-1] == pytest.approx(0.5)
    # Plain SGD: the update is exactly -lr times the step's gradient.
    for name, grad in after.grads.items():
        delta = after.weights[name] - before.weights[name]
        np.testing.assert_allclose(delta, -0.5 * grad, rtol=1e-4, atol=1e-7, err_msg=name)
    assert after.history.changes == ((1, 32, "lr", 0.01, 0.5),)
    session.stop()
    list(run)


def test_live_batch_size_momentum_weight_decay_and_augment(tiny):
    session = TrainingSession(small_config(), tiny)
    session.pause()
    run = session.run()
    until(run, lambda s: s.event == "paused")
    session.set_live(batch_size=16, momentum=0.5, weight_decay=1e-3, augment=True)
    assert session.live["batch_size"] == 16
    session.step()
    snap = until(run, lambda s: s.event == "paused")[-1]
    assert snap.images_seen == 16
    assert session.optimizer.momentum == 0.5 and session.optimizer.weight_decay == 1e-3
    assert dict(snap.hyperparameters) == {
        "lr": 0.05,
        "momentum": 0.5,
        "weight_decay": 1e-3,
        "batch_size": 16,
        "augment": True,
    }
    assert snap.steps_per_epoch == 1 + (320 - 16) // 16
    session.stop()
    list(run)


def test_set_live_refuses_what_cannot_work(tiny):
    session = TrainingSession(small_config(), tiny)
    with pytest.raises(ConfigError, match="learning rate"):
        session.set_live(lr=-1)
    with pytest.raises(ConfigError, match="momentum"):
        session.set_live(momentum=1.0)
    with pytest.raises(ConfigError, match="batch size"):
        session.set_live(batch_size=0)
    with pytest.raises(ConfigError, match="cannot change epochs"):
        session.set_live(epochs=3)


def run_to_end(config, dataset, **kwargs) -> tuple[TrainingSession, list[Snapshot]]:
    session = TrainingSession(config, dataset, **kwargs)
    return session, list(session.run())


def test_same_seed_same_run_bit_for_bit(tiny):
    config = small_config(augment=True)
    a, snaps_a = run_to_end(config, tiny)
    b, snaps_b = run_to_end(config, tiny)
    assert_same_weights(weights_of(a), weights_of(b))
    np.testing.assert_array_equal(snaps_a[-1].history.loss, snaps_b[-1].history.loss)
    np.testing.assert_array_equal(snaps_a[-1].history.test_accuracy, snaps_b[-1].history.test_accuracy)
    c, _ = run_to_end(config.replace(seed=1), tiny)
    assert not np.array_equal(weights_of(a)["conv1.W"], weights_of(c)["conv1.W"])


def test_divergence_restores_the_last_good_weights(tiny):
    config = seed_config(lr=1e6, schedule="constant")
    session, snaps = run_to_end(config, tiny)
    final = snaps[-1]
    assert final.event == "diverged" and not final.running
    assert "learning rate" in final.message and "1e+06" in final.message
    assert "lower learning rate" in final.message
    good = snaps[-2]
    assert good.event != "diverged"
    assert_same_weights(dict(final.weights), dict(good.weights))
    assert_same_weights(weights_of(session), dict(good.weights))
    assert all(np.isfinite(w).all() for w in final.weights.values())
    assert final.extra["restored_step"] == good.step


def test_divergence_of_exploding_weights_is_caught(tiny, monkeypatch):
    from cnnlab.training import stats

    monkeypatch.setattr(stats, "EXPLODED_NORM", 1e-3)  # any real weights count as exploded
    session, snaps = run_to_end(small_config(), tiny)
    assert snaps[-1].event == "diverged"
    assert "exploded" in snaps[-1].message
    # Even the very first weights "exploded": the started snapshot stands as the end.
    assert len(snaps) == 1


def test_resume_from_a_checkpoint_matches_an_uninterrupted_run(tiny, tmp_path: Path):
    config = small_config(augment=True, eval_every=3)
    straight, straight_snaps = run_to_end(config, tiny)

    first = TrainingSession(config, tiny)
    first.pause()
    run = first.run()
    until(run, lambda s: s.event == "paused")
    first.step(13)  # into the second epoch, mid-way
    until(run, lambda s: s.event == "paused")
    future = first.request_checkpoint(tmp_path / "mid.npz")
    saved = next(run)  # served while paused, shown with a fresh paused snapshot
    assert saved.event == "paused" and future.done()
    first.stop()
    list(run)

    checkpoint = load_checkpoint(future.result())
    resumed = TrainingSession(config, tiny, checkpoint=checkpoint)
    assert resumed.step_count == 13 and resumed.epoch == 1 and resumed.run_id == first.run_id
    resumed_snaps = list(resumed.run())
    assert resumed_snaps[0].event == "started" and resumed_snaps[0].step == 13
    assert resumed_snaps[0].extra["resumed_from"] == str(tmp_path / "mid.npz")
    assert_same_weights(weights_of(resumed), weights_of(straight))
    a, b = straight_snaps[-1].history, resumed_snaps[-1].history
    np.testing.assert_array_equal(a.steps, b.steps)
    np.testing.assert_array_equal(a.loss, b.loss)  # the loss curve continues where it stopped
    np.testing.assert_array_equal(a.lr, b.lr)
    np.testing.assert_array_equal(a.test_accuracy, b.test_accuracy)
    np.testing.assert_array_equal(a.eval_steps, b.eval_steps)
    assert resumed_snaps[-1].images_seen == straight_snaps[-1].images_seen


def test_resume_at_an_epoch_boundary_with_a_live_change(tiny, tmp_path: Path):
    config = small_config(optimizer="adam", lr=0.01)
    first = TrainingSession(config, tiny)
    first.pause()
    first.set_live(lr=0.02)
    run = first.run()
    first.step_epoch()
    until(run, lambda s: s.event == "paused")
    path = first.save_checkpoint(tmp_path / "epoch1.npz")
    first.resume()
    rest = list(run)

    resumed = TrainingSession(config, tiny, checkpoint=load_checkpoint(path))
    assert resumed.live["lr"] == 0.02
    resumed_snaps = list(resumed.run())
    assert_same_weights(weights_of(resumed), weights_of(first))
    np.testing.assert_array_equal(rest[-1].history.loss, resumed_snaps[-1].history.loss)
    assert resumed_snaps[-1].history.changes == ((0, 0, "lr", 0.01, 0.02),)


def test_checkpoint_requested_from_another_thread(tiny, tmp_path: Path):
    session = TrainingSession(small_config(epochs=30), tiny)
    snapshots: list[Snapshot] = []
    worker = threading.Thread(target=lambda: snapshots.extend(session.run()))
    worker.start()
    try:
        path = session.request_checkpoint(tmp_path / "live.npz").result(timeout=30)
    finally:
        session.stop()
        worker.join(timeout=30)
    assert not worker.is_alive()
    checkpoint = load_checkpoint(path)
    assert checkpoint.metadata["run_id"] == session.run_id
    assert snapshots[-1].event == "stopped"
    # Once the run has ended, a request is served at once.
    assert session.request_checkpoint(tmp_path / "after.npz").result(timeout=5).is_file()


def test_checkpoint_saved_automatically_at_the_end(tiny, tmp_path: Path):
    target = tmp_path / "out" / "final.npz"
    session, snaps = run_to_end(small_config(epochs=1), tiny, checkpoint_path=target)
    assert snaps[-1].extra["checkpoint"] == str(target)
    checkpoint = load_checkpoint(target)
    assert checkpoint.metadata["step"] == session.step_count
    assert_same_weights(checkpoint.weights, weights_of(session))


def test_snapshot_figures_throughput_time_left_and_curves(tiny):
    session, snaps = run_to_end(small_config(), tiny)
    during = [s for s in snaps if s.event == "step" and s.step > 2]
    assert during and all(s.images_per_s > 0 for s in during)
    assert all(s.seconds_left_epoch is not None and s.seconds_left is not None for s in during)
    assert all(s.seconds_left >= s.seconds_left_epoch for s in during)
    final = snaps[-1]
    assert final.event == "finished" and final.message.startswith("Finished 2 epochs")
    h = final.history
    assert len(h.loss) == final.step == 20
    assert len(h.epoch_steps) == 2 and list(h.epoch_steps) == [10, 20]
    assert list(h.eval_steps) == [4, 8, 10, 14, 18, 20]  # and at each epoch end
    assert final.confusion.sum() == 100 and final.per_class_accuracy.shape == (10,)
    assert final.overall_progress == 1.0
    assert {s.name for s in final.layer_stats} == {"conv1.W", "conv1.b", "dense1.W", "dense1.b"}
    assert set(h.weight_norms) == {"conv1.W", "conv1.b", "dense1.W", "dense1.b"}
    counts, edges = final.layer_stats[0].weight_hist
    assert counts.sum() == 4 * 9 and len(edges) == len(counts) + 1


def test_overfits_a_tiny_batch(tiny):
    """The loop trains for real: 32 images, many epochs, every one learned."""
    config = seed_config(epochs=40, train_limit=32, lr=0.05, eval_every=0, augment=False)
    session, snaps = run_to_end(config, tiny)
    assert snaps[-1].history.epoch_train_accuracy[-1] == 1.0


@pytest.mark.realdata
def test_a_few_hundred_steps_of_the_seed_net_on_real_mnist(mnist_dir):
    from cnnlab.data import load_dataset

    dataset = load_dataset("mnist", mnist_dir)
    config = seed_config(dataset="mnist", epochs=1, batch_size=64, train_limit=300 * 64, eval_every=0)
    session, snaps = run_to_end(config, dataset)
    assert snaps[-1].step == 300
    assert snaps[-1].test_accuracy > 0.90


@pytest.mark.parametrize(
    "values",
    [
        np.full(10, 0.001, np.float32),
        np.array([0.001, np.nextafter(np.float32(0.001), np.float32(1))], np.float32),  # one ulp apart
        np.zeros(5, np.float32),
    ],
)
def test_histograms_of_nearly_constant_values(values):
    from cnnlab.training.stats import HIST_BINS, histogram

    counts, edges = histogram(values, 1.0)
    assert counts.sum() == len(values) and len(edges) == HIST_BINS + 1
    assert np.all(np.diff(edges) > 0)
