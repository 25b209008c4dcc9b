"""The last good point of a run: what a diverged run goes back to.

Taken at every snapshot (the snapshot already holds copies of the weights), it adds the optimizer's
state, the counters, the curves' lengths and the random streams, so that going back restores one step
whole: weights, optimizer state, step count, curves and the next batch drawn all belong to it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from cnnlab.training.progress import Progress
from cnnlab.training.snapshot import Snapshot

if TYPE_CHECKING:
    from cnnlab.training.session import TrainingSession


@dataclass(frozen=True)
class GoodPoint:
    snapshot: Snapshot
    optimizer_state: dict[str, np.ndarray]
    progress: Progress
    history_sizes: tuple[int, ...]
    data_rng: dict
    model_rng: dict

    @classmethod
    def capture(cls, session: TrainingSession, snapshot: Snapshot) -> GoodPoint:
        """The session as it is at ``snapshot`` (taken just now, of its live state)."""
        return cls(
            snapshot,
            {k: v.copy() for k, v in session.optimizer.state_dict().items()},
            session.progress.copy(),
            session.history.sizes(),
            session.data_rng.bit_generator.state,
            session.model_rng.bit_generator.state,
        )

    def restore(self, session: TrainingSession) -> None:
        """Put the session back to this point. The live settings stay as the learner set them: a change
        made after this point is recorded as made at it."""
        session.network.load_state_dict(dict(self.snapshot.weights))
        session.optimizer.load_state_dict(self.optimizer_state)
        step, seen = self.progress.step, self.progress.images_seen
        changes = [
            c._replace(step=min(c.step, step), images_seen=c.images_seen and min(c.images_seen, seen))
            for c in session.progress.changes
        ]
        session.progress = self.progress.copy()
        session.progress.changes = changes
        session.history.truncate(self.history_sizes)
        session.data_rng.bit_generator.state = self.data_rng
        session.model_rng.bit_generator.state = self.model_rng
