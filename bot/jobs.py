"""Episodes being written in this process: start, resume, cancel, pause, deliver.

One task per episode runs the generator; its status message is kept current by a
:class:`StatusReporter`. Storage holds the truth (status, checkpoints, delivery): a restarted
process finds the unfinished episodes there and resumes them from their checkpoints.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from functools import partial
from typing import TYPE_CHECKING, TypeVar

import discord

from bot.delivery import DEFAULT_UPLOAD_LIMIT, TooLarge, deliver, find_delivery, headline
from bot.outcomes import finish_or_report
from bot.reporter import (
    ChannelTarget,
    InteractionTarget,
    StatusContent,
    StatusReporter,
    moving_reporter,
)
from bot.status import Outcome, StatusCard, render_status
from bot.views import buttons
from scriptgen.continuity import summarize
from scriptgen.models import Script, UsageTotals
from scriptgen.pricing import estimate_cost
from scriptgen.progress import EpisodeProgress, ProgressCallback
from storage import (
    EpisodeRecord,
    SqliteCheckpoints,
    StorageError,
)

if TYPE_CHECKING:
    from bot.client import ShowrunnerBot

log = logging.getLogger(__name__)
_T = TypeVar("_T")


@dataclass
class Job:
    record: EpisodeRecord
    progress: EpisodeProgress
    started: float = field(default_factory=time.monotonic)
    outcome: Outcome = Outcome.RUNNING
    detail: str | None = None
    script: Script | None = None
    cancelled_by: str | None = None
    pausing: bool = False
    ended: bool = False
    """The episode is finished in storage: only its delivery and final status edit remain, so
    it no longer holds its writer's or its server's place."""
    upload_limit: int = DEFAULT_UPLOAD_LIMIT
    """Bytes one attachment may have; the interaction says, for this user and guild."""
    reporter: StatusReporter | None = None
    task: asyncio.Task[None] | None = None
    previously: tuple[str, ...] = ()
    """Titles of the room's earlier episodes the prompts recall (continuity)."""
    estimate: float | None = None
    """The most this episode should cost (what its start reserved), in dollars."""

    def status(self) -> StatusContent:
        card = StatusCard(
            episode_id=self.record.public_id,
            author=self.record.author_name,
            premise=self.record.request.premise,
            progress=self.progress,
            elapsed=time.monotonic() - self.started,
            outcome=self.outcome,
            detail=self.detail,
            script=self.script,
            previously=self.previously or _recalled(self.record),
            estimate=self.estimate,
            spent=estimate_cost(self.record.model, UsageTotals.of(self.progress.usage)),
        )
        running = self.outcome is Outcome.RUNNING
        view = buttons(self.record.public_id, "cancel") if running else None
        return StatusContent(render_status(card), view)


class EpisodeJobs:
    def __init__(self, bot: ShowrunnerBot) -> None:
        self.client: discord.Client = bot
        self.settings, self.generator, self.db = bot.settings, bot.generator, bot.db
        self.episodes, self.rooms, self.spending = bot.episodes, bot.rooms, bot.spending
        self.status_edits = bot.status_edits
        self.temporal = bot.temporal
        self.running: dict[str, Job] = {}
        self.ended: collections.Counter[str] = collections.Counter()
        """Episodes that ended in this process, by outcome (the operator's metrics)."""
        self.accepting = True
        self._starting: set[tuple[int, int]] = set()
        """(guild, author) between a command's checks and its job's start."""
        self._starts_open = 0
        self._starts_opened = 0
        self._no_starts = asyncio.Event()
        self._no_starts.set()
        self._launched: set[str] | None = set()
        """Episodes this process launched while :meth:`resume_all` may still resume: none of
        them is a previous process's (``None`` once it is done)."""

    # -- admission: checked before any I/O, so refusals can be ephemeral ----------------------

    def refusal(self, guild_id: int, author_id: int) -> str | None:
        if not self.accepting:
            return "Showrunner is restarting; try again in a minute. Episodes in progress resume."
        mine = [
            j.record for j in self.running.values() if j.record.guild_id == guild_id and not j.ended
        ]
        if (guild_id, author_id) in self._starting or any(r.author_id == author_id for r in mine):
            return (
                "You already have an episode being written here. Wait for it to finish, or press "
                "its Cancel button, then start the next one."
            )
        busy = len(mine) + sum(g == guild_id for g, _ in self._starting)
        if busy >= self.settings.max_episodes_per_guild:
            return (
                f"This server already has {busy} episodes being written (the limit is "
                f"{self.settings.max_episodes_per_guild}). Try again when one finishes."
            )
        return None

    @contextlib.contextmanager
    def admitting(self, guild_id: int, author_id: int) -> Iterator[None]:
        """Holds the writer's place while their command creates the episode."""
        self._starting.add((guild_id, author_id))
        try:
            with self.starting():
                yield
        finally:
            self._starting.discard((guild_id, author_id))

    @contextlib.contextmanager
    def starting(self) -> Iterator[None]:
        """Brackets an episode's start, from before storage marks it ``running`` (or
        ``queued`` for review) until its job (or outline) is under way. Such an episode with
        nothing working on it is one a previous process left, unless a start is in between:
        :meth:`between_starts` reads them only while none is."""
        self._starts_open += 1
        self._starts_opened += 1
        self._no_starts.clear()
        try:
            yield
        finally:
            self._starts_open -= 1
            if not self._starts_open:
                self._no_starts.set()

    # -- starting ------------------------------------------------------------------------------

    def start(
        self,
        record: EpisodeRecord,
        interaction: discord.Interaction,
        received: float,
        previously: tuple[str, ...] = (),
    ) -> Job:
        """Write a new (or retried) episode, its status on the interaction's response."""
        job = self._job(record)
        job.upload_limit = interaction.filesize_limit
        job.previously = previously
        target = InteractionTarget(interaction, self.settings.interaction_ttl, received)
        self._launch(job, target)
        return job

    def start_on_message(self, record: EpisodeRecord, channel_id: int, message_id: int) -> Job:
        """Write an episode whose outline the room approved; its review message becomes its
        status."""
        job = self._job(record)
        channel = self.client.get_partial_messageable(channel_id, guild_id=record.guild_id)
        self._launch(job, ChannelTarget(channel, message_id))
        return job

    async def resume_all(self) -> None:
        """At start-up: post what finished unposted, show how finished episodes ended where
        the process died before saying so, and resume what was being written."""
        if self._launched is None:  # called again: what launches from now on is this process's
            self._launched = set()
        try:
            await self._tidy_and_resume()
        finally:
            self._launched = None

    async def _tidy_and_resume(self) -> None:
        for record in await self.episodes.list_undelivered():
            assert record.script is not None
            try:
                await self._deliver_once(record, record.script, DEFAULT_UPLOAD_LIMIT, look=True)
            except (TooLarge, discord.HTTPException) as exc:
                log.warning("could not post %s after a restart: %s", record.public_id, exc)
        for episode_id in await self.rooms.unsummarized():
            finished = await self.episodes.get_by_id(episode_id)
            if finished is not None and finished.script is not None:
                await self._remember(finished, finished.script)
        for record in await self.episodes.list_status_stale():
            await self._show_ending(record)
        for record in await self.between_starts(self.episodes.list_unfinished):
            try:
                await self.resume(record)
            except (discord.Forbidden, discord.NotFound) as exc:
                # The channel is gone or closed to the bot: retrying at every start won't help.
                log.warning("cannot resume %s in its channel: %s", record.public_id, exc)
                await self.episodes.fail(
                    record.id, "Could not resume: the bot can no longer post in that channel."
                )
            except discord.HTTPException as exc:
                log.warning(
                    "resuming %s failed (%s); the next start tries again", record.public_id, exc
                )

    async def between_starts(self, read: Callable[[], Awaitable[_T]]) -> _T:
        """``read()`` of what a previous process left, done while no start of this process is
        under way: a start stores its episode ``running`` (or ``queued``) a few awaits before
        its job (or outline) begins, and picking that episode up too would write it twice."""
        while True:
            while self._starts_open:
                await self._no_starts.wait()
            opened = self._starts_opened
            found = await read()
            if self._starts_opened == opened:  # else a start began during the read: again
                return found

    async def _show_ending(self, record: EpisodeRecord) -> None:
        job = self._job(record)
        job.outcome = {"done": Outcome.DONE, "cancelled": Outcome.CANCELLED}.get(
            record.status, Outcome.FAILED
        )
        job.script = record.script
        if record.delivered_message_id is not None:
            posted = self._channel(record).get_partial_message(record.delivered_message_id)
            job.detail = f"📜 Script posted: {posted.jump_url}"
        elif record.status == "cancelled":
            job.detail = f"Cancelled by {record.cancelled_by}."
        else:
            job.detail = record.error
        if record.status_message_id is not None:
            status = job.status()
            message = self._channel(record, record.status_channel_id).get_partial_message(
                record.status_message_id
            )
            with contextlib.suppress(discord.HTTPException):  # deleted, or no access: let go
                await message.edit(content=None, embed=status.embed, view=None)
        await self.episodes.mark_status_shown(record.id)

    async def resume(self, record: EpisodeRecord) -> Job | None:
        """Write on an episode a previous process left ``running``; ``None`` when this process
        has it already (resumed, or started here)."""
        launched = self._launched or set()
        if record.public_id in self.running or record.public_id in launched:
            return None
        job = self._job(record)
        # Claimed before the first await: a second resume meanwhile finds it taken.
        self.running[record.public_id] = job
        try:
            done = await SqliteCheckpoints(self.db, record.id).load()
            scenes = sorted(
                n
                for n in range(1, record.request.scene_count + 1)
                if f"scene:{n}:directions" in done
            )
            job.detail = f"Resumed after a restart: {_kept(len(done), scenes)}."
            channel = self._channel(record)
            status = job.status()
            message = await channel.send(
                embed=status.embed, view=status.view or discord.utils.MISSING
            )
            if record.status_message_id is not None:
                # The old status (maybe on a dead interaction token): point it to the new one.
                old = self._channel(record, record.status_channel_id)
                with contextlib.suppress(discord.HTTPException):
                    await old.get_partial_message(record.status_message_id).edit(
                        content=f"Resumed after a restart: {message.jump_url}",
                        embed=None,
                        view=None,
                    )
            await self.episodes.set_status_message(record.id, record.channel_id, message.id)
        except BaseException:
            del self.running[record.public_id]
            raise
        self._launch(job, ChannelTarget(channel, message.id))
        return job

    def _job(self, record: EpisodeRecord) -> Job:
        progress = EpisodeProgress(record.request.scene_count, self.generator.max_refinements)
        return Job(record, progress, estimate=self.spending.estimate(record.request))

    def _launch(self, job: Job, target: InteractionTarget | ChannelTarget) -> None:
        public_id = job.record.public_id
        if self.running.setdefault(public_id, job) is not job:
            # Storage lets one start through (create, requeue and Write it are compare-and-
            # set); a second job here would be a bug that pays for every step twice.
            raise RuntimeError(f"episode {public_id} is already being written in this process")
        if self._launched is not None:
            self._launched.add(public_id)
        job.reporter = self._reporter(job, target)
        job.task = asyncio.create_task(self._run(job), name=f"episode-{public_id}")
        if job.cancelled_by is not None:
            # Cancel pressed on a resumed status before its job began. After the task's first
            # step, so that its status and settling run (cancelled before it, nothing would).
            asyncio.get_running_loop().call_soon(job.task.cancel)

    def _channel(
        self, record: EpisodeRecord, channel_id: int | None = None
    ) -> discord.PartialMessageable:
        return self.client.get_partial_messageable(
            channel_id or record.channel_id, guild_id=record.guild_id
        )

    def _reporter(self, job: Job, target: InteractionTarget | ChannelTarget) -> StatusReporter:
        async def remember(channel_id: int, message_id: int) -> None:
            await self.episodes.set_status_message(job.record.id, channel_id, message_id)

        return moving_reporter(
            job.status,
            target,
            self._channel(job.record),
            interval=self.settings.status_interval,
            remember=remember,
            tally=self.status_edits,
        )

    # -- running -------------------------------------------------------------------------------

    async def _run(self, job: Job) -> None:
        assert job.reporter is not None
        reporter, record = job.reporter, job.record
        reporter.start()

        async def on_progress(status: str, current: int, total: int) -> None:
            reporter.update()
            if job.progress.title and job.record.title is None:
                job.record = replace(job.record, title=job.progress.title)
                await self.episodes.set_title(job.record.id, job.progress.title)

        try:
            script = await finish_or_report(
                self._write(job, on_progress),
                job,
                partial(self.episodes.fail, record.id),
                f"episode {record.public_id}",
            )
            if script is not None:
                await self._complete(job, script)
        finally:
            self.running.pop(record.public_id, None)
            if job.outcome is not Outcome.RUNNING:  # else: cancelled from outside, not ended
                self.ended[job.outcome] += 1
            await reporter.finish()
            if job.outcome in (Outcome.DONE, Outcome.FAILED, Outcome.CANCELLED):
                await self.episodes.mark_status_shown(record.id)
                await self.spending.settle(episode_id=record.id)

    def _write(self, job: Job, on_progress: ProgressCallback) -> Awaitable[Script]:
        """The episode's script: written here, or by the workers of its Temporal workflow,
        followed here (a stop for a restart leaves the workflow running; Cancel ends it)."""
        record = job.record
        if self.temporal is None:
            return self.generator.generate_full_script(
                record.request,
                on_progress,
                progress=job.progress,
                checkpoints=SqliteCheckpoints(self.db, record.id),
                tenant=str(record.guild_id),
                label=record.public_id,
            )
        from scriptgen.temporal import EpisodeInput, StepOptions, follow_episode

        generator = self.generator
        episode = EpisodeInput(
            episode_id=record.id,
            request=record.request,
            tenant=str(record.guild_id),
            max_parallel_scenes=generator.max_parallel_scenes,
            max_refinements=generator.max_refinements,
            refine_threshold=generator.refine_threshold,
            max_refine_scenes=generator.max_refine_scenes,
            steps=StepOptions(heartbeat_timeout_s=self.settings.temporal_heartbeat_timeout),
        )
        return follow_episode(
            self.temporal,
            episode,
            record.public_id,
            task_queue=self.settings.temporal_task_queue,
            progress=job.progress,
            callback=on_progress,
            poll_every=self.settings.status_interval,
            cancels=lambda: not job.pausing,
        )

    async def _complete(self, job: Job, script: Script) -> None:
        record = job.record
        if not await self.episodes.finish(record.id, script):
            job.outcome, job.detail = Outcome.CANCELLED, "Cancelled just before the end."
            return
        job.ended = True
        job.outcome, job.script = Outcome.DONE, script
        if record.room_id is not None:
            await self._remember(record, script)
        try:
            message = await self._deliver_once(record, script, job.upload_limit)
        except (TooLarge, discord.HTTPException) as exc:
            log.warning("delivery of %s failed: %s", record.public_id, exc)
            job.detail = (
                f"The script could not be posted here: {exc} "
                f"`/episode-get {record.public_id}` tries again."
            )
        else:
            job.detail = f"📜 Script posted: {message.jump_url}"

    async def _remember(self, record: EpisodeRecord, script: Script) -> None:
        """The room's continuity: later episodes recall this one. A failure here must not
        keep the script from its writer."""
        assert record.room_id is not None
        try:
            await self.rooms.add_summary(record.room_id, record.id, summarize(script))
        except StorageError as exc:
            log.warning("could not keep %s in its room's continuity: %s", record.public_id, exc)

    async def _deliver_once(
        self, record: EpisodeRecord, script: Script, upload_limit: int, *, look: bool = False
    ) -> discord.Message:
        """Post the script exactly once, and record that it was.

        ``look``: the process may have died between posting and recording (a restart): the
        nonce makes Discord return the first post for a few minutes; past that, the channel's
        recent messages are searched for it.
        """
        channel = self._channel(record)
        me = self.client.user
        found = (
            await find_delivery(channel, record.public_id, record.created_at, me) if look else None
        )
        message = found or await deliver(
            channel,
            script,
            upload_limit,
            buttons(record.public_id, "pdf"),
            headline=headline(record, script),
            nonce=f"sr-{record.public_id}",
        )
        await self.episodes.mark_delivered(record.id, message.id)
        return message

    # -- stopping ------------------------------------------------------------------------------

    async def cancel(self, job: Job, by: str) -> None:
        if job.cancelled_by is not None or (job.task is not None and job.task.done()):
            return
        if await self.episodes.cancel(job.record.id, by):
            job.cancelled_by = by
            if job.task is not None:  # else it is being resumed: cancelled once launched
                job.task.cancel()

    async def pause_all(self, grace: float) -> None:
        """A graceful stop: accept nothing new, let calls in flight finish for up to ``grace``
        seconds (their results are checkpointed), cancel the rest, mark statuses paused."""
        self.accepting = False
        jobs = list(self.running.values())
        if not jobs:
            return
        if self.generator.limiter is not None:
            await self.generator.limiter.drain(grace)
        for job in jobs:
            job.pausing = True
            if job.task is not None:
                job.task.cancel()
        await asyncio.gather(*(j.task for j in jobs if j.task), return_exceptions=True)


def _recalled(record: EpisodeRecord) -> tuple[str, ...]:
    """After a restart the titles are not at hand: how many earlier episodes are recalled."""
    bible = record.request.bible
    count = len(bible.previous_episodes) if bible else 0
    return (f"{count} earlier episode{'s' if count != 1 else ''}",) if count else ()


def _kept(steps: int, scenes: list[int]) -> str:
    """What a resumed episode did not have to write again, in words."""
    if not steps:
        return "nothing had been written yet, starting from the outline"
    kept = f"{steps} finished step{'s' if steps != 1 else ''} kept"
    if not scenes:
        return kept
    if len(scenes) == 1:
        return f"{kept}, scene {scenes[0]} was already written"
    if scenes == list(range(scenes[0], scenes[-1] + 1)):
        return f"{kept}, scenes {scenes[0]}-{scenes[-1]} were already written"
    return f"{kept}, scenes {', '.join(map(str, scenes))} were already written"
