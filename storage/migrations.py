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
    from storage.database import Database, Dialect, Params, Row, Transaction

__all__ = [
    "APPLICATION_ID",
    "MIGRATIONS",
    "STEP_SAVES",
    "STEP_SAVES_POSTGRES",
    "STEP_SAVE_COLUMNS",
    "STEP_SAVE_TYPES_POSTGRES",
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
        await tx.execute(_MIGRATIONS_TABLE[db.dialect])
    recorded = await applied_migrations(db)
    unknown = [name for name in recorded if name not in known]
    if unknown:
        raise StorageError(
            f"{db.label}: this database was written by a newer Showrunner (it records the "
            f"unknown migration {unknown[0]!r}): upgrade Showrunner, or point it at another file"
        )
    applied: list[str] = []
    for fn in migrations:
        if fn.__name__ in recorded:
            continue  # never unrecorded: an up-to-date database opens without a write
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
    order = "rowid" if db.dialect == "sqlite" else "seq"
    rows = await db.fetchall(f"SELECT name FROM _migrations ORDER BY {order}")
    return [str(row[0]) for row in rows]


_MIGRATIONS_TABLE: Final[dict[Dialect, str]] = {
    "sqlite": (
        "CREATE TABLE IF NOT EXISTS _migrations ("
        " name TEXT PRIMARY KEY, applied_at TEXT NOT NULL) STRICT"
    ),
    # PostgreSQL has no rowid to keep the order migrations were applied in.
    "postgresql": (
        "CREATE TABLE IF NOT EXISTS _migrations ("
        " name TEXT PRIMARY KEY, applied_at TEXT NOT NULL,"
        " seq BIGINT GENERATED ALWAYS AS IDENTITY)"
    ),
}


class _Reader(Protocol):
    async def fetchall(self, sql: str, params: Params = ()) -> list[Row]: ...

    async def fetchone(self, sql: str, params: Params = ()) -> Row | None: ...


async def refuse_foreign(db: Database) -> None:
    """Refuse a file holding another application's tables, reading only: ``Database.open``
    runs it before anything (``journal_mode``, a migration) could change the file."""
    await _refuse_foreign(db, db)


async def create_temp_schema(db: Database) -> None:
    """Make this connection's :data:`TEMP_SCHEMA` (after the migrations: it uses their tables)."""
    for sql in TEMP_SCHEMA:
        await db.fetchall(sql)


async def _refuse_foreign(db: Database, reader: _Reader) -> None:
    if db.dialect == "sqlite":
        row = await reader.fetchone("PRAGMA application_id")
        application_id = int(row[0]) if row is not None else 0
        listing = "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    else:
        # A PostgreSQL database has no application id: its tables alone tell.
        application_id = 0
        listing = (
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
    tables = {str(r[0]) for r in await reader.fetchall(listing)}
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
    if tx.db.dialect == "sqlite":
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


@migration
async def m003_rooms(tx: Transaction) -> None:
    """Rooms (a channel's series bible and continuity), and rewrites of scenes with revisions.

    - A room belongs to one channel (``channel_id`` UNIQUE); its threads find it through their
      parent. Characters and gags are rows, not a JSON blob, so "at most 20" and "no two named
      Ada" are checked by the statements that write them. ``name_key``/``text_key`` are the
      case-folded forms the primary keys compare (computed in Python: SQLite's ``lower()``
      folds ASCII only); ``position`` keeps the writers' order.
    - ``room_summaries`` is continuity: one row per delivered episode (``episode_id`` UNIQUE
      makes adding it idempotent), deleted with the episode or the room.
    - ``episodes.room_id``: the room an episode was written in; a deleted room leaves its
      episodes, unattached.
    - ``rewrites`` are durable jobs like episodes (status, status message, delivery, shown
      status). A partial UNIQUE index makes "one rewrite per scene at a time" hold even
      against a writer that skipped the store's own check.
    - ``revisions`` keep every script a rewrite made (v2, v3...); v1 is the episode's own
      ``script``, never copied. ``rewrite_votes`` keeps one vote per writer per rewrite.
    - Partial indexes cover what start-up asks about (running, voting, undelivered, stale).
      Outlines in review (``queued``) are found through m001's ``episodes_unfinished``.
    """
    await tx.execute(
        """
        CREATE TABLE rooms (
            id INTEGER PRIMARY KEY,
            guild_id INTEGER NOT NULL,
            channel_id INTEGER NOT NULL UNIQUE,
            name TEXT NOT NULL CHECK (name <> ''),
            logline TEXT NOT NULL DEFAULT '',
            tone TEXT NOT NULL DEFAULT '',
            setting TEXT NOT NULL DEFAULT '',
            showrunner_id INTEGER NOT NULL,
            showrunner_name TEXT NOT NULL,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL
        ) STRICT
        """
    )
    await tx.execute(
        """
        CREATE TABLE room_writers (
            room_id INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
            user_id INTEGER NOT NULL,
            user_name TEXT NOT NULL,
            added_by INTEGER NOT NULL,
            added_at TEXT NOT NULL,
            PRIMARY KEY (room_id, user_id)
        ) STRICT
        """
    )
    await tx.execute(
        """
        CREATE TABLE room_characters (
            room_id INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            name TEXT NOT NULL CHECK (name <> ''),
            name_key TEXT NOT NULL,
            description TEXT NOT NULL DEFAULT '',
            voice TEXT NOT NULL DEFAULT '',
            PRIMARY KEY (room_id, name_key)
        ) STRICT
        """
    )
    await tx.execute(
        """
        CREATE TABLE room_gags (
            room_id INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
            position INTEGER NOT NULL,
            text TEXT NOT NULL CHECK (text <> ''),
            text_key TEXT NOT NULL,
            PRIMARY KEY (room_id, text_key)
        ) STRICT
        """
    )
    await tx.execute(
        """
        CREATE TABLE room_summaries (
            room_id INTEGER NOT NULL REFERENCES rooms (id) ON DELETE CASCADE,
            episode_id INTEGER NOT NULL UNIQUE REFERENCES episodes (id) ON DELETE CASCADE,
            summary TEXT NOT NULL CHECK (json_valid(summary)),
            created_at TEXT NOT NULL
        ) STRICT
        """
    )
    # A room's continuity, newest first.
    await tx.execute(
        "CREATE INDEX room_summaries_recent ON room_summaries (room_id, created_at, episode_id)"
    )
    await tx.execute(
        "ALTER TABLE episodes ADD COLUMN room_id INTEGER REFERENCES rooms (id) ON DELETE SET NULL"
    )
    # Deleting a room sets its episodes' room_id to NULL: without an index, a full scan.
    await tx.execute("CREATE INDEX episodes_room ON episodes (room_id)")
    await tx.execute(
        """
        CREATE TABLE rewrites (
            id INTEGER PRIMARY KEY,
            public_id TEXT NOT NULL UNIQUE,
            episode_id INTEGER NOT NULL REFERENCES episodes (id) ON DELETE CASCADE,
            guild_id INTEGER NOT NULL,
            channel_id INTEGER NOT NULL,
            scene INTEGER NOT NULL CHECK (scene >= 1),
            note TEXT NOT NULL,
            takes INTEGER NOT NULL CHECK (takes BETWEEN 1 AND 3),
            author_id INTEGER NOT NULL,
            author_name TEXT NOT NULL,
            status TEXT NOT NULL
                CHECK (status IN ('running', 'voting', 'done', 'failed', 'cancelled')),
            error TEXT,
            cancelled_by TEXT,
            chosen_take INTEGER CHECK (chosen_take IS NULL OR chosen_take BETWEEN 1 AND takes),
            chosen_by TEXT,
            revision INTEGER CHECK (revision IS NULL OR revision >= 2),
            status_channel_id INTEGER,
            status_message_id INTEGER,
            ballot_message_id INTEGER,
            delivered_message_id INTEGER,
            status_shown TEXT,
            created_at TEXT NOT NULL,
            updated_at TEXT NOT NULL,
            CHECK (status <> 'done' OR revision IS NOT NULL),
            CHECK (delivered_message_id IS NULL OR status = 'done')
        ) STRICT
        """
    )
    # One rewrite at a time per scene: the rule SceneBusy reports, held by the file itself.
    await tx.execute(
        "CREATE UNIQUE INDEX rewrites_scene_busy ON rewrites (episode_id, scene)"
        " WHERE status IN ('running', 'voting')"
    )
    # An episode's rewrites (and the cascade when it is deleted).
    await tx.execute("CREATE INDEX rewrites_episode ON rewrites (episode_id)")
    await tx.execute("CREATE INDEX rewrites_running ON rewrites (id) WHERE status = 'running'")
    await tx.execute("CREATE INDEX rewrites_voting ON rewrites (id) WHERE status = 'voting'")
    await tx.execute(
        "CREATE INDEX rewrites_undelivered ON rewrites (id)"
        " WHERE status = 'done' AND delivered_message_id IS NULL"
    )
    await tx.execute(
        "CREATE INDEX rewrites_status_stale ON rewrites (id)"
        " WHERE status IN ('done', 'failed', 'cancelled') AND status_shown IS NOT status"
    )
    await tx.execute(
        """
        CREATE TABLE revisions (
            episode_id INTEGER NOT NULL REFERENCES episodes (id) ON DELETE CASCADE,
            number INTEGER NOT NULL CHECK (number >= 2),
            scene INTEGER CHECK (scene IS NULL OR scene >= 1),
            note TEXT,
            author_id INTEGER NOT NULL,
            author_name TEXT NOT NULL,
            rewrite_id INTEGER UNIQUE REFERENCES rewrites (id) ON DELETE SET NULL,
            script TEXT NOT NULL CHECK (json_valid(script)),
            created_at TEXT NOT NULL,
            PRIMARY KEY (episode_id, number)
        ) STRICT
        """
    )
    await tx.execute(
        """
        CREATE TABLE rewrite_votes (
            rewrite_id INTEGER NOT NULL REFERENCES rewrites (id) ON DELETE CASCADE,
            user_id INTEGER NOT NULL,
            take INTEGER NOT NULL CHECK (take >= 1),
            voted_at TEXT NOT NULL,
            PRIMARY KEY (rewrite_id, user_id)
        ) STRICT
        """
    )


@migration
async def m004_budgets(tx: Transaction) -> None:
    """Monthly budgets per guild, and the reservations that hold work's cost against them.

    - ``guild_budgets``: a guild's own monthly limit in dollars; ``NULL`` (cleared) means the
      operator's default applies. ``set_by`` and ``updated_at`` say who changed it, and when.
    - ``reservations``: what a start set aside, an upper bound of its cost, until the work ends
      and is settled (``settled_at``); from then on the usage ledger alone counts. A start
      reserves before its episode or rewrite exists (the check and the hold must be one
      transaction) and is attached to it right after; ``counts_as_episode`` marks a new
      episode, for the daily quota. A deleted episode or rewrite takes its reservations along,
      as it takes its usage rows.
    - The open reservations of a guild are what every start sums: a partial index keeps that
      small however many settled ones accumulate.
    - ``usage (episode_id, created_at)`` replaces m001's ``usage (episode_id)``: the same
      lookups (and the cascade from episodes), and also the usage of an episode since an
      instant (this month's, or since a reservation), as a range rather than a scan.
    - ``episodes (guild_id, author_id, created_at)``: the episodes a writer started today.
    """
    await tx.execute(
        """
        CREATE TABLE guild_budgets (
            guild_id INTEGER PRIMARY KEY,
            monthly_usd REAL CHECK (monthly_usd IS NULL OR monthly_usd >= 0),
            set_by TEXT NOT NULL,
            updated_at TEXT NOT NULL
        ) STRICT
        """
    )
    await tx.execute(
        """
        CREATE TABLE reservations (
            id INTEGER PRIMARY KEY,
            guild_id INTEGER NOT NULL,
            author_id INTEGER NOT NULL,
            episode_id INTEGER REFERENCES episodes (id) ON DELETE CASCADE,
            rewrite_id INTEGER REFERENCES rewrites (id) ON DELETE CASCADE,
            amount_usd REAL NOT NULL CHECK (amount_usd >= 0),
            counts_as_episode INTEGER NOT NULL DEFAULT 0 CHECK (counts_as_episode IN (0, 1)),
            created_at TEXT NOT NULL,
            settled_at TEXT,
            CHECK (episode_id IS NULL OR rewrite_id IS NULL)
        ) STRICT
        """
    )
    await tx.execute(
        "CREATE INDEX reservations_open ON reservations (guild_id) WHERE settled_at IS NULL"
    )
    await tx.execute("CREATE INDEX reservations_episode ON reservations (episode_id)")
    await tx.execute("CREATE INDEX reservations_rewrite ON reservations (rewrite_id)")
    await tx.execute("DROP INDEX usage_episode")
    await tx.execute("CREATE INDEX usage_episode_time ON usage (episode_id, created_at)")
    await tx.execute(
        "CREATE INDEX episodes_author_recent ON episodes (guild_id, author_id, created_at)"
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

STEP_SAVES_POSTGRES: Final = """
    WITH saves (episode_id, key, payload, step, model, input_tokens, output_tokens,
        cache_write_tokens, cache_read_tokens, latency_s, retries, created_at) AS (VALUES {rows}),
    numbered AS (SELECT nextval(pg_get_serial_sequence('usage', 'id')) AS usage_id, * FROM saves),
    ledger AS (
        INSERT INTO usage (id, episode_id, step, model, input_tokens, output_tokens,
            cache_write_tokens, cache_read_tokens, latency_s, retries, outcome, created_at)
        SELECT usage_id, episode_id, step, model, input_tokens, output_tokens,
            cache_write_tokens, cache_read_tokens, latency_s, retries, 'ok', created_at
        FROM numbered
    )
    INSERT INTO steps (episode_id, key, payload, usage_id, created_at)
    SELECT episode_id, key, payload, usage_id, created_at FROM numbered
    ON CONFLICT (episode_id, key) DO UPDATE
    SET payload = excluded.payload, usage_id = excluded.usage_id, created_at = excluded.created_at
"""
"""What :data:`STEP_SAVES` is on PostgreSQL, where a pooled connection has no temp schema of
ours: one statement writing the ledger rows and the steps of ``{rows}``, rows of values in the
order of :data:`STEP_SAVE_COLUMNS` cast to :data:`STEP_SAVE_TYPES_POSTGRES`. Each ledger id is
drawn first (``numbered`` is evaluated once: it calls ``nextval``), so each step points at its
own call. A migration that changes the ``usage`` or ``steps`` columns changes these too, as it
changes :data:`TEMP_SCHEMA`."""

STEP_SAVE_TYPES_POSTGRES: Final = (
    "bigint",
    "text",
    "text",
    "text",
    "text",
    "bigint",
    "bigint",
    "bigint",
    "bigint",
    "double precision",
    "bigint",
    "text",
)
"""The type of each of :data:`STEP_SAVE_COLUMNS`: parameters in ``VALUES`` have none."""

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
