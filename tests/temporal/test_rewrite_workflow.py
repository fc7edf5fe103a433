"""A scene's rewrite as a workflow: the takes the in-process generator writes, saved apart."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from temporalio.client import Client, WorkflowFailureError

from scriptgen.generator import ScriptGenerator
from scriptgen.models import EpisodeRequest
from scriptgen.providers.demo import DemoProvider
from scriptgen.temporal import RewriteInput, RewriteWorkflow, rewrite_workflow_id
from storage import Database, SqliteCheckpoints, rewrite_prefix
from tests.temporal.conftest import INSTANT, new_episode, running_worker

REQUEST = EpisodeRequest(premise="A ghost haunts a tax office", scene_count=2)
NOTE = "the ghost should be afraid of the auditor"


async def test_rewrite_takes_match_the_pipeline_and_are_saved_under_the_prefix(
    client: Client, task_queue: str, db: Database
) -> None:
    record = await new_episode(db, REQUEST)
    generator = ScriptGenerator(DemoProvider(latencies=INSTANT), 2)
    script = await generator.generate_full_script(REQUEST)
    local = await generator.rewrite_scene(script, 1, NOTE, takes=2)
    prefix = rewrite_prefix(7)
    async with running_worker(client, task_queue, db):
        handle = await client.start_workflow(
            RewriteWorkflow.run,
            RewriteInput(
                episode_id=record.id, prefix=prefix, script=script, index=1, note=NOTE, takes=2
            ),
            id=rewrite_workflow_id(uuid.uuid4().hex[:8]),
            task_queue=task_queue,
            execution_timeout=timedelta(seconds=60),
        )
        takes = await handle.result()
        progress = await handle.query(RewriteWorkflow.progress)
    assert [t.scene for t in takes] == [t.scene for t in local]
    assert takes[0].scene != script.scenes[1]
    assert progress is not None and progress.scene == 2 and progress.takes_done == 2
    saved = await SqliteCheckpoints(db, record.id, prefix).load()
    assert set(saved) == {
        f"take:{t}:scene:2:{part}" for t in (1, 2) for part in ("dialogue", "directions")
    }
    assert await SqliteCheckpoints(db, record.id).load() == {}


async def test_rewrite_of_a_scene_that_does_not_exist_fails_with_the_reason(
    client: Client, task_queue: str, db: Database
) -> None:
    record = await new_episode(db, REQUEST)
    script = await ScriptGenerator(DemoProvider(latencies=INSTANT), 2).generate_full_script(REQUEST)
    async with running_worker(client, task_queue, db):
        handle = await client.start_workflow(
            RewriteWorkflow.run,
            RewriteInput(
                episode_id=record.id, prefix=rewrite_prefix(8), script=script, index=5, note=NOTE
            ),
            id=rewrite_workflow_id(uuid.uuid4().hex[:8]),
            task_queue=task_queue,
            execution_timeout=timedelta(seconds=60),
        )
        with pytest.raises(WorkflowFailureError) as failure:
            await handle.result()
    assert "the script has scenes 1 to 2, not 6" in str(failure.value.cause)
