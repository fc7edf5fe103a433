"""Cancel, refusals to cancel, a provider that stays down, and Discord's own faults."""

from __future__ import annotations

import asyncio
import time

import anthropic

from scriptgen.providers.anthropic import AnthropicProvider
from tests.bot.harness import (
    EDIT_ORIGINAL,
    POST_MESSAGE,
    RoomFactory,
    delivered,
    description,
    start_episode,
)
from tests.fake_anthropic import FakeAnthropic
from tests.fake_discord import FakeMessage
from tests.scripted_provider import ScriptedProvider

EPHEMERAL = 1 << 6
CANCEL_PREFIX = "showrunner:cancel:"


def cancel_id(message: FakeMessage) -> str:
    return next(c for c in message.custom_ids() if c.startswith(CANCEL_PREFIX))


async def test_author_cancels_and_calls_stop_within_a_second(make_room: RoomFactory) -> None:
    """The writer's Cancel stops every call in flight and the status says who cancelled."""
    provider = ScriptedProvider({"dialogue": 30.0})
    room = await make_room(provider)
    inter = await start_episode(room, scenes=3)
    status = await inter.wait_for_original_edit(lambda m: bool(m.components), 10)
    while len(provider.in_flight) < 3:
        await asyncio.sleep(0.01)
    pressed = time.monotonic()
    click = await room.fake.click_button(status, cancel_id(status), room.author)
    assert (await click.wait_for_callback(timeout=3)).type == 6
    while provider.in_flight:
        await asyncio.sleep(0.01)
    assert time.monotonic() - pressed < 1.0
    final = await inter.wait_for_original_edit(lambda m: "Cancelled by ada" in description(m), 5)
    assert final.custom_ids() == []
    [record] = await room.bot.episodes.list_recent(room.guild.id)
    assert record.status == "cancelled" and record.cancelled_by == "ada"
    assert not room.fake.requests.filter("POST", POST_MESSAGE)


async def test_only_the_author_or_a_moderator_may_cancel(make_room: RoomFactory) -> None:
    """Another writer is told who may cancel; a member with Manage Messages may."""
    room = await make_room(ScriptedProvider({"dialogue": 30.0}))
    inter = await start_episode(room)
    status = await inter.wait_for_original_edit(lambda m: bool(m.components), 10)
    refused = await room.fake.click_button(status, cancel_id(status), room.other)
    callback = await refused.wait_for_callback(timeout=3)
    assert callback.type == 4 and callback.data["flags"] & EPHEMERAL
    assert callback.data["content"] == (
        "Only ada or someone with Manage Messages can cancel this episode."
    )
    [record] = await room.bot.episodes.list_recent(room.guild.id)
    assert record.status == "running"
    allowed = await room.fake.click_button(status, cancel_id(status), room.moderator)
    assert (await allowed.wait_for_callback(timeout=3)).type == 6
    await inter.wait_for_original_edit(lambda m: "Cancelled by mod" in description(m), 5)


async def test_provider_down_after_retries_is_reported(make_room: RoomFactory) -> None:
    """Anthropic overloaded on every attempt: the status says so and the episode is failed."""

    class NoWait:
        async def wait(self, retry: int, server_delay: float | None) -> None:
            return None

    async with FakeAnthropic() as api:
        for _ in range(8):
            api.enqueue_status(529)
        client = anthropic.AsyncAnthropic(api_key="test-key", base_url=api.base_url)
        provider = AnthropicProvider(client, max_attempts=3, backoff=NoWait())
        room = await make_room(provider)
        inter = await start_episode(room)
        final = await inter.wait_for_original_edit(lambda m: "Failed" in description(m), 15)
    assert "overloaded" in description(final).lower()
    assert "/episode-retry" in description(final)
    [record] = await room.bot.episodes.list_recent(room.guild.id)
    assert record.status == "failed" and "The outline failed" in (record.error or "")
    assert len(api.requests) == 3


async def test_rate_limited_status_edits_are_survived(make_room: RoomFactory) -> None:
    """429s on status edits are waited out; the episode still ends in its final state."""
    room = await make_room()
    room.fake.rate_limit(EDIT_ORIGINAL, times=3, retry_after=0.3)
    inter = await start_episode(room)
    await delivered(room)
    await inter.wait_for_original_edit(lambda m: "2 scenes" in description(m), 10)
    statuses = [r.status for r in room.fake.requests.filter("PATCH", EDIT_ORIGINAL)]
    assert statuses.count(429) == 3 and statuses[-1] == 200


async def test_gateway_drop_mid_episode_still_delivers(make_room: RoomFactory) -> None:
    """The gateway drops while scenes are written; the bot resumes and the script arrives."""
    provider = ScriptedProvider({"dialogue": 0.8, "directions": 0.2})
    room = await make_room(provider)
    inter = await start_episode(room)
    await provider.started.wait()
    await room.fake.drop_gateway(code=1006)
    await room.fake.wait_for_identify_or_resume(timeout=10, op="RESUME")
    await delivered(room)
    await inter.wait_for_original_edit(lambda m: "2 scenes" in description(m), 10)
    assert room.fake.gateway_connects >= 2


async def test_status_moves_to_a_channel_message_before_the_token_dies(
    make_room: RoomFactory,
) -> None:
    """An episode outliving the interaction token continues in an ordinary message."""
    room = await make_room(
        ScriptedProvider({"dialogue": 1.0, "directions": 0.5}), interaction_ttl=1.0
    )
    room.fake.config.token_lifetime = 1.8
    inter = await start_episode(room)
    await delivered(room)
    moved = await inter.wait_for_original_edit(lambda m: "status moved to" in m.content, 10)
    assert moved.embeds == []
    posts = room.fake.requests.filter("POST", POST_MESSAGE)
    status_post = next(r for r in posts if r.payload.get("embeds"))
    status_id = int(status_post.response["id"])
    await room.fake.wait_for(
        lambda r: r.message_id == status_id and "2 scenes" in str(r.payload), timeout=10
    )
    [record] = await room.bot.episodes.list_recent(room.guild.id)
    assert record.status_message_id == status_id
    assert room.fake.requests.filter(status=401) == []


async def test_a_resumed_episode_can_still_be_cancelled(make_room: RoomFactory) -> None:
    """After a graceful restart the episode resumes in a new status message whose Cancel works."""
    slow = ScriptedProvider({"dialogue": 30.0})
    room = await make_room(slow, shutdown_grace=0.1)
    inter = await start_episode(room)
    await inter.wait_for_original_edit(lambda m: bool(m.components), 10)
    while not any(r.kind == "dialogue" for r in slow.history):  # the outline is checkpointed
        await asyncio.sleep(0.01)
    await room.bot.close()
    paused = await inter.wait_for_original_edit(lambda m: "Paused" in description(m), 5)
    assert paused.custom_ids() == []
    resumed = await make_room(ScriptedProvider({"dialogue": 30.0}))
    post = await room.fake.wait_for(
        lambda r: r.route == POST_MESSAGE and "Resumed after a restart" in str(r.payload), 10
    )
    status = room.fake.message(int(post.response["id"]))
    assert status is not None
    click = await room.fake.click_button(status, cancel_id(status), room.author)
    assert (await click.wait_for_callback(timeout=3)).type == 6
    await room.fake.wait_for(
        lambda r: r.message_id == status.id and "Cancelled by ada" in str(r.payload), 5
    )
    [record] = await resumed.bot.episodes.list_recent(room.guild.id)
    assert record.status == "cancelled"
    assert "outline" not in {r.key for r in resumed.provider.history}  # type: ignore[attr-defined]


async def test_an_episode_whose_channel_is_closed_is_failed_not_retried_forever(
    make_room: RoomFactory,
) -> None:
    """A restart that cannot post in the episode's channel fails it with a clear reason."""
    slow = ScriptedProvider({"dialogue": 30.0})
    room = await make_room(slow, shutdown_grace=0.1)
    inter = await start_episode(room)
    await inter.wait_for_original_edit(lambda m: bool(m.components), 10)
    await room.bot.close()
    room.fake.fail(POST_MESSAGE, status=403, code=50001, message="Missing Access")
    restarted = await make_room(ScriptedProvider())
    async with asyncio.timeout(10):
        while not (records := await restarted.bot.episodes.list_recent(room.guild.id))[0].finished:
            await asyncio.sleep(0.02)
    assert records[0].status == "failed"
    assert records[0].error == "Could not resume: the bot can no longer post in that channel."
