"""The activities of an episode workflow: each model call, made by a worker with its provider.

A worker holds the real provider and the storage; the workflow holds neither. Storage comes in
as a factory of :class:`~scriptgen.checkpoints.Checkpoints` (``storage`` imports ``scriptgen``,
never the reverse), so a step and its ledger row are saved by the activity that paid for them,
in the same statement as in a process of its own.

Exactly-once, as far as it can be had:

- A step whose activity completed is in the workflow's history and never asked again: a
  workflow replayed on another worker gets its answer from the history.
- An activity retried after its worker died (or stopped heartbeating) first looks for the step
  its earlier attempt may have saved before dying, and returns it without a model call: the
  ledger counts the call once. A first attempt never reuses: a step stored under the same key
  by an earlier run was offered to the workflow at its start (:meth:`StepActivities.load_steps`),
  and the workflow asked again because that answer no longer stands.
- A call whose worker died before it was saved was paid and is not in the ledger, exactly as
  for a process that crashes: the next attempt asks again.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from pydantic import BaseModel
from temporalio import activity
from temporalio.exceptions import ApplicationError

from scriptgen.checkpoints import Checkpoints
from scriptgen.errors import ScriptgenError
from scriptgen.limiter import FairLimiter
from scriptgen.models import CallUsage
from scriptgen.monitor import PerformanceMonitor
from scriptgen.providers.base import Provider
from scriptgen.run import metered
from scriptgen.temporal.recipes import StepRecipe, step_of

__all__ = [
    "CheckpointsFor",
    "ProviderIdentity",
    "StepActivities",
    "StepAnswer",
    "StepCall",
    "StoredSteps",
]

CheckpointsFor = Callable[[int, str], Checkpoints]
"""``(episode id, key prefix)`` to that episode's (or that rewrite's) checkpoints."""


class StepCall(BaseModel):
    episode_id: int
    prefix: str = ""
    """The checkpoints' key prefix: empty for an episode, ``rw12:`` for a rewrite."""
    recipe: StepRecipe
    tenant: str = ""
    """Whose call it is (a guild): the worker's limiter shares its slots fairly by it."""
    label: str | None = None
    """Names the step in the worker's monitor (the episode's public id)."""


class StepAnswer(BaseModel):
    payload: str
    """The step's output as JSON (validated against the step's model by the workflow)."""
    usage: CallUsage
    reused: bool = False
    """Saved by an earlier attempt of this activity, not asked of the model again."""


class StoredAnswer(BaseModel):
    payload: str
    usage: CallUsage


class StoredSteps(BaseModel):
    steps: dict[str, StoredAnswer]


class ProviderIdentity(BaseModel):
    name: str
    model: str


class StepActivities:
    """One worker's activities: its provider, where its steps are saved, and (optional) the
    worker's limiter and monitor, which every call goes through as in a process of its own:
    the limiter slows the worker's calls after a 429 or 529 and to the rate-limit headers, and
    shares its slots fairly between guilds; the monitor times each call and warns of slow ones
    in the worker's log."""

    def __init__(
        self,
        provider: Provider,
        checkpoints_for: CheckpointsFor,
        *,
        heartbeat_every: float = 1.0,
        limiter: FairLimiter | None = None,
        monitor: PerformanceMonitor | None = None,
    ) -> None:
        self.provider = provider
        self.checkpoints_for = checkpoints_for
        self.limiter = limiter
        self.monitor = monitor or PerformanceMonitor()
        self.heartbeat_every = heartbeat_every
        """Seconds between two heartbeats of a call: well under the workflow's heartbeat
        timeout, which is how soon a dead worker's call is given to another."""

    @activity.defn(name="showrunner.provider")
    async def describe_provider(self) -> ProviderIdentity:
        """Which provider and model the worker writes with (the script records them)."""
        return ProviderIdentity(name=self.provider.name, model=self.provider.model)

    @activity.defn(name="showrunner.load_steps")
    async def load_steps(self, episode_id: int, prefix: str) -> StoredSteps:
        """The steps already saved for the episode (or the rewrite): a run begun again reuses
        them, as an episode resumed in a process of its own does."""
        stored = await self.checkpoints_for(episode_id, prefix).load()
        return StoredSteps(
            steps={key: StoredAnswer(payload=s.payload, usage=s.usage) for key, s in stored.items()}
        )

    @activity.defn(name="showrunner.step")
    async def run_step(self, call: StepCall) -> StepAnswer:
        """Make the step's model call and save the answer with its cost, or raise a
        non-retryable :class:`ApplicationError` whose ``type`` names the scriptgen error."""
        checkpoints = self.checkpoints_for(call.episode_id, call.prefix)
        key = call.recipe.key
        if activity.info().attempt > 1:
            saved = (await checkpoints.load()).get(key)
            if saved is not None:
                return StepAnswer(payload=saved.payload, usage=saved.usage, reused=True)
        step = step_of(call.recipe)
        # Beating from the start: a call waiting for the limiter is alive too.
        beats = asyncio.create_task(self._heartbeat())
        try:
            async with metered(step, self.limiter, call.tenant, self.monitor, call.label) as timing:
                generation = await self.provider.generate(step)
                timing.usage = generation.usage
        except ScriptgenError as exc:
            await checkpoints.record_failure(key, CallUsage(step=key, model=self.provider.model))
            # The provider has retried what it can (the SDK's own retries): the step has failed,
            # as it does in a process of its own, and the workflow decides what follows.
            raise ApplicationError(
                str(exc),
                getattr(exc, "retryable", False),
                type=type(exc).__name__,
                non_retryable=True,
            ) from exc
        finally:
            beats.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beats
        await checkpoints.save(key, generation.value, generation.usage)
        return StepAnswer(payload=generation.value.model_dump_json(), usage=generation.usage)

    async def _heartbeat(self) -> None:
        """Tell the server this call is alive; it is how a cancelled episode's call learns it
        is cancelled, too."""
        while True:
            activity.heartbeat()
            await asyncio.sleep(self.heartbeat_every)

    def all(self) -> list[Callable[..., object]]:
        """Every activity, for a worker's ``activities=``."""
        return [self.describe_provider, self.load_steps, self.run_step]
