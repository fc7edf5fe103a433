"""A worker's model calls go through its limiter and its monitor, as a process's own do: a 429
slows the worker's calls, and every call is timed under the episode's name."""

from __future__ import annotations

import uuid
from datetime import timedelta

import anthropic
from temporalio.client import Client

from scriptgen.limiter import FairLimiter
from scriptgen.models import EpisodeRequest
from scriptgen.monitor import PerformanceMonitor, StepTiming
from scriptgen.providers.anthropic import AnthropicProvider, ExponentialBackoff
from scriptgen.temporal import EpisodeInput, EpisodeWorkflow, StepActivities, episode_worker
from scriptgen.temporal import workflow_id as episode_workflow_id
from storage import Database, SqliteCheckpoints
from tests.episode_responder import EpisodeResponder
from tests.fake_anthropic import FakeAnthropic
from tests.temporal.conftest import new_episode

REQUEST = EpisodeRequest(premise="A lighthouse keeper adopts a seagull", scene_count=2)
CALLS = 1 + 2 * 2 + 1  # outline, two scenes' dialogue and directions, the comedy pass


async def test_a_workers_calls_go_through_its_limiter_and_monitor(
    client: Client, task_queue: str, db: Database
) -> None:
    record = await new_episode(db, REQUEST)
    limiter = FairLimiter(4)
    monitor = PerformanceMonitor()
    timed: list[StepTiming] = []
    monitor.subscribe(timed.append)
    async with (
        FakeAnthropic(responder=EpisodeResponder(seed=5)) as api,
        anthropic.AsyncAnthropic(api_key="sk-test", base_url=api.base_url) as sdk,
    ):
        # The first dialogue request is refused once, as an overloaded API would.
        api.enqueue_status(429, retry_after=0, match="write_dialogue")
        activities = StepActivities(
            AnthropicProvider(sdk, backoff=ExponentialBackoff(base_s=0.01)),
            lambda episode_id, prefix: SqliteCheckpoints(db, episode_id, prefix),
            heartbeat_every=0.2,
            limiter=limiter,
            monitor=monitor,
        )
        wid = episode_workflow_id(uuid.uuid4().hex[:8])
        async with episode_worker(client, activities, task_queue=task_queue):
            script = await client.execute_workflow(
                EpisodeWorkflow.run,
                EpisodeInput(episode_id=record.id, request=REQUEST, tenant="guild-7"),
                id=wid,
                task_queue=task_queue,
                execution_timeout=timedelta(seconds=60),
            )

    assert len(script.scenes) == 2
    # The 429 reached the worker's limiter, which cut its limit once.
    assert limiter.congestion_signals == 1
    assert limiter.decreases == 1
    assert limiter.peak <= limiter.max_capacity
    assert limiter.in_flight == 0
    # Every call the workflow asked for was timed here, under the episode's workflow id.
    calls = [t for t in timed if t.outcome == "ok"]
    assert len(calls) >= CALLS
    assert {t.label for t in timed} == {wid}
    assert {t.kind for t in calls} >= {"outline", "dialogue", "directions", "comedy"}
    assert all(t.usage is not None and t.usage.output_tokens > 0 for t in calls)
