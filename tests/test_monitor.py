"""The performance monitor: every step of a run timed and labelled, slow steps warned of once."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping
from typing import Any

import anthropic
import pytest
from hypothesis import given
from hypothesis import strategies as st

from scriptgen.checkpoints import MemoryCheckpoints
from scriptgen.errors import StepFailedError
from scriptgen.generator import ScriptGenerator
from scriptgen.limiter import FairLimiter
from scriptgen.models import CallUsage, EpisodeRequest, UsageTotals
from scriptgen.monitor import (
    KINDS,
    PerformanceMonitor,
    StepTiming,
    monitor_performance,
)
from scriptgen.percentiles import LogHistogram, nearest_rank
from scriptgen.pricing import estimate_cost
from scriptgen.providers.anthropic import AnthropicProvider
from scriptgen.providers.base import Generation, OutputT, StepRequest, first_token
from scriptgen.providers.demo import DEMO_MODEL, DemoProvider
from tests.episode_responder import EpisodeResponder
from tests.fake_anthropic import FakeAnthropic
from tests.scripted_provider import Boom, ScriptedProvider
from tests.test_demo_provider import NO_LATENCY

LABEL = "ep-7f3k2"
PREMISE = "A barista discovers the espresso machine is haunted"


class Clock:
    """The monitor's clock, moved only by the test (or by :class:`TickingProvider`)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class TickingProvider:
    """The demo's writing, each call taking ``seconds[key]`` (else ``seconds[kind]``) of a
    fake clock, its first token ``first`` seconds in. A call moves the clock without giving the
    loop away, so steps running side by side never add to each other's time (``yields`` gives
    it away once before)."""

    name = "demo"
    model = DEMO_MODEL

    def __init__(
        self,
        clock: Clock,
        seconds: Mapping[str, float],
        *,
        first: float = 0.0,
        failures: Mapping[str, Exception] | None = None,
        yields: bool = False,
    ) -> None:
        self.clock = clock
        self.seconds = seconds
        self.first = first
        self.failures = failures or {}
        self.yields = yields
        self._writer = DemoProvider(latencies=NO_LATENCY)

    async def generate(self, step: StepRequest[OutputT]) -> Generation[OutputT]:
        if self.yields:  # to the calls waiting for a slot: they ask for it now
            await asyncio.sleep(0)
        took = self.seconds.get(step.key, self.seconds.get(step.kind, 0.0))
        begins = min(self.first, took)
        self.clock.now += begins
        first_token()
        self.clock.now += took - begins
        failure = self.failures.get(step.key)
        if failure is not None:
            raise failure
        return await self._writer.generate(step)


def request(scenes: int = 3) -> EpisodeRequest:
    return EpisodeRequest(premise=PREMISE, scene_count=scenes)


def recorded(monitor: PerformanceMonitor) -> list[StepTiming]:
    seen: list[StepTiming] = []
    monitor.subscribe(seen.append)
    return seen


def warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "scriptgen.monitor" and r.levelno == logging.WARNING
    ]


# -- what a run records ----------------------------------------------------------------------


async def test_every_step_of_a_demo_episode_is_recorded_with_its_label() -> None:
    """Outline, each scene's dialogue and directions, comedy, refinements: each call once, ok,
    with its usage and label; and each one's checkpoint commit, in the order handed over."""
    monitor = PerformanceMonitor()
    seen = recorded(monitor)
    generator = ScriptGenerator(DemoProvider(latencies=NO_LATENCY), 3, monitor=monitor)
    script = await generator.generate_full_script(
        request(3), checkpoints=MemoryCheckpoints(), label=LABEL
    )
    calls = [t for t in seen if t.kind != "checkpoint"]
    commits = [t for t in seen if t.kind == "checkpoint"]
    steps = [u.step for u in script.usage]
    assert sorted(t.key for t in calls) == sorted(steps)
    assert {"outline", "comedy"} <= set(steps) and any(s.startswith("refine") for s in steps)
    for n in (1, 2, 3):
        assert {f"scene:{n}:dialogue", f"scene:{n}:directions"} <= set(steps)
    assert {t.kind for t in calls} == {"outline", "dialogue", "directions", "comedy", "refine"}
    assert [t.key for t in commits] == steps  # committed in the order the steps finished
    assert {t.label for t in seen} == {LABEL}
    assert {t.outcome for t in seen} == {"ok"}
    for timing in calls:
        assert timing.usage is not None and timing.usage.step == timing.key
        assert timing.cost_usd == 0.0  # the demo model is priced, at nothing
        assert timing.seconds >= 0 and timing.queued_seconds >= 0
    assert [row.kind for row in monitor.table()] == list(KINDS)
    assert monitor.in_flight() == []


async def test_the_table_sums_each_kind() -> None:
    """Counts, durations (to 1 %), first tokens and tokens of each kind, from a fake clock."""
    clock = Clock()
    monitor = PerformanceMonitor(clock=clock)
    provider = TickingProvider(
        clock,
        {"outline": 4.0, "scene:1:dialogue": 1.0, "scene:2:dialogue": 3.0, "directions": 2.0},
        first=0.5,
    )
    generator = ScriptGenerator(provider, 2, max_refinements=0, monitor=monitor)
    script = await generator.generate_full_script(request(2))
    rows = {row.kind: row for row in monitor.table()}
    assert rows["outline"].count == 1 and rows["outline"].max == 4.0
    dialogue = rows["dialogue"]
    assert (dialogue.count, dialogue.errors, dialogue.max) == (2, 0, 3.0)
    assert dialogue.p50 == pytest.approx(1.0, rel=0.01)
    assert dialogue.p95 == pytest.approx(3.0, rel=0.01)
    assert dialogue.first_token_p50 == pytest.approx(0.5, rel=0.01)
    assert rows["comedy"].first_token_p50 == 0.0  # a zero-second call's first token: at once
    mine = [u for u in script.usage if u.step.endswith("dialogue")]
    assert dialogue.input_tokens == sum(u.input_tokens for u in mine) > 0
    assert dialogue.output_tokens == sum(u.output_tokens for u in mine) > 0
    assert dialogue.cache_read_tokens == sum(u.cache_read_tokens for u in mine)
    assert dialogue.cache_write_tokens == sum(u.cache_write_tokens for u in mine)
    assert rows["checkpoint"].count == len(script.usage)
    assert "refine" not in rows


async def test_the_wait_for_a_limiter_slot_is_apart_from_the_call() -> None:
    """With one slot, a call's wait for it is its queued time, not part of its seconds."""
    clock = Clock()
    monitor = PerformanceMonitor(clock=clock)
    provider = TickingProvider(clock, {"dialogue": 2.0, "directions": 1.0}, yields=True)
    generator = ScriptGenerator(
        provider,
        2,
        max_refinements=0,
        limiter=FairLimiter(1, adaptive=False),
        monitor=monitor,
    )
    seen = recorded(monitor)
    await generator.generate_full_script(request(2))
    dialogues = [t for t in seen if t.kind == "dialogue"]
    assert [t.seconds for t in dialogues] == [2.0, 2.0]
    assert sorted(t.queued_seconds for t in dialogues) == [0.0, 2.0]
    assert all(t.seconds == 1.0 for t in seen if t.kind == "directions")


async def test_a_failing_call_records_an_error() -> None:
    """The failed call is recorded as an error, with the failed call's usage, and counted."""
    monitor = PerformanceMonitor()
    seen = recorded(monitor)
    provider = ScriptedProvider({"dialogue": 0.01}, failures={"scene:2:dialogue": Boom("nope")})
    generator = ScriptGenerator(provider, 1, monitor=monitor)
    with pytest.raises(StepFailedError):
        await generator.generate_full_script(request(3), label=LABEL)
    failed = [t for t in seen if t.outcome == "error"]
    assert [(t.kind, t.key, t.label) for t in failed] == [("dialogue", "scene:2:dialogue", LABEL)]
    assert failed[0].usage is not None and failed[0].usage.output_tokens == 0
    dialogues = {t.key: t.outcome for t in seen if t.kind == "dialogue"}
    # Scene 3 took the scene bound as scene 2 failed, and was cancelled with the episode.
    assert dialogues == {
        "scene:1:dialogue": "ok",
        "scene:2:dialogue": "error",
        "scene:3:dialogue": "cancelled",
    }
    dialogue = next(row for row in monitor.table() if row.kind == "dialogue")
    assert (dialogue.count, dialogue.errors) == (3, 1)


async def test_a_cancelled_episode_records_its_calls_in_flight_as_cancelled() -> None:
    """Calls in flight show in in_flight(); cancelling the run records them "cancelled"."""
    monitor = PerformanceMonitor()
    seen = recorded(monitor)
    provider = ScriptedProvider({"dialogue": 30.0})
    generator = ScriptGenerator(provider, 3, monitor=monitor)
    task = asyncio.create_task(generator.generate_full_script(request(2), label=LABEL))
    async with asyncio.timeout(5):
        while len(monitor.in_flight()) < 2:
            await asyncio.sleep(0.005)
    running = monitor.in_flight()
    assert sorted(key for _, key, _, _ in running) == ["scene:1:dialogue", "scene:2:dialogue"]
    assert {(kind, label) for kind, _, label, _ in running} == {("dialogue", LABEL)}
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    cancelled = sorted(t.key for t in seen if t.outcome == "cancelled")
    assert cancelled == ["scene:1:dialogue", "scene:2:dialogue"]
    assert monitor.in_flight() == []


async def test_a_resumed_episode_records_its_reused_steps() -> None:
    """Steps taken from the checkpoints are recorded "reused", 0 s, with what they cost then;
    the table counts only steps that ran."""
    checkpoints = MemoryCheckpoints()
    first = ScriptGenerator(DemoProvider(latencies=NO_LATENCY), 2)
    script = await first.generate_full_script(request(2), checkpoints=checkpoints)
    monitor = PerformanceMonitor()
    seen = recorded(monitor)
    again = ScriptGenerator(DemoProvider(latencies=NO_LATENCY), 2, monitor=monitor)
    await again.generate_full_script(request(2), checkpoints=checkpoints, label=LABEL)
    assert sorted(t.key for t in seen) == sorted(u.step for u in script.usage)
    assert {(t.outcome, t.seconds, t.label, t.slow) for t in seen} == {
        ("reused", 0.0, LABEL, False)
    }
    assert all(t.usage is not None and t.usage.step == t.key for t in seen)
    assert monitor.table() == []


async def test_a_rewrite_records_its_takes_steps_with_the_label() -> None:
    """A note's takes are timed by their own kinds, keyed as rewrite steps, labelled."""
    monitor = PerformanceMonitor()
    generator = ScriptGenerator(DemoProvider(latencies=NO_LATENCY), 2, monitor=monitor)
    script = await generator.generate_full_script(request(2))
    seen = recorded(monitor)
    await generator.rewrite_scene(script, 1, "Make Theo sing", takes=2, label=LABEL)
    calls = [t for t in seen if t.kind != "checkpoint"]
    assert sorted(t.kind for t in calls) == ["dialogue", "dialogue", "directions", "directions"]
    assert len({t.key for t in calls}) == 4 and all("2" in t.key for t in calls)
    assert {t.label for t in seen} == {LABEL}


async def test_time_to_first_token_through_the_real_sdk() -> None:
    """Streamed from the fake Messages API through the real SDK, each call reports its first
    token after the API's wait for it and before its answer has ended."""
    monitor = PerformanceMonitor()
    seen = recorded(monitor)
    async with (
        FakeAnthropic(responder=EpisodeResponder(seed=3), ttft=0.03, per_chunk=0.002) as fake,
        anthropic.AsyncAnthropic(api_key="test-key", base_url=fake.base_url) as client,
    ):
        generator = ScriptGenerator(
            AnthropicProvider(client, "claude-sonnet-5-5"), 2, max_refinements=0, monitor=monitor
        )
        await generator.generate_full_script(request(2), label=LABEL)
    calls = [t for t in seen if t.kind != "checkpoint"]
    assert len(calls) == len(fake.requests) == 6
    for timing in calls:
        assert timing.first_token_seconds is not None, timing.key
        assert 0.03 <= timing.first_token_seconds < timing.seconds, timing
        assert timing.cost_usd is not None and timing.cost_usd > 0
    rows = {row.kind: row for row in monitor.table()}
    assert rows["dialogue"].first_token_p50 is not None
    assert rows["dialogue"].first_token_p50 >= 0.03


# -- slow steps ------------------------------------------------------------------------------


async def test_a_step_over_its_threshold_warns_once_with_its_episode_and_step(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A comedy pass over its kind's threshold: one warning naming kind, key, label, seconds."""
    clock = Clock()
    monitor = PerformanceMonitor(thresholds={"comedy": 5.0}, clock=clock)
    slow_ones: list[StepTiming] = []
    monitor.on_slow(slow_ones.append)
    provider = TickingProvider(clock, {"comedy": 7.5, "dialogue": 4.9})
    generator = ScriptGenerator(provider, 3, max_refinements=0, monitor=monitor)
    with caplog.at_level(logging.WARNING, logger="scriptgen.monitor"):
        await generator.generate_full_script(request(3), label=LABEL)
    [message] = warnings(caplog)
    assert message == (
        f"slow comedy step comedy (episode {LABEL}): 7.50 s, over its threshold of 5.00 s"
    )
    [slow] = slow_ones
    assert (slow.kind, slow.key, slow.label, slow.seconds) == ("comedy", "comedy", LABEL, 7.5)
    assert (slow.slow, slow.threshold) == (True, 5.0)
    assert monitor.recent_slow() == [slow]


async def test_a_burst_of_slow_steps_warns_once_per_kind_per_interval(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Every dialogue of an episode over the threshold: one warning and one slow-step call;
    after warn_interval, the next one warns again and says how many were not warned of."""
    clock = Clock()
    monitor = PerformanceMonitor(
        thresholds={"dialogue": 1.0, "directions": 1.0}, warn_interval=60.0, clock=clock
    )
    told: list[StepTiming] = []
    monitor.on_slow(told.append)
    provider = TickingProvider(clock, {"dialogue": 2.0, "directions": 0.5})
    generator = ScriptGenerator(provider, 4, max_refinements=0, monitor=monitor)
    with caplog.at_level(logging.WARNING, logger="scriptgen.monitor"):
        await generator.generate_full_script(request(4), label=LABEL)
        assert len(warnings(caplog)) == 1 and len(told) == 1
        assert len(monitor.recent_slow()) == 4  # all four were slow; one was worth a warning
        with monitor.step("directions", "scene:9:directions") as step:
            clock.now += 1.5  # another kind's first slow step warns at once
        assert step.outcome == "ok"
        assert len(warnings(caplog)) == 2
        warned = told[0].started + told[0].seconds
        clock.now = warned + 59.0
        monitor.record("dialogue", "scene:5:dialogue", seconds=3.0)
        assert len(warnings(caplog)) == 2
        clock.now = warned + 60.0
        monitor.record("dialogue", "scene:6:dialogue", label=LABEL, seconds=4.0)
    last = warnings(caplog)[-1]
    assert last.startswith(f"slow dialogue step scene:6:dialogue (episode {LABEL}): 4.00 s")
    assert last.endswith("(4 more slow dialogue steps since the last warning)")
    assert [t.key for t in told][-1] == "scene:6:dialogue" and len(told) == 3
    assert [t.key for t in monitor.recent_slow(2)] == ["scene:6:dialogue", "scene:5:dialogue"]


def test_without_a_threshold_a_step_is_slow_past_factor_times_the_recent_p95() -> None:
    """No threshold: nothing is judged before min_samples calls; then over 3 x p95 is slow."""
    monitor = PerformanceMonitor(min_samples=20, factor=3.0)
    for n in range(19):
        assert monitor.record("outline", f"e{n}", seconds=1.0).threshold is None
    early = monitor.record("outline", "e19", seconds=10.0)
    assert (early.slow, early.threshold) == (False, None)
    # 20 samples now, one of them 10 s: the p95 (19th of 20) is 1 s.
    assert monitor.threshold("outline") == 3.0
    assert monitor.record("outline", "fast", seconds=2.9).slow is False
    late = monitor.record("outline", "late", seconds=3.5)
    assert (late.slow, late.threshold) == (True, 3.0)
    assert monitor.threshold("dialogue") is None  # per kind


def test_the_p95_follows_the_recent_window() -> None:
    """Once a kind's calls all take longer, the window forgets the fast ones."""
    monitor = PerformanceMonitor(window=20, min_samples=20)
    for n in range(20):
        monitor.record("dialogue", f"fast{n}", seconds=1.0)
    assert monitor.record("dialogue", "first slow", seconds=10.0).slow is True
    for n in range(20):
        monitor.record("dialogue", f"slow{n}", seconds=10.0)
    assert monitor.threshold("dialogue") == 30.0
    assert monitor.record("dialogue", "as usual now", seconds=20.0).slow is False


def test_a_step_under_the_floor_is_never_slow() -> None:
    """Microsecond steps vary by multiples of themselves: under ``floor``, none is slow."""
    monitor = PerformanceMonitor(min_samples=20, floor=0.1)
    for n in range(20):
        monitor.record("checkpoint", f"scene:{n}:dialogue", seconds=0.00004)
    assert monitor.threshold("checkpoint") == 0.1
    assert monitor.record("checkpoint", "comedy", seconds=0.09).slow is False
    assert monitor.record("checkpoint", "refine", seconds=0.2).slow is True


def test_a_fixed_threshold_wins_over_the_p95_rule() -> None:
    monitor = PerformanceMonitor(thresholds={"comedy": 100.0}, min_samples=1)
    monitor.record("comedy", "comedy", seconds=1.0)
    assert monitor.record("comedy", "comedy", seconds=50.0).slow is False
    assert monitor.threshold("comedy") == 100.0


def test_errors_and_cancellations_do_not_count_as_normal_durations() -> None:
    """Only successful steps feed the p95 and the table's percentiles."""
    monitor = PerformanceMonitor(min_samples=2)
    monitor.record("refine", "a", seconds=1.0)
    monitor.record("refine", "b", seconds=1.0)
    monitor.record("refine", "c", seconds=0.01, outcome="error")
    monitor.record("refine", "d", seconds=0.02, outcome="cancelled")
    [row] = monitor.table()
    assert (row.count, row.errors, row.p50, row.max) == (4, 1, 1.0, 1.0)
    assert monitor.threshold("refine") == 3.0


# -- listeners, the decorator, pricing --------------------------------------------------------


def test_a_failing_listener_is_logged_once_and_breaks_nothing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A listener that raises is logged once; the step is recorded and others still hear."""
    monitor = PerformanceMonitor()

    def broken(timing: StepTiming) -> None:
        raise RuntimeError("metrics are down")

    heard: list[str] = []
    monitor.subscribe(broken)
    monitor.subscribe(lambda timing: heard.append(timing.key))
    with caplog.at_level(logging.ERROR, logger="scriptgen.monitor"):
        monitor.record("outline", "outline", seconds=1.0)
        monitor.record("outline", "outline again", seconds=1.0)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and "metrics are down" in errors[0].getMessage()
    assert heard == ["outline", "outline again"]
    assert monitor.table()[0].count == 2


def test_unsubscribing_stops_the_listener() -> None:
    monitor = PerformanceMonitor(thresholds={"outline": 1.0}, warn_interval=0)
    every: list[str] = []
    slow: list[str] = []
    stop_every = monitor.subscribe(lambda t: every.append(t.key))
    stop_slow = monitor.on_slow(lambda t: slow.append(t.key))
    monitor.record("outline", "one", seconds=2.0)
    stop_every()
    stop_slow()
    monitor.record("outline", "two", seconds=2.0)
    assert every == ["one"] and slow == ["one"]


class Writer:
    def __init__(self, monitor: PerformanceMonitor | None, label: str | None = None) -> None:
        self.monitor = monitor
        self.label = label

    @monitor_performance("comedy")
    async def punch_up(self, fail: bool = False) -> str:
        await asyncio.sleep(0)
        if fail:
            raise ValueError("not funny")
        return "punched"


async def test_the_decorator_times_each_call_on_its_owners_monitor() -> None:
    """@monitor_performance times a method on its object's monitor and label, an exception
    recorded as an error and raised as it was."""
    monitor = PerformanceMonitor()
    seen = recorded(monitor)
    writer = Writer(monitor, LABEL)
    assert await writer.punch_up() == "punched"
    with pytest.raises(ValueError, match="not funny"):
        await writer.punch_up(fail=True)
    assert [(t.kind, t.key, t.label, t.outcome) for t in seen] == [
        ("comedy", "Writer.punch_up", LABEL, "ok"),
        ("comedy", "Writer.punch_up", LABEL, "error"),
    ]
    assert await Writer(None).punch_up() == "punched"  # no monitor: untimed
    assert len(seen) == 2


async def test_the_decorator_with_a_monitor_of_its_own() -> None:
    monitor = PerformanceMonitor()
    seen = recorded(monitor)

    @monitor_performance("outline", monitor=monitor)
    async def outline(n: int) -> int:
        return n * 2

    assert await outline(21) == 42
    assert [(t.kind, t.label) for t in seen] == [("outline", None)]
    assert seen[0].key.endswith("outline")

    @monitor_performance("outline")
    async def unowned(n: int) -> int:
        return n

    with pytest.raises(TypeError, match="without a monitor"):
        await unowned(1)


async def test_a_cancelled_step_is_recorded_and_the_cancellation_goes_on() -> None:
    monitor = PerformanceMonitor()
    seen = recorded(monitor)

    async def long_step() -> None:
        with monitor.step("dialogue", "scene:1:dialogue", label=LABEL):
            await asyncio.sleep(30)

    task = asyncio.create_task(long_step())
    await asyncio.sleep(0)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [(t.key, t.outcome) for t in seen] == [("scene:1:dialogue", "cancelled")]


def test_a_calls_cost_is_priced_by_its_model() -> None:
    usage = CallUsage(
        step="comedy",
        model="claude-sonnet-4-5-20250929",
        input_tokens=1200,
        output_tokens=800,
        cache_write_tokens=3000,
        cache_read_tokens=9000,
    )
    monitor = PerformanceMonitor()
    timing = monitor.record("comedy", "comedy", seconds=3.0, usage=usage)
    expected = estimate_cost(usage.model, UsageTotals.of([usage]))
    assert expected is not None and expected > 0
    assert timing.cost_usd == pytest.approx(expected)
    unknown = usage.model_copy(update={"model": "someone-elses-model"})
    assert monitor.record("comedy", "comedy", seconds=3.0, usage=unknown).cost_usd is None
    [row] = monitor.table()
    assert row.cost_usd == pytest.approx(expected)
    assert row.input_tokens == 2400  # an unpriced call's tokens still count


@pytest.mark.parametrize(
    ("options", "problem"),
    [
        ({"thresholds": {"dialogue": 0}}, "threshold of 'dialogue' steps must be positive"),
        ({"factor": 0}, "factor must be positive"),
        ({"min_samples": 300}, "min_samples must be between 1 and window (200)"),
    ],
)
def test_bad_settings_are_refused_clearly(options: dict[str, Any], problem: str) -> None:
    with pytest.raises(ValueError, match=problem.replace("(", r"\(").replace(")", r"\)")):
        PerformanceMonitor(**options)


# -- percentiles -------------------------------------------------------------------------------


@given(
    st.lists(st.floats(min_value=1e-6, max_value=1e4), min_size=1, max_size=300),
    st.sampled_from([0.5, 0.9, 0.95, 0.99, 1.0]),
)
def test_the_histogram_quantile_is_within_one_percent(values: list[float], q: float) -> None:
    histogram = LogHistogram(accuracy=0.01)
    for value in values:
        histogram.add(value)
    exact = nearest_rank(sorted(values), q)
    assert histogram.quantile(q) == pytest.approx(exact, rel=0.01)


def test_the_histogram_stays_small_however_many_values() -> None:
    histogram = LogHistogram()
    rng = random.Random(1)
    for _ in range(50_000):
        histogram.add(rng.lognormvariate(0, 1.5))
    assert histogram.count == 50_000
    assert len(histogram._buckets) < 1_000
