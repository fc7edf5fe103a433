"""The limiter's adaptation: AIMD on 429/529, pacing to the rate-limit headers, slots lent while
a retry waits; the provider reporting to it over loopback; the fake API's limits it is
measured against.

Calls are tasks holding a slot, driven by the test through their grant (the feedback the
provider would report to). Budget waits run on an injected clock whose sleep moves it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import anthropic
import pytest

from scriptgen.errors import ProviderError
from scriptgen.limiter import FairLimiter
from scriptgen.models import EpisodeRequest, Outline
from scriptgen.providers.anthropic import AnthropicProvider
from scriptgen.providers.base import StepFacts, StepRequest
from scriptgen.ratelimits import (
    RateFeedback,
    RateLimitSnapshot,
    RateLimitWindow,
    Reservation,
    current_feedback,
)
from tests.fake_anthropic import FakeAnthropic, RateLimits

KEY = "sk-ant-test-key-0123456789"
NOW = 1_000_000.0


class Clock:
    """Wall-clock seconds that move only when the limiter sleeps; with ``moves=False`` its
    sleep never returns (time stands still: a wait for a reset stays a wait)."""

    def __init__(self, *, moves: bool = True) -> None:
        self.now = NOW
        self.moves = moves
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        if not self.moves:
            await asyncio.Event().wait()
        self.now += seconds
        await asyncio.sleep(0)


def paced(clock: Clock | None = None) -> FairLimiter:
    """A limiter of 8 at 8 on ``clock`` (by default, one that stands still)."""
    clock = clock or Clock(moves=False)
    return FairLimiter(8, initial=8, clock=clock, sleep=clock.sleep)


class Call:
    """A model call holding a slot in its own task until :meth:`end`."""

    def __init__(
        self,
        limiter: FairLimiter,
        reserve: Reservation | None = None,
        tenant: str = "a",
        clock: Clock | None = None,
    ) -> None:
        self.admitted = asyncio.Event()
        self.admitted_at: float | None = None
        self._clock = clock
        self._end = asyncio.Event()
        self._feedback: RateFeedback | None = None
        self.task = asyncio.create_task(self._run(limiter, reserve, tenant))

    async def _run(self, limiter: FairLimiter, reserve: Reservation | None, tenant: str) -> None:
        async with limiter.slot(tenant, reserve):
            self._feedback = current_feedback()
            self.admitted_at = self._clock() if self._clock else None
            self.admitted.set()
            await self._end.wait()

    async def admission(self) -> None:
        """Wait until admitted (a limiter that never admits fails the test, not hangs it)."""
        async with asyncio.timeout(5):
            await self.admitted.wait()

    @property
    def feedback(self) -> RateFeedback:
        assert self._feedback is not None, "not admitted"
        return self._feedback

    async def end(self) -> None:
        self._end.set()
        async with asyncio.timeout(5):
            await self.task


async def cancel(*calls: Call) -> None:
    for call in calls:
        call.task.cancel()
    await asyncio.gather(*(c.task for c in calls), return_exceptions=True)


async def settle() -> None:
    """Let every ready task run (admissions are handed over through futures)."""
    for _ in range(5):
        await asyncio.sleep(0)


async def admitted(limiter: FairLimiter, count: int, **kwargs: Any) -> list[Call]:
    calls = [Call(limiter, **kwargs) for _ in range(count)]
    await settle()
    assert all(c.admitted.is_set() for c in calls)
    return calls


def figures(
    *,
    output: int = 100_000,
    output_limit: int = 100_000,
    reset_at: float = NOW + 30.5,
    requests: int = 1_000,
) -> RateLimitSnapshot:
    """Rate-limit headers: output tokens left (and requests), resetting at ``reset_at``."""
    reset = datetime.fromtimestamp(reset_at, UTC)
    return RateLimitSnapshot(
        requests=RateLimitWindow(1_000, requests, reset),
        tokens=RateLimitWindow(output_limit, output, reset),
        input_tokens=RateLimitWindow(1_000_000, 1_000_000, reset),
        output_tokens=RateLimitWindow(output_limit, output, reset),
        observed_at=0.0,
    )


def output(tokens: int) -> Reservation:
    return Reservation(output_tokens=tokens)


# -- AIMD -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [429, 529])
async def test_a_429_or_529_cuts_the_limit_multiplicatively(status: int) -> None:
    """The limit is multiplied by 0.7, and fewer calls are admitted at once."""
    limiter = FairLimiter(16, initial=10)
    [call] = await admitted(limiter, 1)
    call.feedback.observe(status, None)
    assert limiter.limit == pytest.approx(7.0)
    assert (limiter.capacity, limiter.decreases) == (7, 1)
    await call.end()


async def test_answers_to_calls_admitted_before_a_cut_are_the_same_episode() -> None:
    """Ten calls refused together cut the limit once, not ten times."""
    limiter = FairLimiter(16, initial=10)
    calls = await admitted(limiter, 10)
    for call in calls:
        call.feedback.observe(429, None)
    assert (limiter.decreases, limiter.congestion_signals) == (1, 10)
    assert limiter.limit == pytest.approx(7.0)
    for call in calls:
        await call.end()


async def test_a_call_admitted_after_the_cut_starts_a_new_episode() -> None:
    """Congestion reported by a call that started after the cut cuts again."""
    limiter = FairLimiter(16, initial=10)
    [old] = await admitted(limiter, 1)
    old.feedback.observe(429, None)
    [new] = await admitted(limiter, 1)
    new.feedback.observe(529, None)
    assert limiter.decreases == 2
    assert limiter.limit == pytest.approx(10 * 0.7 * 0.7)
    await old.end()
    await new.end()


@pytest.mark.parametrize("status", [None, 500, 400])
async def test_answers_that_say_nothing_about_load_leave_the_limit(status: int | None) -> None:
    """A connection failure or spend limit (None), a 500 or a 400 does not cut."""
    limiter = FairLimiter(16, initial=10)
    [call] = await admitted(limiter, 1)
    call.feedback.observe(status, None)
    assert (limiter.limit, limiter.decreases) == (10.0, 0)
    await call.end()


async def test_the_limit_starts_at_initial_and_grows_one_per_accepted_call() -> None:
    """Slow start: each call accepted while the limit is full lets one more in."""
    limiter = FairLimiter(8)
    [first] = await admitted(limiter, 1)
    queued = [Call(limiter) for _ in range(3)]
    await settle()
    assert limiter.in_flight == 1
    first.feedback.observe(200, None)
    await settle()
    assert (limiter.capacity, limiter.in_flight) == (2, 2)
    queued[0].feedback.observe(200, None)
    await settle()
    assert (limiter.capacity, limiter.in_flight) == (3, 3)
    for call in [first, *queued]:
        await call.end()


async def test_a_limit_nobody_fills_does_not_grow() -> None:
    """Successes while fewer calls run than the limit allows prove nothing."""
    limiter = FairLimiter(8, initial=4)
    calls = await admitted(limiter, 2)
    for call in calls:
        call.feedback.observe(200, None)
    assert limiter.limit == 4.0
    for call in calls:
        await call.end()


async def test_recovery_is_fast_up_to_just_under_the_level_that_congested() -> None:
    """After a cut from 10, successes add one each up to 9, then a fraction each."""
    limiter = FairLimiter(16, initial=10)
    [trigger] = await admitted(limiter, 1)
    trigger.feedback.observe(429, None)  # 10 -> 7, congestion at 10
    await trigger.end()
    calls = await admitted(limiter, 7)
    for _ in range(2):  # a success while every slot is taken, then one more call fills it
        calls[-1].feedback.observe(200, None)
        calls += await admitted(limiter, 1)
    assert limiter.limit == 9.0  # 7 + 1 + 1: one under the 10 that congested
    for call in calls[:4]:
        call.feedback.observe(200, None)
    assert 9.0 < limiter.limit < 9.1  # probing past the last good level: 1/(8 x limit) each
    for call in calls:
        await call.end()


async def test_the_limit_never_exceeds_the_configured_maximum() -> None:
    """Growth stops at SHOWRUNNER_MAX_CONCURRENT_CALLS."""
    limiter = FairLimiter(3)
    calls = [Call(limiter) for _ in range(6)]
    for _ in range(6):
        await settle()
        for call in calls:
            if call.admitted.is_set():
                call.feedback.observe(200, None)
    assert (limiter.limit, limiter.capacity, limiter.in_flight) == (3.0, 3, 3)
    assert limiter.peak == 3
    for call in calls:
        await call.end()


async def test_a_provider_that_reports_nothing_gets_the_whole_bound_after_its_first_call() -> None:
    """The demo says nothing about load: nothing would ever pace it, so it is not paced."""
    limiter = FairLimiter(4)
    [first] = await admitted(limiter, 1)
    queued = [Call(limiter) for _ in range(3)]
    await settle()
    assert limiter.in_flight == 1  # not known yet whether answers will say anything
    await first.end()
    await settle()
    assert (limiter.capacity, limiter.in_flight) == (4, 3)
    for call in queued:
        await call.end()


async def test_calls_that_end_well_count_as_successes_when_they_report_nothing() -> None:
    """After a cut, a call that ends well grows the limit back even if it said nothing."""
    limiter = FairLimiter(8, initial=8)
    [trigger] = await admitted(limiter, 1)
    trigger.feedback.observe(429, None)  # 8 -> 5.6
    await trigger.end()
    calls = await admitted(limiter, 5)
    await calls[0].end()
    assert limiter.limit == pytest.approx(6.6)
    for call in calls[1:]:
        await call.end()


async def test_a_fixed_limiter_ignores_what_the_api_says() -> None:
    """adaptive=False: the capacity it was given, whatever the answers."""
    limiter = FairLimiter(4, adaptive=False)
    calls = await admitted(limiter, 4)
    calls[0].feedback.observe(429, figures(output=0))
    assert (limiter.capacity, limiter.decreases) == (4, 0)
    for call in calls:
        await call.end()
    await admitted(limiter, 1, reserve=output(1_000))


# -- budgets ----------------------------------------------------------------------------------


async def test_a_call_waits_for_the_reset_when_the_output_left_cannot_cover_it() -> None:
    """It is admitted once the clock passes the reset the headers gave, not before."""
    clock = Clock()
    limiter = paced(clock)
    [first] = await admitted(limiter, 1, reserve=output(1_000))
    first.feedback.observe(200, figures(output=1_500, reset_at=NOW + 20.5))
    second = Call(limiter, output(2_000), clock=clock)
    await second.admission()
    assert second.admitted_at == NOW + 20.5
    assert clock.slept == [20.5]
    assert limiter.budget_waits == 1
    await first.end()
    await second.end()


async def test_a_reset_given_to_the_second_is_waited_for_one_second_more() -> None:
    """12:00:03 may be 12:00:03.999: the header's resolution is one second."""
    clock = Clock()
    limiter = paced(clock)
    [first] = await admitted(limiter, 1)
    first.feedback.observe(200, figures(output=0, reset_at=NOW + 20))
    second = Call(limiter, output(100), clock=clock)
    await second.admission()
    assert second.admitted_at == NOW + 21
    await first.end()
    await second.end()


async def test_calls_admitted_since_the_headers_count_against_them() -> None:
    """3,000 left: a 2,000 call goes, the next 2,000 call waits."""
    limiter = paced()
    [probe] = await admitted(limiter, 1)
    probe.feedback.observe(200, figures(output=3_000))
    await probe.end()
    [first] = await admitted(limiter, 1, reserve=output(2_000))
    second = Call(limiter, output(2_000))
    await settle()
    assert not second.admitted.is_set()
    assert limiter.in_flight == 1
    await cancel(first, second)


async def test_a_call_that_ends_gives_back_what_it_reserved_and_did_not_use() -> None:
    """Its reservation is settled with its real usage: 2,000 reserved, 300 written."""
    limiter = paced()
    [probe] = await admitted(limiter, 1)
    probe.feedback.observe(200, figures(output=3_000))
    await probe.end()
    [first] = await admitted(limiter, 1, reserve=output(2_000))
    second = Call(limiter, output(2_000))
    await settle()
    assert not second.admitted.is_set()
    first.feedback.settle(input_tokens=50, output_tokens=300)
    await first.end()
    await second.admission()
    await second.end()


async def test_calls_the_api_has_not_acknowledged_stay_counted_against_newer_headers() -> None:
    """Headers written before a call's request arrived do not count it: the limiter does."""
    limiter = paced()
    [probe] = await admitted(limiter, 1)
    probe.feedback.observe(200, figures(output=10_000))
    await probe.end()
    in_transit, answered = await admitted(limiter, 2, reserve=output(3_000))
    answered.feedback.observe(200, figures(output=4_000))  # counts itself, not in_transit
    third = Call(limiter, output(2_000))
    await settle()
    assert not third.admitted.is_set()  # 4,000 - 3,000 in transit < 2,000
    in_transit.feedback.observe(200, figures(output=1_000))
    await settle()
    assert not third.admitted.is_set()
    await cancel(in_transit, answered, third)


async def test_figures_do_not_count_a_call_admitted_after_the_one_they_came_with() -> None:
    """Acknowledged (without headers) but sent after: its request may have come too late."""
    limiter = paced()
    earlier, later = await admitted(limiter, 2, reserve=output(2_000))
    later.feedback.observe(200, None)
    earlier.feedback.observe(200, figures(output=3_000))
    waiting = Call(limiter, output(2_000))
    await settle()
    assert not waiting.admitted.is_set()  # 3,000 - later's 2,000 < 2,000
    await cancel(earlier, later, waiting)


async def test_a_call_cancelled_at_the_head_of_the_line_lets_the_next_one_go() -> None:
    """A big call waiting for the reset holds the line; cancelled, the small one runs."""
    limiter = paced()
    [probe] = await admitted(limiter, 1)
    probe.feedback.observe(200, figures(output=1_000))
    big, small = Call(limiter, output(5_000)), Call(limiter, output(100))
    await settle()
    assert not small.admitted.is_set()  # first in line first
    await cancel(big)
    await small.admission()
    await cancel(probe, small)


async def test_older_headers_do_not_replace_newer_ones() -> None:
    """The answer to an earlier call, read late, does not undo what a later one said."""
    limiter = paced()
    early, late = await admitted(limiter, 2, reserve=output(100))
    late.feedback.observe(200, figures(output=0))
    early.feedback.observe(200, figures(output=50_000))
    third = Call(limiter, output(100))
    await settle()
    assert not third.admitted.is_set()
    await cancel(early, late, third)


async def test_what_ended_calls_get_back_lets_one_probe_through() -> None:
    """Output the API gives back may not be in the figures yet: one call goes to find out."""
    limiter = paced()
    [counted] = await admitted(limiter, 1, reserve=output(2_000))
    counted.feedback.observe(200, figures(output=500))  # the figures count its 2,000
    counted.feedback.settle(input_tokens=10, output_tokens=100)
    await counted.end()  # 1,900 given back
    probe, after = Call(limiter, output(2_000)), Call(limiter, output(2_000))
    await settle()
    assert probe.admitted.is_set() and not after.admitted.is_set()
    probe.feedback.observe(200, figures(output=400))  # it did not show after all
    await settle()
    assert not after.admitted.is_set()
    await cancel(probe, after)


async def test_no_probe_goes_while_figures_are_on_their_way() -> None:
    """A call in flight the API has not answered yet will bring figures: wait for them."""
    limiter = paced()
    [counted] = await admitted(limiter, 1, reserve=output(2_000))
    counted.feedback.observe(200, figures(output=2_000))
    [in_transit] = await admitted(limiter, 1, reserve=output(500))  # 1,500 left
    counted.feedback.settle(input_tokens=10, output_tokens=100)
    await counted.end()  # 1,900 given back, but in_transit's answer is on its way
    waiting = Call(limiter, output(2_000))
    await settle()
    assert not waiting.admitted.is_set()
    await cancel(in_transit, waiting)


async def test_what_a_call_gets_back_in_one_window_does_not_count_in_the_next() -> None:
    """Figures with another reset time are another window: its hold was not in them."""
    limiter = paced()
    counted, later = await admitted(limiter, 2, reserve=output(2_000))
    counted.feedback.observe(200, figures(output=20_000, reset_at=NOW + 10.5))
    later.feedback.observe(200, figures(output=500, reset_at=NOW + 70.5))  # a new window
    counted.feedback.settle(input_tokens=10, output_tokens=100)
    await counted.end()
    await later.end()
    waiting = Call(limiter, output(2_000))
    await settle()
    assert not waiting.admitted.is_set()
    await cancel(waiting)


async def test_a_call_bigger_than_a_whole_window_runs_when_the_window_is_fresh() -> None:
    """max_tokens over the limit itself would wait forever: it asks for the whole window."""
    limiter = paced()
    [probe] = await admitted(limiter, 1)
    probe.feedback.observe(200, figures(output=1_000, output_limit=1_000))
    await probe.end()
    await admitted(limiter, 1, reserve=output(8_000))


async def test_a_call_is_let_through_when_no_reset_is_known_and_nothing_runs() -> None:
    """Figures with no reset time and nothing in flight to bring news: it asks anyway."""
    limiter = paced()
    [probe] = await admitted(limiter, 1)
    empty = RateLimitWindow(1_000, 0, None)
    probe.feedback.observe(200, RateLimitSnapshot(empty, empty, empty, empty, 0.0))
    waiting = Call(limiter, output(10))
    await settle()
    assert not waiting.admitted.is_set()
    await probe.end()
    await waiting.admission()
    await waiting.end()


# -- retries lend their slot ------------------------------------------------------------------


async def test_a_retry_wait_lends_the_slot_and_comes_back_first_in_line() -> None:
    """While a call waits to retry, a queued call runs; the retry then goes before others."""
    limiter = FairLimiter(1)
    order: list[str] = []
    retry_now = asyncio.Event()

    async def retrying() -> None:
        async with limiter.slot("a"):
            feedback = current_feedback()
            assert feedback is not None
            order.append("first attempt")
            async with feedback.paused():
                await retry_now.wait()
            order.append("retry")

    let_go = asyncio.Event()

    async def other(label: str) -> None:
        async with limiter.slot("b"):
            order.append(label)
            await let_go.wait()

    retry_task = asyncio.create_task(retrying())
    await settle()
    others = [asyncio.create_task(other(f"other {n}")) for n in (1, 2)]
    await settle()
    assert order == ["first attempt", "other 1"]
    retry_now.set()
    await settle()
    let_go.set()
    async with asyncio.timeout(5):
        await asyncio.gather(retry_task, *others)
    assert order == ["first attempt", "other 1", "retry", "other 2"]
    assert limiter.in_flight == 0


async def test_a_fixed_limiter_keeps_the_slot_while_a_retry_waits() -> None:
    """adaptive=False: as before, the slot is the call's until it ends."""
    limiter = FairLimiter(1, adaptive=False)
    retry_now = asyncio.Event()

    async def retrying() -> None:
        async with limiter.slot("a"):
            feedback = current_feedback()
            assert feedback is not None
            async with feedback.paused():
                await retry_now.wait()

    task = asyncio.create_task(retrying())
    await settle()
    other = Call(limiter)
    await settle()
    assert not other.admitted.is_set()
    retry_now.set()
    async with asyncio.timeout(5):
        await task
    await other.admission()
    await other.end()


async def test_a_call_cancelled_while_it_waits_to_retry_holds_no_slot() -> None:
    """Cancelled in its back-off (a graceful stop), the call leaves nothing behind."""
    limiter = FairLimiter(2, initial=2)
    waiting = asyncio.Event()

    async def retrying() -> None:
        async with limiter.slot("a"):
            feedback = current_feedback()
            assert feedback is not None
            async with feedback.paused():
                waiting.set()
                await asyncio.Event().wait()

    task = asyncio.create_task(retrying())
    async with asyncio.timeout(5):
        await waiting.wait()
    assert limiter.in_flight == 0
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (limiter.in_flight, limiter.waiting) == (0, 0)


# -- reservations ---------------------------------------------------------------------------


def test_a_step_reserves_its_max_tokens_and_its_whole_prompt() -> None:
    """Output: max_tokens, as the API counts it; input: every block of the prompt."""
    reserved = Reservation.for_step(step(max_tokens=1_234))
    assert (reserved.requests, reserved.output_tokens) == (1, 1_234)
    prompt = "You write sitcoms." + "SERIES BIBLE. Dana runs a coffee shop." + "Write it."
    assert len(prompt) // 4 - 3 <= reserved.input_tokens <= len(prompt) // 4 + 3


# -- the provider reports to the slot it runs in, over loopback ---------------------------------


class NoWait:
    """A back-off that records and never sleeps."""

    def __init__(self) -> None:
        self.calls: list[float | None] = []

    async def wait(self, retry: int, server_delay: float | None) -> None:
        self.calls.append(server_delay)


def step(max_tokens: int = 4_000) -> StepRequest[Any]:
    return StepRequest(
        kind="outline",
        key="outline",
        output=Outline,
        system="You write sitcoms.",
        shared_context=("SERIES BIBLE. Dana runs a coffee shop.",),
        prompt="Write it.",
        max_tokens=max_tokens,
        facts=StepFacts(request=EpisodeRequest(premise="A parrot inherits the building.")),
    )


@pytest.fixture
async def fake() -> AsyncIterator[FakeAnthropic]:
    async with FakeAnthropic(rate_limits=RateLimits(output_tokens=50_000)) as server:
        yield server


@pytest.fixture
async def client(fake: FakeAnthropic) -> AsyncIterator[anthropic.AsyncAnthropic]:
    async with anthropic.AsyncAnthropic(api_key=KEY, base_url=fake.base_url) as sdk:
        yield sdk


async def test_a_429_the_provider_retries_cuts_the_limit_once(
    fake: FakeAnthropic, client: anthropic.AsyncAnthropic
) -> None:
    """The provider's retry loop reports the 429; the call still succeeds on its retry."""
    limiter = FairLimiter(16, initial=10)
    provider = AnthropicProvider(client, "claude-test", backoff=NoWait())
    fake.enqueue_status(429, retry_after=0)
    async with limiter.slot("g"):
        result = await provider.generate(step())
    assert result.usage.retries == 1
    assert (limiter.decreases, limiter.congestion_signals) == (1, 1)
    assert limiter.limit == pytest.approx(7.0)


async def test_a_reached_spend_limit_does_not_cut_the_limit(
    fake: FakeAnthropic, client: anthropic.AsyncAnthropic
) -> None:
    """A 429 no retry can cure says nothing about how many calls may run at once."""
    limiter = FairLimiter(16, initial=10)
    provider = AnthropicProvider(client, "claude-test", backoff=NoWait())
    fake.enqueue_status(429, error_code="enforced_spend_limit_reached")
    with pytest.raises(ProviderError):
        async with limiter.slot("g"):
            await provider.generate(step())
    assert (limiter.decreases, limiter.congestion_signals, limiter.limit) == (0, 0, 10.0)


async def test_an_overloaded_event_mid_stream_cuts_the_limit(
    fake: FakeAnthropic, client: anthropic.AsyncAnthropic
) -> None:
    """An SSE overloaded_error on a 200 stream counts as the 529 it stands for."""
    limiter = FairLimiter(16, initial=10)
    provider = AnthropicProvider(client, "claude-test", backoff=NoWait())
    fake.enqueue_stream_error(error_type="overloaded_error")
    async with limiter.slot("g"):
        await provider.generate(step())
    assert limiter.decreases == 1


async def test_the_headers_the_provider_reads_pace_the_next_calls(
    fake: FakeAnthropic, client: anthropic.AsyncAnthropic
) -> None:
    """The API held the call's max_tokens when it answered: 46,000 left, and a call that
    needs more than that and what the call then gave back waits for the reset."""
    limiter = FairLimiter(16, initial=16)
    provider = AnthropicProvider(client, "claude-test", backoff=NoWait())
    async with limiter.slot("g"):
        result = await provider.generate(step(max_tokens=4_000))
    assert provider.rate_limits is not None
    assert provider.rate_limits.output_tokens.remaining == 46_000
    given_back = 4_000 - result.usage.output_tokens
    blocked = Call(limiter, output(46_000 + given_back + 1))
    await settle()
    assert not blocked.admitted.is_set()
    await cancel(blocked)
    await admitted(limiter, 1, reserve=output(46_000))


async def test_the_provider_lends_its_slot_while_it_waits_to_retry(
    fake: FakeAnthropic, client: anthropic.AsyncAnthropic
) -> None:
    """With one slot, a call waiting out a 429 lets another call run meanwhile."""
    limiter = FairLimiter(1)
    release = asyncio.Event()
    finished: list[str] = []

    class HeldBackoff:
        async def wait(self, retry: int, server_delay: float | None) -> None:
            await release.wait()

    provider = AnthropicProvider(client, "claude-test", backoff=HeldBackoff())
    fake.enqueue_status(429, retry_after=0)

    async def call(label: str) -> None:
        async with limiter.slot(label):
            await provider.generate(step())
        finished.append(label)

    first = asyncio.create_task(call("retrying"))
    async with asyncio.timeout(10):
        await fake.wait_for_request(1)
        await fake.requests[0].done.wait()
        await call("other")
    assert finished == ["other"]
    release.set()
    async with asyncio.timeout(10):
        await first
    assert finished == ["other", "retrying"]
    assert [r.status for r in fake.requests] == [429, 200, 200]


# -- the fake API's limits ----------------------------------------------------------------------


async def test_the_fake_refuses_requests_past_its_cap_in_flight() -> None:
    """RateLimits(max_in_flight=1): a second request at once gets a 429 with retry-after."""
    async with (
        FakeAnthropic(ttft=0.3, rate_limits=RateLimits(max_in_flight=1)) as server,
        anthropic.AsyncAnthropic(api_key=KEY, base_url=server.base_url, max_retries=0) as sdk,
    ):
        first = asyncio.create_task(ask(sdk, max_tokens=100))
        async with asyncio.timeout(5):
            await server.wait_for_request(1)
        with pytest.raises(anthropic.RateLimitError) as refused:
            await ask(sdk, max_tokens=100)
        await first
    assert refused.value.response.headers["retry-after"] == "1"
    assert "limit of 1 concurrent requests" in str(refused.value.message)
    assert [r.status for r in server.requests] == [200, 429]


async def test_the_fake_counts_max_tokens_while_a_request_runs_then_its_real_output() -> None:
    """Enforced output tokens: max_tokens is held until the answer ends, then corrected."""
    limits = RateLimits(output_tokens=5_000, enforce=True)
    async with (
        FakeAnthropic(ttft=0.3, rate_limits=limits) as server,
        anthropic.AsyncAnthropic(api_key=KEY, base_url=server.base_url, max_retries=0) as sdk,
    ):
        first = asyncio.create_task(ask(sdk, max_tokens=4_000))
        async with asyncio.timeout(5):
            await server.wait_for_request(1)
        with pytest.raises(anthropic.RateLimitError) as refused:
            await ask(sdk, max_tokens=2_000)  # 1,000 left while the first runs
        written = (await first).usage.output_tokens
        response = await sdk.messages.with_raw_response.create(
            model="claude-test",
            max_tokens=4_900,
            messages=[{"role": "user", "content": "hi"}],
        )
    assert "output tokens" in str(refused.value.message)
    assert 1 <= int(refused.value.response.headers["retry-after"]) <= 60
    assert response.headers["anthropic-ratelimit-output-tokens-remaining"] == str(
        5_000 - written - 4_900
    )


async def ask(sdk: anthropic.AsyncAnthropic, *, max_tokens: int) -> anthropic.types.Message:
    return await sdk.messages.create(
        model="claude-test", max_tokens=max_tokens, messages=[{"role": "user", "content": "hi"}]
    )
