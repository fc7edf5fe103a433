"""Episodes: who asked for what, where it stands, and where its messages are.

Rules this module keeps, so the bot above it cannot get them wrong:

- **Guild-scoped lookups.** What a writer types (a public id) is only ever looked up together
  with the guild it was typed in: an id from another guild finds nothing.
- **Status changes are compare-and-set.** Each transition names the states it may start from
  and happens in one ``UPDATE … WHERE status IN (…)``. The Cancel button racing the last step,
  or a second process, cannot turn a cancelled episode into a done one or the reverse: the
  loser gets ``False`` and nothing changes.
- **Limits are checked where the row is created.** "At most N unfinished episodes per writer"
  is counted inside the transaction that inserts, so concurrent commands cannot both slip under.
  An outline waiting for review (``queued``) counts: it is an episode the writers still want.

The life of an episode::

    create(review=True) → queued ──start_writing──▶ running ──finish──▶ done
    create()            ─────────────────────────▶ running ──fail────▶ failed ──requeue──▶ running
    queued or running ──cancel / expire_reviews──▶ cancelled
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Final

from scriptgen.models import EpisodeRequest, Script
from storage._time import to_db
from storage.database import Database, Row, SqlValue, Transaction
from storage.errors import EpisodeLimitReached, RoomNotFound, StorageError
from storage.records import (
    FINISHED,
    MAX_ERROR_CHARS,
    UNFINISHED,
    UNFINISHED_SQL,
    EpisodeRecord,
    EpisodeStatus,
    new_public_id,
    normalize_public_id,
    record_from_row,
)
from storage.usage import TOTALS_SQL, totals_from_row

__all__ = [
    "FINISHED",
    "REVIEW_EXPIRED_BY",
    "UNFINISHED",
    "EpisodeRecord",
    "EpisodeStatus",
    "EpisodeStore",
    "normalize_public_id",
]


REVIEW_EXPIRED_BY: Final = "nobody: the outline waited 24 hours"
"""``cancelled_by`` of an outline that :meth:`EpisodeStore.expire_reviews` gave up on."""

_RUNNING_SQL: Final = f"{UNFINISHED_SQL} AND status = 'running'"
_QUEUED_SQL: Final = f"{UNFINISHED_SQL} AND status = 'queued'"
"""Narrowed from :data:`UNFINISHED_SQL`, whose exact term lets SQLite use the partial index."""


class EpisodeStore:
    """Creates, finds and moves episodes through their states."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- creating and finding -----------------------------------------------------------------

    async def create(
        self,
        *,
        guild_id: int,
        channel_id: int,
        author_id: int,
        author_name: str,
        request: EpisodeRequest,
        provider: str,
        model: str,
        max_unfinished_per_author: int | None = None,
        max_unfinished_per_guild: int | None = None,
        room_id: int | None = None,
        review: bool = False,
    ) -> EpisodeRecord:
        """Record a new episode, status ``running``, with a fresh public id.

        ``review=True`` creates it ``queued`` instead: its outline waits for the writers
        (:meth:`set_request` keeps their edits, :meth:`start_writing` lets it run).
        ``room_id`` is the room it is written in, which must be in the same guild.

        Keyword-only: three snowflake ints in a row are too easy to swap silently. Raises
        :class:`EpisodeLimitReached` (and writes nothing) if a limit given here is reached,
        :class:`RoomNotFound` if the room was deleted meanwhile.
        """
        status = "queued" if review else "running"
        async with self._db.transaction() as tx:
            if room_id is not None:
                room = await tx.fetchone("SELECT guild_id FROM rooms WHERE id = ?", (room_id,))
                if room is None:
                    raise RoomNotFound(room_id)
                if room["guild_id"] != guild_id:
                    raise ValueError(f"room {room_id} belongs to another guild than {guild_id}")
            if max_unfinished_per_author is not None:
                running = await _count(
                    tx,
                    f"guild_id = ? AND author_id = ? AND {UNFINISHED_SQL}",
                    (guild_id, author_id),
                )
                if running >= max_unfinished_per_author:
                    raise EpisodeLimitReached("author", max_unfinished_per_author, running)
            if max_unfinished_per_guild is not None:
                running = await _count(tx, f"guild_id = ? AND {UNFINISHED_SQL}", (guild_id,))
                if running >= max_unfinished_per_guild:
                    raise EpisodeLimitReached("guild", max_unfinished_per_guild, running)
            now = to_db(tx.now())
            request_json = request.model_dump_json()
            # Collisions are rare but certain at scale: retry, and lengthen the id if the
            # short space is getting crowded.
            for attempt in range(12):
                row = await tx.fetchone(
                    "INSERT INTO episodes (public_id, guild_id, channel_id, author_id,"
                    " author_name, request, status, created_at, updated_at, provider, model,"
                    " room_id)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " ON CONFLICT (public_id) DO NOTHING RETURNING *",
                    (
                        new_public_id(5 + attempt // 4),
                        guild_id,
                        channel_id,
                        author_id,
                        author_name,
                        request_json,
                        status,
                        now,
                        now,
                        provider,
                        model,
                        room_id,
                    ),
                )
                if row is not None:
                    return record_from_row(self._db.label, row)
            raise StorageError(f"{self._db.label}: could not find a free episode id")

    async def get(self, guild_id: int, public_id: str) -> EpisodeRecord | None:
        """The episode a writer named, if it belongs to this guild; otherwise ``None``."""
        normalized = normalize_public_id(public_id)
        if normalized is None:
            return None
        return await self._one(
            "SELECT * FROM episodes WHERE public_id = ? AND guild_id = ?",
            (normalized, guild_id),
        )

    async def get_by_id(self, episode_id: int) -> EpisodeRecord | None:
        """By internal id, in any guild: for the bot's own bookkeeping, never for user input."""
        return await self._one("SELECT * FROM episodes WHERE id = ?", (episode_id,))

    async def list_recent(self, guild_id: int, limit: int = 10) -> list[EpisodeRecord]:
        """A guild's episodes, newest first."""
        return await self._many(
            "SELECT * FROM episodes WHERE guild_id = ? ORDER BY id DESC LIMIT ?",
            (guild_id, limit),
        )

    async def running_for_author(self, guild_id: int, author_id: int) -> list[EpisodeRecord]:
        """The writer's unfinished (queued or running) episodes in this guild, oldest first."""
        return await self._many(
            f"SELECT * FROM episodes WHERE guild_id = ? AND author_id = ? AND {UNFINISHED_SQL}"
            " ORDER BY id",
            (guild_id, author_id),
        )

    async def count_running(self, guild_id: int) -> int:
        """How many of the guild's episodes are unfinished (queued or running)."""
        row = await self._db.fetchone(
            f"SELECT count(*) FROM episodes WHERE guild_id = ? AND {UNFINISHED_SQL}",
            (guild_id,),
        )
        return int(row[0]) if row is not None else 0

    async def list_unfinished(
        self, guild_ids: Collection[int] | None = None
    ) -> list[EpisodeRecord]:
        """Episodes to resume at start-up (``running`` ones), oldest first, in every guild or
        in ``guild_ids``. Outlines waiting for review are :meth:`list_in_review`'s.

        ``guild_ids`` is for scaling out: a process serving some guilds (shards) resumes only
        theirs, and another process's episodes stay with it.
        """
        return await self._many(
            *_in_guilds(f"SELECT * FROM episodes WHERE {_RUNNING_SQL}", guild_ids)
        )

    async def list_in_review(self, guild_ids: Collection[int] | None = None) -> list[EpisodeRecord]:
        """Outlines waiting for the writers (``queued``), oldest first: at start-up the bot
        puts their review buttons back."""
        return await self._many(
            *_in_guilds(f"SELECT * FROM episodes WHERE {_QUEUED_SQL}", guild_ids)
        )

    async def list_undelivered(
        self, guild_ids: Collection[int] | None = None
    ) -> list[EpisodeRecord]:
        """Finished scripts never posted (the bot stopped in between): to post at start-up."""
        return await self._many(
            *_in_guilds(
                "SELECT * FROM episodes WHERE status = 'done' AND delivered_message_id IS NULL",
                guild_ids,
            )
        )

    # -- changing ----------------------------------------------------------------------------

    async def set_title(self, episode_id: int, title: str) -> bool:
        """Record the outline's title. ``False`` if there is no such episode."""
        return await self._update(episode_id, {"title": title})

    async def set_status_message(self, episode_id: int, channel_id: int, message_id: int) -> bool:
        """Remember the live status message, so a restarted bot edits it instead of a new one."""
        return await self._update(
            episode_id, {"status_channel_id": channel_id, "status_message_id": message_id}
        )

    async def set_request(self, episode_id: int, request: EpisodeRequest) -> bool:
        """Replace the request while the outline is in review: the writers' edited outline
        lives in ``request.outline``. ``False`` once it is no longer ``queued``."""
        return await self._transition(
            episode_id,
            "queued",
            {"request": request.model_dump_json()},
            where="status = 'queued'",
        )

    async def start_writing(self, episode_id: int) -> bool:
        """queued → running: the writers approved the outline ("Write it"). ``False`` if it
        was cancelled or expired meanwhile, or another press already started it."""
        return await self._transition(episode_id, "running", {}, where="status = 'queued'")

    async def expire_reviews(self, older_than: datetime) -> list[EpisodeRecord]:
        """Cancel the outlines left in review, untouched since before ``older_than`` (aware).

        Returns the episodes it cancelled (``cancelled_by`` is :data:`REVIEW_EXPIRED_BY`), so
        the bot can tell their channels; an outline edited or started meanwhile is left alone.
        """
        async with self._db.transaction() as tx:
            stale = await tx.fetchall(
                f"SELECT id FROM episodes WHERE {_QUEUED_SQL} AND updated_at < ? ORDER BY id",
                (to_db(older_than),),
            )
            rows = [
                await _end_in(
                    tx,
                    int(row["id"]),
                    "cancelled",
                    {"cancelled_by": REVIEW_EXPIRED_BY},
                    where="status = 'queued'",
                )
                for row in stale
            ]
        return [record_from_row(self._db.label, row) for row in rows if row is not None]

    async def finish(self, episode_id: int, script: Script) -> bool:
        """running → done, with the script and the ledger's totals. ``False`` if no longer
        running (cancelled meanwhile): the script is then not stored."""
        return await self._end(
            episode_id,
            "done",
            {"script": script.model_dump_json(), "title": script.title},
            where="status = 'running'",
        )

    async def fail(self, episode_id: int, error: str) -> bool:
        """queued/running → failed, keeping a (bounded) error message for the writer."""
        return await self._end(
            episode_id, "failed", {"error": error[:MAX_ERROR_CHARS]}, where=UNFINISHED_SQL
        )

    async def cancel(self, episode_id: int, by: str) -> bool:
        """queued/running → cancelled. ``False`` if it had already ended (done, failed...)."""
        return await self._end(episode_id, "cancelled", {"cancelled_by": by}, where=UNFINISHED_SQL)

    async def mark_delivered(self, episode_id: int, message_id: int) -> bool:
        """Record that the script was posted. ``False`` if it already was, or is not done:
        only the first delivery counts."""
        return await self._transition(
            episode_id,
            "done",
            {"delivered_message_id": message_id},
            where="status = 'done' AND delivered_message_id IS NULL",
        )

    async def list_status_stale(
        self, guild_ids: Collection[int] | None = None
    ) -> list[EpisodeRecord]:
        """Finished episodes whose status message may not show how they ended (the process
        stopped in between): their final status is shown at start-up."""
        return await self._many(
            *_in_guilds(
                "SELECT * FROM episodes WHERE status IN ('done', 'failed', 'cancelled')"
                " AND status_shown IS NOT status",
                guild_ids,
            )
        )

    async def mark_status_shown(self, episode_id: int) -> bool:
        """The status message now shows the episode's final state."""
        async with self._db.transaction() as tx:
            return (
                await tx.execute(
                    "UPDATE episodes SET status_shown = status WHERE id = ?", (episode_id,)
                )
                > 0
            )

    async def requeue(self, episode_id: int) -> bool:
        """failed → running, to retry; the checkpoints already saved are reused."""
        return await self._transition(
            episode_id,
            "running",
            {"error": None, "finished_at": None, "totals": None},
            where="status = 'failed'",
        )

    async def delete(self, episode_id: int) -> bool:
        """Delete an episode with its steps and usage rows (a guild's data-removal request)."""
        async with self._db.transaction() as tx:
            return await tx.execute("DELETE FROM episodes WHERE id = ?", (episode_id,)) > 0

    # -- internals ------------------------------------------------------------------------------

    async def _end(
        self,
        episode_id: int,
        status: EpisodeStatus,
        values: dict[str, SqlValue],
        *,
        where: str,
    ) -> bool:
        """Move to a final state, snapshotting the ledger's totals in the same transaction."""
        async with self._db.transaction() as tx:
            return await _end_in(tx, episode_id, status, values, where=where) is not None

    async def _transition(
        self,
        episode_id: int,
        status: EpisodeStatus,
        values: dict[str, SqlValue],
        *,
        where: str,
    ) -> bool:
        async with self._db.transaction() as tx:
            return await _set(tx, episode_id, {"status": status, **values}, where=where)

    async def _update(self, episode_id: int, values: dict[str, SqlValue]) -> bool:
        async with self._db.transaction() as tx:
            return await _set(tx, episode_id, values, where=None)

    async def _one(self, sql: str, params: Sequence[SqlValue]) -> EpisodeRecord | None:
        row = await self._db.fetchone(sql, params)
        return record_from_row(self._db.label, row) if row is not None else None

    async def _many(self, sql: str, params: Sequence[SqlValue]) -> list[EpisodeRecord]:
        return [
            record_from_row(self._db.label, row) for row in await self._db.fetchall(sql, params)
        ]


async def _count(tx: Transaction, where: str, params: Sequence[SqlValue]) -> int:
    row = await tx.fetchone(f"SELECT count(*) FROM episodes WHERE {where}", params)
    return int(row[0]) if row is not None else 0


async def _end_in(
    tx: Transaction,
    episode_id: int,
    status: EpisodeStatus,
    values: dict[str, SqlValue],
    *,
    where: str,
) -> Row | None:
    """Inside ``tx``: move to a final state with the ledger's totals; the changed row, if any."""
    row = await tx.fetchone(
        f"SELECT {TOTALS_SQL} FROM usage u WHERE u.episode_id = ?", (episode_id,)
    )
    totals = totals_from_row(row).model_dump_json()
    return await _set_returning(
        tx,
        episode_id,
        {"status": status, "finished_at": to_db(tx.now()), "totals": totals, **values},
        where=where,
    )


async def _set(
    tx: Transaction, episode_id: int, values: dict[str, SqlValue], *, where: str | None
) -> bool:
    """``UPDATE episodes SET … WHERE id = ? [AND where]``; True if the row changed."""
    return await _set_returning(tx, episode_id, values, where=where) is not None


async def _set_returning(
    tx: Transaction, episode_id: int, values: dict[str, SqlValue], *, where: str | None
) -> Row | None:
    """``UPDATE episodes SET … WHERE id = ? [AND where] RETURNING *``: the row if it changed.

    Column names and ``where`` come from this module's code, never from input.
    """
    assignments = ", ".join(f"{column} = ?" for column in values)
    sql = f"UPDATE episodes SET {assignments}, updated_at = ? WHERE id = ?"
    if where is not None:
        sql += f" AND {where}"
    params = [*values.values(), to_db(tx.now()), episode_id]
    return await tx.fetchone(sql + " RETURNING *", params)


def _in_guilds(sql: str, guild_ids: Collection[int] | None) -> tuple[str, list[SqlValue]]:
    if guild_ids is None:
        return sql + " ORDER BY id", []
    # One JSON parameter rather than one ? per guild: no limit on how many guilds a shard has.
    return (
        sql + " AND guild_id IN (SELECT CAST(value AS INTEGER) FROM json_each(?)) ORDER BY id",
        [json.dumps(sorted(set(guild_ids)))],
    )
