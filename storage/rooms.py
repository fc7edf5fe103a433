"""Rooms: a channel's show, with its series bible, its writers and its continuity.

A room belongs to one channel and to that channel's threads. Its bible (title, logline, tone,
setting, characters, running gags) is what every episode written in it is given, and its
continuity is one summary per delivered episode, for the "previously" of the next ones.

The rules of :mod:`storage.episodes` hold here too: every write is one transaction, and each
rule of the bible (at most :data:`~scriptgen.bible.MAX_CHARACTERS` characters, no two of the
same name whatever their case) is checked inside the transaction that writes, so two writers
adding the twentieth character at the same instant cannot make twenty-one.

A character's ``traits`` are not kept: the bible a writer edits has none (name, description
and voice are what the model is given).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Literal

from pydantic import ValidationError

from scriptgen.bible import MAX_CHARACTERS, MAX_GAG_CHARS, MAX_GAGS
from scriptgen.models import Character, EpisodeSummary, SeriesBible
from storage._time import to_db
from storage.database import Database, Row, SqlValue, Transaction
from storage.errors import (
    DuplicateName,
    RoomExists,
    RoomLimitReached,
    RoomNotFound,
    StorageError,
)
from storage.room_records import (
    RoomRecord,
    Writer,
    name_key,
    room_from_row,
    text_key,
    writer_from_row,
)

__all__ = ["Role", "RoomRecord", "RoomStore", "Writer"]

Role = Literal["showrunner", "writer"]


class RoomStore:
    """Creates rooms and keeps their bibles, writers and continuity."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- the room -------------------------------------------------------------------------------

    async def create(
        self,
        *,
        guild_id: int,
        channel_id: int,
        name: str,
        logline: str,
        tone: str,
        setting: str,
        showrunner_id: int,
        showrunner_name: str,
    ) -> RoomRecord:
        """Open a room in a channel; its creator is its showrunner.

        Raises :class:`RoomExists` (naming the room) if the channel has one already, and
        ``ValueError`` if a field does not fit the bible (a blank name, a logline too long).
        """
        fields = _room_fields(name=name, logline=logline, tone=tone, setting=setting)
        async with self._db.transaction() as tx:
            existing = await tx.fetchone("SELECT * FROM rooms WHERE channel_id = ?", (channel_id,))
            if existing is not None:
                raise RoomExists(channel_id, existing["name"], existing["showrunner_name"])
            now = to_db(tx.now())
            row = await tx.fetchone(
                "INSERT INTO rooms (guild_id, channel_id, name, logline, tone, setting,"
                " showrunner_id, showrunner_name, created_at, updated_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
                (
                    guild_id,
                    channel_id,
                    fields["name"],
                    fields["logline"],
                    fields["tone"],
                    fields["setting"],
                    showrunner_id,
                    showrunner_name,
                    now,
                    now,
                ),
            )
        return _returned(self._db, row)

    async def for_channel(self, channel_id: int, parent_id: int | None = None) -> RoomRecord | None:
        """The room of a channel, or of a thread: a thread passes its parent channel too.

        The channel's own room wins over its parent's (a forum post can be a room of its own).
        """
        row = await self._db.fetchone(
            "SELECT * FROM rooms WHERE channel_id IN (?, ?) ORDER BY channel_id = ? DESC LIMIT 1",
            (channel_id, parent_id, channel_id),
        )
        return room_from_row(row) if row is not None else None

    async def get(self, room_id: int) -> RoomRecord | None:
        """By internal id (an episode's ``room_id``): for the bot's bookkeeping."""
        row = await self._db.fetchone("SELECT * FROM rooms WHERE id = ?", (room_id,))
        return room_from_row(row) if row is not None else None

    async def update(
        self,
        room_id: int,
        *,
        name: str | None = None,
        logline: str | None = None,
        tone: str | None = None,
        setting: str | None = None,
    ) -> RoomRecord:
        """Change the fields given (``None`` keeps one); returns the room as it now is.

        ``ValueError`` if a field does not fit the bible; :class:`RoomNotFound` if it is gone.
        """
        async with self._db.transaction() as tx:
            current = await _room_row(tx, room_id)
            fields = _room_fields(
                name=current["name"] if name is None else name,
                logline=current["logline"] if logline is None else logline,
                tone=current["tone"] if tone is None else tone,
                setting=current["setting"] if setting is None else setting,
            )
            row = await _set_room(tx, room_id, fields)
        return _returned(self._db, row)

    async def delete(self, room_id: int) -> bool:
        """Delete a room with its bible, writers and continuity; its episodes stay, unattached."""
        async with self._db.transaction() as tx:
            return await tx.execute("DELETE FROM rooms WHERE id = ?", (room_id,)) > 0

    # -- writers --------------------------------------------------------------------------------

    async def add_writer(self, room_id: int, user_id: int, user_name: str, added_by: int) -> bool:
        """Make a member a writer. ``False`` if they already are (or run the room)."""
        async with self._db.transaction() as tx:
            room = await _touch(tx, room_id)
            if room["showrunner_id"] == user_id:
                return False
            return (
                await tx.execute(
                    "INSERT INTO room_writers (room_id, user_id, user_name, added_by, added_at)"
                    " VALUES (?, ?, ?, ?, ?) ON CONFLICT (room_id, user_id) DO NOTHING",
                    (room_id, user_id, user_name, added_by, to_db(tx.now())),
                )
                > 0
            )

    async def remove_writer(self, room_id: int, user_id: int) -> bool:
        """Take a writer off the room. ``False`` if they were not one."""
        async with self._db.transaction() as tx:
            removed = await tx.execute(
                "DELETE FROM room_writers WHERE room_id = ? AND user_id = ?", (room_id, user_id)
            )
            if removed:
                await _touch(tx, room_id)
            return removed > 0

    async def writers(self, room_id: int) -> list[Writer]:
        """The room's writers, in the order they joined."""
        rows = await self._db.fetchall(
            "SELECT * FROM room_writers WHERE room_id = ? ORDER BY added_at, user_id", (room_id,)
        )
        return [writer_from_row(row) for row in rows]

    async def role(self, room: RoomRecord, user_id: int) -> Role | None:
        """What a member may do in the room: run it, write in it, or (``None``) watch."""
        if user_id == room.showrunner_id:
            return "showrunner"
        row = await self._db.fetchone(
            "SELECT 1 FROM room_writers WHERE room_id = ? AND user_id = ?", (room.id, user_id)
        )
        return "writer" if row is not None else None

    # -- characters -----------------------------------------------------------------------------

    async def add_character(self, room_id: int, character: Character) -> None:
        """Add a character at the end of the cast.

        Raises :class:`RoomLimitReached` past ``MAX_CHARACTERS``, :class:`DuplicateName` if a
        character of that name (in any case) is already in the room.
        """
        name = _clean_name(character.name)
        async with self._db.transaction() as tx:
            await _touch(tx, room_id)
            count = await _count(tx, "room_characters", room_id)
            if count >= MAX_CHARACTERS:
                raise RoomLimitReached("characters", MAX_CHARACTERS)
            clash = await _character_row(tx, room_id, name)
            if clash is not None:
                raise DuplicateName("character", clash["name"])
            await _insert_character(
                tx, room_id, await _next_position(tx, "room_characters", room_id), character
            )

    async def edit_character(
        self,
        room_id: int,
        name: str,
        *,
        new_name: str | None = None,
        description: str | None = None,
        voice: str | None = None,
    ) -> Character | None:
        """Change what is given (``None`` keeps it); the character as it now is.

        ``None`` if the room has no character of that name; :class:`DuplicateName` if
        ``new_name`` is another character's; ``ValueError`` if a field is too long. The
        character keeps its place in the cast.
        """
        async with self._db.transaction() as tx:
            current = await _character_row(tx, room_id, name)
            if current is None:
                return None
            edited = _character(
                name=current["name"] if new_name is None else new_name,
                description=current["description"] if description is None else description,
                voice=current["voice"] if voice is None else voice,
            )
            if name_key(edited.name) != current["name_key"]:
                clash = await _character_row(tx, room_id, edited.name)
                if clash is not None:
                    raise DuplicateName("character", clash["name"])
            await tx.execute(
                "UPDATE room_characters SET name = ?, name_key = ?, description = ?, voice = ?"
                " WHERE room_id = ? AND name_key = ?",
                (
                    edited.name,
                    name_key(edited.name),
                    edited.description,
                    edited.voice,
                    room_id,
                    current["name_key"],
                ),
            )
            await _touch(tx, room_id)
        return edited

    async def remove_character(self, room_id: int, name: str) -> bool:
        """Remove a character (by name, in any case). ``False`` if there was none."""
        async with self._db.transaction() as tx:
            removed = await tx.execute(
                "DELETE FROM room_characters WHERE room_id = ? AND name_key = ?",
                (room_id, name_key(name)),
            )
            if removed:
                await _touch(tx, room_id)
            return removed > 0

    async def characters(self, room_id: int) -> list[Character]:
        """The cast, in the order the writers gave it."""
        rows = await self._db.fetchall(
            "SELECT name, description, voice FROM room_characters WHERE room_id = ?"
            " ORDER BY position",
            (room_id,),
        )
        return [self._character(row["name"], row["description"], row["voice"]) for row in rows]

    # -- running gags ---------------------------------------------------------------------------

    async def add_gag(self, room_id: int, text: str) -> None:
        """Add a running gag at the end of the list.

        Raises :class:`RoomLimitReached` past ``MAX_GAGS``, :class:`DuplicateName` if the gag
        is already listed (case and spacing aside), ``ValueError`` if it is blank or longer
        than ``MAX_GAG_CHARS``.
        """
        text = _clean_gag(text)
        async with self._db.transaction() as tx:
            await _touch(tx, room_id)
            if await _count(tx, "room_gags", room_id) >= MAX_GAGS:
                raise RoomLimitReached("running gags", MAX_GAGS)
            clash = await tx.fetchone(
                "SELECT text FROM room_gags WHERE room_id = ? AND text_key = ?",
                (room_id, text_key(text)),
            )
            if clash is not None:
                raise DuplicateName("running gag", clash["text"])
            await _insert_gag(tx, room_id, await _next_position(tx, "room_gags", room_id), text)

    async def remove_gag(self, room_id: int, text: str) -> bool:
        """Remove a running gag (case and spacing aside). ``False`` if it was not listed."""
        async with self._db.transaction() as tx:
            removed = await tx.execute(
                "DELETE FROM room_gags WHERE room_id = ? AND text_key = ?",
                (room_id, text_key(text)),
            )
            if removed:
                await _touch(tx, room_id)
            return removed > 0

    async def gags(self, room_id: int) -> list[str]:
        """The running gags, in the order they were added."""
        rows = await self._db.fetchall(
            "SELECT text FROM room_gags WHERE room_id = ? ORDER BY position", (room_id,)
        )
        return [str(row["text"]) for row in rows]

    # -- the bible as a whole -------------------------------------------------------------------

    async def bible(self, room: RoomRecord) -> SeriesBible:
        """The room's series bible, as it is now (the record may be older).

        Read in one statement, so it never mixes the cast before an edit with the gags after
        it. Continuity is not in it: ``previous_episodes`` comes from :meth:`recent_summaries`.
        """
        row = await self._db.fetchone(
            "SELECT r.*,"
            " (SELECT json_group_array(json_array(position, name, description, voice))"
            "  FROM room_characters WHERE room_id = r.id) AS members,"
            " (SELECT json_group_array(json_array(position, text))"
            "  FROM room_gags WHERE room_id = r.id) AS gags"
            " FROM rooms r WHERE r.id = ?",
            (room.id,),
        )
        if row is None:
            raise RoomNotFound(room.id)
        cast = sorted(json.loads(row["members"]), key=lambda item: int(item[0]))
        gags = sorted(json.loads(row["gags"]), key=lambda item: int(item[0]))
        try:
            return SeriesBible(
                show_title=row["name"],
                logline=row["logline"],
                setting=row["setting"],
                tone=row["tone"],
                characters=[Character(name=n, description=d, voice=v) for _, n, d, v in cast],
                running_gags=[str(text) for _, text in gags],
            )
        except ValidationError as err:
            raise _unreadable(self._db, f"room {room.id}'s bible", err) from err

    async def replace_bible(self, room_id: int, bible: SeriesBible) -> RoomRecord:
        """Replace the room's fields, cast and gags with ``bible``'s, in one transaction.

        For ``/room import``: the room is either wholly the new bible or untouched. A blank
        ``show_title`` keeps the room's name; ``previous_episodes`` is ignored (continuity is
        the room's own). Raises :class:`RoomLimitReached` or :class:`DuplicateName` as the
        one-by-one edits would, and writes nothing then.
        """
        if len(bible.characters) > MAX_CHARACTERS:
            raise RoomLimitReached("characters", MAX_CHARACTERS)
        if len(bible.running_gags) > MAX_GAGS:
            raise RoomLimitReached("running gags", MAX_GAGS)
        clash = _first_repeat([_clean_name(c.name) for c in bible.characters], name_key)
        if clash is not None:
            raise DuplicateName("character", clash)
        gags = [_clean_gag(text) for text in bible.running_gags]
        clash = _first_repeat(gags, text_key)
        if clash is not None:
            raise DuplicateName("running gag", clash)
        async with self._db.transaction() as tx:
            current = await _room_row(tx, room_id)
            fields = _room_fields(
                name=bible.show_title.strip() or current["name"],
                logline=bible.logline,
                tone=bible.tone,
                setting=bible.setting,
            )
            row = await _set_room(tx, room_id, fields)
            await tx.execute("DELETE FROM room_characters WHERE room_id = ?", (room_id,))
            await tx.execute("DELETE FROM room_gags WHERE room_id = ?", (room_id,))
            for position, character in enumerate(bible.characters, start=1):
                await _insert_character(tx, room_id, position, character)
            for position, text in enumerate(gags, start=1):
                await _insert_gag(tx, room_id, position, text)
        return _returned(self._db, row)

    # -- continuity -----------------------------------------------------------------------------

    async def add_summary(self, room_id: int, episode_id: int, summary: EpisodeSummary) -> bool:
        """Add a delivered episode to the room's continuity. ``False`` if it already was: a
        delivery retried after a restart adds it once."""
        async with self._db.transaction() as tx:
            await _room_row(tx, room_id)
            return (
                await tx.execute(
                    "INSERT INTO room_summaries (room_id, episode_id, summary, created_at)"
                    " VALUES (?, ?, ?, ?) ON CONFLICT (episode_id) DO NOTHING",
                    (room_id, episode_id, summary.model_dump_json(), to_db(tx.now())),
                )
                > 0
            )

    async def unsummarized(self) -> list[int]:
        """Finished room episodes with no summary: the process died between an episode's end
        and its summary (start-up writes them, so continuity misses none)."""
        rows = await self._db.fetchall(
            "SELECT e.id FROM episodes e WHERE e.room_id IS NOT NULL AND e.status = 'done'"
            " AND NOT EXISTS (SELECT 1 FROM room_summaries s WHERE s.episode_id = e.id)"
            " ORDER BY e.id"
        )
        return [int(row["id"]) for row in rows]

    async def recent_summaries(
        self, room_id: int, limit: int = 20
    ) -> list[tuple[str, EpisodeSummary]]:
        """The room's latest episodes, newest first, each with its public id (``ep-…``)."""
        rows = await self._db.fetchall(
            "SELECT e.public_id, s.summary FROM room_summaries s"
            " JOIN episodes e ON e.id = s.episode_id"
            " WHERE s.room_id = ? ORDER BY s.created_at DESC, s.episode_id DESC LIMIT ?",
            (room_id, limit),
        )
        result: list[tuple[str, EpisodeSummary]] = []
        for row in rows:
            try:
                summary = EpisodeSummary.model_validate_json(row["summary"])
            except ValidationError as err:
                raise _unreadable(
                    self._db, f"the summary of episode {row['public_id']}", err
                ) from err
            result.append((str(row["public_id"]), summary))
        return result

    # -- internals ------------------------------------------------------------------------------

    def _character(self, name: str, description: str, voice: str) -> Character:
        try:
            return Character(name=name, description=description, voice=voice)
        except ValidationError as err:
            raise _unreadable(self._db, f"character {name!r}", err) from err


def _room_fields(*, name: str, logline: str, tone: str, setting: str) -> dict[str, str]:
    """The room's own fields, stripped, checked against the bible's limits (``ValueError``)."""
    fields = {
        "name": " ".join(name.split()),
        "logline": logline.strip(),
        "tone": tone.strip(),
        "setting": setting.strip(),
    }
    if not fields["name"]:
        raise ValueError("a room needs a name")
    # The limits are the bible's: a room must always make a valid bible.
    SeriesBible(
        show_title=fields["name"],
        logline=fields["logline"],
        tone=fields["tone"],
        setting=fields["setting"],
    )
    return fields


def _character(*, name: str, description: str, voice: str) -> Character:
    """A character as stored: stripped, validated by the model (``ValueError`` if too long)."""
    return Character(name=_clean_name(name), description=description.strip(), voice=voice.strip())


def _clean_name(name: str) -> str:
    cleaned = " ".join(name.split())
    if not cleaned:
        raise ValueError("a character needs a name")
    return cleaned


def _clean_gag(text: str) -> str:
    cleaned = " ".join(text.split())
    if not cleaned:
        raise ValueError("a running gag needs some words")
    if len(cleaned) > MAX_GAG_CHARS:
        raise ValueError(f"a running gag has at most {MAX_GAG_CHARS} characters")
    return cleaned


def _first_repeat(items: Sequence[str], key: Callable[[str], str]) -> str | None:
    """The first item whose key an earlier item already had, if any."""
    seen: set[str] = set()
    for item in items:
        if key(item) in seen:
            return item
        seen.add(key(item))
    return None


async def _room_row(tx: Transaction, room_id: int) -> Row:
    row = await tx.fetchone("SELECT * FROM rooms WHERE id = ?", (room_id,))
    if row is None:
        raise RoomNotFound(room_id)
    return row


async def _touch(tx: Transaction, room_id: int) -> Row:
    """Move the room's ``updated_at`` (its bible or writers changed); the room's row.

    Also the existence check of every write: :class:`RoomNotFound` if the room is gone.
    """
    row = await tx.fetchone(
        "UPDATE rooms SET updated_at = ? WHERE id = ? RETURNING *", (to_db(tx.now()), room_id)
    )
    if row is None:
        raise RoomNotFound(room_id)
    return row


async def _set_room(tx: Transaction, room_id: int, fields: dict[str, str]) -> Row | None:
    return await tx.fetchone(
        "UPDATE rooms SET name = ?, logline = ?, tone = ?, setting = ?, updated_at = ?"
        " WHERE id = ? RETURNING *",
        (
            fields["name"],
            fields["logline"],
            fields["tone"],
            fields["setting"],
            to_db(tx.now()),
            room_id,
        ),
    )


async def _count(tx: Transaction, table: str, room_id: int) -> int:
    row = await tx.fetchone(f"SELECT count(*) FROM {table} WHERE room_id = ?", (room_id,))
    return int(row[0]) if row is not None else 0


async def _next_position(tx: Transaction, table: str, room_id: int) -> int:
    row = await tx.fetchone(
        f"SELECT coalesce(max(position), 0) + 1 FROM {table} WHERE room_id = ?", (room_id,)
    )
    return int(row[0]) if row is not None else 1


async def _character_row(tx: Transaction, room_id: int, name: str) -> Row | None:
    return await tx.fetchone(
        "SELECT * FROM room_characters WHERE room_id = ? AND name_key = ?",
        (room_id, name_key(name)),
    )


async def _insert_character(
    tx: Transaction, room_id: int, position: int, character: Character
) -> None:
    cleaned = _character(
        name=character.name, description=character.description, voice=character.voice
    )
    params: tuple[SqlValue, ...] = (
        room_id,
        position,
        cleaned.name,
        name_key(cleaned.name),
        cleaned.description,
        cleaned.voice,
    )
    await tx.execute(
        "INSERT INTO room_characters (room_id, position, name, name_key, description, voice)"
        " VALUES (?, ?, ?, ?, ?, ?)",
        params,
    )


async def _insert_gag(tx: Transaction, room_id: int, position: int, text: str) -> None:
    await tx.execute(
        "INSERT INTO room_gags (room_id, position, text, text_key) VALUES (?, ?, ?, ?)",
        (room_id, position, text, text_key(text)),
    )


def _returned(db: Database, row: Row | None) -> RoomRecord:
    if row is None:  # pragma: no cover - INSERT/UPDATE … RETURNING of a checked row
        raise StorageError(f"{db.label}: writing a room returned no row")
    return room_from_row(row)


def _unreadable(db: Database, what: str, err: ValidationError) -> StorageError:
    return StorageError(
        f"{db.label}: {what} holds data this version cannot read ({err.error_count()} "
        f"error(s), first: {err.errors()[0]['msg']}): a migration is missing"
    )
