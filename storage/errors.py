"""The errors the storage layer raises on purpose.

Two families. A plain :class:`StorageError` is the database itself failing (a bad path, a
damaged or newer file, a lock): its message is one line that names the database file and says
what to do, because an operator reads it in a container log and a raw ``sqlite3`` traceback
tells them neither. A :class:`WriteRefused` is a write that breaks a rule of a room (a limit, a
duplicate name, a scene already being rewritten): nothing is wrong with the database, and its
message is written for the writer who asked, so the bot can show it as it is.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Final, Literal

__all__ = [
    "BudgetExceeded",
    "DuplicateName",
    "EpisodeLimitReached",
    "QuotaExceeded",
    "RoomExists",
    "RoomLimitReached",
    "RoomNotFound",
    "SceneBusy",
    "StorageError",
    "WriteRefused",
]


class StorageError(Exception):
    """The database cannot be opened or used (a bad path, a damaged or newer file, a lock)."""


class EpisodeLimitReached(Exception):
    """A writer or a guild already has as many unfinished episodes as allowed.

    Not a :class:`StorageError`: nothing is wrong with the database, and the bot answers it with
    a polite "wait for your other episode" rather than an operator alert. It is raised from
    inside the transaction that would have created the episode, so two commands racing each
    other cannot both slip under the limit.
    """

    def __init__(self, scope: Literal["author", "guild"], limit: int, running: int) -> None:
        who = "you already have" if scope == "author" else "this server already has"
        super().__init__(f"{who} {running} episode(s) in progress (limit {limit})")
        self.scope: Literal["author", "guild"] = scope
        self.limit = limit
        self.running = running


class WriteRefused(StorageError):
    """A write a room's rules refuse; the message says why, in words for the writer.

    Raised from inside the writing transaction, after the check that refused it, so two
    commands racing each other cannot both get past the rule. Nothing was written.
    """


class RoomExists(WriteRefused):
    """The channel already has a room: one room per channel."""

    def __init__(self, channel_id: int, name: str, showrunner_name: str) -> None:
        super().__init__(
            f'this channel already has a room, "{name}" (showrunner: {showrunner_name}): '
            "edit that one, or create the new room in another channel"
        )
        self.channel_id = channel_id
        self.name = name
        self.showrunner_name = showrunner_name


class RoomNotFound(WriteRefused):
    """The room was deleted (or never existed) between the command and the write."""

    def __init__(self, room_id: int) -> None:
        super().__init__("this room no longer exists: create a new one with /room create")
        self.room_id = room_id


class RoomLimitReached(WriteRefused):
    """The room's bible already has as many characters (or running gags) as it may."""

    def __init__(self, what: Literal["characters", "running gags"], limit: int) -> None:
        super().__init__(
            f"this room already has {limit} {what}, the most a bible can hold: remove one first"
        )
        self.what: Literal["characters", "running gags"] = what
        self.limit = limit


class DuplicateName(WriteRefused):
    """Another character of the room has that name, or the gag is already listed.

    Names are compared without regard to case: "ada" and "Ada" are one character to a writer,
    and to the model reading the bible.
    """

    def __init__(self, what: Literal["character", "running gag"], name: str) -> None:
        if what == "character":
            message = f'this room already has a character named "{name}": choose another name'
        else:
            message = f'this room already has the running gag "{name}"'
        super().__init__(message)
        self.what: Literal["character", "running gag"] = what
        self.name = name


class SceneBusy(WriteRefused):
    """That scene of the episode already has a rewrite in progress or up for a vote."""

    def __init__(self, scene: int, public_id: str, status: str) -> None:
        doing = "is being rewritten" if status == "running" else "has takes up for a vote"
        super().__init__(
            f"scene {scene} {doing} ({public_id}): wait for it to finish, or cancel it first"
        )
        self.scene = scene
        self.public_id = public_id
        self.status = status


_MONTHS: Final = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
"""Spelt out here rather than by ``strftime("%B")``, which follows the process's locale."""


def _dollars(amount: float) -> str:
    return "less than $0.01" if 0 < amount < 0.005 else f"${amount:,.2f}"


class BudgetExceeded(WriteRefused):
    """Starting this work could take the guild past its monthly budget.

    ``spent_usd`` is what the usage ledger says the guild spent this month, ``reserved_usd``
    what work still running holds on top (its estimate, less what it already spent), and
    ``amount_usd`` the most the refused work could have cost. Raised from inside the
    transaction that would have reserved it, so parallel starts cannot overshoot together.
    """

    def __init__(
        self,
        spent_usd: float,
        limit_usd: float,
        resets_at: datetime,
        *,
        reserved_usd: float = 0.0,
        amount_usd: float = 0.0,
    ) -> None:
        reset = resets_at.astimezone(UTC)
        message = (
            f"This server has spent {_dollars(spent_usd)} of its {_dollars(limit_usd)} "
            "monthly budget"
        )
        if reserved_usd >= 0.005:
            message += f" ({_dollars(reserved_usd)} more is held for work in progress)"
        if amount_usd > 0:
            message += f", and this could cost up to {_dollars(amount_usd)}"
        super().__init__(f"{message}; it resets on {reset.day} {_MONTHS[reset.month - 1]}.")
        self.spent_usd = spent_usd
        self.limit_usd = limit_usd
        self.resets_at = resets_at
        self.reserved_usd = reserved_usd
        self.amount_usd = amount_usd


class QuotaExceeded(WriteRefused):
    """The writer already started as many episodes today (UTC) as a writer may a day.

    Every episode started counts, whatever became of it: the quota bounds what a writer can
    make the guild pay in a day, and a failed or cancelled episode was paid for too.
    """

    def __init__(self, count: int, limit: int, resets_at: datetime) -> None:
        if limit <= 0:
            message = "Starting new episodes is switched off on this server (a daily limit of 0)."
        else:
            episodes = "episode" if limit == 1 else "episodes"
            message = (
                f"You have started {count} of your {limit} {episodes} for today; "
                "the count starts again at midnight UTC."
            )
        super().__init__(message)
        self.count = count
        self.limit = limit
        self.resets_at = resets_at
