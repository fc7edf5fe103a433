"""Writers' rooms over the wire: the room, its bible, roles, import/export, continuity."""

from __future__ import annotations

import asyncio

import anthropic
import yaml

from scriptgen.providers.anthropic import AnthropicProvider
from storage import RoomRecord
from tests.bot.harness import Room, RoomFactory, description
from tests.bot.rooms_harness import (
    add_cast,
    answer,
    command,
    open_room,
    refusal,
    script_post,
)
from tests.episode_responder import EpisodeResponder
from tests.fake_anthropic import FakeAnthropic
from tests.fake_discord import MANAGE_GUILD, FakeUpload


async def test_a_room_is_created_shown_and_run_by_its_showrunner(make_room: RoomFactory) -> None:
    """The creator runs the room; a stranger is refused by name; a writer they add may edit."""
    room = await make_room()
    created = await open_room(room)
    assert "Grounds for Dismissal" in created.content
    assert "ada is its showrunner" in created.content
    again = await command(room, room.moderator, "room create", {"name": "X", "logline": "Y"})
    assert "already belongs to the room **Grounds for Dismissal**" in await refusal(again)

    stranger = room.guild.add_member("cy")
    refused = await command(
        room, stranger, "character add", {"name": "Zed", "description": "a ghost"}
    )
    text = await refusal(refused)
    assert "Only the writers of **Grounds for Dismissal**" in text and "ada" in text
    not_showrunner = await command(room, room.other, "room writer add", {"user": stranger})
    assert "Only ada, the showrunner" in await refusal(not_showrunner)

    added = await command(
        room, room.other, "character add", {"name": "Zed", "description": "a ghost"}
    )
    assert "bo added **Zed**" in (await answer(added)).content
    shown = await answer(await command(room, stranger, "room show"))
    card = shown.embeds[0]
    assert card["title"] == "Grounds for Dismissal"
    fields = {f["name"]: f["value"] for f in card["fields"]}
    assert "**Zed**: a ghost" in fields["Characters (1)"]
    assert fields["Writers"] == "ada (showrunner), bo"
    assert room.fake.mention_violations() == []


async def test_characters_and_gags_are_edited_removed_and_autocompleted(
    make_room: RoomFactory,
) -> None:
    """Edit and remove find names whatever their case; autocomplete offers the room's names."""
    room = await make_room()
    await open_room(room)
    await add_cast(room)
    typing = await room.fake.autocomplete(
        room.guild, room.channel, room.author, "character edit", {"name": "mi"}, focused="name"
    )
    await typing.wait_for_callback()
    assert [c["value"] for c in typing.choices or []] == ["Mirela"]

    edited = await command(
        room, room.other, "character edit", {"name": "MIRELA", "voice": "whispers everything"}
    )
    assert "changed **Mirela**: voice" in (await answer(edited)).content
    bible = await room.bot.rooms.bible(await _the_room(room))
    assert (bible.characters[0].name, bible.characters[0].voice) == (
        "Mirela",
        "whispers everything",
    )

    missing = await command(room, room.author, "character remove", {"name": "Nobody"})
    assert "no character “Nobody”" in await refusal(missing)
    await answer(await command(room, room.author, "character remove", {"name": "theo"}))
    await answer(
        await command(room, room.author, "gag remove", {"text": "The espresso machine is sentient"})
    )
    bible = await room.bot.rooms.bible(await _the_room(room))
    assert [c.name for c in bible.characters] == ["Mirela"]
    assert bible.running_gags == []


async def test_export_then_import_round_trips_and_a_bad_file_changes_nothing(
    make_room: RoomFactory,
) -> None:
    """Export gives YAML; a file with problems is refused field by field and nothing changes."""
    room = await make_room()
    await open_room(room)
    await add_cast(room)
    exported = await answer(await command(room, room.author, "room export"))
    [attachment] = exported.attachments
    assert attachment.filename == "Grounds for Dismissal.yaml"
    data = yaml.safe_load(attachment.data)
    assert [c["name"] for c in data["characters"]] == ["Mirela", "Theo"]

    bad = dict(data)
    bad["characters"] = [*data["characters"], {"name": "Theo", "voice": "x" * 301}]
    bad["colour"] = "teal"
    upload = FakeUpload("bible.yaml", yaml.safe_dump(bad).encode(), content_type="text/yaml")
    refused = await command(room, room.author, "room import", {"file": upload})
    text = await refusal(refused)
    assert "nothing was changed" in text
    assert "characters[3].voice: too long (max 300)" in text
    assert 'characters[3].name: "Theo" appears twice' in text
    assert "colour: unknown field" in text
    before = await room.bot.rooms.bible(await _the_room(room))
    assert [c.name for c in before.characters] == ["Mirela", "Theo"]

    good = dict(data)
    good["characters"] = [{"name": "Ines", "description": "the new owner", "voice": "curt"}]
    good["running_gags"] = ["Nobody knows who pays rent"]
    loaded = await answer(
        await command(
            room,
            room.other,
            "room import",
            {"file": FakeUpload("bible.yaml", yaml.safe_dump(good).encode())},
        )
    )
    assert "1 characters, 1 running gags" in loaded.content
    after = await room.bot.rooms.bible(await _the_room(room))
    assert [c.name for c in after.characters] == ["Ines"]
    assert after.running_gags == ["Nobody knows who pays rent"]


async def test_the_bible_and_previously_reach_every_prompt(make_room: RoomFactory) -> None:
    """Every call of a room's episode carries the bible in its cached system prefix; the
    second episode recalls the first, and its status card says so."""
    async with FakeAnthropic(responder=EpisodeResponder(seed=2)) as api:
        client = anthropic.AsyncAnthropic(api_key="test-key", base_url=api.base_url)
        room = await make_room(AnthropicProvider(client, "claude-test"))
        await open_room(room)
        await add_cast(room)
        first = await command(
            room, room.author, "episode", {"premise": "Mirela auditions baristas", "scenes": 2}
        )
        await script_post(room)
        [record] = await room.bot.episodes.list_recent(room.guild.id)
        assert record.room_id is not None and record.request.bible is not None
        calls = list(api.requests)
        assert len(calls) >= 6
        for call in calls:
            system = "\n".join(block["text"] for block in call.system_blocks)
            assert "SERIES BIBLE" in system and "Show: Grounds for Dismissal" in system
            assert "sings her complaints in recitative" in system
            assert "The espresso machine is sentient" in system
            assert call.system_blocks[-1].get("cache_control") == {"type": "ephemeral"}
        [outline_call] = [c for c in calls if c.tool_name == "write_outline"]
        assert "series bible's characters (Mirela, Theo)" in str(outline_call.body["messages"])
        title = record.display_title
        await first.wait_for_original_edit(lambda m: "Script posted" in description(m), 10)

        since = api.requests[-1].started
        second = await command(
            room, room.other, "episode", {"premise": "Theo unionises the cups", "scenes": 2}
        )
        status = await second.wait_for_original_edit(lambda m: "Previously" in description(m), 10)
        assert f"📚 Previously: *{title}*" in description(status)
        await script_post(room, since=since + 0.001)
        later = [c for c in api.requests if c.started > since]
        bible_block = calls[0].system_blocks[1]
        for call in later:
            # The bible is the same block as in the first episode (its cached prefix serves
            # both); continuity follows it in a block of its own.
            assert call.system_blocks[1] == bible_block
            assert call.system_blocks[2]["text"].startswith("PREVIOUSLY")
            assert title in call.system_blocks[2]["text"]


async def _the_room(room: Room) -> RoomRecord:
    found = await room.bot.rooms.for_channel(room.channel.id)
    assert found is not None
    return found


async def test_manage_server_may_do_what_a_showrunner_does(make_room: RoomFactory) -> None:
    """A member with Manage Server, not a writer, edits the bible and adds writers."""
    room = await make_room()
    await open_room(room)
    admin = room.guild.add_member("staff", permissions=MANAGE_GUILD)
    cast = await command(room, admin, "character add", {"name": "Rex", "description": "a dog"})
    assert "staff added **Rex**" in (await answer(cast)).content
    newcomer = room.guild.add_member("dee")
    added = await command(room, admin, "room writer add", {"user": newcomer})
    assert "dee joined the writers" in (await answer(added)).content


async def test_a_thread_belongs_to_its_channels_room(make_room: RoomFactory) -> None:
    """In a thread of the room's channel, /room show finds the room and /episode writes with
    its bible; the script is posted in the thread."""
    room = await make_room()
    await open_room(room)
    await add_cast(room)
    thread = room.guild.add_thread(room.channel, "pitches")
    await asyncio.sleep(0.1)  # THREAD_CREATE reaches the bot
    shown = await room.fake.invoke_slash_command(
        room.guild, thread, room.other, "room show", {}, require_synced=True
    )
    assert (await answer(shown)).embeds[0]["title"] == "Grounds for Dismissal"
    await room.fake.invoke_slash_command(
        room.guild, thread, room.other, "episode", {"premise": "Theo pitches", "scenes": 1}
    )
    posted = await script_post(room)
    assert posted.path.endswith(f"/channels/{thread.id}/messages")
    [record] = await room.bot.episodes.list_recent(room.guild.id)
    assert record.room_id is not None and record.request.bible is not None
    assert [c.name for c in record.request.bible.characters] == ["Mirela", "Theo"]


async def test_a_summary_lost_to_a_crash_is_written_at_the_next_start(
    make_room: RoomFactory,
) -> None:
    """The process died between the episode's end and its summary: the next start writes it."""
    room = await make_room()
    await open_room(room)
    await start_episode_in(room)
    [record] = await room.bot.episodes.list_recent(room.guild.id)
    async with room.db.transaction() as tx:  # as if the process died before writing it
        await tx.execute("DELETE FROM room_summaries")
    await room.bot.close()
    restarted = await make_room()
    the_room = await _the_room(restarted)
    for _ in range(100):
        if await restarted.bot.rooms.recent_summaries(the_room.id):
            break
        await asyncio.sleep(0.05)
    [(public_id, summary)] = await restarted.bot.rooms.recent_summaries(the_room.id)
    assert public_id == record.public_id
    assert record.script is not None and summary.title == record.script.outline.title


async def start_episode_in(room: Room) -> None:
    inter = await command(room, room.author, "episode", {"premise": "A slow day", "scenes": 1})
    await script_post(room)
    await inter.wait_for_original_edit(lambda m: "Script posted" in description(m), 10)
