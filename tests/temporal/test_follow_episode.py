"""The gateway's side: follow an episode's workflow as if it ran here, and find it again."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from temporalio.client import Client, WorkflowExecutionStatus, WorkflowFailureError

from scriptgen.models import EpisodeRequest
from scriptgen.progress import EpisodeProgress, SceneState, Stage
from scriptgen.providers.base import StepKind
from scriptgen.temporal import EpisodeInput, StepOptions, workflow_id
from scriptgen.temporal.client import follow_episode
from storage import Database
from tests.temporal.conftest import INSTANT, new_episode, running_worker

REQUEST = EpisodeRequest(premise="A dentist's parrot gives bad advice", scene_count=2)
SLOW: dict[StepKind, float] = {**INSTANT, "dialogue": 0.4, "directions": 0.4}


def job(episode_id: int) -> EpisodeInput:
    return EpisodeInput(
        episode_id=episode_id, request=REQUEST, steps=StepOptions(heartbeat_timeout_s=2)
    )


async def test_progress_is_mirrored_and_the_script_returned(
    client: Client, task_queue: str, db: Database
) -> None:
    record = await new_episode(db, REQUEST)
    progress = EpisodeProgress(REQUEST.scene_count)
    told: list[tuple[str, int, int]] = []

    def callback(status: str, current: int, total: int) -> None:
        told.append((status, current, total))

    async with running_worker(client, task_queue, db, SLOW):
        script = await follow_episode(
            client,
            job(record.id),
            record.public_id,
            task_queue=task_queue,
            progress=progress,
            callback=callback,
            poll_every=0.1,
        )
        # A gateway restarted after the end is given the same script, nothing is written again.
        again = await follow_episode(
            client, job(record.id), record.public_id, task_queue=task_queue, poll_every=0.1
        )
    assert again == script
    assert progress.stage is Stage.DONE and progress.title == script.outline.title
    assert [s.state for s in progress.scenes] == [SceneState.DONE] * 2
    assert len(progress.usage) == len(script.usage)
    assert told and told[-1][0] == "Done"
    assert any(current < total for _, current, total in told)


async def test_a_second_follower_attaches_to_the_running_workflow(
    client: Client, task_queue: str, db: Database
) -> None:
    """Two gateways (or one restarted mid-episode) follow one workflow: one episode written."""
    record = await new_episode(db, REQUEST)
    async with running_worker(client, task_queue, db, SLOW):
        first, second = await asyncio.gather(
            follow_episode(client, job(record.id), record.public_id, task_queue=task_queue),
            follow_episode(client, job(record.id), record.public_id, task_queue=task_queue),
        )
    assert first == second
    runs = [
        w async for w in client.list_workflows(f"WorkflowId = '{workflow_id(record.public_id)}'")
    ]
    assert len(runs) == 1


async def test_cancelling_the_follower_cancels_the_workflow(
    client: Client, task_queue: str, db: Database
) -> None:
    record = await new_episode(db, REQUEST)
    slow: dict[StepKind, float] = {**INSTANT, "dialogue": 30.0}
    public_id = f"c{uuid.uuid4().hex[:6]}"
    progress = EpisodeProgress(REQUEST.scene_count)
    async with running_worker(client, task_queue, db, slow):
        follower = asyncio.create_task(
            follow_episode(
                client,
                job(record.id),
                public_id,
                task_queue=task_queue,
                progress=progress,
                poll_every=0.05,
            )
        )
        while progress.stage is not Stage.SCENES:
            await asyncio.sleep(0.05)
        follower.cancel()
        with pytest.raises(asyncio.CancelledError):
            await follower
        handle = client.get_workflow_handle(workflow_id(public_id))
        with pytest.raises(WorkflowFailureError):
            await asyncio.wait_for(handle.result(), 10)
        assert (await handle.describe()).status is WorkflowExecutionStatus.CANCELED
    # Asked again, a cancelled episode is written anew, from the steps it had saved.
    async with running_worker(client, task_queue, db):
        script = await follow_episode(client, job(record.id), public_id, task_queue=task_queue)
    assert len(script.scenes) == 2
    rows = await db.fetchall(
        "SELECT count(*) AS n FROM usage WHERE episode_id = ? AND step = 'outline'", (record.id,)
    )
    assert rows[0]["n"] == 1


async def test_a_gateway_stopping_for_a_restart_leaves_the_episode_running(
    client: Client, task_queue: str, db: Database
) -> None:
    """Its follower ends; the workflow goes on, and the restarted gateway gets the script."""
    record = await new_episode(db, REQUEST)
    progress = EpisodeProgress(REQUEST.scene_count)
    async with running_worker(client, task_queue, db, SLOW):
        follower = asyncio.create_task(
            follow_episode(
                client,
                job(record.id),
                record.public_id,
                task_queue=task_queue,
                progress=progress,
                poll_every=0.05,
                cancels=lambda: False,
            )
        )
        while progress.stage is not Stage.SCENES:
            await asyncio.sleep(0.05)
        follower.cancel()
        with pytest.raises(asyncio.CancelledError):
            await follower
        handle = client.get_workflow_handle(workflow_id(record.public_id))
        assert (await handle.describe()).status is WorkflowExecutionStatus.RUNNING
        script = await follow_episode(
            client, job(record.id), record.public_id, task_queue=task_queue, poll_every=0.1
        )
    assert len(script.scenes) == 2
    rows = await db.fetchall("SELECT step FROM usage WHERE episode_id = ?", (record.id,))
    assert sorted(row["step"] for row in rows) == sorted(u.step for u in script.usage)
