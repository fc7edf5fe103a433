"""Rewrites being written in this process: a writer's note on one scene becomes a revision.

A rewrite is a durable job like an episode: its steps are checkpointed (in the episode's own
ledger, under the rewrite's key prefix), a restart resumes it, and its revision is posted exactly
once. With one take the new scene becomes the next revision at once; with two or three, the takes
are posted side by side and the room's vote (or the showrunner's pick) decides.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import partial
from typing import TYPE_CHECKING

import discord

from bot.delivery import DEFAULT_UPLOAD_LIMIT, Attachment, TooLarge, deliver, find_delivery
from bot.outcomes import finish_or_report
from bot.reporter import (
    ChannelTarget,
    InteractionTarget,
    StatusContent,
    StatusReporter,
    moving_reporter,
)
from bot.rewrite_cards import RewriteCard, ballot_embeds, ballot_summary, render_rewrite
from bot.status import Outcome, plain
from bot.views import ballot_buttons, buttons, rewrite_buttons
from scriptgen.errors import ScriptgenError
from scriptgen.models import Scene
from scriptgen.progress import RewriteProgress, SceneState
from scriptgen.render import render
from storage import (
    EpisodeRecord,
    RewriteRecord,
    SqliteCheckpoints,
)

if TYPE_CHECKING:
    from bot.client import ShowrunnerBot

log = logging.getLogger(__name__)


@dataclass
class RewriteJob:
    record: RewriteRecord
    episode: EpisodeRecord
    heading: str
    progress: RewriteProgress
    started: float = field(default_factory=time.monotonic)
    outcome: Outcome = Outcome.RUNNING
    detail: str | None = None
    cancelled_by: str | None = None
    pausing: bool = False
    reporter: StatusReporter | None = None
    task: asyncio.Task[None] | None = None

    def card(self) -> RewriteCard:
        return RewriteCard(
            rewrite_id=self.record.public_id,
            episode_id=self.episode.public_id,
            title=self.episode.display_title,
            heading=self.heading,
            note=self.record.note,
            author=self.record.author_name,
            progress=self.progress,
            elapsed=time.monotonic() - self.started,
            outcome=self.outcome,
            detail=self.detail,
        )

    def status(self) -> StatusContent:
        running = self.outcome is Outcome.RUNNING
        view = rewrite_buttons(self.record.public_id) if running else None
        return StatusContent(render_rewrite(self.card()), view)


class RewriteJobs:
    def __init__(self, bot: ShowrunnerBot) -> None:
        self.client: discord.Client = bot
        self.settings, self.generator, self.db = bot.settings, bot.generator, bot.db
        self.episodes, self.rewrites = bot.episodes, bot.rewrites
        self.rooms, self.spending = bot.rooms, bot.spending
        self.starts = bot.jobs
        """Where starts are bracketed: rewrites resume only between them."""
        self.status_edits = bot.status_edits
        self.temporal = bot.temporal
        self.running: dict[str, RewriteJob] = {}
        self._adopting: dict[int, asyncio.Task[None]] = {}
        """Rewrites whose winning take is being made a revision, by rewrite id."""

    # -- starting ------------------------------------------------------------------------------

    def start(
        self,
        record: RewriteRecord,
        episode: EpisodeRecord,
        heading: str,
        interaction: discord.Interaction,
        received: float,
    ) -> RewriteJob:
        job = self._job(record, episode, heading)
        target = InteractionTarget(interaction, self.settings.interaction_ttl, received)
        self._launch(job, target)
        return job

    async def resume_all(self) -> None:
        """At start-up: post revisions made but never posted, ballots never posted, final
        statuses never shown, and resume the rewrites that were being written."""
        for record in await self.rewrites.list_undelivered():
            with _logged(f"posting {record.public_id} after a restart"):
                await self._deliver_revision(record, look=True)
        for record in await self.rewrites.list_voting():
            if record.ballot_message_id is None and record.chosen_take is None:
                with _logged(f"posting the ballot of {record.public_id}"):
                    await self._post_ballot(record)
            else:
                await self._count_again(record)
        for record in await self.rewrites.list_status_stale():
            with _logged(f"showing how {record.public_id} ended"):
                await self._show_ending(record)
        for record in await self.starts.between_starts(self.rewrites.list_unfinished):
            if record.public_id in self.running:
                continue
            with _logged(f"resuming {record.public_id}"):
                await self.resume(record)

    async def resume(self, record: RewriteRecord) -> RewriteJob | None:
        episode = await self.episodes.get_by_id(record.episode_id)
        if episode is None:
            await self.rewrites.fail(record.id, "Its episode was deleted.")
            return None
        base = await self.rewrites.latest_revision(episode)
        job = self._job(record, episode, base.script.scenes[record.scene - 1].heading)
        job.detail = "Resumed after a restart: nothing written is written again."
        channel = self._channel(record.channel_id, record.guild_id)
        status = job.status()
        message = await channel.send(embed=status.embed, view=status.view or discord.utils.MISSING)
        if record.status_message_id is not None:
            old = self._channel(record.status_channel_id or record.channel_id, record.guild_id)
            with contextlib.suppress(discord.HTTPException):
                await old.get_partial_message(record.status_message_id).edit(
                    content=f"Resumed after a restart: {message.jump_url}", embed=None, view=None
                )
        await self.rewrites.set_status_message(record.id, channel.id, message.id)
        self._launch(job, ChannelTarget(channel, message.id))
        return job

    def _job(self, record: RewriteRecord, episode: EpisodeRecord, heading: str) -> RewriteJob:
        progress = RewriteProgress(record.scene, [SceneState.WAITING] * record.takes)
        return RewriteJob(record, episode, heading, progress)

    def _launch(self, job: RewriteJob, target: InteractionTarget | ChannelTarget) -> None:
        async def remember(channel_id: int, message_id: int) -> None:
            await self.rewrites.set_status_message(job.record.id, channel_id, message_id)

        job.reporter = moving_reporter(
            job.status,
            target,
            self._channel(job.record.channel_id, job.record.guild_id),
            interval=self.settings.status_interval,
            remember=remember,
            tally=self.status_edits,
        )
        job.task = asyncio.create_task(self._run(job), name=f"rewrite-{job.record.public_id}")
        self.running[job.record.public_id] = job

    def _channel(self, channel_id: int, guild_id: int) -> discord.PartialMessageable:
        return self.client.get_partial_messageable(channel_id, guild_id=guild_id)

    # -- running -------------------------------------------------------------------------------

    async def _run(self, job: RewriteJob) -> None:
        assert job.reporter is not None
        reporter, record = job.reporter, job.record
        reporter.start()
        try:
            takes = await finish_or_report(
                self._write(
                    record, job.episode, job.progress, reporter.update, lambda: not job.pausing
                ),
                job,
                partial(self.rewrites.fail, record.id),
                f"rewrite {record.public_id}",
            )
            if takes is not None:
                await self._conclude(job, takes)
        finally:
            self.running.pop(record.public_id, None)
            await reporter.finish()
            if job.outcome is not Outcome.PAUSED:
                await self.rewrites.mark_status_shown(record.id)
                await self.spending.settle(rewrite_id=record.id)

    async def _conclude(self, job: RewriteJob, takes: list[Scene]) -> None:
        """One take becomes the revision at once; several go to the room's vote."""
        record = job.record
        if record.takes == 1:
            job.outcome, job.detail = await self._adopt(record, takes[0], None, None)
        elif await self.rewrites.to_voting(record.id):
            job.outcome, job.detail = Outcome.VOTING, None
            with _logged(f"posting the ballot of {record.public_id}"):
                ballot = await self._post_ballot(record, takes)
                job.detail = f"🗳️ Vote here: {ballot.jump_url}"
        else:
            job.outcome, job.detail = Outcome.CANCELLED, "Cancelled just before the end."

    async def _write(
        self,
        record: RewriteRecord,
        episode: EpisodeRecord,
        progress: RewriteProgress | None = None,
        on_progress: Callable[[], None] | None = None,
        cancels: Callable[[], bool] = lambda: False,
    ) -> list[Scene]:
        """The takes: from the checkpoints where written, from the model where not.

        On Temporal, from the rewrite's workflow (its takes are in its history once written).
        ``cancels()``: whether this call's cancellation cancels the workflow (a writer's
        Cancel); a stop for a restart, or a read of takes written already, leaves it be."""
        base = await self.rewrites.latest_revision(episode)
        prefix = f"rw{record.id}:"
        callback = (lambda *_: on_progress()) if on_progress else None
        if self.temporal is None:
            written = await self.generator.rewrite_scene(
                base.script,
                record.scene - 1,
                record.note,
                takes=record.takes,
                checkpoints=SqliteCheckpoints(self.db, episode.id, prefix=prefix),
                tenant=str(record.guild_id),
                progress=progress,
                progress_callback=callback,
                label=episode.public_id,
            )
            return [take.scene for take in written]
        from scriptgen.temporal import RewriteInput, StepOptions, follow_rewrite

        rewrite = RewriteInput(
            episode_id=episode.id,
            tenant=str(record.guild_id),
            max_parallel_scenes=self.generator.max_parallel_scenes,
            steps=StepOptions(heartbeat_timeout_s=self.settings.temporal_heartbeat_timeout),
            prefix=prefix,
            script=base.script,
            index=record.scene - 1,
            note=record.note,
            takes=record.takes,
        )
        written = await follow_rewrite(
            self.temporal,
            rewrite,
            record.public_id,
            task_queue=self.settings.temporal_task_queue,
            progress=progress,
            callback=callback,
            poll_every=self.settings.status_interval,
            cancels=cancels,
        )
        return [take.scene for take in written]

    # -- making the revision -------------------------------------------------------------------

    async def _adopt(
        self, record: RewriteRecord, scene: Scene, take: int | None, chosen_by: str | None
    ) -> tuple[Outcome, str]:
        """Make ``scene`` the next revision (on top of the newest one: a note on another scene
        that landed meanwhile is kept) and post it."""
        episode = await self.episodes.get_by_id(record.episode_id)
        assert episode is not None
        latest = await self.rewrites.latest_revision(episode)
        script = latest.script.replace_scene(record.scene - 1, scene)
        number = await self.rewrites.complete(
            record.id, script, chosen_take=take, chosen_by=chosen_by
        )
        if number is None:
            return Outcome.CANCELLED, "Cancelled just before the end."
        done = await self.rewrites.get_by_id(record.id)
        assert done is not None
        try:
            message = await self._deliver_revision(done)
        except (TooLarge, discord.HTTPException) as exc:
            log.warning("delivery of %s failed: %s", record.public_id, exc)
            return Outcome.DONE, (
                f"Revision v{number} is saved but could not be posted here: {exc} "
                f"`/episode-get {episode.public_id} revision:{number}` posts it."
            )
        return Outcome.DONE, f"📜 v{number} posted: {message.jump_url}"

    async def choose(self, record: RewriteRecord, take: int, chosen_by: str | None) -> None:
        """The room chose ``take`` (a majority, or the showrunner's pick): make it the next
        revision on a task of its own, once, however often it is asked."""
        if record.id in self._adopting:
            return

        async def adopt() -> None:
            try:
                episode = await self.episodes.get_by_id(record.episode_id)
                assert episode is not None
                scenes = await self._write(record, episode)
                _, detail = await self._adopt(record, scenes[take - 1], take, chosen_by)
                ended = await self.rewrites.get_by_id(record.id)
                if ended is not None:
                    await self._show_ending(ended, detail)
            except Exception:
                log.exception("making take %d of %s a revision failed", take, record.public_id)
            finally:
                self._adopting.pop(record.id, None)

        self._adopting[record.id] = asyncio.create_task(adopt(), name=f"adopt-{record.public_id}")

    async def _deliver_revision(
        self, record: RewriteRecord, *, look: bool = False
    ) -> discord.Message:
        """Post the revision a rewrite made, exactly once (see ``EpisodeJobs._deliver_once``)."""
        assert record.revision is not None
        episode = await self.episodes.get_by_id(record.episode_id)
        assert episode is not None
        revision = await self.rewrites.get_revision(episode, record.revision)
        assert revision is not None
        channel = self._channel(record.channel_id, record.guild_id)
        me = self.client.user
        found = (
            await find_delivery(channel, record.public_id, record.created_at, me) if look else None
        )
        message = found or await deliver(
            channel,
            revision.script,
            DEFAULT_UPLOAD_LIMIT,
            buttons(episode.public_id, "pdf", revision=revision.number),
            headline=revision_headline(episode, record, revision.number),
            nonce=f"sr-{record.public_id}",
            suffix=f" v{revision.number}",
        )
        await self.rewrites.mark_delivered(record.id, message.id)
        return message

    # -- the ballot ----------------------------------------------------------------------------

    async def _post_ballot(
        self, record: RewriteRecord, takes: list[Scene] | None = None
    ) -> discord.Message:
        episode = await self.episodes.get_by_id(record.episode_id)
        assert episode is not None
        if takes is None:
            takes = await self._write(record, episode)
        electorate = await self.electorate(episode)
        tally = await self.rewrites.tally(record.id)
        files = await self._take_files(record, episode, takes)
        channel = self._channel(record.channel_id, record.guild_id)
        message = await channel.send(
            content=ballot_summary(record, episode, tally, electorate),
            embeds=ballot_embeds(takes, tally),
            files=[f.file() for f in files],
            view=ballot_buttons(record.public_id, len(takes)),
            nonce=f"sr-{record.public_id}-ballot",
        )
        await self.rewrites.set_ballot_message(record.id, message.id)
        return message

    async def _take_files(
        self, record: RewriteRecord, episode: EpisodeRecord, takes: list[Scene]
    ) -> list[Attachment]:
        """Each take as a Fountain file of its one scene, to read in full."""
        base = await self.rewrites.latest_revision(episode)
        files = []
        for n, scene in enumerate(takes, 1):
            data = await render(base.script.model_copy(update={"scenes": [scene]}), "fountain")
            files.append(Attachment(f"Scene {record.scene} take {n}.fountain", data))
        return files

    async def _count_again(self, record: RewriteRecord) -> None:
        """The deciding vote's (or the pick's) press took the ballot's buttons away, then the
        process died before the winner became a revision: nobody could vote again, so it is
        made now."""
        if record.chosen_take is not None:
            await self.choose(record, record.chosen_take, record.chosen_by)
            return
        episode = await self.episodes.get_by_id(record.episode_id)
        if episode is None:
            return
        winner = majority(await self.rewrites.tally(record.id), await self.electorate(episode))
        if winner is not None:
            await self.choose(record, winner, None)

    async def electorate(self, episode: EpisodeRecord) -> int:
        """How many may vote: the room's showrunner and writers (or the episode's author)."""
        if episode.room_id is None:
            return 1
        return 1 + len(await self.rooms.writers(episode.room_id))

    # -- stopping ------------------------------------------------------------------------------

    async def cancel(self, job: RewriteJob, by: str) -> None:
        if job.task is None or job.task.done() or job.cancelled_by is not None:
            return
        if await self.rewrites.cancel(job.record.id, by):
            job.cancelled_by = by
            job.task.cancel()

    async def pause_all(self) -> None:
        """Called once the limiter has drained (see ``EpisodeJobs.pause_all``)."""
        jobs = list(self.running.values())
        for job in jobs:
            job.pausing = True
            if job.task is not None:
                job.task.cancel()
        tasks = [j.task for j in jobs if j.task] + list(self._adopting.values())
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _show_ending(self, record: RewriteRecord, detail: str | None = None) -> None:
        episode = await self.episodes.get_by_id(record.episode_id)
        if episode is not None and record.status_message_id is not None:
            base = await self.rewrites.latest_revision(episode)
            job = self._job(record, episode, base.script.scenes[record.scene - 1].heading)
            job.outcome = {
                "done": Outcome.DONE,
                "cancelled": Outcome.CANCELLED,
                "voting": Outcome.VOTING,
            }.get(record.status, Outcome.FAILED)
            job.detail = detail or record.error
            if record.cancelled_by and not job.detail:
                job.detail = f"Cancelled by {record.cancelled_by}."
            channel = self._channel(record.status_channel_id or record.channel_id, record.guild_id)
            with contextlib.suppress(discord.HTTPException):
                await channel.get_partial_message(record.status_message_id).edit(
                    content=None, embed=job.status().embed, view=None
                )
        await self.rewrites.mark_status_shown(record.id)


def majority(tally: dict[int, int], electorate: int) -> int | None:
    """The take more than half of those who may vote voted for, if there is one."""
    return next((take for take, votes in tally.items() if votes > electorate / 2), None)


def revision_headline(episode: EpisodeRecord, record: RewriteRecord, number: int) -> str:
    """The one line that says what changed."""
    title = discord.utils.escape_markdown(episode.display_title)
    take = f" (take {record.chosen_take})" if record.chosen_take else ""
    return (
        f"📜 **{title}** v{number} · scene {record.scene} rewritten{take} from "
        f"{plain(record.author_name, 40)}'s note: “{plain(record.note, 300)}” · "
        f"`{record.public_id}` of `{episode.public_id}`"
    )


@contextlib.contextmanager
def _logged(what: str) -> Iterator[None]:
    """A start-up chore that fails is logged, and the next start tries again."""
    try:
        yield
    except (TooLarge, discord.HTTPException, ScriptgenError) as exc:
        log.warning("%s failed (%s); the next start tries again", what, exc)


__all__ = ["RewriteJob", "RewriteJobs", "majority", "revision_headline"]
