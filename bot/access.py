"""Who may do what in a writers' room.

The showrunner (who created the room) and the writers they add write episodes, give notes, vote
and edit the bible; everyone else in the channel reads. Members with Manage Server may do
everything, so a server's staff can always step in. Outside a room, an episode belongs to the
one who started it (and to Manage Server).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

import discord

from bot.replies import refuse_after_defer
from bot.status import plain
from storage import RoomRecord

if TYPE_CHECKING:
    from bot.client import ShowrunnerBot

Role = Literal["showrunner", "writer", "manager"]


@dataclass(frozen=True)
class Member:
    """Who pressed or typed something, as far as the room is concerned."""

    room: RoomRecord
    role: Role | None

    @property
    def writes(self) -> bool:
        return self.role is not None

    @property
    def runs_the_show(self) -> bool:
        return self.role in ("showrunner", "manager")


async def room_here(bot: ShowrunnerBot, interaction: discord.Interaction) -> RoomRecord | None:
    """The room of the interaction's channel; a thread belongs to its parent channel's room."""
    if interaction.channel_id is None:
        return None
    parent = getattr(interaction.channel, "parent_id", None)
    return await bot.rooms.for_channel(interaction.channel_id, parent)


async def member(bot: ShowrunnerBot, interaction: discord.Interaction, room: RoomRecord) -> Member:
    role = await bot.rooms.role(room, interaction.user.id)
    if role is None and interaction.permissions.manage_guild:
        return Member(room, "manager")
    return Member(room, role)


NO_ROOM = (
    "This channel has no writers' room yet. Start one with `/room create`; until then "
    "`/episode` writes one-off episodes."
)


async def room_to_act_in(
    bot: ShowrunnerBot, interaction: discord.Interaction, action: str, *, run: bool = False
) -> RoomRecord | None:
    """The channel's room, after a public defer, if the member may ``action`` there (write
    in it, or with ``run`` run it); otherwise they are told privately why, and ``None``."""
    await interaction.response.defer(thinking=True)
    room = await room_here(bot, interaction)
    if room is None:
        await refuse_after_defer(interaction, NO_ROOM)
        return None
    who = await member(bot, interaction, room)
    if run and not who.runs_the_show:
        await refuse_after_defer(interaction, showrunner_only(room, action))
        return None
    if not who.writes:
        await refuse_after_defer(interaction, writers_only(room, action))
        return None
    return room


def writers_only(room: RoomRecord, action: str) -> str:
    """The refusal for a reader: says who can, and how to become one."""
    return (
        f"Only the writers of **{plain(room.name, 80)}** can {action}. Ask its showrunner, "
        f"{plain(room.showrunner_name, 40)}, to add you with `/room writer add` (members with "
        "Manage Server can too)."
    )


def showrunner_only(room: RoomRecord, action: str) -> str:
    return (
        f"Only {plain(room.showrunner_name, 40)}, the showrunner of **{plain(room.name, 80)}**, "
        f"or a member with Manage Server can {action}."
    )


__all__ = [
    "NO_ROOM",
    "Member",
    "Role",
    "member",
    "room_here",
    "room_to_act_in",
    "showrunner_only",
    "writers_only",
]
