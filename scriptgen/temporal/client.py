"""The gateway's side of an episode on Temporal: start it (or find it again), follow it, end it.

:func:`follow_episode` is what the gateway awaits instead of
:meth:`~scriptgen.generator.ScriptGenerator.generate_full_script` when episodes run on workers:
the same script back, the same :class:`~scriptgen.progress.EpisodeProgress` kept current (from
the workflow's ``progress`` query) with the same callback, and cancelling the await cancels the
workflow. A gateway that restarts calls it again for the same episode and is given the running
workflow, or the finished one's script: an episode is written once, whoever asks.
:func:`follow_rewrite` is the same for a rewrite, instead of ``rewrite_scene``.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any, TypeVar

from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError
from temporalio.types import MethodAsyncSingleParam

from scriptgen.errors import ScriptgenError
from scriptgen.models import Script
from scriptgen.progress import EpisodeProgress, ProgressCallback, RewriteProgress, notify
from scriptgen.rewrite import RewriteTake
from scriptgen.temporal.workflow import (
    EpisodeInput,
    EpisodeWorkflow,
    RewriteInput,
    RewriteWorkflow,
    rewrite_workflow_id,
    workflow_id,
)

__all__ = ["WorkflowFailed", "follow_episode", "follow_rewrite"]

log = logging.getLogger(__name__)

W = TypeVar("W")
In = TypeVar("In")
R = TypeVar("R")
P = TypeVar("P", EpisodeProgress, RewriteProgress)


class WorkflowFailed(ScriptgenError):
    """The episode's workflow failed (or was cancelled elsewhere); the message says why."""


async def follow_episode(
    client: Client,
    job: EpisodeInput,
    public_id: str,
    *,
    task_queue: str,
    progress: EpisodeProgress | None = None,
    callback: ProgressCallback | None = None,
    poll_every: float = 1.0,
    cancels: Callable[[], bool] = lambda: True,
) -> Script:
    """Start the episode's workflow, or attach to the one already running or finished, and
    keep ``progress`` current until it ends; its script, or :class:`WorkflowFailed`.

    A workflow that failed or was cancelled is started again (its saved steps are reused).
    Cancelling this await cancels the workflow when ``cancels()`` says so; a gateway stopping
    for a restart says not, and leaves the episode to the workers (it follows it again later).
    """
    return await _follow(
        client,
        EpisodeWorkflow.run,
        EpisodeWorkflow.progress,
        job,
        workflow_id(public_id),
        task_queue=task_queue,
        progress=progress,
        callback=callback,
        poll_every=poll_every,
        cancels=cancels,
    )


async def follow_rewrite(
    client: Client,
    job: RewriteInput,
    public_id: str,
    *,
    task_queue: str,
    progress: RewriteProgress | None = None,
    callback: ProgressCallback | None = None,
    poll_every: float = 1.0,
    cancels: Callable[[], bool] = lambda: True,
) -> list[RewriteTake]:
    """As :func:`follow_episode`, for a rewrite (by the rewrite's public id): its takes."""
    return await _follow(
        client,
        RewriteWorkflow.run,
        RewriteWorkflow.progress,
        job,
        rewrite_workflow_id(public_id),
        task_queue=task_queue,
        progress=progress,
        callback=callback,
        poll_every=poll_every,
        cancels=cancels,
    )


async def _follow(
    client: Client,
    run: MethodAsyncSingleParam[W, In, R],
    query: Callable[[W], P | None],
    job: In,
    workflow: str,
    *,
    task_queue: str,
    progress: P | None,
    callback: ProgressCallback | None,
    poll_every: float,
    cancels: Callable[[], bool],
) -> R:
    try:
        handle = await client.start_workflow(
            run,
            job,
            id=workflow,
            task_queue=task_queue,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            id_reuse_policy=WorkflowIDReusePolicy.ALLOW_DUPLICATE_FAILED_ONLY,
        )
    except WorkflowAlreadyStartedError:  # it finished: its result is in its history
        handle = client.get_workflow_handle_for(run, workflow)
    result = asyncio.ensure_future(handle.result())
    try:
        while True:
            await asyncio.wait({result}, timeout=poll_every)
            if progress is not None:
                await _mirror(handle, query, progress, callback)
            if result.done():
                return result.result()
    except WorkflowFailureError as err:
        cause = err.cause
        reason = cause.message if isinstance(cause, ApplicationError) else str(cause or err)
        raise WorkflowFailed(reason) from err
    except asyncio.CancelledError:
        if cancels():
            # Ended meanwhile (finished, or cancelled by another follower): nothing to cancel.
            with contextlib.suppress(RPCError):
                await asyncio.shield(handle.cancel())
        raise
    finally:
        result.cancel()


async def _mirror(
    handle: WorkflowHandle[W, Any],
    query: Callable[[W], P | None],
    progress: P,
    callback: ProgressCallback | None,
) -> None:
    """Copy the workflow's progress into ``progress``, and tell ``callback`` if it changed.
    A query that fails (no worker up for a moment) leaves the last state shown."""
    try:
        remote = await handle.query(query, rpc_timeout=timedelta(seconds=5))
    except (RPCError, WorkflowFailureError) as err:
        log.debug("progress of %s unknown for now: %s", handle.id, err)
        return
    if remote is None:
        return
    changed = False
    # All but when it began here (``started_at``, this process's clock).
    for name in (f.name for f in dataclasses.fields(progress) if f.name != "started_at"):
        value = getattr(remote, name)
        if getattr(progress, name) != value:
            setattr(progress, name, value)
            changed = True
    if changed:
        await notify(callback, progress)
