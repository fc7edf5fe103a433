"""/character and /gag: the room's cast and running gags, edited by its writers.

Every edit is checked against the bible's limits before it is saved (the whole bible must stay
within the token budget every prompt carries), and confirmed in the channel so the room sees it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.access import room_here, room_to_act_in
from bot.replies import refuse_after_defer
from bot.status import plain
from scriptgen.bible import BibleError, check_bible
from scriptgen.models import Character, SeriesBible
from storage import DuplicateName, RoomLimitReached

if TYPE_CHECKING:
    from bot.client import ShowrunnerBot

MAX_CHOICES = 25
"""Discord shows at most 25 autocomplete choices."""


class Bible(commands.Cog):
    character = app_commands.Group(
        name="character", description="The room's characters", guild_only=True
    )
    gag = app_commands.Group(name="gag", description="The room's running gags", guild_only=True)

    def __init__(self, bot: ShowrunnerBot) -> None:
        self.bot = bot

    # -- characters --------------------------------------------------------------------------

    @character.command(name="add", description="Add a character to the room's bible")
    @app_commands.describe(
        name="What the room calls them",
        description="Who they are",
        voice="How they talk (optional)",
    )
    async def character_add(
        self,
        interaction: discord.Interaction,
        name: app_commands.Range[str, 1, 60],
        description: app_commands.Range[str, 1, 300],
        voice: app_commands.Range[str, 1, 300] | None = None,
    ) -> None:
        room = await room_to_act_in(self.bot, interaction, "edit its bible")
        if room is None:
            return
        character = Character(
            name=name.strip(), description=description.strip(), voice=(voice or "").strip()
        )
        bible = await self.bot.rooms.bible(room)
        if await self._over_limits(
            interaction, bible.model_copy(update={"characters": [*bible.characters, character]})
        ):
            return
        try:
            await self.bot.rooms.add_character(room.id, character)
        except (DuplicateName, RoomLimitReached) as exc:
            await refuse_after_defer(interaction, str(exc))
            return
        await interaction.followup.send(
            f"🎭 {plain(interaction.user.display_name, 40)} added **{plain(character.name, 60)}** "
            f"to {plain(room.name, 80)}: {plain(character.description, 300)}"
        )

    @character.command(name="edit", description="Change a character of the room's bible")
    @app_commands.describe(
        name="The character to change",
        new_name="A new name (optional)",
        description="A new description (optional)",
        voice="A new voice (optional)",
    )
    async def character_edit(
        self,
        interaction: discord.Interaction,
        name: str,
        new_name: app_commands.Range[str, 1, 60] | None = None,
        description: app_commands.Range[str, 1, 300] | None = None,
        voice: app_commands.Range[str, 1, 300] | None = None,
    ) -> None:
        room = await room_to_act_in(self.bot, interaction, "edit its bible")
        if room is None:
            return
        if new_name is None and description is None and voice is None:
            await refuse_after_defer(
                interaction, "Say what to change: a new name, description or voice."
            )
            return
        bible = await self.bot.rooms.bible(room)
        changes = {
            k: v.strip()
            for k, v in {"name": new_name, "description": description, "voice": voice}.items()
            if v is not None
        }
        edited = [
            c.model_copy(update=changes) if c.name.casefold() == name.strip().casefold() else c
            for c in bible.characters
        ]
        if await self._over_limits(interaction, bible.model_copy(update={"characters": edited})):
            return
        try:
            character = await self.bot.rooms.edit_character(
                room.id, name, new_name=new_name, description=description, voice=voice
            )
        except DuplicateName as exc:
            await refuse_after_defer(interaction, str(exc))
            return
        if character is None:
            await refuse_after_defer(interaction, _no_character(name))
            return
        await interaction.followup.send(
            f"🎭 {plain(interaction.user.display_name, 40)} changed **{plain(character.name, 60)}**"
            f": {', '.join(changes)}."
        )

    @character.command(name="remove", description="Take a character out of the room's bible")
    @app_commands.describe(name="The character to remove")
    async def character_remove(self, interaction: discord.Interaction, name: str) -> None:
        room = await room_to_act_in(self.bot, interaction, "edit its bible")
        if room is None:
            return
        if not await self.bot.rooms.remove_character(room.id, name):
            await refuse_after_defer(interaction, _no_character(name))
            return
        await interaction.followup.send(
            f"🎭 {plain(interaction.user.display_name, 40)} wrote **{plain(name, 60)}** out of "
            f"{plain(room.name, 80)}."
        )

    @character_edit.autocomplete("name")
    @character_remove.autocomplete("name")
    async def character_names(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        room = await room_here(self.bot, interaction)
        if room is None:
            return []
        names = [c.name for c in await self.bot.rooms.characters(room.id)]
        return _choices(names, current)

    # -- running gags ------------------------------------------------------------------------

    @gag.command(name="add", description="Add a running gag to the room's bible")
    @app_commands.describe(text="The gag, e.g. 'Ada never finishes a sentence about her ex'")
    async def gag_add(
        self, interaction: discord.Interaction, text: app_commands.Range[str, 1, 300]
    ) -> None:
        room = await room_to_act_in(self.bot, interaction, "edit its bible")
        if room is None:
            return
        gag = " ".join(text.split())
        bible = await self.bot.rooms.bible(room)
        if await self._over_limits(
            interaction, bible.model_copy(update={"running_gags": [*bible.running_gags, gag]})
        ):
            return
        try:
            await self.bot.rooms.add_gag(room.id, gag)
        except (DuplicateName, RoomLimitReached) as exc:
            await refuse_after_defer(interaction, str(exc))
            return
        await interaction.followup.send(
            f"🔁 {plain(interaction.user.display_name, 40)} added a running gag to "
            f"{plain(room.name, 80)}: {plain(gag, 300)}"
        )

    @gag.command(name="remove", description="Retire a running gag")
    @app_commands.describe(text="The gag to retire")
    async def gag_remove(self, interaction: discord.Interaction, text: str) -> None:
        room = await room_to_act_in(self.bot, interaction, "edit its bible")
        if room is None:
            return
        gag = _resolve(await self.bot.rooms.gags(room.id), text)
        if gag is None or not await self.bot.rooms.remove_gag(room.id, gag):
            await refuse_after_defer(
                interaction,
                f"There is no running gag “{plain(text, 100)}” here; `/room show` lists them.",
            )
            return
        await interaction.followup.send(
            f"🔁 {plain(interaction.user.display_name, 40)} retired a running gag: "
            f"{plain(gag, 300)}"
        )

    @gag_remove.autocomplete("text")
    async def gag_texts(
        self, interaction: discord.Interaction, current: str
    ) -> list[app_commands.Choice[str]]:
        room = await room_here(self.bot, interaction)
        if room is None:
            return []
        return _choices(await self.bot.rooms.gags(room.id), current)

    # -- shared ------------------------------------------------------------------------------

    async def _over_limits(self, interaction: discord.Interaction, bible: SeriesBible) -> bool:
        """Refuses (and says why) an edit that would take the bible past its limits."""
        try:
            check_bible(bible)
        except BibleError as exc:
            await refuse_after_defer(interaction, "Not saved: " + "; ".join(exc.problems) + ".")
            return True
        return False


def _choices(values: list[str], current: str) -> list[app_commands.Choice[str]]:
    """Values containing what was typed, those starting with it first; at most 25."""
    typed = current.strip().casefold()
    hits = [v for v in values if typed in v.casefold()]
    hits.sort(key=lambda v: not v.casefold().startswith(typed))
    # A choice's name and value hold at most 100 characters.
    return [app_commands.Choice(name=v[:100], value=v[:100]) for v in hits[:MAX_CHOICES]]


def _resolve(values: list[str], typed: str) -> str | None:
    """The value a writer meant: an exact match, or the one that starts with a choice that
    autocomplete had to cut to 100 characters."""
    key = " ".join(typed.split()).casefold()
    exact = [v for v in values if v.casefold() == key]
    if exact:
        return exact[0]
    longer = [v for v in values if len(key) >= 100 and v.casefold().startswith(key)]
    return longer[0] if len(longer) == 1 else None


def _no_character(name: str) -> str:
    return f"There is no character “{plain(name, 60)}” in this room; `/room show` lists them."
