"""/episode end to end: the real bot, the real discord.py, a fake Discord over the wire."""

from __future__ import annotations

import asyncio
import io
import itertools

from screenplain.parsers import fountain
from screenplain.types import Dialog

from scriptgen.providers.base import StepKind
from tests.bot.harness import (
    EDIT_ORIGINAL,
    POST_MESSAGE,
    RoomFactory,
    delivered,
    description,
    start_episode,
)
from tests.fake_discord import CALLBACK_ROUTE
from tests.scripted_provider import ScriptedProvider

EPHEMERAL = 1 << 6


async def test_episode_is_deferred_written_and_delivered(make_room: RoomFactory) -> None:
    """Deferred first and in time; the status ends on the summary; the script arrives."""
    room = await make_room()
    fake = room.fake
    inter = await start_episode(room)
    callback = await inter.wait_for_callback(timeout=3)
    assert callback.type == 5 and callback.delay < 3.0
    assert inter.requests[0].route == CALLBACK_ROUTE
    delivery = await delivered(room)
    [upload] = delivery.files
    assert upload.filename.endswith(".fountain")
    screenplay = fountain.parse(io.StringIO(upload.data.decode()))
    dialog = [p for p in screenplay.paragraphs if isinstance(p, Dialog)]
    assert len(dialog) >= 10
    assert delivery.payload["nonce"].startswith("sr-ep-")
    final = await inter.wait_for_original_edit(lambda m: "2 scenes" in description(m), 10)
    assert final.custom_ids() == []  # no Cancel button on a finished episode
    assert "Script posted" in description(final)
    [record] = await room.bot.episodes.list_recent(room.guild.id)
    assert record.status == "done" and record.delivered_message_id is not None
    assert fake.mention_violations() == []
    assert fake.unknown_route_requests() == []
    assert fake.invalid_request_count == 0


async def test_status_edits_are_spaced_and_end_in_the_final_state(make_room: RoomFactory) -> None:
    """At most one edit per 1.5 s of the status message, and the last one is the summary."""
    slow: dict[StepKind, float] = {
        "outline": 0.4,
        "dialogue": 1.2,
        "directions": 0.6,
        "comedy": 0.5,
        "refine": 0.3,
    }
    room = await make_room(ScriptedProvider(slow), status_interval=1.5)
    inter = await start_episode(room, scenes=3)
    await delivered(room, timeout=30)
    final = await inter.wait_for_original_edit(lambda m: "3 scenes" in description(m), 10)
    edits = [r.timestamp for r in room.fake.requests.filter("PATCH", EDIT_ORIGINAL)]
    assert len(edits) >= 3
    gaps = [b - a for a, b in itertools.pairwise(edits)]
    assert min(gaps) >= 1.45, gaps
    assert final.revisions[-1].embeds[0]["title"] == final.embeds[0]["title"]
    assert room.fake.invalid_request_count == 0


async def test_bad_premises_are_refused_ephemerally(make_room: RoomFactory) -> None:
    """Empty, blank, huge and mentions-only premises get a private message and no episode."""
    room = await make_room()
    cases = {
        "   ": "The premise is empty",
        "x" * 2001: "the limit is 2,000",
        "<@123> <@&456> @everyone !!": "needs words",
    }
    for premise, expected in cases.items():
        inter = await start_episode(room, premise=premise)
        callback = await inter.wait_for_callback(timeout=3)
        assert callback.type == 4
        assert callback.data["flags"] & EPHEMERAL
        assert expected in callback.data["content"]
    assert await room.bot.episodes.list_recent(room.guild.id) == []


async def test_one_episode_at_a_time_per_writer(make_room: RoomFactory) -> None:
    """A second /episode from the same writer while one runs is refused privately."""
    room = await make_room(ScriptedProvider({"dialogue": 30.0}))
    first = await start_episode(room)
    await first.wait_for_callback(timeout=3)
    second = await start_episode(room)
    callback = await second.wait_for_callback(timeout=3)
    assert callback.data["flags"] & EPHEMERAL
    assert "already have an episode" in callback.data["content"]
    other = await start_episode(room, room.other)
    assert (await other.wait_for_callback(timeout=3)).type == 5


async def test_hostile_premise_pings_nobody(make_room: RoomFactory) -> None:
    """@everyone and mentions in a premise reach the model as names and ping nobody."""
    provider = ScriptedProvider()
    room = await make_room(provider)
    premise = f"@everyone <@{room.other.id}> and <@&{room.guild.id}> open a **haunted** café"
    inter = await start_episode(room, premise=premise)
    await delivered(room)
    await inter.wait_for_original_edit(lambda m: "2 scenes" in description(m), 10)
    [record] = await room.bot.episodes.list_recent(room.guild.id)
    assert record.request.premise == "everyone bo and everyone open a **haunted** café"
    writes = room.fake.message_writes()
    assert writes and room.fake.mention_violations() == []
    assert all(w.allowed_mentions is not None for w in writes)


async def test_a_delivered_script_frees_its_writer_at_once(make_room: RoomFactory) -> None:
    """The moment the script is in the channel, its writer may start the next episode,
    even while the bot still waits for Discord's answer to that post."""
    room = await make_room()
    fake = room.fake
    fake.stall(lambda r: r.route == POST_MESSAGE and bool(r.files), seconds=2.0)
    first = await start_episode(room)
    await first.wait_for_callback(timeout=3)
    for _ in range(200):
        if any(m.attachments for m in fake.messages(room.channel)):
            break
        await asyncio.sleep(0.02)
    else:
        raise AssertionError("the script was never posted")
    second = await start_episode(room, premise="The espresso machine files for divorce")
    callback = await second.wait_for_callback(timeout=3)
    assert callback.type == 5, callback.data
    await delivered(room, since=first.requests[-1].timestamp)
