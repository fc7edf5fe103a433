"""Showrunner's persistence: episodes, their checkpointed steps and the usage ledger, rooms
(series bibles, writers, continuity) and rewrites with their revisions, in SQLite.

Knows nothing of Discord: guilds, channels and authors are plain ints. Typical wiring::

    async with await Database.open(settings.database_path) as db:
        episodes = EpisodeStore(db)
        rooms = RoomStore(db)
        rewrites = RewriteStore(db)
        usage = UsageLog(db)
        record = await episodes.create(guild_id=..., channel_id=..., author_id=..., ...)
        checkpoints = SqliteCheckpoints(db, record.id)
        rewrite = await rewrites.create(episode=record, scene=2, note=..., takes=1, ...)
        rewrite_checkpoints = SqliteCheckpoints(db, record.id, prefix=rewrite.checkpoint_prefix)
"""

from storage.checkpoints import SqliteCheckpoints, rewrite_prefix
from storage.database import Database, Transaction
from storage.episodes import (
    FINISHED,
    REVIEW_EXPIRED_BY,
    UNFINISHED,
    EpisodeRecord,
    EpisodeStatus,
    EpisodeStore,
    normalize_public_id,
)
from storage.errors import (
    DuplicateName,
    EpisodeLimitReached,
    RoomExists,
    RoomLimitReached,
    RoomNotFound,
    SceneBusy,
    StorageError,
    WriteRefused,
)
from storage.migrations import MIGRATIONS
from storage.rewrites import (
    Revision,
    RewriteRecord,
    RewriteStatus,
    RewriteStore,
    normalize_rewrite_id,
)
from storage.rooms import Role, RoomRecord, RoomStore, Writer
from storage.usage import Outcome, UsageLog

__all__ = [
    "FINISHED",
    "MIGRATIONS",
    "REVIEW_EXPIRED_BY",
    "UNFINISHED",
    "Database",
    "DuplicateName",
    "EpisodeLimitReached",
    "EpisodeRecord",
    "EpisodeStatus",
    "EpisodeStore",
    "Outcome",
    "Revision",
    "RewriteRecord",
    "RewriteStatus",
    "RewriteStore",
    "Role",
    "RoomExists",
    "RoomLimitReached",
    "RoomNotFound",
    "RoomRecord",
    "RoomStore",
    "SceneBusy",
    "SqliteCheckpoints",
    "StorageError",
    "Transaction",
    "UsageLog",
    "WriteRefused",
    "Writer",
    "normalize_public_id",
    "normalize_rewrite_id",
    "rewrite_prefix",
]
