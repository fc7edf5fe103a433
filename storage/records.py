"""Episode records: what one row of ``episodes`` holds, parsed back into scriptgen models."""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal, cast, get_args

from pydantic import ValidationError

from scriptgen.models import EpisodeRequest, Script, UsageTotals
from storage._time import from_db
from storage.database import Row
from storage.errors import StorageError

EpisodeStatus = Literal["queued", "running", "done", "failed", "cancelled"]
STATUSES: Final[frozenset[str]] = frozenset(get_args(EpisodeStatus))
UNFINISHED: Final[tuple[EpisodeStatus, ...]] = ("queued", "running")
"""Work still owed to a writer, counted against limits: ``queued`` is an outline waiting for
the writers' review (``/episode review:True``), ``running`` is being written."""
FINISHED: Final[tuple[EpisodeStatus, ...]] = ("done", "failed", "cancelled")

MAX_ERROR_CHARS: Final = 2000

_ALPHABET: Final = "23456789abcdefghjkmnpqrstuvwxyz"
"""No 0/o, 1/l/i: writers read these ids off a screen and type them."""
_PUBLIC_ID = re.compile(rf"(ep|rw)-[{_ALPHABET}]{{5,8}}")
UNFINISHED_SQL: Final = "status IN ('queued', 'running')"
"""Spelt exactly as in the partial indexes' WHERE, so SQLite can use them."""

IdPrefix = Literal["ep", "rw"]
"""``ep-`` names an episode, ``rw-`` a rewrite: a writer can tell which one a message means."""


def normalize_public_id(text: str, prefix: IdPrefix = "ep") -> str | None:
    """``" EP-7F3K2 "`` and ``"7f3k2"`` → ``"ep-7f3k2"``; ``None`` if it cannot be one of ours.

    With ``prefix="rw"`` the same for rewrites; an id with the other prefix is ``None``.
    """
    candidate = text.strip().lower()
    if not candidate.startswith(f"{prefix}-"):
        candidate = f"{prefix}-{candidate}"
    return candidate if _PUBLIC_ID.fullmatch(candidate) else None


def new_public_id(length: int, prefix: IdPrefix = "ep") -> str:
    return f"{prefix}-" + "".join(secrets.choice(_ALPHABET) for _ in range(length))


@dataclass(frozen=True, slots=True)
class EpisodeRecord:
    """One row of ``episodes``, with its JSON parsed back into scriptgen models."""

    id: int
    """Internal; never shown to writers (it would reveal how many episodes exist)."""
    public_id: str
    guild_id: int
    channel_id: int
    author_id: int
    author_name: str
    request: EpisodeRequest
    title: str | None
    """The outline's title once it exists (or the writer's own)."""
    status: EpisodeStatus
    error: str | None
    cancelled_by: str | None
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None
    status_channel_id: int | None
    status_message_id: int | None
    script: Script | None
    delivered_message_id: int | None
    provider: str
    model: str
    totals: UsageTotals | None
    """Every call's usage, from the ledger, as of the episode's end; ``None`` while unfinished."""
    room_id: int | None
    """The room it was written in (its bible and continuity), if any; ``None`` once the room
    is deleted."""

    @property
    def finished(self) -> bool:
        return self.status in FINISHED

    @property
    def in_review(self) -> bool:
        """Its outline waits for the writers: Write it, Edit outline or New outline."""
        return self.status == "queued"

    @property
    def display_title(self) -> str:
        """A title for lists and status messages, even before the outline exists."""
        if self.title:
            return self.title
        if self.request.title:
            return self.request.title
        premise = " ".join(self.request.premise.split())
        return premise if len(premise) <= 60 else premise[:59].rstrip() + "…"


def record_from_row(label: str, row: Row) -> EpisodeRecord:
    """A row of ``episodes`` as a record; JSON this version cannot read is a StorageError."""
    status = row["status"]
    if status not in STATUSES:
        raise StorageError(f"{label}: episode {row['public_id']} has status {status!r}")
    try:
        request = EpisodeRequest.model_validate_json(row["request"])
        script = Script.model_validate_json(row["script"]) if row["script"] else None
        totals = UsageTotals.model_validate_json(row["totals"]) if row["totals"] else None
    except ValidationError as err:
        raise StorageError(
            f"{label}: episode {row['public_id']} holds JSON this version cannot "
            f"read ({err.error_count()} error(s), first: {err.errors()[0]['msg']}): "
            "a migration is missing"
        ) from err
    return EpisodeRecord(
        id=row["id"],
        public_id=row["public_id"],
        guild_id=row["guild_id"],
        channel_id=row["channel_id"],
        author_id=row["author_id"],
        author_name=row["author_name"],
        request=request,
        title=row["title"],
        status=cast(EpisodeStatus, status),
        error=row["error"],
        cancelled_by=row["cancelled_by"],
        created_at=from_db(row["created_at"]),
        updated_at=from_db(row["updated_at"]),
        finished_at=from_db(row["finished_at"]) if row["finished_at"] else None,
        status_channel_id=row["status_channel_id"],
        status_message_id=row["status_message_id"],
        script=script,
        delivered_message_id=row["delivered_message_id"],
        provider=row["provider"],
        model=row["model"],
        totals=totals,
        room_id=row["room_id"],
    )
