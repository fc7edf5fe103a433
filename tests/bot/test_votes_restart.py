"""A ballot of takes survives a restart, over the wire: its votes are stored, not remembered."""

from __future__ import annotations

import asyncio

from storage import RewriteRecord
from tests.bot.harness import POST_MESSAGE, Room, RoomFactory, description, start_episode
from tests.bot.rooms_harness import command, open_room, script_post
from tests.fake_discord import FakeDiscord, FakeMessage, FakeUser, RecordedRequest
from tests.scripted_provider import ScriptedProvider


async def test_votes_count_across_a_restart_once_each(make_room: RoomFactory) -> None:
    """bo votes take 2, the bot restarts, bo presses it again (still one vote, no winner),
    ada's vote makes the majority: take 2 becomes v2 once, from the stored takes."""
    room = await make_room(ScriptedProvider())
    ballot, (_, vote_2) = await _ballot(room)
    await _press(room.fake, ballot, vote_2, room.other)
    assert "1 voted so far" in ballot.content
    await room.bot.close()

    again = ScriptedProvider()
    restarted = await make_room(again)
    await _press(restarted.fake, ballot, vote_2, room.other)
    [voting] = await restarted.bot.rewrites.list_voting()
    assert await restarted.bot.rewrites.tally(voting.id) == {1: 0, 2: 1}
    assert "1 voted so far" in ballot.content and len(ballot.custom_ids()) == 4

    deciding = await _press(restarted.fake, ballot, vote_2, room.author)
    revision = await script_post(restarted, since=deciding)
    assert "v2 · scene 2 rewritten (take 2) from bo's note" in revision.payload["content"]
    assert "🏆 Take 2 wins" in ballot.content and ballot.custom_ids() == []
    await asyncio.sleep(0.3)  # a second revision would be posted by now
    assert len(_revisions(restarted.fake)) == 1
    assert again.history == []  # the takes were read back, not written again
    done = await restarted.bot.rewrites.get_by_id(voting.id)
    assert done is not None and done.status == "done" and done.chosen_take == 2
    assert [m for m in restarted.fake.messages(room.channel) if "Resumed" in description(m)] == []


async def test_a_majority_the_process_died_on_is_made_the_revision_at_the_next_start(
    make_room: RoomFactory,
) -> None:
    """The deciding vote was stored and took the ballot's buttons away, then the process
    died before the revision: the next start makes the stored winner the revision, once."""
    room = await make_room(ScriptedProvider())
    ballot, (vote_1, _) = await _ballot(room)
    await _press(room.fake, ballot, vote_1, room.other)
    await room.bot.close()
    [voting] = await room.bot.rewrites.list_voting()
    # What the deciding press stored before the process died (its buttons went with it):
    assert await room.bot.rewrites.vote(voting.id, room.author.id, 1) == {1: 2, 2: 0}
    done = await _made_at_the_next_start(room, make_room, voting.id, take=1)
    assert done.chosen_take == 1


async def test_a_pick_the_process_died_on_is_made_the_revision_at_the_next_start(
    make_room: RoomFactory,
) -> None:
    """The showrunner's pick is stored before its press takes the buttons away: a process that
    died before the revision makes the picked take the revision at its next start, once."""
    room = await make_room(ScriptedProvider())
    await _ballot(room)
    await room.bot.close()
    [voting] = await room.bot.rewrites.list_voting()
    # What the pick's press stored before the process died (its buttons went with it):
    assert await room.bot.rewrites.pick(voting.id, 2, "ada")
    assert not await room.bot.rewrites.pick(voting.id, 1, "ada")  # one pick only
    done = await _made_at_the_next_start(room, make_room, voting.id, take=2)
    assert (done.chosen_take, done.chosen_by) == (2, "ada")


async def _made_at_the_next_start(
    room: Room, make_room: RoomFactory, rewrite_id: int, *, take: int
) -> RewriteRecord:
    """Restart the bot: ``take`` is posted as v2 once, with no model call; the ended rewrite."""
    since = room.fake.requests.filter("POST", POST_MESSAGE)[-1].timestamp
    again = ScriptedProvider()
    restarted = await make_room(again)
    revision = await script_post(restarted, since=since + 0.001)
    assert f"v2 · scene 2 rewritten (take {take}) from bo's note" in revision.payload["content"]
    await asyncio.sleep(0.3)  # a second revision would be posted by now
    assert len(_revisions(restarted.fake)) == 1
    assert again.history == []
    done = await restarted.bot.rewrites.get_by_id(rewrite_id)
    assert done is not None and done.status == "done"
    return done


async def _ballot(room: Room) -> tuple[FakeMessage, tuple[str, str]]:
    """An episode in a room, bo's note on scene 2 with two takes: the ballot and its Vote
    buttons."""
    await open_room(room)
    await start_episode(room, scenes=2)
    await script_post(room)
    [episode] = await room.bot.episodes.list_recent(room.guild.id)
    since = room.fake.requests.filter("POST", POST_MESSAGE)[-1].timestamp
    await command(
        room,
        room.other,
        "notes",
        {"episode": episode.public_id, "scene": 2, "notes": "Theo should quit", "takes": 2},
    )
    posted = await room.fake.wait_for(
        lambda r: r.route == POST_MESSAGE and "takes on bo's note" in str(r.payload.get("content")),
        30,
        since=since,
    )
    ballot = room.fake.message(int(posted.response["id"]))
    vote_1, vote_2, _, _ = ballot.custom_ids()
    return ballot, (vote_1, vote_2)


async def _press(fake: FakeDiscord, message: FakeMessage, custom_id: str, user: FakeUser) -> float:
    """Press a ballot button (the ballot is edited in place); when it was pressed."""
    click = await fake.click_button(message, custom_id, user)
    assert (await click.wait_for_callback()).type == 7
    return click.requests[0].timestamp


def _revisions(fake: FakeDiscord) -> list[RecordedRequest]:
    return [
        r
        for r in fake.requests.filter("POST", POST_MESSAGE)
        if r.files and " v2" in r.files[0].filename
    ]
