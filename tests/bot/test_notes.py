"""Notes over the wire: one scene rewritten, revisions kept, takes voted on, restarts survived."""

from __future__ import annotations

import asyncio
import io

from screenplain.parsers import fountain

from tests.bot.harness import POST_MESSAGE, Room, RoomFactory, description, start_episode
from tests.bot.rooms_harness import answer, command, files_of, open_room, refusal, script_post
from tests.scripted_provider import ScriptedProvider


def scenes_of(text: str) -> list[str]:
    """The scenes of a Fountain script as text, split at their headings."""
    paragraphs = fountain.parse(io.StringIO(text)).paragraphs
    assert paragraphs
    chunks = text.split("\n\n")
    scenes: list[list[str]] = []
    for chunk in chunks:
        if chunk.startswith(("INT.", "EXT.", "INT/EXT", ".")):
            scenes.append([])
        if scenes:
            scenes[-1].append(chunk)
    return ["\n\n".join(s) for s in scenes]


async def _episode(room: Room) -> tuple[str, dict[str, str]]:
    inter = await start_episode(room, scenes=3)
    posted = await script_post(room)
    await inter.wait_for_original_edit(lambda m: "Script posted" in description(m), 10)
    [record] = await room.bot.episodes.list_recent(room.guild.id)
    return record.public_id, files_of(posted)


async def test_a_note_rewrites_only_its_scene_as_v2(make_room: RoomFactory) -> None:
    """v2 differs from v1 in scene 2 only, byte for byte elsewhere; both stay reachable."""
    provider = ScriptedProvider()
    room = await make_room(provider)
    episode, v1_files = await _episode(room)
    [(v1_name, v1)] = v1_files.items()
    since = room.fake.requests.filter("POST", POST_MESSAGE)[-1].timestamp
    calls_before = len(provider.history)

    note = "Theo should sing @everyone his resignation letter"
    inter = await command(
        room, room.author, "notes", {"episode": episode, "scene": 2, "notes": note}
    )
    posted = await script_post(room, since=since + 0.001)
    [(v2_name, v2)] = files_of(posted).items()
    assert v2_name == v1_name.replace(".fountain", " v2.fountain")
    content = posted.payload["content"]
    assert "v2 · scene 2 rewritten from ada's note" in content and "resignation" in content
    before, after = scenes_of(v1), scenes_of(v2)
    assert len(before) == len(after) == 3
    assert before[0] == after[0] and before[2] == after[2]
    assert before[1] != after[1]
    new_calls = [c.key for c in provider.history[calls_before:]]
    assert sorted(new_calls) == ["take:1:scene:2:dialogue", "take:1:scene:2:directions"]
    status = await inter.wait_for_original_edit(lambda m: "v2 posted" in description(m), 10)
    assert status.custom_ids() == []
    assert room.fake.mention_violations() == []

    listing = await command(room, room.other, "revisions", {"episode": episode})
    lines = (await listing.wait_for_followup(lambda m: bool(m.embeds), 5)).embeds[0]
    text = str(lines["description"])
    assert "**v1** · ada" in text and "the first draft" in text
    assert "**v2** · ada" in text and "scene 2: “Theo should sing everyone" in text

    old = await command(room, room.other, "episode-get", {"episode": episode, "revision": 1})
    got = await answer(old)
    assert got.attachments[0].filename == v1_name
    assert got.attachments[0].data.decode() == v1
    newest = await answer(await command(room, room.other, "episode-get", {"episode": episode}))
    assert newest.attachments[0].filename == v2_name
    none = await command(room, room.other, "episode-get", {"episode": episode, "revision": 7})
    assert "has no revision 7; it has v1 to v2" in await refusal(none)


async def test_notes_come_from_the_room_writers_only(make_room: RoomFactory) -> None:
    """In a room a stranger's note is refused naming the showrunner; a bad scene is refused."""
    room = await make_room()
    await open_room(room)
    episode, _ = await _episode(room)
    stranger = room.guild.add_member("cy")
    refused = await command(
        room, stranger, "notes", {"episode": episode, "scene": 1, "notes": "funnier"}
    )
    assert "Only the writers of **Grounds for Dismissal** can give notes" in await refusal(refused)
    too_far = await command(
        room, room.other, "notes", {"episode": episode, "scene": 9, "notes": "funnier"}
    )
    assert "has 3 scenes; pick one from 1 to 3" in await refusal(too_far)
    assert await room.bot.rewrites.list_unfinished() == []


async def test_takes_are_voted_once_each_and_the_majority_wins(make_room: RoomFactory) -> None:
    """Two takes side by side; a second press changes a vote instead of adding one; the
    majority of the room's writers makes the winner the next revision, posted once."""
    room = await make_room()
    await open_room(room)
    episode, _ = await _episode(room)
    since = room.fake.requests.filter("POST", POST_MESSAGE)[-1].timestamp
    await command(
        room,
        room.other,
        "notes",
        {"episode": episode, "scene": 1, "notes": "Mirela should faint", "takes": 2},
    )
    ballot = await room.fake.wait_for(
        lambda r: r.route == POST_MESSAGE and "takes on bo's note" in str(r.payload.get("content")),
        30,
        since=since,
    )
    message = room.fake.message(int(ballot.response["id"]))
    ids = message.custom_ids()
    assert len(ids) == 4 and len(message.embeds) == 2
    assert sorted(f.filename for f in ballot.files) == [
        "Scene 1 take 1.fountain",
        "Scene 1 take 2.fountain",
    ]
    vote_1, vote_2, pick_1, _ = ids

    stranger = room.guild.add_member("cy")
    nope = await room.fake.click_button(message, vote_1, stranger)
    assert "Only the writers" in await refusal(nope)
    writer_pick = await room.fake.click_button(message, pick_1, room.other)
    assert "Only ada, the showrunner" in await refusal(writer_pick)

    for target in (vote_2, vote_2, vote_1):
        click = await room.fake.click_button(message, target, room.other)
        assert (await click.wait_for_callback()).type == 7
    tally = await room.bot.rewrites.tally((await room.bot.rewrites.list_voting())[0].id)
    assert tally == {1: 1, 2: 0}
    assert "1 voted so far" in message.content

    deciding = await room.fake.click_button(message, vote_1, room.author)
    assert (await deciding.wait_for_callback()).type == 7
    posted = await script_post(room, since=deciding.requests[0].timestamp)
    assert "v2 · scene 1 rewritten (take 1) from bo's note" in posted.payload["content"]
    assert message.custom_ids() == []
    assert "🏆 Take 1 wins" in message.content
    await asyncio.sleep(0.3)
    revisions = [
        r
        for r in room.fake.requests.filter("POST", POST_MESSAGE)
        if r.files and " v2" in r.files[0].filename
    ]
    assert len(revisions) == 1


async def test_a_rewrite_interrupted_by_a_restart_resumes_and_is_posted_once(
    make_room: RoomFactory,
) -> None:
    """Stopped after its dialogue, the rewrite resumes on the next start without asking for
    that dialogue again, and its revision arrives once."""
    provider = ScriptedProvider({"directions": 0.05})
    room = await make_room(provider)
    episode, _ = await _episode(room)
    provider.latencies = {"directions": 30.0}
    since = room.fake.requests.filter("POST", POST_MESSAGE)[-1].timestamp
    await command(room, room.author, "notes", {"episode": episode, "scene": 3, "notes": "louder"})
    for _ in range(200):
        if any(c.key == "take:1:scene:3:directions" for c in provider.in_flight.values()):
            break
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.1)  # the dialogue's checkpoint lands behind the pipeline
    await room.bot.close()
    [paused] = await room.bot.rewrites.list_unfinished()

    again = ScriptedProvider({"directions": 0.05})
    restarted = await make_room(again)
    posted = await script_post(restarted, since=since + 0.001)
    assert " v2.fountain" in posted.files[0].filename
    assert [c.key for c in again.history] == ["take:1:scene:3:directions"]
    record = await restarted.bot.rewrites.get_by_id(paused.id)
    assert record is not None and record.status == "done" and record.revision == 2
    resumed = [
        m for m in room.fake.messages(room.channel) if "Resumed after a restart" in description(m)
    ]
    assert len(resumed) == 1
