"""Room records: rows of ``rooms`` and ``room_writers``, and the keys names are compared by."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from storage._time import from_db
from storage.database import Row

__all__ = ["RoomRecord", "Writer", "name_key", "room_from_row", "text_key", "writer_from_row"]


@dataclass(frozen=True, slots=True)
class RoomRecord:
    """One row of ``rooms``: a channel's show. Its characters and gags are read separately."""

    id: int
    guild_id: int
    channel_id: int
    """The channel the room belongs to; its threads belong to it too."""
    name: str
    """The show's title (the bible's ``show_title``)."""
    logline: str
    tone: str
    setting: str
    showrunner_id: int
    """Who created the room: may edit the bible and add or remove writers."""
    showrunner_name: str
    created_at: datetime
    updated_at: datetime
    """Moved by every change to the room or its bible."""


@dataclass(frozen=True, slots=True)
class Writer:
    """A member of a room's writers (the showrunner is not listed: they are more than one)."""

    user_id: int
    user_name: str
    added_by: int
    """The user id of who added them (the showrunner, as a rule)."""
    added_at: datetime


def name_key(name: str) -> str:
    """What character names are compared by: "ADA", " ada " and "Ada" are one character.

    Case-folded in Python rather than by SQLite's ``lower()``, which folds ASCII only
    ("ÉMILE" and "émile" would be two characters).
    """
    return " ".join(name.split()).casefold()


def text_key(text: str) -> str:
    """What running gags are compared by: case and spacing do not make a gag new."""
    return " ".join(text.split()).casefold()


def room_from_row(row: Row) -> RoomRecord:
    return RoomRecord(
        id=row["id"],
        guild_id=row["guild_id"],
        channel_id=row["channel_id"],
        name=row["name"],
        logline=row["logline"],
        tone=row["tone"],
        setting=row["setting"],
        showrunner_id=row["showrunner_id"],
        showrunner_name=row["showrunner_name"],
        created_at=from_db(row["created_at"]),
        updated_at=from_db(row["updated_at"]),
    )


def writer_from_row(row: Row) -> Writer:
    return Writer(
        user_id=row["user_id"],
        user_name=row["user_name"],
        added_by=row["added_by"],
        added_at=from_db(row["added_at"]),
    )
