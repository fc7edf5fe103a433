"""Showrunner's persistence: episodes, their checkpointed steps and the usage ledger, in SQLite.

Knows nothing of Discord: guilds, channels and authors are plain ints. Typical wiring::

    async with await Database.open(settings.database_path) as db:
        episodes = EpisodeStore(db)
        usage = UsageLog(db)
        record = await episodes.create(guild_id=..., channel_id=..., author_id=..., ...)
        checkpoints = SqliteCheckpoints(db, record.id)
"""

from storage.checkpoints import SqliteCheckpoints
from storage.database import Database, Transaction
from storage.episodes import (
    FINISHED,
    UNFINISHED,
    EpisodeRecord,
    EpisodeStatus,
    EpisodeStore,
    normalize_public_id,
)
from storage.errors import EpisodeLimitReached, StorageError
from storage.migrations import MIGRATIONS
from storage.usage import Outcome, UsageLog

__all__ = [
    "FINISHED",
    "MIGRATIONS",
    "UNFINISHED",
    "Database",
    "EpisodeLimitReached",
    "EpisodeRecord",
    "EpisodeStatus",
    "EpisodeStore",
    "Outcome",
    "SqliteCheckpoints",
    "StorageError",
    "Transaction",
    "UsageLog",
    "normalize_public_id",
]
