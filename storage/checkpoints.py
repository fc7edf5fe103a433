"""Checkpoints in the database: an episode interrupted by a restart resumes without paying twice.

Each ``save`` is committed before it returns: a step the generator was told is saved survives a
crash one instant later. The step and the ledger row of the call that produced it are written
together, in one statement, so the ledger never misses a call whose output was kept, and no
step exists without its cost. Saves of many episodes arriving together share that statement
(group commit, :meth:`~storage.database.Database.insert_grouped`): under load a checkpoint
costs a share of one commit instead of a place in a queue of them.

The generator does not wait for these commits: it hands each step to a
:class:`scriptgen.checkpoints.CheckpointWriter`, whose task awaits ``save`` in the order the
steps finished while the next model call runs.

A rewrite of a scene keeps its steps in its episode's ``steps`` (its calls are the episode's
costs, in the episode's ledger) under a key prefix of its own, ``rw{rewrite id}:``. A prefixed
``DatabaseCheckpoints`` sees only its keys, without the prefix, so the generator reuses a
rewrite's steps exactly as an episode's; the episode's own (unprefixed) view never sees a
rewrite's steps.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from pydantic import BaseModel

from scriptgen.checkpoints import StoredStep
from scriptgen.models import CallUsage
from storage._time import to_db
from storage.database import Database
from storage.migrations import STEP_SAVE_COLUMNS, STEP_SAVES
from storage.usage import USAGE_COLUMNS, usage_from_row, usage_values

__all__ = ["DatabaseCheckpoints", "SqliteCheckpoints", "rewrite_key_sql", "rewrite_prefix"]

_REWRITE_PREFIX: Final = re.compile(r"rw[0-9]+:")


def rewrite_key_sql(column: str) -> str:
    """SQL true where ``column`` holds a rewrite's key (``rw12:…``, what GLOB 'rw[0-9]*:*'
    matches), which an episode's own view leaves out. Written without GLOB, which PostgreSQL
    lacks: one spelling for both dialects. ``column`` comes from code, never from input."""
    return (
        f"(substr({column}, 1, 2) = 'rw' AND substr({column}, 3, 1) BETWEEN '0' AND '9'"
        f" AND instr({column}, ':') > 3)"
    )


def rewrite_prefix(rewrite_id: int) -> str:
    """The key prefix of a rewrite's steps: ``rw12:``."""
    return f"rw{rewrite_id}:"


class DatabaseCheckpoints:
    """The :class:`scriptgen.checkpoints.Checkpoints` of one episode, kept in the database.

    ``prefix`` (``rewrite_prefix(rewrite.id)``) makes it the checkpoints of one rewrite of the
    episode: keys, and the ledger's step names, are stored with the prefix and given back
    without it.
    """

    def __init__(self, db: Database, episode_id: int, prefix: str = "") -> None:
        if prefix and not _REWRITE_PREFIX.fullmatch(prefix):
            raise ValueError(f"a checkpoint prefix looks like 'rw12:', not {prefix!r}")
        self._db = db
        self.episode_id = episode_id
        self.prefix = prefix

    async def load(self) -> Mapping[str, StoredStep]:
        """Every step already finished for this episode (or this rewrite), by step key."""
        if self.prefix:
            where = "substr(s.key, 1, ?) = ?"
            params: tuple[int | str, ...] = (self.episode_id, len(self.prefix), self.prefix)
        else:
            where = f"NOT {rewrite_key_sql('s.key')}"
            params = (self.episode_id,)
        rows = await self._db.fetchall(
            "SELECT s.key, s.payload, u.* FROM steps s JOIN usage u ON u.id = s.usage_id"
            f" WHERE s.episode_id = ? AND {where} ORDER BY s.created_at, s.key",
            params,
        )
        return {
            self._strip(row["key"]): StoredStep(
                row["payload"],
                usage_from_row(row).model_copy(update={"step": self._strip(row["step"])}),
            )
            for row in rows
        }

    async def save(self, key: str, value: BaseModel, usage: CallUsage) -> None:
        """Record a finished step and its call, committed before returning.

        Saving a key again replaces the step (its new call is added to the ledger: it was paid).
        """
        row = (
            self.episode_id,
            self.prefix + key,
            value.model_dump_json(),
            self.prefix + usage.step,
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
        usage = usage.model_copy(update={"step": self.prefix + usage.step})
        row = usage_values(self.episode_id, usage, "error", self._db.now())
        await self._db.insert_grouped("usage", USAGE_COLUMNS, row)

    def _strip(self, text: str) -> str:
        return text.removeprefix(self.prefix)


SqliteCheckpoints = DatabaseCheckpoints
"""The name from before PostgreSQL, which ``bot/`` and the tests use: the same class."""
