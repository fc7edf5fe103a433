"""Showrunner's persistence: episodes, their checkpointed steps and the usage ledger, rooms
(series bibles, writers, continuity), rewrites with their revisions, and guilds' budgets with
the reservations held against them, in an SQLite file (the default) or in PostgreSQL
(``Database.open("postgresql://...")``), with the same stores, SQL and migrations.

Knows nothing of Discord: guilds, channels and authors are plain ints. Typical wiring::

    async with await Database.open(settings.database) as db:
        episodes = EpisodeStore(db)
        rooms = RoomStore(db)
        rewrites = RewriteStore(db)
        usage = UsageLog(db)
        budgets = BudgetStore(db)
        reservation = await budgets.reserve(guild_id=..., author_id=..., amount_usd=..., ...)
        record = await episodes.create(guild_id=..., channel_id=..., author_id=..., ...)
        await budgets.attach(reservation.id, episode_id=record.id)
        checkpoints = SqliteCheckpoints(db, record.id)
        rewrite = await rewrites.create(episode=record, scene=2, note=..., takes=1, ...)
        rewrite_checkpoints = SqliteCheckpoints(db, record.id, prefix=rewrite.checkpoint_prefix)
"""

from storage.budgets import BudgetStore, Reservation, UsageReport, UsageRow
from storage.checkpoints import DatabaseCheckpoints, SqliteCheckpoints, rewrite_prefix
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
    BudgetExceeded,
    DuplicateName,
    EpisodeLimitReached,
    QuotaExceeded,
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
from storage.sqlite import SqliteDatabase
from storage.usage import Outcome, UsageLog

__all__ = [
    "FINISHED",
    "MIGRATIONS",
    "REVIEW_EXPIRED_BY",
    "UNFINISHED",
    "BudgetExceeded",
    "BudgetStore",
    "Database",
    "DatabaseCheckpoints",
    "DuplicateName",
    "EpisodeLimitReached",
    "EpisodeRecord",
    "EpisodeStatus",
    "EpisodeStore",
    "Outcome",
    "QuotaExceeded",
    "Reservation",
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
    "SqliteDatabase",
    "StorageError",
    "Transaction",
    "UsageLog",
    "UsageReport",
    "UsageRow",
    "WriteRefused",
    "Writer",
    "normalize_public_id",
    "normalize_rewrite_id",
    "rewrite_prefix",
]
