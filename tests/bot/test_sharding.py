"""Gateway shards: the bot runs as many as it is told (or Discord recommends), and a guild's
commands, status edits and script reach it over the shard that serves that guild."""

from __future__ import annotations

import asyncio

from tests.bot.harness import RoomFactory, delivered, description, start_episode
from tests.fake_discord import FakeDiscord, FakeGuild


async def _guild_on_the_other_shard(fake: FakeDiscord, of: FakeGuild) -> FakeGuild:
    """A guild whose events Discord sends on the other of two shards (ids are time-based)."""
    while True:
        guild = fake.add_guild("Second Room")
        if (guild.id >> 22) % 2 != (of.id >> 22) % 2:
            return guild
        await asyncio.sleep(0.002)


def _identified_shards(fake: FakeDiscord) -> list[list[int]]:
    return sorted(h.payload["shard"] for h in fake.gateway.handshakes if h.op == "IDENTIFY")


async def test_two_recommended_shards_each_serve_their_guilds(
    fake: FakeDiscord, make_room: RoomFactory
) -> None:
    fake.config.shards = 2
    fake.config.max_concurrency = 2  # both may IDENTIFY at once: no 5 s wait between them
    [first] = fake.state.guilds
    second = await _guild_on_the_other_shard(fake, first)
    channel = second.add_text_channel("episodes")
    writer = second.add_member("cy")
    room = await make_room()

    assert _identified_shards(fake) == [[0, 2], [1, 2]]
    assert room.bot.shard_count == 2
    by_shard = {g.id: g.shard_id for g in room.bot.guilds}
    assert by_shard[first.id] != by_shard[second.id]
    assert by_shard[second.id] == fake.gateway.shard_of(second.id)

    one = await start_episode(room)
    two = await start_episode(room, writer, guild=second, channel=channel)
    await delivered(room, timeout=20)
    for interaction in (one, two):
        final = await interaction.wait_for_original_edit(
            lambda m: "Script posted" in description(m), 20
        )
        assert "2 scenes" in description(final)
    posts = [r for r in fake.requests.filter("POST", "/channels/{channel_id}/messages") if r.files]
    assert {r.path_params["channel_id"] for r in posts} == {str(room.channel.id), str(channel.id)}
    assert fake.unknown_route_requests() == []


async def test_the_shard_count_setting_wins_over_the_recommendation(
    fake: FakeDiscord, make_room: RoomFactory
) -> None:
    fake.config.shards = 1
    fake.config.max_concurrency = 3
    room = await make_room(shard_count=3)
    assert _identified_shards(fake) == [[0, 3], [1, 3], [2, 3]]
    assert room.bot.shard_count == 3
    inter = await start_episode(room)
    await delivered(room, timeout=20)
    final = await inter.wait_for_original_edit(lambda m: "Script posted" in description(m), 20)
    assert "2 scenes" in description(final)
