"""The errors the storage layer raises on purpose.

Every message is one line that names the database file and says what to do: an operator reads
it in a container log, and a raw ``sqlite3`` traceback tells them neither.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["EpisodeLimitReached", "StorageError"]


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
