"""Outline review: ``/episode ... review:True`` stops after the outline until the room says go.

The episode waits in storage as ``queued`` with its outline checkpointed (or, once edited, in its
request), so the buttons keep working after a restart: they carry the episode id, and every
press reads the truth from the database. Write it is a compare-and-set (queued to running): two
presses start one episode. An outline left waiting longer than ``review_timeout`` is cancelled
with a message saying so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import TYPE_CHECKING

import discord
from pydantic import ValidationError

from bot.access import member
from bot.status import plain
from bot.views import buttons
from scriptgen.errors import ScriptgenError
from scriptgen.models import EpisodeRequest, Outline
from scriptgen.outline_text import OutlineTextError, parse_outline, scene_blocks
from storage import EpisodeRecord, SqliteCheckpoints

if TYPE_CHECKING:
    from bot.client import ShowrunnerBot

log = logging.getLogger(__name__)

INPUT_LIMIT = 4000
"""Characters one text input of a Discord modal holds."""
SCENE_INPUTS = 3
"""A modal holds five inputs: title, logline, and three for the scenes."""

_Show = Callable[[discord.Embed, discord.ui.View | None], Awaitable[None]]
"""Puts a card on the episode's message (the command's answer, or the message by id)."""


class Reviews:
    def __init__(self, bot: ShowrunnerBot) -> None:
        self.bot = bot
        self._outlining: dict[str, asyncio.Task[None]] = {}
        self._sweeper: asyncio.Task[None] | None = None

    # -- the outline ---------------------------------------------------------------------------

    def begin(self, record: EpisodeRecord, interaction: discord.Interaction) -> None:
        """Write the outline of a new reviewed episode and show it on the command's answer."""

        async def show(embed: discord.Embed, view: discord.ui.View | None) -> None:
            await interaction.edit_original_response(embed=embed, view=view)

        self._write_outline(record, show, fresh=False)

    def _write_outline(
        self,
        record: EpisodeRecord,
        show: _Show,
        *,
        fresh: bool,
    ) -> None:
        async def run() -> None:
            try:
                await show(_writing_card(record), None)
                outline = await self.bot.generator.write_outline(
                    record.request,
                    checkpoints=SqliteCheckpoints(self.bot.db, record.id),
                    tenant=str(record.guild_id),
                    fresh=fresh,
                    label=record.public_id,
                )
                current = await self.bot.episodes.get_by_id(record.id)
                if current is not None and current.status == "queued":
                    await show(*review_card(current, outline))
            except ScriptgenError as exc:
                await self.bot.episodes.fail(record.id, str(exc))
                await self.bot.episodes.mark_status_shown(record.id)
                await self.bot.spending.settle(episode_id=record.id)
                await show(_ended_card(record, f"The outline could not be written: {exc}"), None)
            except discord.HTTPException as exc:
                log.warning("could not show the outline of %s: %s", record.public_id, exc)
            finally:
                self._outlining.pop(record.public_id, None)

        self._outlining[record.public_id] = asyncio.create_task(
            run(), name=f"outline-{record.public_id}"
        )

    async def outline_of(self, record: EpisodeRecord) -> Outline | None:
        """The outline waiting for review: the writers' edit, else the model's."""
        if record.request.outline is not None:
            return record.request.outline
        stored = (await SqliteCheckpoints(self.bot.db, record.id).load()).get("outline")
        return Outline.model_validate_json(stored.payload) if stored else None

    # -- the buttons -------------------------------------------------------------------------

    async def write_it(self, interaction: discord.Interaction, episode_id: str) -> None:
        record = await self._waiting(interaction, episode_id)
        if record is None:
            return
        if await self.outline_of(record) is None:
            await _tell(interaction, "The outline is still being written; one moment.")
            return
        with self.bot.jobs.starting():  # running in storage, not yet a job: not to resume
            if not await self.bot.episodes.start_writing(record.id):
                await _tell(interaction, "Someone pressed Write it just now: it is being written.")
                return
            await interaction.response.defer()
            started = await self.bot.episodes.get_by_id(record.id)
            assert started is not None
            assert interaction.message is not None
            self.bot.jobs.start_on_message(
                started, interaction.message.channel.id, interaction.message.id
            )

    async def edit_outline(self, interaction: discord.Interaction, episode_id: str) -> None:
        record = await self._waiting(interaction, episode_id)
        if record is None:
            return
        outline = await self.outline_of(record)
        if outline is None:
            await _tell(interaction, "The outline is still being written; one moment.")
            return
        groups = pack(scene_blocks(outline))
        if groups is None:
            await _tell(
                interaction,
                "This outline is too long for Discord's form. Press New outline, or start "
                "again with fewer scenes.",
            )
            return
        await interaction.response.send_modal(OutlineModal(self, record, outline, groups))

    async def new_outline(self, interaction: discord.Interaction, episode_id: str) -> None:
        record = await self._waiting(interaction, episode_id)
        if record is None:
            return
        if record.public_id in self._outlining:
            await _tell(interaction, "A new outline is already being written.")
            return
        await interaction.response.defer()
        request = record.request.model_copy(update={"outline": None})
        await self.bot.episodes.set_request(record.id, request)
        record = await self.bot.episodes.get_by_id(record.id) or record
        self._write_outline(record, self._editor(record, interaction.message), fresh=True)

    async def cancel(self, interaction: discord.Interaction, episode_id: str) -> bool:
        """Cancel an outline waiting for review; ``False`` if the episode is not one."""
        if interaction.guild_id is None:
            return False
        record = await self.bot.episodes.get(interaction.guild_id, episode_id)
        if record is None or record.status != "queued":
            return False
        if await self._refusal(interaction, record) is None:
            return True
        by = interaction.user.display_name
        await interaction.response.defer()
        if await self.bot.episodes.cancel(record.id, by):
            task = self._outlining.pop(record.public_id, None)
            if task is not None:
                task.cancel()
            await self._editor(record, interaction.message)(
                _ended_card(record, f"Cancelled by {by}."), None
            )
            await self.bot.episodes.mark_status_shown(record.id)
            await self.bot.spending.settle(episode_id=record.id)
        return True

    # -- start-up and the 24-hour limit --------------------------------------------------------

    async def resume_all(self) -> None:
        """Outlines a restart interrupted are written again (what was checkpointed is kept)."""
        for record in await self.bot.jobs.between_starts(self.bot.episodes.list_in_review):
            if record.public_id in self._outlining or await self.outline_of(record):
                continue
            self._write_outline(record, self._editor(record, None), fresh=False)
        self._sweeper = asyncio.create_task(self._sweep(), name="outline-review-sweeper")

    async def close(self) -> None:
        tasks = [*self._outlining.values(), *([self._sweeper] if self._sweeper else [])]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _sweep(self) -> None:
        settings = self.bot.settings
        while True:
            try:
                await self.expire(timedelta(seconds=settings.review_timeout))
            except Exception:
                log.exception("expiring outline reviews failed; trying again later")
            await asyncio.sleep(settings.review_sweep_interval)

    async def expire(self, after: timedelta) -> list[EpisodeRecord]:
        expired = await self.bot.episodes.expire_reviews(self.bot.db.now() - after)
        hours = after.total_seconds() / 3600
        waited = f"{hours:.0f} hours" if hours >= 1 else f"{after.total_seconds():.0f} seconds"
        for record in expired:
            with contextlib.suppress(discord.HTTPException):
                await self._editor(record, None)(
                    _ended_card(
                        record,
                        f"Cancelled: the outline waited {waited} without a Write it. "
                        "Start again with `/episode`.",
                    ),
                    None,
                )
            await self.bot.episodes.mark_status_shown(record.id)
            await self.bot.spending.settle(episode_id=record.id)
        return expired

    # -- shared ------------------------------------------------------------------------------

    def _editor(self, record: EpisodeRecord, message: discord.Message | None) -> _Show:
        channel_id = message.channel.id if message else record.status_channel_id
        message_id = message.id if message else record.status_message_id

        async def show(embed: discord.Embed, view: discord.ui.View | None) -> None:
            if channel_id is None or message_id is None:
                return
            channel = self.bot.get_partial_messageable(channel_id, guild_id=record.guild_id)
            await channel.get_partial_message(message_id).edit(content=None, embed=embed, view=view)

        return show

    async def _waiting(
        self, interaction: discord.Interaction, episode_id: str
    ) -> EpisodeRecord | None:
        """The episode if its outline waits for review and this member may act on it."""
        assert interaction.guild_id is not None
        record = await self.bot.episodes.get(interaction.guild_id, episode_id)
        if record is None or record.status != "queued":
            state = "gone" if record is None else record.status
            await _tell(interaction, f"This outline is no longer waiting for review ({state}).")
            return None
        return await self._refusal(interaction, record)

    async def _refusal(
        self, interaction: discord.Interaction, record: EpisodeRecord
    ) -> EpisodeRecord | None:
        """``record`` if the member may decide on its outline; else they are told who may."""
        if interaction.user.id == record.author_id or interaction.permissions.manage_guild:
            return record
        if record.room_id is not None:
            room = await self.bot.rooms.get(record.room_id)
            if room is not None and (await member(self.bot, interaction, room)).runs_the_show:
                return record
        await _tell(
            interaction,
            f"Only {plain(record.author_name, 40)}, who asked for this episode, or the room's "
            "showrunner can decide on its outline.",
        )
        return None


class OutlineModal(discord.ui.Modal):
    """The outline as text: title, logline, and the scenes in up to three boxes."""

    def __init__(
        self, reviews: Reviews, record: EpisodeRecord, outline: Outline, groups: list[str]
    ) -> None:
        super().__init__(title="Edit the outline", timeout=30 * 60)
        self.reviews = reviews
        self.record = record
        self.title_input: discord.ui.TextInput[OutlineModal] = discord.ui.TextInput(
            label="Title", default=outline.title, max_length=120, custom_id="title"
        )
        self.logline_input: discord.ui.TextInput[OutlineModal] = discord.ui.TextInput(
            label="Logline",
            default=outline.logline,
            max_length=500,
            style=discord.TextStyle.paragraph,
            custom_id="logline",
        )
        self.add_item(self.title_input)
        self.add_item(self.logline_input)
        self.scene_inputs: list[discord.ui.TextInput[OutlineModal]] = []
        for n, text in enumerate(groups):
            box: discord.ui.TextInput[OutlineModal] = discord.ui.TextInput(
                label="Scenes" if len(groups) == 1 else f"Scenes, part {n + 1}",
                default=text,
                max_length=INPUT_LIMIT,
                style=discord.TextStyle.paragraph,
                required=n == 0,
                custom_id=f"scenes-{n + 1}",
            )
            self.scene_inputs.append(box)
            self.add_item(box)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        text = "\n\n".join(box.value.strip() for box in self.scene_inputs if box.value.strip())
        try:
            outline = parse_outline(self.title_input.value, self.logline_input.value, text)
            request = EpisodeRequest.model_validate(
                {
                    **self.record.request.model_dump(),
                    "outline": outline.model_dump(),
                    "scene_count": len(outline.scenes),
                }
            )
        except OutlineTextError as exc:
            problems = "\n".join(f"• {discord.utils.escape_markdown(p)}" for p in exc.problems)
            await interaction.response.send_message(
                f"The outline was not changed. Fix these and press Edit outline again:\n{problems}"[
                    :2000
                ],
                ephemeral=True,
            )
            return
        except ValidationError as exc:
            await interaction.response.send_message(
                f"The outline was not changed: {exc.errors()[0]['msg']}.", ephemeral=True
            )
            return
        bot = self.reviews.bot
        if not await bot.episodes.set_request(self.record.id, request):
            await _tell(interaction, "This outline is no longer waiting for review.")
            return
        record = await bot.episodes.get_by_id(self.record.id) or self.record
        embed, view = review_card(record, outline, f"Edited by {interaction.user.display_name}.")
        await interaction.response.edit_message(embed=embed, view=view)


def pack(blocks: list[str]) -> list[str] | None:
    """Scene blocks packed in order into at most three boxes of 4,000 characters each, or
    ``None`` when they do not fit."""
    groups: list[str] = []
    for block in blocks:
        if groups and len(groups[-1]) + 2 + len(block) <= INPUT_LIMIT:
            groups[-1] += "\n\n" + block
        elif len(block) <= INPUT_LIMIT:
            groups.append(block)
        else:
            return None
    return groups if len(groups) <= SCENE_INPUTS else None


def review_card(
    record: EpisodeRecord, outline: Outline, detail: str | None = None
) -> tuple[discord.Embed, discord.ui.View]:
    embed = discord.Embed(title=plain(outline.title, 200), colour=discord.Colour.blurple())
    lines = [f"> {plain(record.request.premise, 300)}", "", f"*{plain(outline.logline, 500)}*", ""]
    for n, scene in enumerate(outline.scenes, 1):
        lines.append(f"**{n}. {plain(scene.heading, 80)}** · {plain(scene.beat, 220)}")
    lines += [
        "",
        "**Outline ready for review.** *Write it* starts the scenes; *Edit outline* changes it; "
        "*New outline* asks for another. It waits 24 hours.",
    ]
    if detail:
        lines += ["", plain(detail, 300)]
    embed.description = "\n".join(lines)[:4096]
    embed.set_footer(text=f"Episode {record.public_id} · asked for by {record.author_name[:80]}")
    view = buttons(record.public_id, "write", "edit", "reoutline", "cancel")
    return embed, view


def _writing_card(record: EpisodeRecord) -> discord.Embed:
    embed = discord.Embed(title="Writing an outline for review", colour=discord.Colour.blurple())
    embed.description = f"> {plain(record.request.premise, 300)}\n\n✍️ The outline comes first."
    embed.set_footer(text=f"Episode {record.public_id} · asked for by {record.author_name[:80]}")
    return embed


def _ended_card(record: EpisodeRecord, detail: str) -> discord.Embed:
    embed = discord.Embed(title=plain(record.display_title, 200), colour=discord.Colour.dark_grey())
    embed.description = f"> {plain(record.request.premise, 300)}\n\n{plain(detail, 500)}"
    embed.set_footer(text=f"Episode {record.public_id} · asked for by {record.author_name[:80]}")
    return embed


async def _tell(interaction: discord.Interaction, message: str) -> None:
    """A private answer, whether or not the interaction was answered already."""
    if interaction.response.is_done():
        await interaction.followup.send(message, ephemeral=True)
    else:
        await interaction.response.send_message(message, ephemeral=True)


__all__ = ["OutlineModal", "Reviews", "pack", "review_card"]
