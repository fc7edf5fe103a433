"""What the performance monitor costs the pipeline.

    uv run python bench/monitor.py [--quick]

Prints a table, writes nothing. One run, in turns so that a slow patch of the shared machine
hits both: 12-scene episodes (12 in flight) with a demo provider that answers at once, so that
all that is measured is the generator's own work, with every step timed (the monitor as
shipped, no listener) and with nothing timed (the pipeline as it was). The difference, over
the steps recorded (each model call and each checkpoint commit), is the monitor's cost per
step; a tight loop of ``monitor.step()`` gives the same figure without the pipeline around it.
Wall time here is the generator's own work only: with a model's latency (``bench/bot_load.py``
compares the bot with its monitoring on and off) the same cost is spread over seconds a call.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import statistics
import sys
import time
from pathlib import Path
from types import TracebackType

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scriptgen.generator import ScriptGenerator
from scriptgen.models import CallUsage, EpisodeRequest
from scriptgen.monitor import PerformanceMonitor, StepClock
from scriptgen.providers.base import StepKind
from scriptgen.providers.demo import DemoProvider

SCENES = 12
PREMISE = "A barista discovers the espresso machine is haunted"
NO_LATENCY: dict[StepKind, float] = dict.fromkeys(
    ("outline", "dialogue", "directions", "comedy", "refine"), 0.0
)


class _Untimed(StepClock):
    """A step clock that times nothing."""

    def __enter__(self) -> StepClock:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        return None


class UntimedMonitor(PerformanceMonitor):
    """Off: what the generator did before it had a monitor (one shared no-op clock)."""

    def __init__(self) -> None:
        super().__init__()
        self._untimed = _Untimed(self, "", "", None)

    def step(self, kind: str, key: str, *, label: str | None = None) -> StepClock:
        return self._untimed


async def episodes(monitor: PerformanceMonitor, count: int) -> tuple[float, float]:
    """Wall and CPU seconds of ``count`` episodes, one after another, every step through
    ``monitor``."""
    generator = ScriptGenerator(DemoProvider(latencies=NO_LATENCY), SCENES, monitor=monitor)
    request = EpisodeRequest(premise=PREMISE, scene_count=SCENES)
    wall, cpu = time.perf_counter(), time.process_time()
    for n in range(count):
        await generator.generate_full_script(request, label=f"ep-{n}")
    return time.perf_counter() - wall, time.process_time() - cpu


def step_loop_seconds(steps: int) -> float:
    """One timed model call's cost in a tight loop: the step, its first token, its record."""
    monitor = PerformanceMonitor()
    usage = CallUsage(step="scene:1:dialogue", model="claude-sonnet-5-5", output_tokens=900)
    started = time.perf_counter()
    for _ in range(steps):
        with monitor.step("dialogue", "scene:1:dialogue", label="ep-bench") as timing:
            timing.queued(0.0)
            timing.first_token()
            timing.usage = usage
    return (time.perf_counter() - started) / steps


async def main(quick: bool) -> None:
    rounds, count = (3, 5) if quick else (9, 20)
    timed_monitor = PerformanceMonitor()
    await episodes(timed_monitor, 1)  # warm up: imports, caches, the demo's text
    timed_monitor.reset()
    off: list[tuple[float, float]] = []
    on: list[tuple[float, float]] = []
    for _ in range(rounds):
        off.append(await episodes(UntimedMonitor(), count))
        on.append(await episodes(timed_monitor, count))
    steps = sum(row.count for row in timed_monitor.table()) / (rounds * count)
    loop = step_loop_seconds(20_000 if quick else 100_000)
    print(f"\nThe monitor's cost: {SCENES}-scene episodes answered at once, {rounds} turns of")
    print(f"{count} each way ({steps:.0f} steps timed an episode: calls and checkpoint commits)\n")
    print(
        f"  {'per episode':<12} {'untimed ms':>10} {'timed ms':>9} {'ratio':>7} {'per step ns':>12}"
    )
    for n, name in enumerate(("wall", "CPU")):
        before = statistics.median(run[n] for run in off) / count
        after = statistics.median(run[n] for run in on) / count
        per_step = (after - before) / steps
        print(
            f"  {name:<12} {before * 1e3:>10.2f} {after * 1e3:>9.2f} {after / before:>6.3f}x "
            f"{per_step * 1e9:>12,.0f}"
        )
    print(f"\n  monitor.step() alone, in a tight loop: {loop * 1e9:,.0f} ns a step")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer, shorter rounds")
    # A pause of the shared machine makes a step "slow"; that is not what is measured here.
    logging.getLogger("scriptgen.monitor").setLevel(logging.ERROR)
    asyncio.run(main(parser.parse_args().quick))
