"""How much parallel scene generation buys, and what the orchestration costs.

    uv run python bench/parallel.py [--quick]

Prints tables, writes nothing. All figures are ratios within one run (machines here are noisy):
- speed-up: wall time of max_parallel_scenes=1 divided by this row's wall time;
- wall / critical path: the critical path is outline + the slowest scene's chain (dialogue then
  directions) + the comedy pass + the slowest refinement call, from the calls' own measured
  durations; 1.00 means orchestration added nothing on top of the physical limit;
- orchestration: wall time per call with a provider that answers instantly (replayed outputs),
  i.e. everything the generator does besides waiting for the model.

Latencies are the seed report's: dialogue 200 ms, directions 100 ms, other steps instant. The
second table runs the same episodes through the real Anthropic SDK against the fake Messages API
over loopback (tests/fake_anthropic), with the same latencies.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path

from pydantic import BaseModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scriptgen.generator import ScriptGenerator
from scriptgen.models import CallUsage, EpisodeRequest, Script
from scriptgen.providers.base import Generation, OutputT, StepKind, StepRequest
from scriptgen.providers.demo import DemoProvider

REPORT_LATENCIES: dict[StepKind, float] = {
    "outline": 0.0,
    "dialogue": 0.2,
    "directions": 0.1,
    "comedy": 0.0,
    "refine": 0.0,
}
PREMISE = "A barista discovers the espresso machine is haunted"


def critical_path(script: Script) -> float:
    by_step = {u.step: u.latency_s for u in script.usage}
    chains = [
        by_step[f"scene:{n}:dialogue"] + by_step[f"scene:{n}:directions"]
        for n in range(1, len(script.scenes) + 1)
    ]
    refines = [v for k, v in by_step.items() if k.startswith("refine:")]
    return by_step["outline"] + max(chains) + by_step["comedy"] + max(refines, default=0.0)


class ReplayProvider:
    """Answers every step at once with outputs recorded from an earlier run."""

    name = "replay"
    model = "replay"

    def __init__(self, outputs: dict[str, BaseModel]) -> None:
        self.outputs = outputs

    async def generate(self, step: StepRequest[OutputT]) -> Generation[OutputT]:
        await asyncio.sleep(0)
        value = self.outputs[step.key]
        assert isinstance(value, step.output)
        return Generation(value, CallUsage(step=step.key, model=self.model))


class RecordingProvider(DemoProvider):
    def __init__(self) -> None:
        super().__init__(seed=1, latencies=dict.fromkeys(REPORT_LATENCIES, 0.0))
        self.outputs: dict[str, BaseModel] = {}

    async def generate(self, step: StepRequest[OutputT]) -> Generation[OutputT]:
        generation = await super().generate(step)
        self.outputs[step.key] = generation.value
        return generation


async def orchestration_cost(scenes: int, parallel: int, repeats: int) -> float:
    """Seconds of generator overhead per call."""
    recorder = RecordingProvider()
    request = EpisodeRequest(premise=PREMISE, scene_count=scenes)
    await ScriptGenerator(recorder, parallel).generate_full_script(request)
    generator = ScriptGenerator(ReplayProvider(recorder.outputs), parallel)
    calls, started = 0, time.perf_counter()
    for _ in range(repeats):
        script = await generator.generate_full_script(request, lambda s, c, t: None)
        calls += len(script.usage)
    return (time.perf_counter() - started) / calls


async def measure(
    make_generator: Callable[[int], ScriptGenerator], scenes: int, parallels: list[int]
) -> list[tuple[int, float, float]]:
    rows: list[tuple[int, float, float]] = []
    request = EpisodeRequest(premise=PREMISE, scene_count=scenes)
    for parallel in parallels:
        started = time.perf_counter()
        script = await make_generator(parallel).generate_full_script(request)
        wall = time.perf_counter() - started
        rows.append((parallel, wall, wall / critical_path(script)))
    return rows


def print_table(
    title: str,
    results: dict[int, list[tuple[int, float, float]]],
    orchestration: dict[tuple[int, int], float] | None,
) -> None:
    print(f"\n{title}")
    head = f"{'scenes':>6} {'parallel':>8} {'wall s':>8} {'speed-up':>9} {'wall/crit':>10}"
    print(head + (f" {'orch ms/call':>13}" if orchestration else ""))
    for scenes, rows in results.items():
        sequential = rows[0][1]
        for parallel, wall, ratio in rows:
            line = (
                f"{scenes:>6} {parallel:>8} {wall:>8.3f} {sequential / wall:>8.2f}x {ratio:>10.2f}"
            )
            if orchestration:
                line += f" {orchestration[(scenes, parallel)] * 1000:>13.3f}"
            print(line)


def demo_generator(parallel: int) -> ScriptGenerator:
    return ScriptGenerator(DemoProvider(seed=1, latencies=REPORT_LATENCIES), parallel)


async def main(quick: bool) -> None:
    scene_counts = [3, 6] if quick else [3, 6, 12]
    demo: dict[int, list[tuple[int, float, float]]] = {}
    orchestration: dict[tuple[int, int], float] = {}
    for scenes in scene_counts:
        parallels = sorted({1, 3, scenes})
        demo[scenes] = await measure(demo_generator, scenes, parallels)
        for parallel in parallels:
            orchestration[(scenes, parallel)] = await orchestration_cost(
                scenes, parallel, 5 if quick else 20
            )
    print_table(
        "Demo provider (report latencies: dialogue 200 ms, directions 100 ms)", demo, orchestration
    )
    from bench._sdk import sdk_results

    sdk = await sdk_results(scene_counts, measure, REPORT_LATENCIES)
    print_table(
        "Real Anthropic SDK over loopback against the fake Messages API, same latencies", sdk, None
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 and 6 scenes, fewer repeats")
    asyncio.run(main(parser.parse_args().quick))
