"""Checkpoints in SQLite: an episode interrupted by a restart resumes without paying twice.

Each ``save`` is committed before it returns: a step the generator was told is saved survives a
crash one instant later. The step and the ledger row of the call that produced it are written
together, in one statement, so the ledger never misses a call whose output was kept, and no
step exists without its cost. Saves of many episodes arriving together share that statement
(group commit, :meth:`~storage.database.Database.insert_grouped`): under load a checkpoint
costs a share of one commit instead of a place in a queue of them.

The generator does not wait for these commits: it hands each step to a
:class:`scriptgen.checkpoints.CheckpointWriter`, whose task awaits ``save`` in the order the
steps finished while the next model call runs.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel

from scriptgen.checkpoints import StoredStep
from scriptgen.models import CallUsage
from storage._time import to_db
from storage.database import Database
from storage.migrations import STEP_SAVE_COLUMNS, STEP_SAVES
from storage.usage import USAGE_COLUMNS, usage_from_row, usage_values

__all__ = ["SqliteCheckpoints"]


class SqliteCheckpoints:
    """The :class:`scriptgen.checkpoints.Checkpoints` of one episode, kept in the database."""

    def __init__(self, db: Database, episode_id: int) -> None:
        self._db = db
        self.episode_id = episode_id

    async def load(self) -> Mapping[str, StoredStep]:
        """Every step already finished for this episode, by step key."""
        rows = await self._db.fetchall(
            "SELECT s.key, s.payload, u.* FROM steps s JOIN usage u ON u.id = s.usage_id"
            " WHERE s.episode_id = ? ORDER BY s.created_at, s.key",
            (self.episode_id,),
        )
        return {row["key"]: StoredStep(row["payload"], usage_from_row(row)) for row in rows}

    async def save(self, key: str, value: BaseModel, usage: CallUsage) -> None:
        """Record a finished step and its call, committed before returning.

        Saving a key again replaces the step (its new call is added to the ledger: it was paid).
        """
        row = (
            self.episode_id,
            key,
            value.model_dump_json(),
            usage.step,
            usage.model,
            usage.input_tokens,
            usage.output_tokens,
            usage.cache_write_tokens,
            usage.cache_read_tokens,
            float(usage.latency_s),
            usage.retries,
            to_db(self._db.now()),
        )
        await self._db.insert_grouped(STEP_SAVES, STEP_SAVE_COLUMNS, row)

    async def record_failure(self, key: str, usage: CallUsage) -> None:
        """Add a failed call to the ledger (no step is kept for it), committed before returning.

        Grouped like saves: a rate-limited provider fails many episodes' calls at once.
        """
        row = usage_values(self.episode_id, usage, "error", self._db.now())
        await self._db.insert_grouped("usage", USAGE_COLUMNS, row)
