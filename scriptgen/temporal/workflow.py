"""An episode as a Temporal workflow: the same pipeline, each model call an activity.

The workflow runs :class:`~scriptgen.generator.ScriptGenerator` unchanged, with a provider
(:class:`ActivityProvider`) whose every call is an activity. Temporal's history is then the
episode's checkpoint: a workflow picked up by another worker replays the generator, and each
call already answered is answered again from the history, never sent to a model; the first one
not answered is where the episode goes on. The generator's structured concurrency (task groups,
the scene semaphore) runs on the workflow's deterministic event loop.

What changes from a process of its own:

- the outline does not stream (an activity answers once), so scenes begin when it is finished;
- no limiter in the workflow: each worker's calls go through the worker's own limiter (fair
  between guilds, slowed after 429s), within its ``max_concurrent_activities`` (see
  :mod:`scriptgen.temporal.worker`);
- ``Script.wall_seconds`` is workflow time (``workflow.now()``), which replays identically.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ActivityError, ApplicationError, CancelledError

with workflow.unsafe.imports_passed_through():
    from pydantic import BaseModel

    from scriptgen.checkpoints import MemoryCheckpoints, StoredStep
    from scriptgen.errors import InvalidOutputError, ProviderError, ScriptgenError
    from scriptgen.generator import ScriptGenerator
    from scriptgen.models import EpisodeRequest, Script
    from scriptgen.progress import EpisodeProgress, RewriteProgress
    from scriptgen.providers.base import Generation, OutputT, StepRequest
    from scriptgen.rewrite import RewriteTake
    from scriptgen.temporal.activities import (
        ProviderIdentity,
        StepActivities,
        StepCall,
        StoredSteps,
    )
    from scriptgen.temporal.recipes import recipe_of

__all__ = [
    "ActivityProvider",
    "EpisodeInput",
    "EpisodeWorkflow",
    "RewriteInput",
    "RewriteWorkflow",
    "RunInput",
    "StepOptions",
    "rewrite_workflow_id",
    "workflow_id",
]


def workflow_id(public_id: str) -> str:
    """The id of an episode's workflow: one workflow per episode, whoever starts it."""
    return f"episode:{public_id}"


def rewrite_workflow_id(public_id: str) -> str:
    """The id of a rewrite's workflow, by the rewrite's own public id."""
    return f"rewrite:{public_id}"


class StepOptions(BaseModel):
    """How the workflow runs each call's activity."""

    timeout_s: float = 600.0
    """The longest one call may take, all its own retries included."""
    heartbeat_timeout_s: float = 20.0
    """How soon a call whose worker died is given to another worker."""
    max_attempts: int = 5
    """Attempts of one call when workers die or time out (a provider's error is not retried
    here: the provider retried it already)."""


class RunInput(BaseModel):
    """What an episode and a rewrite are both told: whose run it is, and how to run its calls."""

    episode_id: int
    tenant: str = ""
    """Whose calls they are (a guild): the limiter's fairness key in a process of its own."""
    max_parallel_scenes: int = 3
    steps: StepOptions = StepOptions()


class EpisodeInput(RunInput):
    """An episode to write, and the generator's settings for it."""

    request: EpisodeRequest
    max_refinements: int = 1
    refine_threshold: float = 6.5
    max_refine_scenes: int = 3


class RewriteInput(RunInput):
    """A scene of a written episode to write again, to a writer's note."""

    prefix: str
    """The rewrite's checkpoint key prefix (``rw12:``): its steps are apart from the episode's."""
    script: Script
    index: int
    """The scene, 0-based."""
    note: str
    takes: int = 1


class ActivityProvider:
    """A provider whose every call is a ``showrunner.step`` activity on some worker."""

    def __init__(
        self,
        identity: ProviderIdentity,
        episode_id: int,
        prefix: str,
        options: StepOptions,
        tenant: str = "",
    ) -> None:
        self.identity = identity
        self.episode_id = episode_id
        self.prefix = prefix
        self.options = options
        self.tenant = tenant

    @property
    def name(self) -> str:
        return self.identity.name

    @property
    def model(self) -> str:
        return self.identity.model

    async def generate(self, step: StepRequest[OutputT]) -> Generation[OutputT]:
        call = StepCall(
            episode_id=self.episode_id,
            prefix=self.prefix,
            recipe=recipe_of(step),
            tenant=self.tenant,
            label=workflow.info().workflow_id,
        )
        try:
            answer = await workflow.execute_activity_method(
                StepActivities.run_step,
                call,
                activity_id=f"{self.prefix}{step.key}",
                start_to_close_timeout=timedelta(seconds=self.options.timeout_s),
                heartbeat_timeout=timedelta(seconds=self.options.heartbeat_timeout_s),
                retry_policy=RetryPolicy(
                    initial_interval=timedelta(seconds=1),
                    maximum_attempts=self.options.max_attempts,
                ),
            )
        except ActivityError as err:
            raise _scriptgen_error(step.key, err) from err
        return Generation(value=step.output.model_validate_json(answer.payload), usage=answer.usage)


def _scriptgen_error(key: str, err: ActivityError) -> BaseException:
    """The error the generator knows for a failed call; a cancellation stays one."""
    cause = err.cause
    if isinstance(cause, CancelledError):
        # The task awaiting the call was cancelled (a sibling step failed, or the episode was
        # cancelled), and Temporal ends the await with this error, not asyncio's. Raised as
        # asyncio's, the task ends cancelled as it does in a process of its own, and the
        # generator reports the failure that caused it rather than "Cancelled".
        return asyncio.CancelledError(cause.message)
    if isinstance(cause, ApplicationError):
        if cause.type == InvalidOutputError.__name__:
            return InvalidOutputError(cause.message)
        retryable = bool(cause.details and cause.details[0])
        return ProviderError(cause.message, retryable=retryable)
    # Out of attempts (workers dying or timing out): the call could not be made.
    return ProviderError(f"{key}: {cause or err}", retryable=True)


async def _begin(
    job: RunInput, prefix: str, **settings: Any
) -> tuple[ScriptGenerator, MemoryCheckpoints]:
    """The generator a workflow runs, on an :class:`ActivityProvider`, and the steps already
    saved for the run (as the checkpoints it resumes from)."""
    quick = timedelta(seconds=60)
    identity = await workflow.execute_activity_method(
        StepActivities.describe_provider, start_to_close_timeout=quick
    )
    stored: StoredSteps = await workflow.execute_activity_method(
        StepActivities.load_steps, args=[job.episode_id, prefix], start_to_close_timeout=quick
    )
    generator = ScriptGenerator(
        ActivityProvider(identity, job.episode_id, prefix, job.steps, job.tenant),
        job.max_parallel_scenes,
        **settings,
    )
    # Saves go nowhere: each activity saved its step already (the workflow does no I/O).
    checkpoints = MemoryCheckpoints(
        {key: StoredStep(s.payload, s.usage) for key, s in stored.steps.items()}
    )
    return generator, checkpoints


@workflow.defn(name="showrunner.episode", failure_exception_types=[ScriptgenError])
class EpisodeWorkflow:
    """Writes one episode; its ``progress`` query is the live state for a status card."""

    def __init__(self) -> None:
        self._progress: EpisodeProgress | None = None

    @workflow.run
    async def run(self, job: EpisodeInput) -> Script:
        started = workflow.now()
        self._progress = EpisodeProgress(job.request.scene_count, job.max_refinements)
        generator, checkpoints = await _begin(
            job,
            "",
            max_refinements=job.max_refinements,
            refine_threshold=job.refine_threshold,
            max_refine_scenes=job.max_refine_scenes,
        )
        script = await generator.generate_full_script(
            job.request, progress=self._progress, checkpoints=checkpoints, tenant=job.tenant
        )
        return script.model_copy(
            update={"wall_seconds": (workflow.now() - started).total_seconds()}
        )

    @workflow.query(name="progress")
    def progress(self) -> EpisodeProgress | None:
        """The episode's progress now; none before the workflow has begun."""
        return self._progress


# A note the generator refuses (ValueError) fails the workflow with its message, not its task.
@workflow.defn(name="showrunner.rewrite", failure_exception_types=[ScriptgenError, ValueError])
class RewriteWorkflow:
    """Writes one scene again in one or more takes; ``progress`` as for an episode."""

    def __init__(self) -> None:
        self._progress: RewriteProgress | None = None

    @workflow.run
    async def run(self, job: RewriteInput) -> list[RewriteTake]:
        self._progress = RewriteProgress(job.index + 1)
        generator, checkpoints = await _begin(job, job.prefix)
        return await generator.rewrite_scene(
            job.script,
            job.index,
            job.note,
            takes=job.takes,
            checkpoints=checkpoints,
            tenant=job.tenant,
            progress=self._progress,
        )

    @workflow.query(name="progress")
    def progress(self) -> RewriteProgress | None:
        """The rewrite's progress now; none before the workflow has begun."""
        return self._progress
