"""Budgets, quotas and costs over the wire: what a server may spend, and what it did."""

from __future__ import annotations

import asyncio

from scriptgen.models import EpisodeRequest
from tests.bot.harness import QUICK, RoomFactory, delivered, description, start_episode
from tests.bot.rooms_harness import EPHEMERAL, command, refusal
from tests.fake_discord import MANAGE_GUILD
from tests.scripted_provider import ScriptedProvider

PRICED = "claude-sonnet-4-5"
"""A model with a list price, so estimates and costs are not zero."""


def priced(dialogue: float | None = None) -> ScriptedProvider:
    latencies = dict(QUICK)
    if dialogue is not None:
        latencies["dialogue"] = dialogue
    return ScriptedProvider(latencies, model=PRICED)


async def test_the_status_card_shows_the_estimate_then_the_running_cost(
    make_room: RoomFactory,
) -> None:
    """Before any call the card says what the episode may cost; then what it has cost."""
    room = await make_room(priced(dialogue=0.6))
    inter = await start_episode(room)
    first = await inter.wait_for_original_edit(lambda m: "estimated" in description(m), 5)
    assert "💵 up to $" in description(first)
    running = await inter.wait_for_original_edit(lambda m: "so far" in description(m), 10)
    assert "so far · up to $" in description(running)
    await delivered(room)


async def test_past_the_monthly_budget_an_episode_is_refused_privately(
    make_room: RoomFactory,
) -> None:
    """With a budget too small for one more episode the writer is told what was spent, the
    limit and when it resets; nothing is written."""
    provider = priced()
    room = await make_room(provider, guild_monthly_budget_usd=0.01)
    inter = await start_episode(room)
    text = await refusal(inter)
    assert text.startswith("Not now:")
    assert "$0.01" in text and "resets" in text
    assert provider.history == []
    assert await room.bot.episodes.list_recent(room.guild.id) == []


async def test_parallel_starts_cannot_overshoot_the_budget_together(
    make_room: RoomFactory,
) -> None:
    """Two writers start at once with room in the budget for one episode: one is refused."""
    provider = priced(dialogue=0.5)
    room = await make_room(provider)
    estimate = room.bot.spending.estimate(EpisodeRequest(premise="A test", scene_count=2))
    assert estimate is not None and estimate > 0
    await room.bot.spending.budgets.set_monthly(room.guild.id, estimate * 1.5, "test")
    first, second = await asyncio.gather(
        start_episode(room, room.author), start_episode(room, room.other)
    )
    callbacks = [await first.wait_for_callback(), await second.wait_for_callback()]
    assert sorted(c.type for c in callbacks) == [5, 5]
    await asyncio.sleep(0.5)
    episodes = await room.bot.episodes.list_recent(room.guild.id)
    assert len(episodes) == 1


async def test_the_daily_quota_counts_a_writers_episodes(make_room: RoomFactory) -> None:
    """One episode a day: the second is refused with when the quota resets; others may."""
    room = await make_room(priced(), episodes_per_user_per_day=1)
    inter = await start_episode(room)
    await delivered(room)
    await inter.wait_for_original_edit(lambda m: "Script posted" in description(m), 10)
    again = await start_episode(room, premise="The cups unionise")
    text = await refusal(again)
    assert "1 episode" in text and "today" in text
    other = await start_episode(room, room.other)
    assert (await other.wait_for_callback()).type == 5


async def test_budget_commands_and_usage(make_room: RoomFactory) -> None:
    """Only Manage Server sets the budget; /budget show and /usage tell the month's spending
    by model and by writer."""
    room = await make_room(priced())
    manager = room.guild.add_member("boss", permissions=MANAGE_GUILD)
    refused = await command(room, room.author, "budget set", {"amount": 5.0})
    assert "Manage Server" in await refusal(refused)
    inter = await start_episode(room)
    await delivered(room)
    await inter.wait_for_original_edit(lambda m: "Script posted" in description(m), 10)

    setting = await command(room, manager, "budget set", {"amount": 5.0})
    reply = await setting.wait_for_followup(lambda m: True, 5)
    assert reply.flags & EPHEMERAL
    assert "Budget set: $5.00 a month" in reply.content and "of $5.00" in reply.content

    usage = await command(room, room.other, "usage")
    shown = await usage.wait_for_followup(lambda m: bool(m.embeds), 5)
    fields = {f["name"]: f["value"] for f in shown.embeds[0]["fields"]}
    assert PRICED in fields["By model"] and "calls" in fields["By model"]
    assert "ada" in fields["By writer"]
