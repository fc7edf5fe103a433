"""A real ``showrunner worker`` process SIGKILLed mid-episode: another worker finishes it, and
no step the first one finished is asked of the model again."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path

from temporalio.api.enums.v1 import EventType
from temporalio.client import Client

from scriptgen.models import EpisodeRequest
from scriptgen.providers.demo import DemoProvider
from scriptgen.temporal import (
    EpisodeInput,
    EpisodeWorkflow,
    StepActivities,
    StepOptions,
    episode_worker,
    workflow_id,
)
from storage import Database, SqliteCheckpoints
from tests.temporal.conftest import INSTANT, new_episode

ROOT = Path(__file__).resolve().parents[2]
REQUEST = EpisodeRequest(premise="Two rival bakers share one oven", scene_count=4)


def start_worker_process(address: str, task_queue: str, db_path: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "SHOWRUNNER_TEMPORAL_ADDRESS": address,
        "SHOWRUNNER_TEMPORAL_TASK_QUEUE": task_queue,
        "SHOWRUNNER_DB_PATH": str(db_path),
        "SHOWRUNNER_PROVIDER": "demo",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "worker"],
        cwd=db_path.parent,  # no developer's .env
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )


async def test_killed_worker_episode_finishes_elsewhere_without_rerunning_steps(
    client: Client, address: str, task_queue: str, db: Database, tmp_path: Path
) -> None:
    record = await new_episode(db, REQUEST)
    handle = await client.start_workflow(
        EpisodeWorkflow.run,
        EpisodeInput(
            episode_id=record.id,
            request=REQUEST,
            max_parallel_scenes=2,
            steps=StepOptions(heartbeat_timeout_s=2),
        ),
        id=workflow_id(record.public_id),
        task_queue=task_queue,
        execution_timeout=timedelta(seconds=90),
    )
    checkpoints = SqliteCheckpoints(db, record.id)
    first = start_worker_process(address, task_queue, tmp_path / "showrunner.db")
    try:
        # Killed once it has finished some scene steps, with others in flight.
        for _ in range(600):
            saved = set(await checkpoints.load())
            if any(key.startswith("scene:") for key in saved) or first.poll() is not None:
                break
            await asyncio.sleep(0.05)
        assert first.poll() is None, first.communicate()[1].decode()[-2000:]
        first.send_signal(signal.SIGKILL)
        first.wait()
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    finished_by_first = set(await checkpoints.load())
    assert "comedy" not in finished_by_first

    # The rest of the episode at no latency: what is tested is who wrote what, not how fast.
    activities = StepActivities(
        DemoProvider(latencies=INSTANT),
        lambda e, p: SqliteCheckpoints(db, e, p),
        heartbeat_every=0.2,
    )
    async with episode_worker(client, activities, task_queue=task_queue, identity="second"):
        script = await handle.result()

    assert len(script.scenes) == 4 and all(scene.elements for scene in script.scenes)
    # Each step is in the ledger once: none was paid for twice, however the kill fell.
    steps = [u.step for u in script.usage]
    rows = await db.fetchall("SELECT step FROM usage WHERE episode_id = ?", (record.id,))
    assert Counter(row["step"] for row in rows) == Counter(steps)
    assert set(await checkpoints.load()) == set(steps)

    # The history: each call scheduled once (a finished one is never asked again on replay),
    # and both workers finished some of them.
    history = await handle.fetch_history()
    scheduled: Counter[str] = Counter()
    started_by: dict[int, str] = {}
    finished_by: dict[str, str] = {}
    names: dict[int, str] = {}
    for event in history.events:
        if event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
            attrs = event.activity_task_scheduled_event_attributes
            scheduled[attrs.activity_id] += 1
            names[event.event_id] = attrs.activity_id
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_STARTED:
            started_by[event.event_id] = event.activity_task_started_event_attributes.identity
        elif event.event_type == EventType.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
            done = event.activity_task_completed_event_attributes
            finished_by[names[done.scheduled_event_id]] = started_by[done.started_event_id]
    assert set(scheduled.values()) == {1}
    by_first = {key for key, who in finished_by.items() if who != "second"}
    by_second = {key for key, who in finished_by.items() if who == "second"}
    assert by_first and by_second
    assert "comedy" in by_second
    # What the first worker saved before it died is what it finished, and stands untouched.
    assert finished_by_first <= by_first | by_second
    assert {k for k in by_first if k in set(steps)} <= finished_by_first
