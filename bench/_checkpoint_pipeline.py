"""What checkpoints cost whole episodes: the real generator, 50 episodes at once, one database.

Part of ``bench/storage.py`` (its section 4). Each run writes the same 50 episodes (4-12 scenes,
the demo provider's writing with fixed per-step latencies, one :class:`FairLimiter` of 16 calls
for all of them, as the bot shares one) three ways:

- ``memory``: :class:`MemoryCheckpoints`, nothing written to disk: the baseline;
- ``shipped``: :class:`SqliteCheckpoints` on a real file, through the generator as it is: each
  step is handed to the episode's :class:`CheckpointWriter` and committed beside the next call;
- ``awaited``: the save as it was before, awaited inside the step's limiter slot before the step
  returns (a provider wrapper awaits ``SqliteCheckpoints.save`` after each call; the generator's
  own checkpoints are in memory), so the pipeline waits for every commit.

and twice over: on an idle database, and with another connection holding the file's write lock
for :data:`STALL_S` seconds from :data:`STALL_AT_S` into the run (a second process writing, an
operator's maintenance job, a slow volume's hiccup). Every episode's time is measured from the
start of the run to ``generate_full_script`` returning, and compared with the same episode's
time in memory.
"""

from __future__ import annotations

import asyncio
import sqlite3
import statistics
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from bench._episodes import create_episodes, remove_database
from scriptgen.checkpoints import Checkpoints, MemoryCheckpoints
from scriptgen.generator import ScriptGenerator
from scriptgen.limiter import FairLimiter
from scriptgen.models import EpisodeRequest
from scriptgen.providers.base import Generation, OutputT, StepKind, StepRequest
from scriptgen.providers.demo import DemoProvider
from storage import Database, SqliteCheckpoints

__all__ = [
    "CALLS_IN_FLIGHT",
    "CASES",
    "LATENCIES",
    "RATIO_TARGET",
    "STALL_AT_S",
    "STALL_S",
    "PipelineRun",
    "Variant",
    "pipeline_bench",
    "pipeline_report",
    "pipeline_run",
]

Variant = Literal["memory", "shipped", "awaited"]
CASES: tuple[tuple[Variant, bool], ...] = (
    ("memory", False),
    ("shipped", False),
    ("awaited", False),
    ("shipped", True),
    ("awaited", True),
)
"""(variant, stalled), in the order each repeat runs them."""
RATIO_TARGET = 1.05
"""Checkpoints on disk may add at most 5% to an episode's time, idle or stalled (about the
run-to-run noise of this bench on a shared 2-CPU machine: "never the bottleneck")."""

LATENCIES: dict[StepKind, float] = {
    "outline": 0.060,
    "dialogue": 0.040,
    "directions": 0.020,
    "comedy": 0.060,
    "refine": 0.030,
}
"""About a thirtieth of real calls' time: short enough for a quick bench, long enough that 50
episodes overlap the way they do in the bot."""
CALLS_IN_FLIGHT = 16
STALL_AT_S = 0.3
STALL_S = 1.0


@dataclass
class PipelineRun:
    variant: Variant
    stalled: bool
    episode_s: list[float] = field(default_factory=list)
    """Seconds from the start of the run to each episode's script, in episode order."""
    wall_s: float = 0.0
    steps_stored: int = 0
    calls: int = 0


class AwaitingProvider:
    """The save as it was: committed inside the step's slot, before the step returns."""

    def __init__(self, inner: DemoProvider, checkpoints: SqliteCheckpoints) -> None:
        self._inner = inner
        self._checkpoints = checkpoints

    @property
    def name(self) -> str:
        return self._inner.name

    @property
    def model(self) -> str:
        return self._inner.model

    async def generate(self, step: StepRequest[OutputT]) -> Generation[OutputT]:
        generation = await self._inner.generate(step)
        await self._checkpoints.save(step.key, generation.value, generation.usage)
        return generation


async def _hold_write_lock(path: Path, at: float, seconds: float) -> None:
    """Another connection takes the write lock at ``at`` (a perf_counter instant) and keeps it
    for ``seconds`` (on a thread: taking it may wait for one of our commits)."""
    other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    try:
        await asyncio.sleep(max(0.0, at - time.perf_counter()))
        await asyncio.to_thread(other.execute, "BEGIN IMMEDIATE")
        await asyncio.sleep(seconds)
        await asyncio.to_thread(other.execute, "COMMIT")
    finally:
        other.close()


async def pipeline_run(
    path: Path,
    requests: Sequence[EpisodeRequest],
    variant: Variant,
    stalled: bool,
    *,
    stall_at: float = STALL_AT_S,
    stall_s: float = STALL_S,
) -> PipelineRun:
    """Write every episode of ``requests`` at once; see the module's docstring."""
    figures = PipelineRun(variant, stalled)
    db = await Database.open(path)
    try:
        ids = await create_episodes(db, requests)
        limiter = FairLimiter(CALLS_IN_FLIGHT)
        start = time.perf_counter()
        figures.episode_s = [0.0] * len(requests)

        async def one(n: int, request: EpisodeRequest) -> None:
            demo = DemoProvider(n, latencies=LATENCIES)
            checkpoints: Checkpoints = MemoryCheckpoints()
            provider: DemoProvider | AwaitingProvider = demo
            if variant == "shipped":
                checkpoints = SqliteCheckpoints(db, ids[n])
            elif variant == "awaited":
                provider = AwaitingProvider(demo, SqliteCheckpoints(db, ids[n]))
            generator = ScriptGenerator(provider, 3, limiter=limiter)
            script = await generator.generate_full_script(
                request, checkpoints=checkpoints, tenant=str(n % 5)
            )
            figures.episode_s[n] = time.perf_counter() - start
            figures.calls += len(script.usage)

        stall = (
            asyncio.create_task(_hold_write_lock(path, start + stall_at, stall_s))
            if stalled
            else None
        )
        await asyncio.gather(*(one(n, r) for n, r in enumerate(requests)))
        figures.wall_s = time.perf_counter() - start
        if stall is not None:
            await stall
        row = await db.fetchone("SELECT count(*) FROM steps")
        assert row is not None
        figures.steps_stored = int(row[0])
    finally:
        await db.close()
    return figures


async def pipeline_bench(
    directory: Path, requests: Sequence[EpisodeRequest], repeats: int
) -> list[PipelineRun]:
    """Every case of :data:`CASES`, ``repeats`` times round-robin, each on a fresh file, after
    one run in memory to warm up (not counted)."""
    await pipeline_run(directory / "pipeline-warm-up.db", requests, "memory", False)
    remove_database(directory / "pipeline-warm-up.db")
    runs = []
    for n in range(repeats):
        for variant, stalled in CASES:
            path = directory / f"pipeline-{n}-{variant}-{int(stalled)}.db"
            runs.append(await pipeline_run(path, requests, variant, stalled))
            remove_database(path)
    return runs


def pipeline_report(runs: Sequence[PipelineRun]) -> list[str]:
    """The table: per case, medians over the repeats; ratios per episode against the memory run
    of the same repeat."""
    baselines = [r for r in runs if r.variant == "memory"]
    lines = [
        f"{'':<44} {'mean s':>7} {'max s':>7} {'x memory':>9} {'steps on disk':>14}"
        f"  {'target':<10} result"
    ]
    names = {
        "memory": "in memory: the baseline",
        "shipped": "SQLite, as shipped",
        "awaited": "SQLite, awaited in the slot (before)",
    }
    for variant, stalled in CASES:
        mine = [r for r in runs if (r.variant, r.stalled) == (variant, stalled)]
        ratios = [
            statistics.mean(a / b for a, b in zip(r.episode_s, base.episode_s, strict=True))
            for r, base in zip(mine, baselines, strict=True)
        ]
        ratio = statistics.median(ratios)
        stored = all(r.steps_stored == r.calls for r in mine) if variant != "memory" else None
        target, result = "", ""
        if variant == "shipped":
            target = f"<={RATIO_TARGET:.2f}x"
            result = "PASS" if ratio <= RATIO_TARGET and stored else "FAIL"
        label = names[variant] + (f", locked {STALL_S:g} s" if stalled else "")
        on_disk = "" if stored is None else ("all" if stored else "MISSING")
        lines.append(
            f"{label:<44} {statistics.median(statistics.mean(r.episode_s) for r in mine):>7.3f}"
            f" {statistics.median(max(r.episode_s) for r in mine):>7.3f} {ratio:>8.3f}x"
            f" {on_disk:>14}  {target:<10} {result}"
        )
    return lines
