"""/episode end to end: the real bot, the real discord.py, a fake Discord over the wire."""

from __future__ import annotations

import asyncio
import io

from screenplain.parsers import fountain
from screenplain.types import Dialog

from tests.bot.conftest import RoomFactory
from tests.fake_discord import CALLBACK_ROUTE

EDIT_ORIGINAL = "PATCH /webhooks/{webhook_id}/{webhook_token}/messages/@original"
POST_MESSAGE = "POST /channels/{channel_id}/messages"
PREMISE = "A barista discovers the espresso machine is haunted"


async def test_episode_is_deferred_written_and_delivered(make_room: RoomFactory) -> None:
    """Deferred first and in time; the status ends on the summary; the script arrives."""
    room = await make_room()
    fake = room.fake
    inter = await fake.invoke_slash_command(
        room.guild, room.channel, room.author, "episode", {"premise": PREMISE, "scenes": 2}
    )
    callback = await inter.wait_for_callback(timeout=3)
    assert callback.type == 5 and callback.delay < 1.0
    assert inter.requests[0].route == CALLBACK_ROUTE
    delivery = await fake.wait_for(lambda r: r.route == POST_MESSAGE and bool(r.files), 20)
    [upload] = delivery.files
    assert upload.filename.endswith(".fountain")
    parsed = fountain.parse(io.StringIO(upload.data.decode())).paragraphs
    dialog = [p for p in parsed if isinstance(p, Dialog)]
    assert len(dialog) >= 10
    final = await inter.wait_for_original_edit(
        lambda m: bool(m.embeds) and "2 scenes" in m.embeds[0].get("description", ""), 10
    )
    assert final.custom_ids() == []  # no Cancel button on a finished episode
    assert fake.mention_violations() == []
    assert fake.unknown_route_requests() == []
    assert fake.invalid_request_count == 0
    await asyncio.sleep(0)
