"""/room: create a channel's writers' room, show, export and import its bible, manage writers."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.access import NO_ROOM, room_here, room_to_act_in
from bot.replies import refuse_after_defer
from bot.room_cards import bible_embed
from bot.status import plain
from scriptgen.bible import (
    MAX_BIBLE_FILE_BYTES,
    BibleError,
    bible_markdown,
    check_bible,
    dump_bible,
    parse_bible,
)
from scriptgen.render import safe_stem
from storage import RoomExists

if TYPE_CHECKING:
    from bot.client import ShowrunnerBot


class Rooms(commands.Cog):
    room = app_commands.Group(
        name="room", description="This channel's writers' room", guild_only=True
    )
    writer = app_commands.Group(name="writer", description="The room's writers", parent=room)

    def __init__(self, bot: ShowrunnerBot) -> None:
        self.bot = bot

    @room.command(name="create", description="Make this channel a writers' room; you run it")
    @app_commands.describe(
        name="The show's title",
        logline="The show in one sentence",
        tone="The comic tone (optional)",
        setting="Where the show happens (optional)",
    )
    async def create(
        self,
        interaction: discord.Interaction,
        name: app_commands.Range[str, 1, 120],
        logline: app_commands.Range[str, 1, 500],
        tone: app_commands.Range[str, 1, 200] | None = None,
        setting: app_commands.Range[str, 1, 1000] | None = None,
    ) -> None:
        assert interaction.guild_id is not None
        assert interaction.channel_id is not None
        await interaction.response.defer(thinking=True)
        if not name.strip() or not logline.strip():
            await refuse_after_defer(interaction, "A room needs a name and a logline.")
            return
        existing = await room_here(self.bot, interaction)
        if existing is not None:
            await refuse_after_defer(
                interaction,
                f"This channel already belongs to the room **{plain(existing.name, 80)}** "
                f"(showrunner: {plain(existing.showrunner_name, 40)}). `/room show` shows it.",
            )
            return
        try:
            room = await self.bot.rooms.create(
                guild_id=interaction.guild_id,
                channel_id=interaction.channel_id,
                name=name.strip(),
                logline=logline.strip(),
                tone=(tone or "").strip(),
                setting=(setting or "").strip(),
                showrunner_id=interaction.user.id,
                showrunner_name=interaction.user.display_name,
            )
        except RoomExists as exc:
            await refuse_after_defer(interaction, str(exc))
            return
        await interaction.followup.send(
            f"🎬 **{plain(room.name, 120)}** is open. {plain(interaction.user.display_name, 40)} "
            "is its showrunner. Next: `/room writer add` your writers, `/character add` the "
            "cast, `/gag add` running gags, then `/episode`."
        )

    @room.command(name="show", description="The room's series bible")
    async def show(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        room = await room_here(self.bot, interaction)
        if room is None:
            await refuse_after_defer(interaction, NO_ROOM)
            return
        rooms = self.bot.rooms
        bible = await rooms.bible(room)
        writers = await rooms.writers(room.id)
        summaries = await rooms.recent_summaries(room.id, limit=10)
        embed = bible_embed(room, bible, writers, summaries)
        if embed is not None:
            await interaction.followup.send(embed=embed)
            return
        text = bible_markdown(bible).encode()
        await interaction.followup.send(
            f"The bible of **{plain(room.name, 120)}** is too long for a card: here it is whole.",
            file=discord.File(io.BytesIO(text), filename=f"{safe_stem(room.name)} bible.md"),
        )

    @room.command(name="export", description="The room's bible as a YAML file to edit")
    async def export(self, interaction: discord.Interaction) -> None:
        await interaction.response.defer(thinking=True)
        room = await room_here(self.bot, interaction)
        if room is None:
            await refuse_after_defer(interaction, NO_ROOM)
            return
        data = dump_bible(await self.bot.rooms.bible(room)).encode()
        await interaction.followup.send(
            f"The bible of **{plain(room.name, 120)}**. Edit it and load it back with "
            "`/room import`.",
            file=discord.File(io.BytesIO(data), filename=f"{safe_stem(room.name)}.yaml"),
        )

    @room.command(name="import", description="Replace the room's bible with a YAML or JSON file")
    @app_commands.describe(file="A bible file, as /room export writes it")
    async def import_(self, interaction: discord.Interaction, file: discord.Attachment) -> None:
        room = await room_to_act_in(self.bot, interaction, "replace its bible")
        if room is None:
            return
        if file.size > MAX_BIBLE_FILE_BYTES:
            await refuse_after_defer(
                interaction,
                f"`{plain(file.filename, 80)}` is {file.size:,} bytes; a bible file may have "
                f"{MAX_BIBLE_FILE_BYTES:,}. Nothing was changed.",
            )
            return
        try:
            bible = parse_bible(await file.read(), file.filename)
            check_bible(bible)
        except discord.HTTPException:
            await refuse_after_defer(
                interaction, "Discord would not hand over that file; try attaching it again."
            )
            return
        except BibleError as exc:
            await refuse_after_defer(interaction, _problems(file.filename, exc.problems))
            return
        room = await self.bot.rooms.replace_bible(room.id, bible)
        await interaction.followup.send(
            f"📖 {plain(interaction.user.display_name, 40)} loaded a new bible into "
            f"**{plain(room.name, 120)}**: {len(bible.characters)} characters, "
            f"{len(bible.running_gags)} running gags. `/room show` shows it."
        )

    @writer.command(name="add", description="Make a member a writer of this room")
    @app_commands.describe(user="The member to add")
    async def writer_add(self, interaction: discord.Interaction, user: discord.Member) -> None:
        room = await room_to_act_in(self.bot, interaction, "add writers", run=True)
        if room is None:
            return
        if user.bot:
            await refuse_after_defer(interaction, "Bots don't join writers' rooms.")
            return
        if user.id == room.showrunner_id:
            await refuse_after_defer(
                interaction, f"{plain(user.display_name, 40)} runs this room already."
            )
            return
        added = await self.bot.rooms.add_writer(
            room.id, user.id, user.display_name, interaction.user.id
        )
        if not added:
            await refuse_after_defer(
                interaction, f"{plain(user.display_name, 40)} is a writer here already."
            )
            return
        await interaction.followup.send(
            f"✍️ {plain(user.display_name, 40)} joined the writers of **{plain(room.name, 120)}**."
        )

    @writer.command(name="remove", description="Take a member off this room's writers")
    @app_commands.describe(user="The writer to remove")
    async def writer_remove(self, interaction: discord.Interaction, user: discord.Member) -> None:
        room = await room_to_act_in(self.bot, interaction, "remove writers", run=True)
        if room is None:
            return
        if not await self.bot.rooms.remove_writer(room.id, user.id):
            await refuse_after_defer(
                interaction, f"{plain(user.display_name, 40)} is not a writer here."
            )
            return
        await interaction.followup.send(
            f"{plain(user.display_name, 40)} is no longer a writer of **{plain(room.name, 120)}**."
        )


def _problems(filename: str, problems: list[str]) -> str:
    """Every problem, by field, within one message; nothing was changed."""
    head = f"`{plain(filename, 80)}` was not loaded; nothing was changed. Fix these and try again:"
    lines: list[str] = []
    size = len(head)
    for problem in problems:
        line = f"\n• {discord.utils.escape_markdown(problem)}"
        if size + len(line) > 1900:
            lines.append(f"\n…and {len(problems) - len(lines)} more.")
            break
        lines.append(line)
        size += len(line)
    return head + "".join(lines)
