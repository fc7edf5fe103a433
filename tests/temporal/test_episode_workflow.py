"""The episode workflow on a real Temporal dev server, with workers running the demo provider."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import timedelta

import pytest
from temporalio.api.enums.v1 import EventType
from temporalio.client import Client, WorkflowFailureError, WorkflowHandle
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.exceptions import CancelledError
from temporalio.worker import Replayer

from scriptgen import prompts
from scriptgen.errors import InvalidOutputError
from scriptgen.generator import ScriptGenerator
from scriptgen.models import EpisodeRequest, Script
from scriptgen.progress import EpisodeProgress, SceneState, Stage
from scriptgen.providers.base import Generation, OutputT, StepKind, StepRequest
from scriptgen.providers.demo import DemoProvider
from scriptgen.temporal import (
    RUNNER,
    EpisodeInput,
    EpisodeWorkflow,
    StepActivities,
    StepOptions,
    episode_worker,
    workflow_id,
)
from storage import Database, SqliteCheckpoints
from tests.temporal.conftest import INSTANT, new_episode, running_worker

REQUEST = EpisodeRequest(premise="A lighthouse keeper adopts a seagull", scene_count=3)


async def start(
    client: Client, task_queue: str, episode_id: int, request: EpisodeRequest = REQUEST
) -> WorkflowHandle[EpisodeWorkflow, Script]:
    return await client.start_workflow(
        EpisodeWorkflow.run,
        EpisodeInput(
            episode_id=episode_id,
            request=request,
            max_parallel_scenes=2,
            steps=StepOptions(heartbeat_timeout_s=2),
        ),
        id=workflow_id(uuid.uuid4().hex[:8]),
        task_queue=task_queue,
        # A test that goes wrong fails within this instead of waiting on a stuck workflow.
        execution_timeout=timedelta(seconds=60),
    )


async def ledger(db: Database, episode_id: int) -> Counter[str]:
    """How many calls the usage ledger holds for each step of the episode."""
    rows = await db.fetchall("SELECT step FROM usage WHERE episode_id = ?", (episode_id,))
    return Counter(row["step"] for row in rows)


async def test_workflow_writes_the_script_the_pipeline_writes(
    client: Client, task_queue: str, db: Database
) -> None:
    """Same outline, scenes and comedy pass as the in-process generator, each step saved once."""
    record = await new_episode(db, REQUEST)
    async with running_worker(client, task_queue, db):
        handle = await start(client, task_queue, record.id)
        script = await handle.result()
        # A query of a closed workflow is answered by a worker replaying it.
        progress = await handle.query(EpisodeWorkflow.progress)
    local = await ScriptGenerator(DemoProvider(latencies=INSTANT), 2).generate_full_script(REQUEST)

    assert script.outline == local.outline
    assert [s.heading for s in script.scenes] == [s.heading for s in local.outline.scenes]
    assert script.scenes == local.scenes
    assert script.comedy == local.comedy
    assert script.refinements == local.refinements
    assert (script.provider, script.model) == ("demo", local.model)
    steps = {u.step for u in script.usage}
    assert steps == {u.step for u in local.usage}
    assert {prompts.OUTLINE_KEY, prompts.COMEDY_KEY, *prompts.scene_keys(3)} <= steps
    assert await ledger(db, record.id) == Counter(steps)
    stored = await SqliteCheckpoints(db, record.id).load()
    assert set(stored) == steps
    assert progress is not None and progress.stage is Stage.DONE
    assert [s.state for s in progress.scenes] == [SceneState.DONE] * 3

    # Determinism: the recorded history replays on the workflow code without a mismatch.
    history = await handle.fetch_history()
    await Replayer(
        workflows=[EpisodeWorkflow], workflow_runner=RUNNER, data_converter=pydantic_data_converter
    ).replay_workflow(history)


async def test_progress_query_shows_scenes_being_written(
    client: Client, task_queue: str, db: Database
) -> None:
    """Mid-episode the query tells the stage, each scene's state and the steps done so far."""
    record = await new_episode(db, REQUEST)
    slow: dict[StepKind, float] = {**INSTANT, "dialogue": 0.6, "directions": 0.6}
    async with running_worker(client, task_queue, db, slow):
        handle = await start(client, task_queue, record.id)
        seen: list[EpisodeProgress] = []
        while True:
            progress = await handle.query(EpisodeWorkflow.progress)
            if progress is not None:
                seen.append(progress)
                if progress.stage is Stage.DONE:
                    break
            await asyncio.sleep(0.1)
        await handle.result()
    writing = [p for p in seen if p.stage is Stage.SCENES]
    assert writing, "never saw the scenes being written"
    states = {s.state for p in writing for s in p.scenes}
    assert SceneState.DIALOGUE in states and SceneState.WAITING in states
    assert all(s.heading for s in writing[-1].scenes)
    assert writing[-1].title and 1 <= writing[-1].current < writing[-1].total
    # Two scenes at a time: never three writing at once.
    busy = {SceneState.DIALOGUE, SceneState.DIRECTIONS}
    assert max(sum(s.state in busy for s in p.scenes) for p in writing) <= 2


async def test_cancelled_episode_stops_its_calls(
    client: Client, task_queue: str, db: Database
) -> None:
    """Cancelling the workflow cancels the calls in flight; no later step is written."""
    record = await new_episode(db, REQUEST)
    slow: dict[StepKind, float] = {**INSTANT, "dialogue": 30.0}
    async with running_worker(client, task_queue, db, slow):
        handle = await start(client, task_queue, record.id)
        while True:
            progress = await handle.query(EpisodeWorkflow.progress)
            scenes = progress.scenes if progress is not None else []
            if any(s.state is SceneState.DIALOGUE for s in scenes):
                break
            await asyncio.sleep(0.05)
        await handle.cancel()
        with pytest.raises(WorkflowFailureError) as failure:
            await asyncio.wait_for(handle.result(), 10)
    assert isinstance(failure.value.cause, CancelledError)
    history = await handle.fetch_history()
    kinds = Counter(event.event_type for event in history.events)
    assert kinds[EventType.EVENT_TYPE_WORKFLOW_EXECUTION_CANCELED] == 1
    assert kinds[EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED] == 3  # provider, steps, outline
    assert set(await SqliteCheckpoints(db, record.id).load()) == {prompts.OUTLINE_KEY}


async def test_failed_step_fails_the_episode_with_its_message(
    client: Client, task_queue: str, db: Database
) -> None:
    """An outline the model gets wrong fails the workflow, naming the step, and is not retried."""
    record = await new_episode(db, REQUEST)

    class WrongOutlines(DemoProvider):
        async def generate(self, step: StepRequest[OutputT]) -> Generation[OutputT]:
            if step.kind == "outline":
                raise InvalidOutputError("the outline must have exactly 3 scenes, not 2")
            return await super().generate(step)

    activities = StepActivities(
        WrongOutlines(latencies=INSTANT), lambda e, p: SqliteCheckpoints(db, e, p)
    )
    async with episode_worker(client, activities, task_queue=task_queue):
        handle = await start(client, task_queue, record.id)
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
    assert "The outline failed" in str(failure.value.cause)
    assert "exactly 3 scenes" in str(failure.value.cause)
    assert await ledger(db, record.id) == Counter({prompts.OUTLINE_KEY: 1})
