"""Episodes being written in this process: start, watch, cancel, deliver.

One task per episode runs the generator; its status message is kept current by a
:class:`StatusReporter`. Storage holds the truth (status, checkpoints, delivery), so what this
module keeps in memory is only what a running task needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field, replace

import discord

from bot.delivery import TooLarge, attachments
from bot.reporter import ChannelTarget, InteractionTarget, StatusContent, StatusReporter
from bot.settings import Settings
from bot.status import Outcome, StatusCard, render_status
from bot.views import CancelButton, PdfButton, view_with
from scriptgen.errors import ScriptgenError
from scriptgen.generator import ScriptGenerator
from scriptgen.models import Script
from scriptgen.progress import EpisodeProgress
from storage import Database, EpisodeRecord, EpisodeStore, SqliteCheckpoints

log = logging.getLogger(__name__)

MANAGE_MESSAGES_HINT = "someone with Manage Messages"


@dataclass
class Job:
    record: EpisodeRecord
    progress: EpisodeProgress
    started: float = field(default_factory=time.monotonic)
    outcome: Outcome = Outcome.RUNNING
    detail: str | None = None
    script: Script | None = None
    cancelled_by: str | None = None
    upload_limit: int = 10 * 1024 * 1024
    """Bytes one attachment may have here; the interaction says, for this user and guild."""
    reporter: StatusReporter | None = None
    task: asyncio.Task[None] | None = None

    def card(self) -> StatusCard:
        return StatusCard(
            episode_id=self.record.public_id,
            author=self.record.author_name,
            premise=self.record.request.premise,
            progress=self.progress,
            elapsed=time.monotonic() - self.started,
            outcome=self.outcome,
            detail=self.detail,
            script=self.script,
        )

    def status(self) -> StatusContent:
        running = self.outcome is Outcome.RUNNING
        view = view_with(CancelButton(self.record.public_id)) if running else None
        return StatusContent(render_status(self.card()), view)


class EpisodeJobs:
    def __init__(
        self,
        client: discord.Client,
        settings: Settings,
        generator: ScriptGenerator,
        db: Database,
        episodes: EpisodeStore,
    ) -> None:
        self.client = client
        self.settings = settings
        self.generator = generator
        self.db = db
        self.episodes = episodes
        self.running: dict[str, Job] = {}

    # -- limits checked before any I/O, so refusals can be ephemeral ----------------------------

    def refusal(self, guild_id: int, author_id: int) -> str | None:
        mine = [j for j in self.running.values() if j.record.guild_id == guild_id]
        if any(j.record.author_id == author_id for j in mine):
            return (
                "You already have an episode being written here. Wait for it to finish, or press "
                "its Cancel button, then start the next one."
            )
        if len(mine) >= self.settings.max_episodes_per_guild:
            return (
                f"This server already has {len(mine)} episodes being written (the limit is "
                f"{self.settings.max_episodes_per_guild}). Try again when one finishes."
            )
        return None

    # -- running -----------------------------------------------------------------------------

    def start(
        self, record: EpisodeRecord, interaction: discord.Interaction, received: float
    ) -> Job:
        progress = EpisodeProgress(record.request.scene_count, self.generator.max_refinements)
        job = Job(record, progress, upload_limit=interaction.filesize_limit)
        target = InteractionTarget(interaction, self.settings.interaction_ttl, received)
        job.reporter = self._reporter(job, target)
        job.task = asyncio.create_task(self._run(job), name=f"episode-{record.public_id}")
        self.running[record.public_id] = job
        return job

    def _reporter(self, job: Job, target: InteractionTarget | ChannelTarget) -> StatusReporter:
        channel = self.client.get_partial_messageable(
            job.record.channel_id, guild_id=job.record.guild_id
        )

        async def move(content: StatusContent) -> ChannelTarget:
            message = await channel.send(
                embed=content.embed, view=content.view or discord.utils.MISSING
            )
            if isinstance(target, InteractionTarget):
                # Best effort: the new status is what matters if the token is already gone.
                with contextlib.suppress(discord.HTTPException):
                    await target.interaction.edit_original_response(
                        content="The status moved to a new message below: Discord ends "
                        "interaction messages' edits after 15 minutes.",
                        embed=None,
                        view=None,
                    )
            return ChannelTarget(channel, message.id)

        async def moved(new: ChannelTarget) -> None:
            assert new.message_id is not None
            record = job.record
            await self.episodes.set_status_message(record.id, record.channel_id, new.message_id)

        return StatusReporter(
            job.status,
            target,
            interval=self.settings.status_interval,
            move=move,
            on_moved=moved,
        )

    async def _run(self, job: Job) -> None:
        assert job.reporter is not None
        reporter, record = job.reporter, job.record
        reporter.start()

        async def on_progress(status: str, current: int, total: int) -> None:
            reporter.update()
            if job.progress.title and job.record.title is None:
                job.record = _with_title(job.record, job.progress.title)
                await self.episodes.set_title(job.record.id, job.progress.title)

        try:
            script = await self.generator.generate_full_script(
                record.request,
                on_progress,
                progress=job.progress,
                checkpoints=SqliteCheckpoints(self.db, record.id),
                tenant=str(record.guild_id),
            )
        except asyncio.CancelledError:
            if job.cancelled_by is None:
                raise
            # A writer's Cancel is an outcome to report, not a reason to stop reporting it.
            current = asyncio.current_task()
            if current is not None:
                current.uncancel()
            job.outcome, job.detail = Outcome.CANCELLED, f"Cancelled by {job.cancelled_by}."
        except ScriptgenError as exc:
            await self.episodes.fail(record.id, str(exc))
            job.outcome, job.detail = Outcome.FAILED, str(exc)
        except Exception:
            log.exception("episode %s failed unexpectedly", record.public_id)
            message = "Something went wrong on our side; it has been logged."
            await self.episodes.fail(record.id, message)
            job.outcome, job.detail = Outcome.FAILED, message
        else:
            await self._complete(job, script)
        finally:
            self.running.pop(record.public_id, None)
            await reporter.finish()
            if reporter.target.message_id is not None:
                await self.episodes.set_status_message(
                    record.id, record.channel_id, reporter.target.message_id
                )

    async def _complete(self, job: Job, script: Script) -> None:
        record = job.record
        if not await self.episodes.finish(record.id, script):
            job.outcome, job.detail = Outcome.CANCELLED, "Cancelled just before the end."
            return
        job.outcome, job.script = Outcome.DONE, script
        try:
            message = await self.deliver(record, script, job.upload_limit)
        except (TooLarge, discord.HTTPException) as exc:
            log.warning("delivery of %s failed: %s", record.public_id, exc)
            job.detail = (
                f"The script could not be posted here ({exc}). "
                f"`/episode-get {record.public_id}` tries again."
            )
        else:
            job.detail = f"📜 Script posted: {message.jump_url}"

    async def deliver(
        self, record: EpisodeRecord, script: Script, upload_limit: int
    ) -> discord.Message:
        """Post the script once: the nonce makes a repeated post return the first message."""
        channel = self.client.get_partial_messageable(record.channel_id, guild_id=record.guild_id)
        files = await attachments(script, "fountain", upload_limit)
        message = await channel.send(
            content=f"📜 **{discord.utils.escape_markdown(script.title)}** · "
            f"{len(script.scenes)} scenes · episode `{record.public_id}`",
            files=[f.file() for f in files],
            view=view_with(PdfButton(record.public_id)),
            nonce=f"sr-{record.public_id}",
        )
        await self.episodes.mark_delivered(record.id, message.id)
        return message

    # -- buttons -----------------------------------------------------------------------------

    async def cancel_from_button(self, interaction: discord.Interaction, episode_id: str) -> None:
        job = self.running.get(episode_id)
        guild_id = interaction.guild_id
        if job is None or job.record.guild_id != guild_id:
            await interaction.response.send_message(
                "This episode is not being written any more.", ephemeral=True
            )
            return
        user = interaction.user
        may = user.id == job.record.author_id or (
            isinstance(user, discord.Member) and interaction.permissions.manage_messages
        )
        if not may:
            await interaction.response.send_message(
                f"Only {discord.utils.escape_markdown(job.record.author_name)} or "
                f"{MANAGE_MESSAGES_HINT} can cancel this episode.",
                ephemeral=True,
            )
            return
        await interaction.response.defer()
        await self.cancel(job, user.display_name)

    async def cancel(self, job: Job, by: str) -> None:
        if job.task is None or job.task.done() or job.cancelled_by is not None:
            return
        if await self.episodes.cancel(job.record.id, by):
            job.cancelled_by = by
            job.task.cancel()

    async def send_pdf(self, interaction: discord.Interaction, episode_id: str) -> None:
        if interaction.guild_id is None:
            return
        await interaction.response.defer(thinking=True)
        record = await self.episodes.get(interaction.guild_id, episode_id)
        if record is None or record.script is None:
            await interaction.followup.send("That episode has no finished script.")
            return
        try:
            files = await attachments(record.script, "pdf", interaction.filesize_limit)
        except TooLarge as exc:
            await interaction.followup.send(str(exc))
            return
        await interaction.followup.send(files=[f.file() for f in files])

    # -- shutting down -------------------------------------------------------------------------

    async def wait_idle(self) -> None:
        tasks = [j.task for j in self.running.values() if j.task is not None]
        await asyncio.gather(*tasks, return_exceptions=True)


def _with_title(record: EpisodeRecord, title: str) -> EpisodeRecord:
    return replace(record, title=title)
