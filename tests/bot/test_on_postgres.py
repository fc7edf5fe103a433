"""The bot on PostgreSQL (``SHOWRUNNER_DATABASE_URL``): an episode written, stored and delivered
over the wire as on SQLite (the stores' own tests run on both dialects: tests/storage)."""

from __future__ import annotations

import asyncpg

from tests.bot.harness import RoomFactory, delivered, description, start_episode
from tests.storage.postgres_server import PostgresServer


async def test_an_episode_is_written_and_delivered_on_postgresql(
    make_room: RoomFactory, postgres_server: PostgresServer
) -> None:
    url = await postgres_server.reset()
    room = await make_room(database_url=url)
    assert room.bot.db.label.startswith("postgresql")
    inter = await start_episode(room)
    await delivered(room)
    final = await inter.wait_for_original_edit(lambda m: "Script posted" in description(m), 10)
    assert "2 scenes" in description(final)
    [record] = await room.bot.episodes.list_recent(room.guild.id)
    assert record.status == "done" and record.delivered_message_id is not None
    # What the bot stored is in the server's tables, read by another client.
    connection = await asyncpg.connect(url)
    try:
        status = await connection.fetchval("SELECT status FROM episodes WHERE id = $1", record.id)
        steps = await connection.fetchval(
            "SELECT count(*) FROM steps WHERE episode_id = $1", record.id
        )
        calls = await connection.fetchval(
            "SELECT count(*) FROM usage WHERE episode_id = $1", record.id
        )
    finally:
        await connection.close()
    assert status == "done"
    assert steps >= 1 + 2 * 2 + 1  # outline, two calls a scene, the comedy pass
    assert calls >= steps
