"""Checkpoints in SQLite: an episode interrupted by a restart resumes without paying twice.

Each ``save`` is its own small transaction, committed before it returns: a step the generator
was told is saved survives a crash one instant later. The step and the ledger row of the call
that produced it are written together, so the ledger never misses a call whose output was kept,
and no step exists without its cost.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel

from scriptgen.checkpoints import StoredStep
from scriptgen.models import CallUsage
from storage._time import to_db
from storage.database import Database
from storage.usage import insert_usage, usage_from_row

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
        payload = value.model_dump_json()
        async with self._db.transaction() as tx:
            usage_id = await insert_usage(tx, self.episode_id, usage, "ok")
            await tx.execute(
                "INSERT INTO steps (episode_id, key, payload, usage_id, created_at)"
                " VALUES (?, ?, ?, ?, ?)"
                " ON CONFLICT (episode_id, key) DO UPDATE"
                " SET payload = excluded.payload, usage_id = excluded.usage_id,"
                " created_at = excluded.created_at",
                (self.episode_id, key, payload, usage_id, to_db(tx.now())),
            )

    async def record_failure(self, key: str, usage: CallUsage) -> None:
        """Add a failed call to the ledger (no step is kept for it)."""
        async with self._db.transaction() as tx:
            await insert_usage(tx, self.episode_id, usage, "error")
