"""Slow steps posted to the operators' channel, through the real bot and the fake Discord."""

from __future__ import annotations

from scriptgen.providers.base import StepKind
from tests.bot.harness import POST_MESSAGE, RoomFactory, delivered, start_episode
from tests.fake_discord import FakeDiscord, pings_nobody
from tests.scripted_provider import ScriptedProvider

SLOW_DIALOGUE: dict[StepKind, float] = {
    "outline": 0.05,
    "dialogue": 0.3,
    "directions": 0.05,
    "comedy": 0.05,
    "refine": 0.05,
}


async def test_slow_steps_are_posted_once_and_ping_nobody(
    fake: FakeDiscord, make_room: RoomFactory
) -> None:
    """Three dialogue steps over their 0.2 s threshold: one post in the alert channel, naming
    the kind, the step and the episode; nothing else of the episode is called slow."""
    [guild] = fake.guilds
    alerts = guild.add_text_channel("ops-alerts")
    room = await make_room(
        ScriptedProvider(SLOW_DIALOGUE),
        alert_channel_id=alerts.id,
        slow_step_seconds={"dialogue": 0.2},
        alert_interval=60,
    )
    await start_episode(room, scenes=3)
    await delivered(room)
    posted = await room.fake.wait_for(
        lambda r: r.route == POST_MESSAGE and r.path_params.get("channel_id") == str(alerts.id)
    )
    posts = [
        r
        for r in room.fake.requests.filter("POST", POST_MESSAGE)
        if r.path_params.get("channel_id") == str(alerts.id)
    ]
    assert posts == [posted]
    [message] = room.fake.messages(alerts)
    [episode] = await room.bot.episodes.list_recent(room.guild.id)
    assert "Slow steps" in message.content
    assert "`dialogue` `scene:" in message.content and episode.public_id in message.content
    assert "threshold 0.2 s" in message.content
    assert "directions" not in message.content and "outline" not in message.content
    assert pings_nobody(posted.allowed_mentions)
