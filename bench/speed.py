"""How fast an episode is written: wall time against its critical path, time to script, what
each call costs besides the model, and the bot under load. Issue 10.

    uv run python bench/speed.py [--quick]

Prints a Markdown report (exit 1 if a target is missed); writes nothing. Every episode goes
through the real Anthropic SDK, streaming over loopback from the fake Messages API
(tests/fake_anthropic), which records when it wrote each piece of every answer. ``--quick``:
every latency x0.1, one run of each, a small load; for the smoke test, not for figures.

1. **Critical path**: 12 scenes, 12 in flight, every call 0.4 s (the first token after 0.2 s,
   then the tool input streamed over 0.2 s). The critical path is read from the fake: from the
   outline's start, each scene's chain (dialogue then directions) from the moment its entry of
   the outline was sent whole, then the comedy pass and the slowest refinement; durations are
   the fake's own, request in to last byte out. wall / critical path - 1 is everything else:
   the SDK, the loop, the orchestration, the gaps between calls, which are listed.
2. **Time to script** at 6 scenes, the pipeline as it was (no scene before the whole outline:
   the provider is not asked to stream it) against now, on answers of realistic sizes streamed
   at a realistic token rate (bench/_speed_model.py: 0.5 s to the first token, then 100 tokens a
   second, sized so the old pipeline's calls take 3 s outline, 3 s dialogue, 2 s directions,
   2 s comedy pass), with 6 scenes in flight and with the default 3.
3. **Per call**: the generator's own time with a provider that answers at once (replayed
   answers); the Anthropic provider's CPU per call on a mocked transport (no network, no server
   in the process), through the SDK's ``messages.stream()`` helper as before and as now, and
   where it goes now by package (cProfile).
4. **The bot under load** (bench/bot_load.py): 100 episodes at once from 20 guilds, the real
   bot in-process against the fake Discord, every model call through the SDK to the fake API.
   Event-loop lag, and where the loop's time goes (sampled).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import dataclasses
import json
import pstats
import statistics
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import anthropic
import httpx2

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench import _speed_model as model
from bench import bot_load
from bench._api_process import fake_api_process
from bench._sdk import TOOLS
from bench._where import LoopSampler
from bench.parallel import orchestration_cost
from scriptgen import prompts
from scriptgen.generator import ScriptGenerator
from scriptgen.models import EpisodeRequest, Script
from scriptgen.progress import EpisodeProgress
from scriptgen.providers.anthropic import AnthropicProvider, _request
from scriptgen.providers.base import Generation, OutputT, Provider, StepKind, StepRequest
from scriptgen.providers.demo import DemoProvider
from tests.episode_responder import EpisodeResponder
from tests.fake_anthropic import FakeAnthropic, Responder
from tests.fake_anthropic._wire import Reply, Usage, sse

PREMISE = "A barista discovers the espresso machine is haunted"
QUICK_SCALE = 0.1

CRIT_SCENES = 12
CRIT_CALL_S = 0.4
CRIT_TTFT_S = 0.2
CRIT_RUNS = 3
CRIT_TARGET = 1.05
TTS_SCENES = 6
TTS_TARGET = 0.75
ORCH_TARGET_MS = 0.5


@dataclass(frozen=True)
class Row:
    metric: str
    shown: str
    target: str = ""
    ok: bool | None = None


@dataclass
class Report:
    quick: bool
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, metric: str, shown: str, target: str = "", ok: bool | None = None) -> None:
        self.rows.append(Row(metric, shown, target, ok))

    @property
    def passed(self) -> bool:
        return all(row.ok is not False for row in self.rows)


# -- the pipelines ----------------------------------------------------------------------------


class WholeOutline:
    """The pipeline as it was: the provider is never asked to stream the outline, so no scene
    begins before all of it is written (every later step is today's)."""

    def __init__(self, provider: Provider) -> None:
        self.provider = provider
        self.name, self.model = provider.name, provider.model

    async def generate(self, step: StepRequest[OutputT]) -> Generation[OutputT]:
        return await self.provider.generate(dataclasses.replace(step, on_partial=None))


@dataclass(frozen=True)
class Timed:
    wall: float
    script: Script
    progress: EpisodeProgress
    episode: model.Episode


async def write(
    fake: FakeAnthropic, client: anthropic.AsyncAnthropic, scenes: int, parallel: int, now: bool
) -> Timed:
    provider: Provider = AnthropicProvider(client)
    if not now:
        provider = WholeOutline(provider)
    generator = ScriptGenerator(provider, parallel)
    request = EpisodeRequest(premise=PREMISE, scene_count=scenes)
    progress = EpisodeProgress(scenes, generator.max_refinements)
    first = len(fake.requests)
    started = time.perf_counter()
    script = await generator.generate_full_script(request, progress=progress)
    wall = time.perf_counter() - started
    return Timed(wall, script, progress, model.episode(fake.requests[first:], streamed=now))


def sdk_fake(responder: Responder, **timing: Any) -> FakeAnthropic:
    return FakeAnthropic(responder=responder, chunk_chars=model.CHUNK_CHARS, **timing)


# -- 1. the critical path ---------------------------------------------------------------------


async def critical_path(report: Report, quick: bool) -> None:
    scale = QUICK_SCALE if quick else 1.0
    ttft, streamed = CRIT_TTFT_S * scale, (CRIT_CALL_S - CRIT_TTFT_S) * scale
    timing = {"ttft": ttft, "stream_s_by_tool": dict.fromkeys(TOOLS.values(), streamed)}
    runs: list[Timed] = []
    async with (
        sdk_fake(EpisodeResponder(seed=1), **timing) as fake,
        anthropic.AsyncAnthropic(api_key="bench", base_url=fake.base_url) as client,
    ):
        await write(fake, client, 2, 2, now=True)  # connections, caches: not measured
        for _ in range(1 if quick else CRIT_RUNS):
            runs.append(await write(fake, client, CRIT_SCENES, CRIT_SCENES, now=True))
    ratios = [run.wall / run.episode.critical_path for run in runs]
    ratio = statistics.median(ratios)
    middle = runs[ratios.index(ratio)]
    report.add(
        f"wall / critical path, {CRIT_SCENES} scenes, {CRIT_SCENES} in flight, "
        f"{CRIT_CALL_S * scale:g} s a call (median of {len(runs)})",
        f"{ratio:.3f} ({middle.wall:.3f} s / {middle.episode.critical_path:.3f} s)",
        f"<= {CRIT_TARGET}",
        ratio <= CRIT_TARGET,
    )
    episode = middle.episode
    assert episode.outline.finished is not None
    first = min(dialogue.started for dialogue, _ in episode.chains)
    lead = episode.outline.finished - first
    report.add(
        "first scene call, before the outline call ends by",
        f"{lead * 1000:.0f} ms",
        "> 0",
        lead > 0,
    )
    for label, gaps in gap_table(episode).items():
        report.add(
            f"  gap: {label} (max / median)", f"{max(gaps):.1f} / {statistics.median(gaps):.1f} ms"
        )
    report.add("  scenes begun again (entry changed)", str(middle.progress.restarted_scenes))


def gap_table(episode: model.Episode) -> dict[str, list[float]]:
    """Between each call and what it waited for, as the fake saw them (ms)."""
    outline = episode.outline
    gaps: dict[str, list[float]] = {"entry sent whole -> its dialogue call": []}
    gaps["dialogue ends -> its directions call"] = []
    for ready, (dialogue, directions) in zip(episode.ready, episode.chains, strict=True):
        assert dialogue.finished is not None
        gaps["entry sent whole -> its dialogue call"].append(
            (dialogue.started - outline.started - ready) * 1000
        )
        gaps["dialogue ends -> its directions call"].append(
            (directions.started - dialogue.finished) * 1000
        )
    before = max(d.finished or 0.0 for _, d in episode.chains)
    for n, stage in enumerate(episode.tail):
        name = "comedy pass" if n == 0 else "refinement"
        gaps[f"last call before -> {name}"] = [(min(r.started for r in stage) - before) * 1000]
        before = max(r.finished or 0.0 for r in stage)
    return gaps


# -- 2. time to script ------------------------------------------------------------------------


async def time_to_script(report: Report, quick: bool) -> None:
    scale = QUICK_SCALE if quick else 1.0
    timing = {"ttft": model.TTFT * scale, "per_chunk": model.PER_CHUNK * scale}
    walls: dict[tuple[int, bool], Timed] = {}
    async with (
        sdk_fake(model.RateResponder(), **timing) as fake,
        anthropic.AsyncAnthropic(api_key="bench", base_url=fake.base_url) as client,
    ):
        for parallel in (TTS_SCENES, 3):
            for now in (False, True):
                walls[(parallel, now)] = await write(fake, client, TTS_SCENES, parallel, now)
    for parallel in (TTS_SCENES, 3):
        before, after = walls[(parallel, False)], walls[(parallel, True)]
        ratio = after.wall / before.wall
        default = parallel == 3
        report.add(
            f"time to script, {TTS_SCENES} scenes, {parallel} in flight"
            + (" (the default)" if default else "")
            + ": now / as it was",
            f"{ratio:.2f} ({after.wall:.2f} s / {before.wall:.2f} s)",
            f"<= {TTS_TARGET}",
            ratio <= TTS_TARGET,
        )
        crit = after.episode.critical_path
        report.add(
            f"  now: its critical path (all {TTS_SCENES} in flight), floor",
            f"{crit:.2f} s, {floor(after.episode):.2f} s",
        )
    report.notes.append(
        f"Time to script: the answers are sized so that, at {model.TOKENS_PER_S:.0f} tokens/s "
        f"after {model.TTFT} s to the first token, the pipeline as it was takes 3 s for the "
        "outline, 3 s a dialogue, 2 s for directions and 2 s for the comedy pass"
        + (" (x0.1 in --quick)" if quick else "")
        + ". The floor is the outline's end plus one scene's chain: the last scene's entry "
        "is the end of the outline, so no schedule of the same calls can finish before it."
    )


def floor(episode: model.Episode) -> float:
    """The outline call, then one scene's dialogue and directions: what no schedule beats."""
    dialogue, directions = episode.chains[-1]
    assert dialogue.finished is not None
    assert directions.finished is not None
    assert episode.outline.finished is not None
    seconds = (dialogue.finished - dialogue.started) + (directions.finished - directions.started)
    return episode.outline.finished - episode.outline.started + seconds


# -- 3. per call ------------------------------------------------------------------------------


async def per_call(report: Report, quick: bool) -> None:
    orch = await orchestration_cost(CRIT_SCENES, CRIT_SCENES, 3 if quick else 20)
    report.add(
        f"orchestration per call (generator, {CRIT_SCENES} scenes, answers at once)",
        f"{orch * 1000:.3f} ms",
        f"<= {ORCH_TARGET_MS} ms",
        orch * 1000 <= ORCH_TARGET_MS,
    )
    calls = 100 if quick else 1000
    helper, ours, profile = await provider_cpu(calls)
    report.add(
        "Anthropic provider CPU per call, SDK messages.stream() helper (before)",
        f"{helper * 1000:.2f} ms",
    )
    report.add("Anthropic provider CPU per call, now", f"{ours * 1000:.2f} ms")
    for package, share in profile:
        report.add(f"  now, {package}", f"{share:.0%}")
    report.notes.append(
        "Per call: a dialogue answer of the calibrated size "
        f"({model.DIALOGUE_CHARS} characters of tool input in {model.CHUNK_CHARS}-character "
        "deltas) from a mocked httpx2 transport, so only the client's CPU is counted."
    )


async def provider_cpu(calls: int) -> tuple[float, float, list[tuple[str, float]]]:
    """Seconds of CPU per call through the SDK's stream helper and through the provider now,
    and where the provider's goes, by package."""
    request = EpisodeRequest(premise=PREMISE, scene_count=CRIT_SCENES)
    demo = DemoProvider(time_to_first_token=0, seconds_per_token=0)
    outline = (await demo.generate(prompts.outline_step(request))).value
    step = prompts.dialogue_step(request, outline, 3)
    tools, name = _request.tools(step)
    asked = {"tools": tools, "tool_choice": {"type": "tool", "name": name}}
    payload = model.RateResponder()({**asked, "messages": _request.first_turn(step)})
    reply = Reply("tool_use", json.dumps(payload), name, "tool_use", Usage(100, 250), "bench")
    events = [*reply.opening("msg_bench"), *reply.deltas(model.CHUNK_CHARS), *reply.closing()]
    body = b"".join(sse(*event) for event in events)

    def answer(_: httpx2.Request) -> httpx2.Response:
        return httpx2.Response(200, headers={"content-type": "text/event-stream"}, content=body)

    transport = httpx2.MockTransport(answer)
    async with anthropic.AsyncAnthropic(
        api_key="bench", max_retries=0, http_client=httpx2.AsyncClient(transport=transport)
    ) as client:
        provider = AnthropicProvider(client)

        async def through_helper() -> None:
            """What the provider did before: the SDK's ``messages.stream()`` helper."""
            async with client.messages.stream(
                model="bench",
                max_tokens=step.max_tokens,
                system=_request.system_blocks(step),
                messages=_request.first_turn(step),
                tools=tools,
                tool_choice={"type": "tool", "name": name},
            ) as stream:
                message = await stream.get_final_message()
            _request.validate(step, message, name)

        async def now() -> None:
            await provider.generate(step)

        helper = await _cpu_per_call(through_helper, calls)
        ours = await _cpu_per_call(now, calls)
        profiler = cProfile.Profile()
        profiler.enable()
        for _ in range(calls // 4):
            await now()
        profiler.disable()
    return helper, ours, by_package(pstats.Stats(profiler))


async def _cpu_per_call(call: Callable[[], Awaitable[None]], calls: int) -> float:
    for _ in range(20):
        await call()
    started = time.process_time()
    for _ in range(calls):
        await call()
    return (time.process_time() - started) / calls


PACKAGES = (
    ("scriptgen/", "scriptgen (ours)"),
    ("/anthropic/", "anthropic SDK"),
    ("/httpx2/", "httpx2 and httpcore2"),
    ("/httpcore2/", "httpx2 and httpcore2"),
    ("/pydantic", "pydantic"),
    ("/json/", "json"),
    ("/asyncio/", "asyncio"),
)


def by_package(stats: pstats.Stats) -> list[tuple[str, float]]:
    """Share of the profiled time spent in each package's own code (tottime)."""
    totals: dict[str, float] = {}
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    for (filename, _, _), (_, _, tottime, _, _) in raw.items():
        package = next((label for part, label in PACKAGES if part in filename), None)
        if package is None:
            package = "builtins (C)" if filename == "~" else "other"
        totals[package] = totals.get(package, 0.0) + tottime
    whole = sum(totals.values()) or 1.0
    return sorted(((k, v / whole) for k, v in totals.items()), key=lambda kv: -kv[1])


# -- 4. the bot under load --------------------------------------------------------------------

LOAD_GUILDS, LOAD_PER_GUILD = 20, 5
LOAD_SLOW_DOWN = 10
"""bot_load's latencies (100 to 200 ms a call, for the demo provider) times this: calls of 1 to
2 s, still faster than a model's, but no longer twenty times more stream events a second than a
model sends (the SDK's cost is per event)."""
LOAD_CALLS = 48
"""Calls in flight in the process (SHOWRUNNER_MAX_CONCURRENT_CALLS) for 100 episodes at once."""
LOAD_TIMEOUT_S = 240.0
LOAD_JITTER = 0.25
"""Each call's latency x a factor in 1 ± this: calls of one kind do not all end together."""
LAG_P99_TARGET = 0.020


class MeteredProvider:
    """Counts the calls of a provider and the model time they were meant to take."""

    def __init__(self, provider: Provider, latencies: Mapping[StepKind, float]) -> None:
        self.provider = provider
        self.latencies = latencies
        self.name, self.model = provider.name, provider.model
        self.calls = 0
        self.model_seconds = 0.0

    async def generate(self, step: StepRequest[OutputT]) -> Generation[OutputT]:
        self.calls += 1
        self.model_seconds += self.latencies[step.kind]
        return await self.provider.generate(step)


async def bot_under_load(report: Report, quick: bool) -> None:
    """Twice through the SDK: once for the event-loop lag, once sampled for where the loop's
    time goes (sampling slows the loop: its lag is not the bot's); and once with the demo
    provider, as bench/bot_load.py runs, for the lag without the SDK."""
    guilds, per_guild = (5, 2) if quick else (LOAD_GUILDS, LOAD_PER_GUILD)
    episodes = guilds * per_guild
    slow_down = 1 if quick else LOAD_SLOW_DOWN
    latencies = {kind: s * slow_down for kind, s in bot_load.LATENCIES.items()}
    result = await sdk_load(guilds, per_guild, latencies, None)
    lags = result.sampler.lags
    p99 = bot_load.percentile(lags, 0.99)
    delivered = len(result.run.deliveries)
    report.add(
        f"bot under load: {episodes} episodes at once, delivered",
        f"{delivered} / {episodes}",
        "all",
        delivered == episodes,
    )
    full = [pause for generation, pause in result.run.gc.pauses if generation == 2]
    young = sorted((p for g, p in result.run.gc.pauses if g < 2), reverse=True)
    report.add(
        "  event-loop lag p99 (p50, max)",
        f"{p99 * 1000:.1f} ms ({bot_load.percentile(lags, 0.5) * 1000:.1f}, "
        f"{max(lags, default=0.0) * 1000:.0f} ms)",
        f"< {LAG_P99_TARGET * 1000:.0f} ms",
        p99 < LAG_P99_TARGET,
    )
    late = sum(lag > LAG_P99_TARGET for lag in lags)
    long_young = sum(pause > LAG_P99_TARGET for pause in young)
    report.add(
        f"  wakes > {LAG_P99_TARGET * 1000:.0f} ms late; collections that long: young, full",
        f"{late} of {len(lags)}; {long_young}, {len(full)} "
        f"(longest {max(young, default=0.0) * 1000:.0f}, {max(full, default=0.0) * 1000:.0f} ms)",
    )
    where = LoopSampler()
    await sdk_load(guilds, per_guild, latencies, where)
    idle = sum(share for name, share in where.shares() if name.startswith("idle"))
    report.add("  the loop's time, sampled run: idle (waiting for I/O or a timer)", f"{idle:.0%}")
    for name, share in where.busy_shares():
        report.add(f"    of the busy time: {name}", f"{share:.0%}")
    demo = await bot_load.load_bench(guilds, per_guild)
    demo_p99 = bot_load.percentile(demo.sampler.lags, 0.99)
    report.add(
        "  the same load with the demo provider (no SDK): lag p99", f"{demo_p99 * 1000:.1f} ms"
    )
    report.notes.append(
        f"Under load: the real bot in-process against the fake Discord (bench/bot_load.py), "
        f"{guilds} guilds x {per_guild} writers, 4-scene episodes, {LOAD_CALLS} calls in flight, "
        "every call through the SDK to the fake Messages API, which runs in a process of its own "
        "as the real one is not in the bot's (bench/_api_process.py; bot_load's latencies x"
        f"{slow_down} ±{LOAD_JITTER:.0%}, half to the first token, half streaming in "
        f"{model.CHUNK_CHARS}-character deltas). The lag is from a run without sampling; the "
        "loop's time from a second run sampled every millisecond (bench/_where.py), in which "
        "the fake Discord, sharing the bot's loop, is counted apart. The demo row is "
        "bench/bot_load.py's own set-up (latencies x1, 16 calls) at this many episodes."
    )


async def sdk_load(
    guilds: int,
    per_guild: int,
    latencies: Mapping[StepKind, float],
    where: LoopSampler | None,
) -> bot_load.LoadResult:
    by_tool = {tool: latencies[kind] for kind, tool in TOOLS.items()}
    timing = {
        "chunk_chars": model.CHUNK_CHARS,
        "ttft_by_tool": {tool: s / 2 for tool, s in by_tool.items()},
        "stream_s_by_tool": {tool: s / 2 for tool, s in by_tool.items()},
        "jitter": LOAD_JITTER,
        "rate_limits": {"requests": 10**6, "input_tokens": 10**9, "output_tokens": 10**9},
    }
    async with (
        fake_api_process(seed=7, **timing) as base_url,
        anthropic.AsyncAnthropic(api_key="bench", base_url=base_url) as client,
    ):
        provider = MeteredProvider(AnthropicProvider(client), latencies)
        return await bot_load.load_bench(
            guilds,
            per_guild,
            provider,
            during_load=where,
            latencies=dict(latencies),
            max_calls=LOAD_CALLS,
            load_timeout=LOAD_TIMEOUT_S,
        )


# -- the report ---------------------------------------------------------------------------------


async def bench(quick: bool = False, load: bool = True) -> Report:
    report = Report(quick)
    await critical_path(report, quick)
    await time_to_script(report, quick)
    await per_call(report, quick)
    if load:
        await bot_under_load(report, quick)
    return report


def markdown(report: Report) -> str:
    lines = [
        f"## Speed{' (quick)' if report.quick else ''}",
        "",
        "| metric | measured | target | result |",
        "|---|---:|---|---|",
    ]
    for row in report.rows:
        result = "" if row.ok is None else ("PASS" if row.ok else "FAIL")
        lines.append(f"| {row.metric} | {row.shown} | {row.target} | {result} |")
    if report.notes:
        lines += ["", *report.notes]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="latencies x0.1, one run each")
    parser.add_argument("--no-load", action="store_true", help="skip the bot under load")
    args = parser.parse_args()
    started = time.perf_counter()
    report = asyncio.run(bench(args.quick, load=not args.no_load))
    print(markdown(report))
    print(f"\n(the whole run took {time.perf_counter() - started:.1f} s)")
    missed = [row.metric for row in report.rows if row.ok is False]
    if missed:
        print(f"speed: target missed: {'; '.join(missed)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
