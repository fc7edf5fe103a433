"""Adaptive concurrency: the process-wide call limiter against an API that says "too much".

    uv run python bench/limiter.py [--quick]

Prints a Markdown report; exits 1 if a target is missed. Every call goes through the real
Anthropic SDK and the Anthropic provider (its own retry loop, honouring ``retry-after``),
streaming over loopback from the fake Messages API (tests/fake_anthropic), and through one
``ScriptGenerator`` whose process-wide ``FairLimiter`` allows 16 calls at once; many episodes
(3 scenes each, from several guilds) are written at once. Every call takes the same time at
the fake (``latency``, before the answer streams), so the best a cap of N requests in flight
allows is N / latency answers per second.

Scenarios:
1. **Concurrency cap.** The fake refuses (429, ``retry-after: 1``) any request past 4 in
   flight, and no header warns of it. Targets: answers per second >= 90 % of 4 / latency over
   the whole run (first request to last episode done); 429s < 5 % of requests; no episode
   failed.
2. **Output tokens per minute.** The fake enforces an output-token limit (counted as
   ``max_tokens`` while a request runs, as the API does) over a window shortened to a few
   seconds, and reports it in its ``anthropic-ratelimit-*`` headers; no concurrency cap.
   Targets: 429s < 5 % of requests; no episode failed.

Each scenario runs twice: adaptive (the limiter as built), then fixed (``adaptive=False``:
the limiter as it was, 16 at once and no pacing), reported for comparison without targets.
``--quick`` writes fewer episodes with shorter latencies, for the smoke test: too short a run for
its figures to mean much (a ``retry-after`` of 1 s is 20 of its calls), so the targets are the
full run's.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import anthropic

from scriptgen.generator import ScriptGenerator
from scriptgen.limiter import FairLimiter
from scriptgen.models import EpisodeRequest
from scriptgen.providers.anthropic import AnthropicProvider
from tests.episode_responder import EpisodeResponder
from tests.fake_anthropic import FakeAnthropic, RateLimits

LIMITER_CAPACITY = 16
CAP = 4
SCENES = 3
THROUGHPUT_TARGET = 0.90
REFUSED_TARGET = 0.05
PREMISE = "A barista discovers the espresso machine is haunted"


@dataclass(frozen=True)
class Scenario:
    name: str
    limits: RateLimits
    latency: float
    """Seconds every request takes at the fake before its answer streams."""
    episodes: int
    guilds: int
    cap: int | None = None
    """Requests in flight the fake allows (for the throughput target), if it caps them."""


def scenarios(quick: bool) -> list[Scenario]:
    episodes, guilds = (6, 3) if quick else (32, 8)
    return [
        Scenario(
            "concurrency cap",
            RateLimits(max_in_flight=CAP),
            latency=0.05 if quick else 0.5,
            episodes=episodes,
            guilds=guilds,
            cap=CAP,
        ),
        Scenario(
            "output tokens per minute",
            RateLimits(output_tokens=24_000, window_s=2.0 if quick else 3.0, enforce=True),
            latency=0.02 if quick else 0.1,
            episodes=episodes,
            guilds=guilds,
        ),
    ]


@dataclass
class Run:
    scenario: Scenario
    adaptive: bool
    wall_s: float
    episodes_failed: int
    requests: int
    refused: int
    """Requests answered 429."""
    answers: int
    """Complete answers (requests the fake finished with a whole message)."""
    mean_answer_s: float
    """How long a complete answer took at the fake, on average."""
    decreases: int
    budget_waits: int
    final_limit: float
    highest_limit: float
    errors: list[str] = field(default_factory=list)

    @property
    def refused_share(self) -> float:
        return self.refused / self.requests if self.requests else 0.0

    @property
    def throughput(self) -> float:
        """Complete answers per second, over the whole run."""
        return self.answers / self.wall_s

    @property
    def cap_share(self) -> float | None:
        """Throughput over the most the cap allows (``cap`` / latency)."""
        cap = self.scenario.cap
        return None if cap is None else self.throughput / (cap / self.scenario.latency)


@dataclass(frozen=True)
class Row:
    scenario: str
    metric: str
    value: float
    shown: str
    target: str
    ok: bool


@dataclass
class Report:
    quick: bool
    runs: list[Run]
    rows: list[Row] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return all(row.ok for row in self.rows)


async def run(scenario: Scenario, adaptive: bool) -> Run:
    """The scenario's episodes, all at once, through one generator and limiter."""
    async with FakeAnthropic(
        responder=EpisodeResponder(seed=1), ttft=scenario.latency, rate_limits=scenario.limits
    ) as fake:
        limiter = FairLimiter(LIMITER_CAPACITY, adaptive=adaptive)
        highest = limiter.limit

        async def watch() -> None:
            nonlocal highest
            while True:
                highest = max(highest, limiter.limit)
                await asyncio.sleep(0.005)

        watcher = asyncio.create_task(watch())
        async with anthropic.AsyncAnthropic(api_key="bench", base_url=fake.base_url) as client:
            generator = ScriptGenerator(AnthropicProvider(client), SCENES, limiter=limiter)
            request = EpisodeRequest(premise=PREMISE, scene_count=SCENES)
            started = time.perf_counter()
            results = await asyncio.gather(
                *(
                    generator.generate_full_script(request, tenant=f"guild{n % scenario.guilds}")
                    for n in range(scenario.episodes)
                ),
                return_exceptions=True,
            )
            wall = time.perf_counter() - started
        watcher.cancel()
        errors = [f"{type(r).__name__}: {r}" for r in results if isinstance(r, BaseException)]
        answered = [r for r in fake.requests if r.outcome == "ok"]
        durations = [r.finished - r.started for r in answered if r.finished is not None]
        return Run(
            scenario=scenario,
            adaptive=adaptive,
            wall_s=wall,
            episodes_failed=len(errors),
            requests=len(fake.requests),
            refused=sum(1 for r in fake.requests if r.status == 429),
            answers=len(answered),
            mean_answer_s=sum(durations) / len(durations) if durations else 0.0,
            decreases=limiter.decreases,
            budget_waits=limiter.budget_waits,
            final_limit=limiter.limit,
            highest_limit=max(highest, limiter.limit),
            errors=errors,
        )


def judge(runs: list[Run]) -> list[Row]:
    """The targets, judged on the adaptive runs."""
    rows: list[Row] = []
    for r in runs:
        if not r.adaptive:
            continue
        name, cap, share = r.scenario.name, r.scenario.cap, r.cap_share
        if cap is not None and share is not None:
            rows.append(
                Row(
                    name,
                    f"answers per second / ({cap} / latency)",
                    share,
                    f"{r.throughput:.2f}/s of {cap / r.scenario.latency:.2f}/s = {share:.1%}",
                    f">= {THROUGHPUT_TARGET:.0%}",
                    share >= THROUGHPUT_TARGET,
                )
            )
        rows.append(
            Row(
                name,
                "429s / requests",
                r.refused_share,
                f"{r.refused} / {r.requests} = {r.refused_share:.1%}",
                f"< {REFUSED_TARGET:.0%}",
                r.refused_share < REFUSED_TARGET,
            )
        )
        rows.append(
            Row(
                name,
                "episodes failed",
                r.episodes_failed,
                f"{r.episodes_failed} of {r.scenario.episodes}",
                "0",
                r.episodes_failed == 0,
            )
        )
    return rows


async def bench(quick: bool = False) -> Report:
    runs = [await run(s, adaptive) for s in scenarios(quick) for adaptive in (True, False)]
    return Report(quick, runs, judge(runs))


def markdown(report: Report) -> str:
    lines = [
        f"## Adaptive concurrency{' (quick)' if report.quick else ''}",
        "",
        f"Real Anthropic SDK streaming from the fake Messages API; one generator, its limiter "
        f"allowing {LIMITER_CAPACITY} calls at once; {SCENES}-scene episodes, all at once.",
        "",
    ]
    for s in {r.scenario.name: r.scenario for r in report.runs}.values():
        lines.append(
            f"- {s.name}: {s.episodes} episodes from {s.guilds} guilds, latency "
            f"{s.latency * 1000:.0f} ms; fake: {describe(s.limits)}"
        )
    lines += [
        "",
        "| scenario | metric | measured | target | result |",
        "|---|---|---:|---|---|",
    ]
    for row in report.rows:
        result = "PASS" if row.ok else "FAIL"
        lines.append(f"| {row.scenario} | {row.metric} | {row.shown} | {row.target} | {result} |")
    lines += [
        "",
        "| scenario | limiter | wall s | answers/s | of the cap | requests | 429s | 429 share "
        "| episodes failed | limit cuts | budget waits | limit: highest / at the end |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|",
    ]
    for r in report.runs:
        share = "" if r.cap_share is None else f"{r.cap_share:.1%}"
        lines.append(
            f"| {r.scenario.name} | {'adaptive' if r.adaptive else 'fixed (before)'} "
            f"| {r.wall_s:.2f} | {r.throughput:.2f} | {share} | {r.requests} | {r.refused} "
            f"| {r.refused_share:.1%} | {r.episodes_failed} | {r.decreases} | {r.budget_waits} "
            f"| {r.highest_limit:.1f} / {r.final_limit:.1f} |"
        )
    failures = [(r, e) for r in report.runs for e in r.errors[:1]]
    for r, error in failures:
        kind = "adaptive" if r.adaptive else "fixed"
        lines.append(f"\nFirst failure ({r.scenario.name}, {kind}): {error[:300]}")
    return "\n".join(lines)


def describe(limits: RateLimits) -> str:
    parts = []
    if limits.max_in_flight is not None:
        parts.append(f"429 past {limits.max_in_flight} requests in flight")
    if limits.enforce:
        parts.append(
            f"{limits.output_tokens:,} output tokens per {limits.window_s:g} s window, enforced"
        )
    return "; ".join(parts) or "no limits"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer episodes, shorter latencies")
    args = parser.parse_args()
    started = time.perf_counter()
    report = asyncio.run(bench(args.quick))
    print(markdown(report))
    print(f"\n(the whole run took {time.perf_counter() - started:.1f} s)")
    missed = [f"{row.scenario}: {row.metric}" for row in report.rows if not row.ok]
    if missed:
        print(f"limiter: target missed: {'; '.join(missed)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
