"""The schema, as an ordered list of migrations recorded in the database itself.

As in simonw/llm: each migration is a function, applied once, in order, and its name recorded in
``_migrations``. A change to the schema is a NEW function appended to :data:`MIGRATIONS`; a
migration that has shipped is never edited, renamed or removed, because databases out there
remember it by name.

Each migration runs in its own ``BEGIN IMMEDIATE`` transaction together with the row that records
it (SQLite's DDL is transactional): a crash half-way leaves the database as it was before that
migration, and two processes starting at once cannot both apply it. Statements go one by one
through ``tx.execute``; ``executescript`` would COMMIT behind the transaction's back.

A change to the scriptgen models that old stored JSON would no longer validate against (the
models forbid unknown fields) also needs a migration here that rewrites the stored JSON.

:data:`TEMP_SCHEMA` holds the objects each connection makes for itself in its ``temp`` schema,
never written to the file: a migration that changes the ``usage`` or ``steps`` columns changes
them too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Final, Protocol

from storage._time import to_db
from storage.errors import StorageError

if TYPE_CHECKING:
    import sqlite3

    from storage.database import Database, Params, Transaction

__all__ = [
    "APPLICATION_ID",
    "MIGRATIONS",
    "STEP_SAVES",
    "STEP_SAVE_COLUMNS",
    "TEMP_SCHEMA",
    "Migration",
    "applied_migrations",
    "create_temp_schema",
    "migrate",
    "refuse_foreign",
]

Migration = Callable[["Transaction"], Awaitable[None]]

APPLICATION_ID: Final = 0x53484F57
"""``PRAGMA application_id`` of a Showrunner database ("SHOW"): tells our file from others."""

MIGRATIONS: list[Migration] = []


def migration(fn: Migration) -> Migration:
    """Append ``fn`` to :data:`MIGRATIONS`; its ``__name__`` is what the database records."""
    MIGRATIONS.append(fn)
    return fn


async def migrate(db: Database, migrations: list[Migration] | None = None) -> list[str]:
    """Apply the migrations ``db`` has not seen yet; return the names applied now.

    Refuses a database that records a migration this code does not know (it was written by a
    newer Showrunner: running old code on it could corrupt what the newer code relies on), and
    a file that already holds another application's tables.
    """
    migrations = MIGRATIONS if migrations is None else migrations
    known = [fn.__name__ for fn in migrations]
    async with db.transaction() as tx:
        await _refuse_foreign(db, tx)
        await tx.execute(
            "CREATE TABLE IF NOT EXISTS _migrations ("
            " name TEXT PRIMARY KEY, applied_at TEXT NOT NULL) STRICT"
        )
    recorded = await applied_migrations(db)
    unknown = [name for name in recorded if name not in known]
    if unknown:
        raise StorageError(
            f"{db.label}: this database was written by a newer Showrunner (it records the "
            f"unknown migration {unknown[0]!r}): upgrade Showrunner, or point it at another file"
        )
    applied: list[str] = []
    for fn in migrations:
        async with db.transaction() as tx:
            # Checked again inside the write lock: another process may have just applied it.
            done = await tx.fetchone("SELECT 1 FROM _migrations WHERE name = ?", (fn.__name__,))
            if done is not None:
                continue
            await fn(tx)
            await tx.execute(
                "INSERT INTO _migrations (name, applied_at) VALUES (?, ?)",
                (fn.__name__, to_db(tx.now())),
            )
            applied.append(fn.__name__)
    return applied


async def applied_migrations(db: Database) -> list[str]:
    """The names recorded in ``_migrations``, in the order they were applied."""
    rows = await db.fetchall("SELECT name FROM _migrations ORDER BY rowid")
    return [str(row[0]) for row in rows]


class _Reader(Protocol):
    async def fetchall(self, sql: str, params: Params = ()) -> list[sqlite3.Row]: ...

    async def fetchone(self, sql: str, params: Params = ()) -> sqlite3.Row | None: ...


async def refuse_foreign(db: Database) -> None:
    """Refuse a file holding another application's tables, reading only: ``Database.open``
    runs it before anything (``journal_mode``, a migration) could change the file."""
    await _refuse_foreign(db, db)


async def create_temp_schema(db: Database) -> None:
    """Make this connection's :data:`TEMP_SCHEMA` (after the migrations: it uses their tables)."""
    for sql in TEMP_SCHEMA:
        await db.fetchall(sql)


async def _refuse_foreign(db: Database, reader: _Reader) -> None:
    row = await reader.fetchone("PRAGMA application_id")
    application_id = int(row[0]) if row is not None else 0
    tables = {
        str(r[0])
        for r in await reader.fetchall(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
    }
    if application_id not in (0, APPLICATION_ID) or (tables and "_migrations" not in tables):
        raise StorageError(
            f"{db.label} belongs to another application (it has tables but no Showrunner "
            "schema): choose another path for Showrunner's database"
        )


# -- the migrations, oldest first -------------------------------------------------------------


@migration
async def m001_initial(tx: Transaction) -> None:
    """Episodes, their finished steps, and the ledger of every model call.

    - ``episodes.public_id`` is what writers type (``ep-7f3k2``); ``id`` stays internal.
    - ``status_channel_id``/``status_message_id`` let a restarted bot find and edit the live
      status message; ``delivered_message_id`` is set once the script is posted, so a restart
      neither loses a finished episode nor posts it twice.
    - ``steps`` is what checkpoints are made of; each points at the ``usage`` row of the call
      that produced it, so a resumed episode knows what its reused steps cost.
    - ``usage`` is a ledger: failed calls are rows too, because they were paid for.
    - Partial indexes cover exactly the unfinished episodes, which is what start-up and the
      per-writer limits ask about, and stay small however much history accumulates.
    """
    await tx.execute(f"PRAGMA application_id = {APPLICATION_ID}")
    await tx.execute(
        """
        CREATE TABLE episodes (
            id INTEGER PRIMARY KEY,
            public_id TEXT NOT NULL UNIQUE,
            guild_id INTEGER NOT NULL,
            channel_id INTEGER NOT NULL,
            author_id INTEGER NOT NULL,
            author_name TEXT NOT NULL,
            request TEXT NOT NULL CHECK (json_valid(request)),
            title TEXT,
            status TEXT NOT NULL
                CHECK (status IN ('queued', 'running', 'done', 'failed', 'cancelled')),
            error TEXT,
            cancelled_by TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            finished_at TEXT,
            status_channel_id INTEGER,
            status_message_id INTEGER,
            script TEXT CHECK (script IS NULL OR json_valid(script)),
            delivered_message_id INTEGER,
            provider TEXT NOT NULL,
            model TEXT NOT NULL,
            totals TEXT CHECK (totals IS NULL OR json_valid(totals)),
            CHECK (status <> 'done' OR script IS NOT NULL),
            CHECK (delivered_message_id IS NULL OR status = 'done')
        ) STRICT
        """
    )
    await tx.execute(
        """
        CREATE TABLE usage (
            id INTEGER PRIMARY KEY,
            episode_id INTEGER NOT NULL REFERENCES episodes (id) ON DELETE CASCADE,
            step TEXT NOT NULL,
            model TEXT NOT NULL,
            input_tokens INTEGER NOT NULL DEFAULT 0,
            output_tokens INTEGER NOT NULL DEFAULT 0,
            cache_write_tokens INTEGER NOT NULL DEFAULT 0,
            cache_read_tokens INTEGER NOT NULL DEFAULT 0,
            latency_s REAL NOT NULL DEFAULT 0,
            retries INTEGER NOT NULL DEFAULT 0,
            outcome TEXT NOT NULL CHECK (outcome IN ('ok', 'error')),
            created_at TEXT NOT NULL
        ) STRICT
        """
    )
    await tx.execute(
        """
        CREATE TABLE steps (
            episode_id INTEGER NOT NULL REFERENCES episodes (id) ON DELETE CASCADE,
            key TEXT NOT NULL,
            payload TEXT NOT NULL CHECK (json_valid(payload)),
            usage_id INTEGER NOT NULL REFERENCES usage (id) ON DELETE CASCADE,
            created_at TEXT NOT NULL,
            PRIMARY KEY (episode_id, key)
        ) STRICT
        """
    )
    # A guild's recent episodes: /episode-list, newest first.
    await tx.execute("CREATE INDEX episodes_guild_recent ON episodes (guild_id, id DESC)")
    # Running episodes: resume at start-up, oldest first.
    await tx.execute(
        "CREATE INDEX episodes_unfinished ON episodes (id) WHERE status IN ('queued', 'running')"
    )
    # An author's running episodes (per-writer limits); its guild_id prefix also serves a
    # guild's count of running episodes (per-guild limits).
    await tx.execute(
        "CREATE INDEX episodes_author_unfinished ON episodes (guild_id, author_id)"
        " WHERE status IN ('queued', 'running')"
    )
    # Finished but never posted (the bot stopped in between): delivered at start-up.
    await tx.execute(
        "CREATE INDEX episodes_undelivered ON episodes (id)"
        " WHERE status = 'done' AND delivered_message_id IS NULL"
    )
    await tx.execute("CREATE INDEX usage_episode ON usage (episode_id)")
    await tx.execute("CREATE INDEX steps_usage ON steps (usage_id)")


@migration
async def m002_status_shown(tx: Transaction) -> None:
    """``status_shown``: the outcome the status message last displayed.

    A process can die between an episode ending and its status message being edited to say
    so; at start-up, finished episodes whose ``status_shown`` lags their ``status`` get their
    final status shown. Episodes that ended before this migration are taken as shown.
    """
    await tx.execute("ALTER TABLE episodes ADD COLUMN status_shown TEXT")
    await tx.execute(
        "UPDATE episodes SET status_shown = status WHERE status IN ('done', 'failed', 'cancelled')"
    )
    await tx.execute(
        "CREATE INDEX episodes_status_stale ON episodes (id)"
        " WHERE status IN ('done', 'failed', 'cancelled') AND status_shown IS NOT status"
    )


# -- per connection, in its temp schema ---------------------------------------------------------

STEP_SAVES: Final = "temp.step_saves"
"""A view to INSERT checkpoint saves into: each row becomes a ``usage`` row (outcome ``ok``) and
the ``steps`` row pointing at it, by the trigger below, in the inserting statement. One
multi-row INSERT thus saves many steps, each with its ledger row, in one statement: one
transaction and one round trip for a whole group commit (``Database.insert_grouped``). A
failing row (a missing episode, invalid JSON) fails the whole statement: nothing half-written."""

STEP_SAVE_COLUMNS: Final = (
    "episode_id",
    "key",
    "payload",
    "step",
    "model",
    "input_tokens",
    "output_tokens",
    "cache_write_tokens",
    "cache_read_tokens",
    "latency_s",
    "retries",
    "created_at",
)

TEMP_SCHEMA: Final = (
    f"CREATE TEMP VIEW step_saves ({', '.join(STEP_SAVE_COLUMNS)})"
    f" AS SELECT {', '.join(['NULL'] * len(STEP_SAVE_COLUMNS))} WHERE 0",
    # last_insert_rowid() inside a trigger is the row the trigger itself just inserted.
    """
    CREATE TEMP TRIGGER step_saves_insert INSTEAD OF INSERT ON step_saves
    BEGIN
        INSERT INTO usage (episode_id, step, model, input_tokens, output_tokens,
            cache_write_tokens, cache_read_tokens, latency_s, retries, outcome, created_at)
        VALUES (NEW.episode_id, NEW.step, NEW.model, NEW.input_tokens, NEW.output_tokens,
            NEW.cache_write_tokens, NEW.cache_read_tokens, NEW.latency_s, NEW.retries, 'ok',
            NEW.created_at);
        INSERT INTO steps (episode_id, key, payload, usage_id, created_at)
        VALUES (NEW.episode_id, NEW.key, NEW.payload, last_insert_rowid(), NEW.created_at)
        ON CONFLICT (episode_id, key) DO UPDATE
        SET payload = excluded.payload, usage_id = excluded.usage_id,
            created_at = excluded.created_at;
    END
    """,
)
