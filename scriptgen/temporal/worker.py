"""Connecting to Temporal, and the worker that runs episodes' workflows and model calls.

The bound on model calls in flight, which a process of its own keeps with its limiter, is kept
by every worker for itself: ``max_concurrent_activities`` (``SHOWRUNNER_MAX_CONCURRENT_CALLS``).
With N workers the deployment makes at most N times that many calls at once; an operator who
needs one bound for all of them (a rate limit shared by every worker) sets the task queue's
``max_task_queue_activities_per_second``, which the server enforces across workers.
"""

from __future__ import annotations

from datetime import timedelta

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.worker import Worker
from temporalio.worker.workflow_sandbox import SandboxedWorkflowRunner, SandboxRestrictions

from scriptgen.temporal.activities import StepActivities
from scriptgen.temporal.workflow import EpisodeWorkflow, RewriteWorkflow

__all__ = ["DEFAULT_TASK_QUEUE", "RUNNER", "connect", "episode_worker"]

DEFAULT_TASK_QUEUE = "showrunner"

RUNNER = SandboxedWorkflowRunner(
    restrictions=SandboxRestrictions.default.with_passthrough_modules("scriptgen")
)
"""The sandbox every episode workflow runs in, and is replayed in.

The pipeline is imported once, not again for each workflow: it is deterministic but for what it
only shows (``time.monotonic()`` in a progress's ``started_at``, a script's ``wall_seconds``,
which the workflow replaces with workflow time), which the sandbox would refuse."""


async def connect(address: str, namespace: str = "default") -> Client:
    """A client whose payloads are pydantic models (requests, scripts, progress)."""
    return await Client.connect(
        address, namespace=namespace, data_converter=pydantic_data_converter
    )


def episode_worker(
    client: Client,
    activities: StepActivities,
    *,
    task_queue: str = DEFAULT_TASK_QUEUE,
    max_concurrent_calls: int = 8,
    calls_per_second: float | None = None,
    identity: str | None = None,
    shutdown_grace: float = 0.0,
) -> Worker:
    """A worker for episode and rewrite workflows and their calls: at most
    ``max_concurrent_calls`` at once here, and ``calls_per_second`` (if given) on the whole task
    queue, across workers. A stopping worker lets calls in flight finish for ``shutdown_grace``
    seconds."""
    return Worker(
        client,
        task_queue=task_queue,
        workflows=[EpisodeWorkflow, RewriteWorkflow],
        workflow_runner=RUNNER,
        activities=activities.all(),
        max_concurrent_activities=max_concurrent_calls,
        max_task_queue_activities_per_second=calls_per_second,
        identity=identity,
        graceful_shutdown_timeout=timedelta(seconds=shutdown_grace),
        # A worker that died holds its workflows' next tasks on its own queue until this
        # passes; the SDK's 10 s default would stall each of its episodes that long.
        sticky_queue_schedule_to_start_timeout=timedelta(seconds=3),
    )
