"""Rewrite records: rows of ``rewrites`` and ``revisions``, parsed back into scriptgen models."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal, cast, get_args

from pydantic import ValidationError

from scriptgen.models import Script
from storage._time import from_db
from storage.checkpoints import rewrite_prefix
from storage.database import Row
from storage.errors import StorageError
from storage.records import EpisodeRecord

__all__ = [
    "ACTIVE_SQL",
    "MAX_TAKES",
    "Revision",
    "RewriteRecord",
    "RewriteStatus",
    "first_revision",
    "revision_from_row",
    "rewrite_from_row",
    "script_from_row",
]

RewriteStatus = Literal["running", "voting", "done", "failed", "cancelled"]
_STATUSES: Final[frozenset[str]] = frozenset(get_args(RewriteStatus))
MAX_TAKES: Final = 3
ACTIVE_SQL: Final = "status IN ('running', 'voting')"
"""A rewrite that holds its scene: spelt as in the ``rewrites_scene_busy`` index's WHERE."""


@dataclass(frozen=True, slots=True)
class RewriteRecord:
    """One row of ``rewrites``: a writer's note on one scene, and where its job stands."""

    id: int
    """Internal; its steps are checkpointed under :attr:`checkpoint_prefix`."""
    public_id: str
    """What writers type: ``rw-7f3k2``."""
    episode_id: int
    guild_id: int
    channel_id: int
    scene: int
    """1-based, as writers count."""
    note: str
    takes: int
    """1 to 3: with more than one, the room votes for the take it keeps."""
    author_id: int
    author_name: str
    status: RewriteStatus
    error: str | None
    cancelled_by: str | None
    chosen_take: int | None
    chosen_by: str | None
    """Who (or what: "the vote") chose the take kept."""
    revision: int | None
    """The revision it made (2, 3...), once done."""
    status_channel_id: int | None
    status_message_id: int | None
    ballot_message_id: int | None
    delivered_message_id: int | None
    status_shown: str | None
    created_at: datetime
    updated_at: datetime

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed", "cancelled")

    @property
    def checkpoint_prefix(self) -> str:
        """``SqliteCheckpoints(db, record.episode_id, prefix=record.checkpoint_prefix)``."""
        return rewrite_prefix(self.id)


@dataclass(frozen=True, slots=True)
class Revision:
    """One version of an episode's script: v1 is the episode's own, v2+ were rewrites."""

    episode_id: int
    number: int
    scene: int | None
    """The scene rewritten (1-based); ``None`` for v1."""
    note: str | None
    """The note it answered; ``None`` for v1."""
    author_name: str
    created_at: datetime
    script: Script
    rewrite_id: int | None
    """The rewrite that made it; ``None`` for v1."""
    author_id: int


def rewrite_from_row(label: str, row: Row) -> RewriteRecord:
    status = row["status"]
    if status not in _STATUSES:
        raise StorageError(f"{label}: rewrite {row['public_id']} has status {status!r}")
    return RewriteRecord(
        id=row["id"],
        public_id=row["public_id"],
        episode_id=row["episode_id"],
        guild_id=row["guild_id"],
        channel_id=row["channel_id"],
        scene=row["scene"],
        note=row["note"],
        takes=row["takes"],
        author_id=row["author_id"],
        author_name=row["author_name"],
        status=cast(RewriteStatus, status),
        error=row["error"],
        cancelled_by=row["cancelled_by"],
        chosen_take=row["chosen_take"],
        chosen_by=row["chosen_by"],
        revision=row["revision"],
        status_channel_id=row["status_channel_id"],
        status_message_id=row["status_message_id"],
        ballot_message_id=row["ballot_message_id"],
        delivered_message_id=row["delivered_message_id"],
        status_shown=row["status_shown"],
        created_at=from_db(row["created_at"]),
        updated_at=from_db(row["updated_at"]),
    )


def revision_from_row(label: str, row: Row) -> Revision:
    return Revision(
        episode_id=row["episode_id"],
        number=row["number"],
        scene=row["scene"],
        note=row["note"],
        author_name=row["author_name"],
        created_at=from_db(row["created_at"]),
        script=script_from_row(label, row),
        rewrite_id=row["rewrite_id"],
        author_id=row["author_id"],
    )


def script_from_row(label: str, row: Row) -> Script:
    """The ``script`` column of a row holding ``number`` and ``episode_id`` too."""
    try:
        return Script.model_validate_json(row["script"])
    except ValidationError as err:
        raise StorageError(
            f"{label}: revision {row['number']} of episode {row['episode_id']} holds JSON this "
            f"version cannot read ({err.error_count()} error(s), first: "
            f"{err.errors()[0]['msg']}): a migration is missing"
        ) from err


def first_revision(episode: EpisodeRecord) -> Revision | None:
    """v1: the episode's own script, as a revision; ``None`` while it has none."""
    if episode.script is None:
        return None
    return Revision(
        episode_id=episode.id,
        number=1,
        scene=None,
        note=None,
        author_name=episode.author_name,
        created_at=episode.finished_at or episode.updated_at,
        script=episode.script,
        rewrite_id=None,
        author_id=episode.author_id,
    )
