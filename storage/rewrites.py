"""Rewrites: a writer's note on one scene of a finished episode, run as a durable job.

A rewrite lives like an episode: it is ``running`` while its takes are written, ``voting``
while the room picks one of several takes, and ends ``done`` (with a new revision of the
script), ``failed`` or ``cancelled``. A restarted bot finds the running ones, the ones being
voted on, the finished ones never posted and the ones whose status message lags.

Rules, as in :mod:`storage.episodes`:

- **Guild-scoped lookups** of what writers type (``rw-7f3k2``).
- **Compare-and-set transitions**: the Cancel button racing the vote's end cannot both win.
- **Rules checked where rows are written**: one rewrite at a time per scene (:class:`SceneBusy`
  from inside the inserting transaction, and a partial UNIQUE index behind it); a revision's
  number is taken in the transaction that stores it, so two rewrites of different scenes
  finishing together make v2 and v3, never two v2.
- **Revisions are whole scripts**: v1 is the episode's own ``script``; each rewrite stores the
  script it made, every other scene the same as in the revision it started from. Its steps are
  the episode's checkpoints under the prefix ``rw{id}:`` (its calls are the episode's costs).
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from typing import Final

from scriptgen.models import Script
from storage._time import to_db
from storage.database import Database, Row, SqlValue, Transaction
from storage.errors import SceneBusy, StorageError
from storage.records import MAX_ERROR_CHARS, EpisodeRecord, new_public_id, normalize_public_id
from storage.rewrite_records import (
    ACTIVE_SQL,
    MAX_TAKES,
    Revision,
    RewriteRecord,
    RewriteStatus,
    first_revision,
    revision_from_row,
    rewrite_from_row,
    script_from_row,
)

__all__ = ["Revision", "RewriteRecord", "RewriteStatus", "RewriteStore", "normalize_rewrite_id"]

_FINISHED_SQL: Final = "status IN ('done', 'failed', 'cancelled')"


def normalize_rewrite_id(text: str) -> str | None:
    """``" RW-7F3K2 "`` and ``"7f3k2"`` → ``"rw-7f3k2"``; ``None`` if it cannot be one of ours."""
    return normalize_public_id(text, "rw")


class RewriteStore:
    """Creates rewrites, moves them through their states, keeps votes and revisions."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- creating and finding -------------------------------------------------------------------

    async def create(
        self,
        *,
        episode: EpisodeRecord,
        scene: int,
        note: str,
        takes: int,
        author_id: int,
        author_name: str,
        channel_id: int | None = None,
    ) -> RewriteRecord:
        """Record a new rewrite of ``scene`` (1-based), status ``running``, with a public id.

        ``channel_id`` is where the note was given (the episode's channel if omitted). Raises
        :class:`SceneBusy` (and writes nothing) if that scene has a rewrite running or up for
        a vote; ``ValueError`` if the episode has no script, the scene does not exist, the
        note is blank or ``takes`` is not 1 to 3.
        """
        if episode.script is None:
            raise ValueError(f"episode {episode.public_id} has no script yet to rewrite")
        scenes = len(episode.script.scenes)
        if not 1 <= scene <= scenes:
            raise ValueError(f"episode {episode.public_id} has scenes 1 to {scenes}, not {scene}")
        if not 1 <= takes <= MAX_TAKES:
            raise ValueError(f"a rewrite has 1 to {MAX_TAKES} takes, not {takes}")
        note = note.strip()
        if not note:
            raise ValueError("a rewrite needs a note: what should change in the scene?")
        async with self._db.transaction() as tx:
            busy = await tx.fetchone(
                f"SELECT public_id, status FROM rewrites WHERE episode_id = ? AND scene = ?"
                f" AND {ACTIVE_SQL}",
                (episode.id, scene),
            )
            if busy is not None:
                raise SceneBusy(scene, busy["public_id"], busy["status"])
            now = to_db(tx.now())
            for attempt in range(12):
                row = await tx.fetchone(
                    "INSERT INTO rewrites (public_id, episode_id, guild_id, channel_id, scene,"
                    " note, takes, author_id, author_name, status, created_at, updated_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, 'running', ?, ?)"
                    " ON CONFLICT (public_id) DO NOTHING RETURNING *",
                    (
                        new_public_id(5 + attempt // 4, "rw"),
                        episode.id,
                        episode.guild_id,
                        episode.channel_id if channel_id is None else channel_id,
                        scene,
                        note,
                        takes,
                        author_id,
                        author_name,
                        now,
                        now,
                    ),
                )
                if row is not None:
                    return rewrite_from_row(self._db.label, row)
            raise StorageError(f"{self._db.label}: could not find a free rewrite id")

    async def get(self, guild_id: int, public_id: str) -> RewriteRecord | None:
        """The rewrite a writer named, if it belongs to this guild; otherwise ``None``."""
        normalized = normalize_rewrite_id(public_id)
        if normalized is None:
            return None
        return await self._one(
            "SELECT * FROM rewrites WHERE public_id = ? AND guild_id = ?", (normalized, guild_id)
        )

    async def get_by_id(self, rewrite_id: int) -> RewriteRecord | None:
        """By internal id, in any guild: for the bot's own bookkeeping, never for user input."""
        return await self._one("SELECT * FROM rewrites WHERE id = ?", (rewrite_id,))

    async def list_unfinished(
        self, guild_ids: Collection[int] | None = None
    ) -> list[RewriteRecord]:
        """Rewrites to resume at start-up (``running``), oldest first."""
        return await self._many(*_in_guilds("status = 'running'", guild_ids))

    async def list_voting(self, guild_ids: Collection[int] | None = None) -> list[RewriteRecord]:
        """Rewrites whose takes wait for the room's vote: their ballots are put back."""
        return await self._many(*_in_guilds("status = 'voting'", guild_ids))

    async def list_undelivered(
        self, guild_ids: Collection[int] | None = None
    ) -> list[RewriteRecord]:
        """Finished rewrites never posted (the bot stopped in between): to post at start-up."""
        return await self._many(
            *_in_guilds("status = 'done' AND delivered_message_id IS NULL", guild_ids)
        )

    async def list_status_stale(
        self, guild_ids: Collection[int] | None = None
    ) -> list[RewriteRecord]:
        """Finished rewrites whose status message may not show how they ended."""
        return await self._many(
            *_in_guilds(f"{_FINISHED_SQL} AND status_shown IS NOT status", guild_ids)
        )

    # -- changing -------------------------------------------------------------------------------

    async def set_status_message(self, rewrite_id: int, channel_id: int, message_id: int) -> bool:
        """Remember the live status message, so a restarted bot edits it instead of a new one."""
        return await self._set(
            rewrite_id, {"status_channel_id": channel_id, "status_message_id": message_id}
        )

    async def set_ballot_message(self, rewrite_id: int, message_id: int) -> bool:
        """Remember the message whose buttons collect the votes."""
        return await self._set(rewrite_id, {"ballot_message_id": message_id})

    async def mark_status_shown(self, rewrite_id: int) -> bool:
        """The status message now shows the rewrite's final state."""
        async with self._db.transaction() as tx:
            return (
                await tx.execute(
                    "UPDATE rewrites SET status_shown = status WHERE id = ?", (rewrite_id,)
                )
                > 0
            )

    async def to_voting(self, rewrite_id: int) -> bool:
        """running → voting: every take is written. ``False`` if cancelled meanwhile."""
        return await self._set(rewrite_id, {"status": "voting"}, where="status = 'running'")

    async def complete(
        self, rewrite_id: int, script: Script, *, chosen_take: int | None, chosen_by: str | None
    ) -> int | None:
        """running/voting → done, storing ``script`` as the episode's next revision.

        One transaction: the number (the latest revision + 1; 2 if none), the ``revisions``
        row and the rewrite's ``revision``. Returns the number, or ``None`` if the rewrite was
        no longer running or voting (cancelled, or already completed by another press).

        A rewrite changes its own scene only. If another rewrite made a revision after
        ``script`` was built from the one before it (two notes on different scenes ending
        together), ``script`` is rebased in this transaction: the newest revision with this
        rewrite's scene taken from ``script``, so neither rewrite is lost. ``ValueError`` if
        ``script`` does not have the episode's number of scenes.
        """
        async with self._db.transaction() as tx:
            row = await tx.fetchone(
                f"SELECT * FROM rewrites WHERE id = ? AND {ACTIVE_SQL}", (rewrite_id,)
            )
            if row is None:
                return None
            if chosen_take is not None and not 1 <= chosen_take <= row["takes"]:
                raise ValueError(f"rewrite {row['public_id']} has no take {chosen_take}")
            number, latest = await self._latest_in(tx, row["episode_id"])
            script = _rebased(script, latest, row["scene"])
            number += 1
            now = to_db(tx.now())
            await tx.execute(
                "INSERT INTO revisions (episode_id, number, scene, note, author_id, author_name,"
                " rewrite_id, script, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    row["episode_id"],
                    number,
                    row["scene"],
                    row["note"],
                    row["author_id"],
                    row["author_name"],
                    rewrite_id,
                    script.model_dump_json(),
                    now,
                ),
            )
            await _set(
                tx,
                rewrite_id,
                {
                    "status": "done",
                    "revision": number,
                    "chosen_take": chosen_take,
                    "chosen_by": chosen_by,
                },
                where=ACTIVE_SQL,
            )
            return number

    async def fail(self, rewrite_id: int, error: str) -> bool:
        """running/voting → failed, keeping a (bounded) error message for the writer."""
        return await self._set(
            rewrite_id, {"status": "failed", "error": error[:MAX_ERROR_CHARS]}, where=ACTIVE_SQL
        )

    async def cancel(self, rewrite_id: int, by: str) -> bool:
        """running/voting → cancelled. ``False`` if it had already ended."""
        return await self._set(
            rewrite_id, {"status": "cancelled", "cancelled_by": by}, where=ACTIVE_SQL
        )

    async def requeue(self, rewrite_id: int) -> bool:
        """failed → running, to retry; the takes already checkpointed are reused.

        ``False`` if it is not failed, or if another rewrite of the scene started meanwhile
        (the scene is busy: only one may run).
        """
        async with self._db.transaction() as tx:
            row = await tx.fetchone(
                "SELECT episode_id, scene FROM rewrites WHERE id = ? AND status = 'failed'",
                (rewrite_id,),
            )
            if row is None:
                return False
            busy = await tx.fetchone(
                f"SELECT 1 FROM rewrites WHERE episode_id = ? AND scene = ? AND {ACTIVE_SQL}",
                (row["episode_id"], row["scene"]),
            )
            if busy is not None:
                return False
            return await _set(
                tx, rewrite_id, {"status": "running", "error": None}, where="status = 'failed'"
            )

    async def mark_delivered(self, rewrite_id: int, message_id: int) -> bool:
        """Record that the new revision was posted. ``False`` if it already was, or is not
        done: only the first delivery counts."""
        return await self._set(
            rewrite_id,
            {"delivered_message_id": message_id},
            where="status = 'done' AND delivered_message_id IS NULL",
        )

    # -- votes ----------------------------------------------------------------------------------

    async def vote(self, rewrite_id: int, user_id: int, take: int) -> dict[int, int] | None:
        """Record a writer's vote and return the tally, every take listed (0 for none).

        Voting again changes the writer's vote; it never counts twice. ``None`` (nothing
        recorded) unless the rewrite is being voted on; ``ValueError`` for a take it lacks.
        """
        async with self._db.transaction() as tx:
            row = await tx.fetchone(
                "SELECT public_id, takes FROM rewrites WHERE id = ? AND status = 'voting'",
                (rewrite_id,),
            )
            if row is None:
                return None
            if not 1 <= take <= row["takes"]:
                raise ValueError(f"rewrite {row['public_id']} has no take {take}")
            await tx.execute(
                "INSERT INTO rewrite_votes (rewrite_id, user_id, take, voted_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (rewrite_id, user_id)"
                " DO UPDATE SET take = excluded.take, voted_at = excluded.voted_at",
                (rewrite_id, user_id, take, to_db(tx.now())),
            )
            return _tally(await tx.fetchall(_TALLY_SQL, (rewrite_id,)))

    async def pick(self, rewrite_id: int, take: int, by: str) -> bool:
        """The showrunner picks ``take``, kept before the ballot's buttons go: a process that
        dies before the revision is made makes it at its next start. ``False`` unless the
        rewrite is being voted on and nothing was picked yet; ``ValueError`` for a take it
        lacks."""
        async with self._db.transaction() as tx:
            row = await tx.fetchone(
                "SELECT public_id, takes FROM rewrites WHERE id = ? AND status = 'voting'"
                " AND chosen_take IS NULL",
                (rewrite_id,),
            )
            if row is None:
                return False
            if not 1 <= take <= row["takes"]:
                raise ValueError(f"rewrite {row['public_id']} has no take {take}")
            await _set(
                tx, rewrite_id, {"chosen_take": take, "chosen_by": by}, where="status = 'voting'"
            )
            return True

    async def tally(self, rewrite_id: int) -> dict[int, int]:
        """Votes per take, every take listed (0 for none); ``{}`` if there is no such rewrite."""
        return _tally(await self._db.fetchall(_TALLY_SQL, (rewrite_id,)))

    # -- revisions ------------------------------------------------------------------------------

    async def latest_revision(self, episode: EpisodeRecord) -> Revision:
        """The newest script of the episode: what the next note is given on.

        v1 (the episode's own script) until a rewrite makes v2. ``ValueError`` if the episode
        has no script yet.
        """
        row = await self._db.fetchone(
            "SELECT * FROM revisions WHERE episode_id = ? ORDER BY number DESC LIMIT 1",
            (episode.id,),
        )
        if row is not None:
            return revision_from_row(self._db.label, row)
        first = first_revision(episode)
        if first is None:
            raise ValueError(f"episode {episode.public_id} has no script yet")
        return first

    async def get_revision(self, episode: EpisodeRecord, number: int) -> Revision | None:
        """Revision ``number`` of the episode (1 is its own script); ``None`` if none."""
        if number == 1:
            return first_revision(episode)
        row = await self._db.fetchone(
            "SELECT * FROM revisions WHERE episode_id = ? AND number = ?", (episode.id, number)
        )
        return revision_from_row(self._db.label, row) if row is not None else None

    async def list_revisions(self, episode: EpisodeRecord) -> list[Revision]:
        """Every revision of the episode, v1 first."""
        rows = await self._db.fetchall(
            "SELECT * FROM revisions WHERE episode_id = ? ORDER BY number", (episode.id,)
        )
        first = first_revision(episode)
        later = [revision_from_row(self._db.label, row) for row in rows]
        return [first, *later] if first is not None else later

    # -- internals ------------------------------------------------------------------------------

    async def _latest_in(self, tx: Transaction, episode_id: int) -> tuple[int, Script]:
        """Inside ``tx``: the number and script of the episode's newest revision."""
        row = await tx.fetchone(
            "SELECT number, script, episode_id FROM revisions WHERE episode_id = ?"
            " ORDER BY number DESC LIMIT 1",
            (episode_id,),
        )
        if row is not None:
            return row["number"], script_from_row(self._db.label, row)
        episode = await tx.fetchone(
            "SELECT 1 AS number, script, id AS episode_id FROM episodes WHERE id = ?",
            (episode_id,),
        )
        if episode is None or episode["script"] is None:
            raise StorageError(f"{self._db.label}: episode {episode_id} has no script to revise")
        return 1, script_from_row(self._db.label, episode)

    async def _set(
        self, rewrite_id: int, values: dict[str, SqlValue], *, where: str | None = None
    ) -> bool:
        async with self._db.transaction() as tx:
            return await _set(tx, rewrite_id, values, where=where)

    async def _one(self, sql: str, params: Sequence[SqlValue]) -> RewriteRecord | None:
        row = await self._db.fetchone(sql, params)
        return rewrite_from_row(self._db.label, row) if row is not None else None

    async def _many(self, sql: str, params: Sequence[SqlValue]) -> list[RewriteRecord]:
        return [
            rewrite_from_row(self._db.label, row) for row in await self._db.fetchall(sql, params)
        ]


def _rebased(script: Script, latest: Script, scene: int) -> Script:
    """``script`` if its other scenes are the newest revision's; otherwise the newest revision
    with scene ``scene`` (1-based) from ``script``, and the calls ``script`` adds to it."""
    index = scene - 1
    if len(script.scenes) != len(latest.scenes):
        raise ValueError(
            f"the episode has {len(latest.scenes)} scenes; the new revision has "
            f"{len(script.scenes)}: a rewrite replaces one scene"
        )
    others = (n for n in range(len(script.scenes)) if n != index)
    if all(script.scenes[n] == latest.scenes[n] for n in others):
        return script
    added = [call for call in script.usage if call not in latest.usage]
    return latest.replace_scene(index, script.scenes[index], added)


_TALLY_SQL: Final = (
    "SELECT r.takes, v.take, count(v.user_id) AS votes FROM rewrites r"
    " LEFT JOIN rewrite_votes v ON v.rewrite_id = r.id WHERE r.id = ? GROUP BY r.takes, v.take"
)


def _tally(rows: list[Row]) -> dict[int, int]:
    if not rows:
        return {}
    counts = {int(row["take"]): int(row["votes"]) for row in rows if row["take"] is not None}
    return {take: counts.get(take, 0) for take in range(1, int(rows[0]["takes"]) + 1)}


async def _set(
    tx: Transaction, rewrite_id: int, values: dict[str, SqlValue], *, where: str | None
) -> bool:
    """``UPDATE rewrites SET … WHERE id = ? [AND where]``; True if the row changed.

    Column names and ``where`` come from this module's code, never from input.
    """
    assignments = ", ".join(f"{column} = ?" for column in values)
    sql = f"UPDATE rewrites SET {assignments}, updated_at = ? WHERE id = ?"
    if where is not None:
        sql += f" AND {where}"
    return await tx.execute(sql, [*values.values(), to_db(tx.now()), rewrite_id]) > 0


def _in_guilds(where: str, guild_ids: Collection[int] | None) -> tuple[str, list[SqlValue]]:
    sql = f"SELECT * FROM rewrites WHERE {where}"
    if guild_ids is None:
        return sql + " ORDER BY id", []
    return (
        sql + " AND guild_id IN (SELECT CAST(value AS INTEGER) FROM json_each(?)) ORDER BY id",
        [json.dumps(sorted(set(guild_ids)))],
    )
