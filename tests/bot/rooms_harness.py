"""Helpers for the writers' room tests: run a command, read its answer."""

from __future__ import annotations

from typing import Any

from tests.bot.harness import POST_MESSAGE, Room, delivered
from tests.fake_discord import FakeCallback, FakeInteraction, FakeMessage, FakeUser, RecordedRequest

EPHEMERAL = 1 << 6


async def command(
    room: Room, user: FakeUser, name: str, options: dict[str, Any] | None = None
) -> FakeInteraction:
    return await room.fake.invoke_slash_command(
        room.guild, room.channel, user, name, options or {}, require_synced=True
    )


async def answer(inter: FakeInteraction, timeout: float = 10) -> FakeMessage:  # noqa: ASYNC109
    """The public answer of a deferred command (its original response, once written)."""
    return await inter.wait_for_original_edit(lambda m: bool(m.content or m.embeds), timeout)


async def refusal(inter: FakeInteraction, timeout: float = 5) -> str:  # noqa: ASYNC109
    """The private message a command or button got instead of an answer."""
    callback: FakeCallback = await inter.wait_for_callback(timeout)
    if callback.type == 4:
        assert callback.data["flags"] & EPHEMERAL, callback.data
        return str(callback.data["content"])
    followup = await inter.wait_for_followup(lambda m: True, timeout)
    assert followup.flags & EPHEMERAL, followup
    return followup.content


async def open_room(room: Room, **extra: Any) -> FakeMessage:
    """ada opens a room in the channel, with bo as a writer."""
    created = await command(
        room,
        room.author,
        "room create",
        {"name": "Grounds for Dismissal", "logline": "A café staffed by the overqualified"} | extra,
    )
    message = await answer(created)
    await answer(await command(room, room.author, "room writer add", {"user": room.other}))
    return message


async def add_cast(room: Room) -> None:
    for name, description, voice in [
        ("Mirela", "the owner, a former opera diva", "sings her complaints in recitative"),
        ("Theo", "a barista with a PhD in philosophy", "answers questions with questions"),
    ]:
        await answer(
            await command(
                room,
                room.author,
                "character add",
                {"name": name, "description": description, "voice": voice},
            )
        )
    await answer(
        await command(room, room.author, "gag add", {"text": "The espresso machine is sentient"})
    )


async def script_post(room: Room, since: float = 0.0, timeout: float = 30) -> RecordedRequest:  # noqa: ASYNC109
    return await delivered(room, timeout, since)


def files_of(request: RecordedRequest) -> dict[str, str]:
    return {f.filename: f.data.decode() for f in request.files}


__all__ = [
    "EPHEMERAL",
    "POST_MESSAGE",
    "add_cast",
    "answer",
    "command",
    "files_of",
    "open_room",
    "refusal",
    "script_post",
]
