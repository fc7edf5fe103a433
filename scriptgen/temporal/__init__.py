"""Episodes as Temporal workflows, for deployments that outgrow one process.

The workflow (:mod:`.workflow`) runs the ordinary pipeline; each model call is an activity
(:mod:`.activities`) on any worker (:mod:`.worker`), carried there as data (:mod:`.recipes`);
the gateway follows an episode (or a rewrite) with :func:`.client.follow_episode`
(:func:`.client.follow_rewrite`).
Knows nothing of Discord or of the database: a worker is handed its provider and a factory of
checkpoints by whoever composes it (``showrunner worker``).
"""

from scriptgen.temporal.activities import CheckpointsFor, StepActivities
from scriptgen.temporal.client import WorkflowFailed, follow_episode, follow_rewrite
from scriptgen.temporal.recipes import StepRecipe, recipe_of, step_of
from scriptgen.temporal.worker import DEFAULT_TASK_QUEUE, RUNNER, connect, episode_worker
from scriptgen.temporal.workflow import (
    EpisodeInput,
    EpisodeWorkflow,
    RewriteInput,
    RewriteWorkflow,
    StepOptions,
    rewrite_workflow_id,
    workflow_id,
)

__all__ = [
    "DEFAULT_TASK_QUEUE",
    "RUNNER",
    "CheckpointsFor",
    "EpisodeInput",
    "EpisodeWorkflow",
    "RewriteInput",
    "RewriteWorkflow",
    "StepActivities",
    "StepOptions",
    "StepRecipe",
    "WorkflowFailed",
    "connect",
    "episode_worker",
    "follow_episode",
    "follow_rewrite",
    "recipe_of",
    "rewrite_workflow_id",
    "step_of",
    "workflow_id",
]
