"""RoomStore: rooms per channel, writers and roles, the bible's cast and gags, continuity."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from pydantic import ValidationError

from scriptgen.bible import MAX_CHARACTERS, MAX_GAG_CHARS, MAX_GAGS
from scriptgen.models import Character, EpisodeRequest, EpisodeSummary, Script, SeriesBible
from storage import (
    Database,
    DuplicateName,
    EpisodeRecord,
    EpisodeStore,
    RoomExists,
    RoomLimitReached,
    RoomNotFound,
    RoomRecord,
    RoomStore,
    StorageError,
    WriteRefused,
)
from tests.storage.conftest import AUTHOR, CHANNEL, GUILD

NewEpisode = Callable[..., Awaitable[EpisodeRecord]]
MakeScript = Callable[[EpisodeRequest], Script]
SHOWRUNNER = 555_555_555_555_555_555
WRITER = 666_666_666_666_666_666


@pytest.fixture
def rooms(db: Database) -> RoomStore:
    return RoomStore(db)


@pytest.fixture
async def room(rooms: RoomStore) -> RoomRecord:
    return await rooms.create(
        guild_id=GUILD,
        channel_id=CHANNEL,
        name="Bean There",
        logline="A coffee shop whose machines have opinions.",
        tone="warm, absurd",
        setting="A corner café in Leeds.",
        showrunner_id=SHOWRUNNER,
        showrunner_name="Maya",
    )


def ada(**fields: str) -> Character:
    return Character.model_validate({"name": "Ada", **fields})


# -- the room ----------------------------------------------------------------------------------


async def test_create_then_get_round_trips(rooms: RoomStore, room: RoomRecord) -> None:
    """What create returns is what get finds."""
    assert await rooms.get(room.id) == room
    assert (room.guild_id, room.channel_id, room.name) == (GUILD, CHANNEL, "Bean There")
    assert (room.showrunner_id, room.showrunner_name) == (SHOWRUNNER, "Maya")
    assert room.created_at == room.updated_at


async def test_second_room_in_a_channel_is_refused(rooms: RoomStore, room: RoomRecord) -> None:
    """RoomExists names the channel's room and its showrunner; nothing is written."""
    with pytest.raises(RoomExists, match='"Bean There" \\(showrunner: Maya\\)') as err:
        await rooms.create(
            guild_id=GUILD,
            channel_id=CHANNEL,
            name="Other",
            logline="",
            tone="",
            setting="",
            showrunner_id=1,
            showrunner_name="Bo",
        )
    assert isinstance(err.value, WriteRefused)
    assert isinstance(err.value, StorageError)
    assert await rooms.for_channel(CHANNEL) == room


async def test_concurrent_creates_make_one_room(rooms: RoomStore) -> None:
    """Five /room create at once in one channel: one room, four RoomExists."""
    results = await asyncio.gather(
        *(
            rooms.create(
                guild_id=GUILD,
                channel_id=CHANNEL,
                name=f"Show {n}",
                logline="",
                tone="",
                setting="",
                showrunner_id=n,
                showrunner_name=f"writer {n}",
            )
            for n in range(5)
        ),
        return_exceptions=True,
    )
    assert sum(isinstance(r, RoomRecord) for r in results) == 1
    assert sum(isinstance(r, RoomExists) for r in results) == 4


async def test_for_channel_finds_a_threads_room_through_its_parent(
    rooms: RoomStore, room: RoomRecord
) -> None:
    """A thread has no room of its own: its parent channel's is found."""
    assert await rooms.for_channel(999, parent_id=CHANNEL) == room
    assert await rooms.for_channel(999) is None
    assert await rooms.for_channel(999, parent_id=998) is None


async def test_for_channel_prefers_the_channels_own_room(
    rooms: RoomStore, room: RoomRecord
) -> None:
    """A thread with a room of its own gets that one, not its parent's."""
    own = await rooms.create(
        guild_id=GUILD,
        channel_id=999,
        name="Spin-off",
        logline="",
        tone="",
        setting="",
        showrunner_id=1,
        showrunner_name="Bo",
    )
    assert await rooms.for_channel(999, parent_id=CHANNEL) == own


async def test_update_changes_only_what_is_given(
    rooms: RoomStore, room: RoomRecord, advance_clock: Callable[[float], None]
) -> None:
    """Fields left None keep their value; updated_at moves."""
    advance_clock(60)
    updated = await rooms.update(room.id, tone="  dry  ", setting="A café in York.")
    assert (updated.name, updated.logline) == (room.name, room.logline)
    assert (updated.tone, updated.setting) == ("dry", "A café in York.")
    assert (updated.updated_at - room.updated_at).total_seconds() == 60
    assert await rooms.get(room.id) == updated


async def test_fields_longer_than_the_bible_allows_are_refused(
    rooms: RoomStore, room: RoomRecord
) -> None:
    """A logline the bible could not hold is a ValueError, and nothing changes."""
    with pytest.raises(ValueError, match="logline"):
        await rooms.update(room.id, logline="x" * 501)
    with pytest.raises(ValueError, match="name"):
        await rooms.update(room.id, name="   ")
    assert await rooms.get(room.id) == room


async def test_update_of_a_missing_room(rooms: RoomStore) -> None:
    """RoomNotFound says the room is gone, in words for the writer."""
    with pytest.raises(RoomNotFound, match="no longer exists"):
        await rooms.update(12345, name="x")


# -- writers and roles -------------------------------------------------------------------------


async def test_add_writer_once(rooms: RoomStore, room: RoomRecord) -> None:
    """A writer is added once; adding again is False; the list reads back."""
    assert await rooms.add_writer(room.id, WRITER, "Bo", SHOWRUNNER)
    assert not await rooms.add_writer(room.id, WRITER, "Bo again", SHOWRUNNER)
    (writer,) = await rooms.writers(room.id)
    assert (writer.user_id, writer.user_name, writer.added_by) == (WRITER, "Bo", SHOWRUNNER)


async def test_showrunner_is_not_added_as_a_writer(rooms: RoomStore, room: RoomRecord) -> None:
    """The showrunner already writes: adding them is False and lists nobody."""
    assert not await rooms.add_writer(room.id, SHOWRUNNER, "Maya", SHOWRUNNER)
    assert await rooms.writers(room.id) == []


async def test_roles(rooms: RoomStore, room: RoomRecord) -> None:
    """Showrunner, writer, then nobody once removed."""
    await rooms.add_writer(room.id, WRITER, "Bo", SHOWRUNNER)
    assert await rooms.role(room, SHOWRUNNER) == "showrunner"
    assert await rooms.role(room, WRITER) == "writer"
    assert await rooms.role(room, 42) is None
    assert await rooms.remove_writer(room.id, WRITER)
    assert not await rooms.remove_writer(room.id, WRITER)
    assert await rooms.role(room, WRITER) is None


# -- characters --------------------------------------------------------------------------------


async def test_characters_keep_their_order_and_fields(rooms: RoomStore, room: RoomRecord) -> None:
    """Characters read back in the order added, with description and voice."""
    await rooms.add_character(room.id, ada(description="The barista.", voice="Dry, precise."))
    await rooms.add_character(room.id, Character(name="  Bo  ", voice="Loud."))
    assert await rooms.characters(room.id) == [
        Character(name="Ada", description="The barista.", voice="Dry, precise."),
        Character(name="Bo", voice="Loud."),
    ]


async def test_character_names_clash_whatever_their_case(
    rooms: RoomStore, room: RoomRecord
) -> None:
    """'ADA' is Ada: DuplicateName names the existing character."""
    await rooms.add_character(room.id, ada())
    with pytest.raises(DuplicateName, match='named "Ada"'):
        await rooms.add_character(room.id, Character(name="ADA"))
    assert len(await rooms.characters(room.id)) == 1


async def test_character_limit(rooms: RoomStore, room: RoomRecord) -> None:
    """One past MAX_CHARACTERS is RoomLimitReached, with the limit in its message."""
    for n in range(MAX_CHARACTERS):
        await rooms.add_character(room.id, Character(name=f"Extra {n}"))
    with pytest.raises(RoomLimitReached, match=f"already has {MAX_CHARACTERS} characters"):
        await rooms.add_character(room.id, ada())
    assert len(await rooms.characters(room.id)) == MAX_CHARACTERS


async def test_concurrent_adds_cannot_pass_the_limit(rooms: RoomStore, room: RoomRecord) -> None:
    """Many writers adding at once stop exactly at the limit."""
    results = await asyncio.gather(
        *(rooms.add_character(room.id, Character(name=f"C{n}")) for n in range(MAX_CHARACTERS + 5)),
        return_exceptions=True,
    )
    assert sum(isinstance(r, RoomLimitReached) for r in results) == 5
    assert len(await rooms.characters(room.id)) == MAX_CHARACTERS


async def test_edit_character_keeps_its_place(rooms: RoomStore, room: RoomRecord) -> None:
    """Renaming and re-voicing keeps the character where it was; others are untouched."""
    await rooms.add_character(room.id, ada(voice="Dry."))
    await rooms.add_character(room.id, Character(name="Bo"))
    edited = await rooms.edit_character(room.id, "ada", new_name="Adaline", voice="Warmer.")
    assert edited == Character(name="Adaline", voice="Warmer.")
    assert [c.name for c in await rooms.characters(room.id)] == ["Adaline", "Bo"]


async def test_edit_character_may_change_only_the_case(rooms: RoomStore, room: RoomRecord) -> None:
    """'Ada' renamed 'ADA' is the same character, not a clash."""
    await rooms.add_character(room.id, ada())
    assert await rooms.edit_character(room.id, "Ada", new_name="ADA") == Character(name="ADA")


async def test_edit_character_refuses_another_characters_name(
    rooms: RoomStore, room: RoomRecord
) -> None:
    """Renaming Bo to 'ada' is DuplicateName; Bo stays Bo."""
    await rooms.add_character(room.id, ada())
    await rooms.add_character(room.id, Character(name="Bo"))
    with pytest.raises(DuplicateName):
        await rooms.edit_character(room.id, "Bo", new_name="ada")
    assert [c.name for c in await rooms.characters(room.id)] == ["Ada", "Bo"]


async def test_edit_missing_character_is_none(rooms: RoomStore, room: RoomRecord) -> None:
    """No such character: None, nothing written."""
    assert await rooms.edit_character(room.id, "Nobody", voice="x") is None


async def test_edit_character_too_long_is_refused(rooms: RoomStore, room: RoomRecord) -> None:
    """A voice longer than the model allows is a ValueError; the character is unchanged."""
    await rooms.add_character(room.id, ada(voice="Dry."))
    with pytest.raises(ValidationError):
        await rooms.edit_character(room.id, "Ada", voice="x" * 301)
    assert await rooms.characters(room.id) == [ada(voice="Dry.")]


async def test_remove_character_by_any_case(rooms: RoomStore, room: RoomRecord) -> None:
    """remove_character matches names case-insensitively; a second removal is False."""
    await rooms.add_character(room.id, ada())
    assert await rooms.remove_character(room.id, " aDa ")
    assert not await rooms.remove_character(room.id, "Ada")
    assert await rooms.characters(room.id) == []


async def test_non_ascii_names_clash_whatever_their_case(
    rooms: RoomStore, room: RoomRecord
) -> None:
    """'ÉMILE' and 'émile' are one character (SQLite's lower() would miss it)."""
    await rooms.add_character(room.id, Character(name="Émile"))
    with pytest.raises(DuplicateName):
        await rooms.add_character(room.id, Character(name="ÉMILE"))


# -- running gags ------------------------------------------------------------------------------


async def test_gags_in_order_without_duplicates(rooms: RoomStore, room: RoomRecord) -> None:
    """Gags read back in order; the same gag in another case or spacing is DuplicateName."""
    await rooms.add_gag(room.id, "The machine sighs.")
    await rooms.add_gag(room.id, "  Bo's  unpaid tab ")
    with pytest.raises(DuplicateName, match="running gag"):
        await rooms.add_gag(room.id, "the MACHINE   sighs.")
    assert await rooms.gags(room.id) == ["The machine sighs.", "Bo's unpaid tab"]


async def test_gag_limit(rooms: RoomStore, room: RoomRecord) -> None:
    """One past MAX_GAGS is RoomLimitReached."""
    for n in range(MAX_GAGS):
        await rooms.add_gag(room.id, f"gag {n}")
    with pytest.raises(RoomLimitReached, match="running gags"):
        await rooms.add_gag(room.id, "one more")


async def test_remove_gag(rooms: RoomStore, room: RoomRecord) -> None:
    """A gag is removed whatever its case; removing it again is False."""
    await rooms.add_gag(room.id, "The machine sighs.")
    assert await rooms.remove_gag(room.id, "THE MACHINE SIGHS.")
    assert not await rooms.remove_gag(room.id, "The machine sighs.")
    assert await rooms.gags(room.id) == []


async def test_overlong_gag_is_refused(rooms: RoomStore, room: RoomRecord) -> None:
    """A gag longer than MAX_GAG_CHARS is a ValueError, and nothing is added."""
    with pytest.raises(ValueError, match=f"at most {MAX_GAG_CHARS}"):
        await rooms.add_gag(room.id, "x" * (MAX_GAG_CHARS + 1))
    assert await rooms.gags(room.id) == []


async def test_blank_gag_is_refused(rooms: RoomStore, room: RoomRecord) -> None:
    """A gag of spaces is a ValueError."""
    with pytest.raises(ValueError, match="words"):
        await rooms.add_gag(room.id, "   ")


# -- the bible ---------------------------------------------------------------------------------


async def test_bible_holds_the_room(rooms: RoomStore, room: RoomRecord) -> None:
    """The bible has the room's fields, cast and gags, and no previous episodes."""
    await rooms.add_character(room.id, ada(description="The barista."))
    await rooms.add_gag(room.id, "The machine sighs.")
    assert await rooms.bible(room) == SeriesBible(
        show_title="Bean There",
        logline="A coffee shop whose machines have opinions.",
        setting="A corner café in Leeds.",
        tone="warm, absurd",
        characters=[ada(description="The barista.")],
        running_gags=["The machine sighs."],
    )


async def test_bible_reads_the_room_as_it_is_now(rooms: RoomStore, room: RoomRecord) -> None:
    """An older record still gives the current bible."""
    await rooms.update(room.id, name="Bean Here")
    assert (await rooms.bible(room)).show_title == "Bean Here"


async def test_bible_of_an_empty_room(rooms: RoomStore, room: RoomRecord) -> None:
    """No characters, no gags: empty lists, not an error."""
    bible = await rooms.bible(room)
    assert (bible.characters, bible.running_gags) == ([], [])


async def test_replace_bible_replaces_everything(rooms: RoomStore, room: RoomRecord) -> None:
    """An imported bible replaces fields, cast and gags; bible() reads it back equal."""
    await rooms.add_character(room.id, Character(name="Old"))
    await rooms.add_gag(room.id, "old gag")
    new = SeriesBible(
        show_title="Grounds for Dismissal",
        logline="A café at war with its landlord.",
        setting="York.",
        tone="dry",
        characters=[Character(name="Cy", description="Landlord.", voice="Oily."), ada()],
        running_gags=["The lease", "The cat"],
    )
    replaced = await rooms.replace_bible(room.id, new)
    assert replaced.name == "Grounds for Dismissal"
    assert await rooms.bible(replaced) == new


async def test_replace_bible_keeps_the_name_when_the_title_is_blank(
    rooms: RoomStore, room: RoomRecord
) -> None:
    """A bible without show_title leaves the room's name."""
    replaced = await rooms.replace_bible(room.id, SeriesBible(logline="New."))
    assert (replaced.name, replaced.logline) == ("Bean There", "New.")


async def test_replace_bible_with_a_duplicate_changes_nothing(
    rooms: RoomStore, room: RoomRecord
) -> None:
    """Two characters with one name: DuplicateName, and the old bible stays whole."""
    await rooms.add_character(room.id, Character(name="Old"))
    before = await rooms.bible(room)
    clashing = SeriesBible(show_title="X", characters=[ada(), Character(name="ADA")])
    with pytest.raises(DuplicateName, match="ADA"):
        await rooms.replace_bible(room.id, clashing)
    assert await rooms.bible(room) == before


async def test_bible_edits_move_updated_at(
    rooms: RoomStore, room: RoomRecord, advance_clock: Callable[[float], None]
) -> None:
    """Adding a character is a change to the room."""
    advance_clock(5)
    await rooms.add_character(room.id, ada())
    found = await rooms.get(room.id)
    assert found is not None
    assert (found.updated_at - room.updated_at).total_seconds() == 5


async def test_writes_to_a_missing_room_are_refused(rooms: RoomStore) -> None:
    """A character or gag for a room that is gone: RoomNotFound."""
    with pytest.raises(RoomNotFound):
        await rooms.add_character(404, ada())
    with pytest.raises(RoomNotFound):
        await rooms.add_gag(404, "gag")
    with pytest.raises(RoomNotFound):
        await rooms.add_writer(404, WRITER, "Bo", SHOWRUNNER)


# -- continuity --------------------------------------------------------------------------------


def summary(title: str) -> EpisodeSummary:
    return EpisodeSummary(title=title, logline="Things happen.", ending="They stop.")


async def test_summaries_newest_first_with_public_ids(
    rooms: RoomStore,
    room: RoomRecord,
    new_episode: NewEpisode,
    advance_clock: Callable[[float], None],
) -> None:
    """recent_summaries gives the newest first, each with its episode's public id."""
    first = await new_episode(room_id=room.id)
    second = await new_episode(room_id=room.id)
    assert await rooms.add_summary(room.id, first.id, summary("One"))
    advance_clock(1)
    assert await rooms.add_summary(room.id, second.id, summary("Two"))
    assert await rooms.recent_summaries(room.id) == [
        (second.public_id, summary("Two")),
        (first.public_id, summary("One")),
    ]
    assert await rooms.recent_summaries(room.id, limit=1) == [(second.public_id, summary("Two"))]


async def test_unsummarized_lists_finished_room_episodes_without_a_summary(
    rooms: RoomStore,
    room: RoomRecord,
    new_episode: NewEpisode,
    episodes: EpisodeStore,
    make_script: Callable[[EpisodeRequest], Script],
) -> None:
    """Done, in a room, no summary: listed until its summary is written; others never."""
    done = await new_episode(room_id=room.id)
    running = await new_episode(room_id=room.id)
    alone = await new_episode()
    for record in (done, alone):
        assert await episodes.finish(record.id, make_script(record.request))
    assert await rooms.unsummarized() == [done.id]
    await rooms.add_summary(room.id, done.id, summary("One"))
    assert await rooms.unsummarized() == []
    assert running.status == "running"


async def test_add_summary_is_idempotent(
    rooms: RoomStore, room: RoomRecord, new_episode: NewEpisode
) -> None:
    """A delivery retried after a restart adds its summary once."""
    episode = await new_episode(room_id=room.id)
    assert await rooms.add_summary(room.id, episode.id, summary("One"))
    assert not await rooms.add_summary(room.id, episode.id, summary("One again"))
    assert await rooms.recent_summaries(room.id) == [(episode.public_id, summary("One"))]


async def test_deleting_an_episode_drops_its_summary(
    rooms: RoomStore, room: RoomRecord, new_episode: NewEpisode, episodes: EpisodeStore
) -> None:
    """A guild's data-removal request takes the episode out of continuity too."""
    episode = await new_episode(room_id=room.id)
    await rooms.add_summary(room.id, episode.id, summary("One"))
    assert await episodes.delete(episode.id)
    assert await rooms.recent_summaries(room.id) == []


async def test_deleting_a_room_keeps_its_episodes(
    rooms: RoomStore, room: RoomRecord, new_episode: NewEpisode, episodes: EpisodeStore
) -> None:
    """The room's bible goes; its episodes stay, with room_id None."""
    episode = await new_episode(room_id=room.id)
    assert episode.room_id == room.id
    await rooms.add_character(room.id, ada())
    assert await rooms.delete(room.id)
    assert await rooms.get(room.id) is None
    assert await rooms.characters(room.id) == []
    found = await episodes.get_by_id(episode.id)
    assert found is not None
    assert found.room_id is None


async def test_episode_in_another_guilds_room_is_refused(
    room: RoomRecord, new_episode: NewEpisode
) -> None:
    """An episode cannot be attached to a room of another guild."""
    with pytest.raises(ValueError, match="another guild"):
        await new_episode(guild_id=GUILD + 1, room_id=room.id)


async def test_unreadable_summary_is_a_storage_error(
    db: Database, rooms: RoomStore, room: RoomRecord, new_episode: NewEpisode
) -> None:
    """Summary JSON a newer model rejects names the episode, not a pydantic trace."""
    episode = await new_episode(room_id=room.id, author_id=AUTHOR)
    await rooms.add_summary(room.id, episode.id, summary("One"))
    async with db.transaction() as tx:
        await tx.execute("UPDATE room_summaries SET summary = '{\"nope\": 1}'")
    with pytest.raises(StorageError, match=f"episode {episode.public_id}"):
        await rooms.recent_summaries(room.id)
