"""How long each step of the pipeline takes, and which steps are too slow.

Every model call of a run (:mod:`scriptgen.run`), every step taken from the checkpoints, and
every checkpoint commit (:class:`~scriptgen.checkpoints.CheckpointWriter`) is timed into the
generator's :class:`PerformanceMonitor`. It keeps a per-kind table for operators and the CLI's
``--stats``, tells subscribers (the bot's metrics) each step as it finishes, and judges each
step: slower than its kind's threshold, or than ``factor`` x the p95 of that kind's recent
calls, it logs one warning and tells the slow-step listeners (the bot's operator channel), at
most once per kind per ``warn_interval`` so that a stalled API does not flood either.

It runs on the event loop beside every call, so a step costs a few microseconds: counters, one
bucket of a histogram, a bounded deque; the p95 of the recent window is sorted again only every
``window // 20`` calls.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, ParamSpec, TypeVar

from scriptgen.models import CallUsage, UsageTotals
from scriptgen.percentiles import LogHistogram, nearest_rank
from scriptgen.pricing import estimate_cost

__all__ = [
    "KINDS",
    "PerformanceMonitor",
    "StepClock",
    "StepStats",
    "StepTiming",
    "monitor_performance",
]

log = logging.getLogger(__name__)

KINDS: Final = ("outline", "dialogue", "directions", "comedy", "refine", "checkpoint")
"""The kinds the pipeline records, in the order of an episode: the table's order (a kind not
listed, from a caller's own steps, follows in the order first seen). A note's rewrite records its
steps by their own kinds, ``dialogue`` and ``directions``, with ``rewrite:`` keys."""

OUTCOMES: Final = ("ok", "error", "cancelled", "reused")

Listener = Callable[["StepTiming"], None]


@dataclass(frozen=True, slots=True)
class StepTiming:
    """One finished step, as the monitor saw it."""

    kind: str
    key: str
    """The step's key (``scene:3:dialogue``); for a checkpoint, the step committed."""
    label: str | None
    """The run's label: the bot passes the episode's public id; None in the CLI."""
    started: float
    """The monitor's clock (``time.monotonic()``) when the step began."""
    seconds: float
    """Wall time of the step; for a model call, inside its limiter slot."""
    queued_seconds: float
    """Before the step began: the wait for a limiter slot; for a checkpoint, behind earlier
    commits of its episode. 0 if none."""
    first_token_seconds: float | None
    """From the step's start to its answer's first streamed token, when the provider streams."""
    outcome: str
    """``ok``, ``error``, ``cancelled``, or ``reused`` (taken from the checkpoints, 0 s)."""
    usage: CallUsage | None
    cost_usd: float | None
    """``usage`` priced with :mod:`scriptgen.pricing`; None when its model has no price."""
    slow: bool
    threshold: float | None
    """What the step was judged against (None: no threshold yet for its kind)."""


@dataclass(frozen=True)
class StepStats:
    """One row of the per-step table, over every step of its kind since the start (or reset).

    ``count`` is the steps that ran (reused ones are not: they took no time and cost nothing
    now), ``errors`` those that failed; the durations are of the steps that succeeded (a call
    that failed at once says nothing of how long answers take), to within 1 % (``max``
    exactly); tokens and cost include failed calls, which are paid for too.
    """

    kind: str
    count: int
    errors: int
    p50: float
    p95: float
    max: float
    first_token_p50: float | None
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost_usd: float


class StepClock:
    """A step being timed by :meth:`PerformanceMonitor.step`; the block tells it what it knows."""

    __slots__ = (
        "_monitor",
        "first_token_seconds",
        "key",
        "kind",
        "label",
        "outcome",
        "queued_seconds",
        "started",
        "usage",
    )

    def __init__(self, monitor: PerformanceMonitor, kind: str, key: str, label: str | None) -> None:
        self._monitor = monitor
        self.kind = kind
        self.key = key
        self.label = label
        self.started = 0.0
        self.queued_seconds = 0.0
        self.first_token_seconds: float | None = None
        self.usage: CallUsage | None = None
        self.outcome = "ok"
        """Set by the block if it knows better; an exception leaving the block sets it."""

    def first_token(self) -> None:
        """The answer's first token arrived (only the first call counts: a retried call's
        first token is its first attempt's)."""
        if self.first_token_seconds is None:
            self.first_token_seconds = self._monitor.clock() - self.started

    def queued(self, seconds: float) -> None:
        """How long the step waited before it began (for a limiter slot)."""
        self.queued_seconds = seconds

    def __enter__(self) -> StepClock:
        self.started = self._monitor.clock()
        self._monitor._running.add(self)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        monitor = self._monitor
        seconds = monitor.clock() - self.started
        monitor._running.discard(self)
        if exc_type is not None:
            self.outcome = "cancelled" if issubclass(exc_type, asyncio.CancelledError) else "error"
        monitor._finish(
            self.kind,
            self.key,
            self.label,
            self.started,
            seconds,
            self.queued_seconds,
            self.first_token_seconds,
            self.outcome,
            self.usage,
        )


class _Kind:
    """What the monitor keeps of one kind of step."""

    __slots__ = (
        "cache_read_tokens",
        "cache_write_tokens",
        "cost_usd",
        "count",
        "durations",
        "errors",
        "first_tokens",
        "fixed",
        "input_tokens",
        "judged",
        "last_warned",
        "output_tokens",
        "recent",
        "since_judged",
        "suppressed",
    )

    def __init__(self, fixed: float | None, window: int) -> None:
        self.fixed = fixed
        self.recent: deque[float] = deque(maxlen=window)
        self.judged: float | None = None
        """``factor`` x the p95 of ``recent``, as of ``since_judged`` calls ago."""
        self.since_judged = 0
        self.last_warned: float | None = None
        self.suppressed = 0
        """Slow steps not warned of since the last warning (rate-limited)."""
        self.reset()

    def reset(self) -> None:
        self.count = 0
        self.errors = 0
        self.durations = LogHistogram()
        self.first_tokens = LogHistogram()
        self.input_tokens = 0
        self.output_tokens = 0
        self.cache_read_tokens = 0
        self.cache_write_tokens = 0
        self.cost_usd = 0.0


_Rates = tuple[float, float, float, float]
"""Dollars per input, output, cache-write and cache-read token of one model."""


class PerformanceMonitor:
    """Times the steps of every run of one generator; see the module's docstring.

    ``thresholds``: seconds, per kind; a kind without one is judged against ``factor`` x the
    p95 of its last ``window`` successful steps, once there are ``min_samples`` of them, and
    never under ``floor`` seconds: steps of microseconds (checkpoint commits) vary by multiples
    of themselves, and a 300 µs commit is not worth waking an operator. ``clock`` is
    injectable for tests. Everything runs on the event loop's thread.
    """

    def __init__(
        self,
        *,
        thresholds: Mapping[str, float] | None = None,
        factor: float = 3.0,
        window: int = 200,
        min_samples: int = 20,
        warn_interval: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
        floor: float = 0.1,
    ) -> None:
        for kind, seconds in (thresholds or {}).items():
            if not seconds > 0:
                raise ValueError(f"the threshold of {kind!r} steps must be positive, not {seconds}")
        if not factor > 0:
            raise ValueError(f"factor must be positive, not {factor}")
        if not 1 <= min_samples <= window:
            raise ValueError(
                f"min_samples must be between 1 and window ({window}), not {min_samples}"
            )
        if floor < 0:
            raise ValueError(f"floor cannot be negative, not {floor}")
        if warn_interval < 0:
            raise ValueError(f"warn_interval cannot be negative, not {warn_interval}")
        self.thresholds = dict(thresholds or {})
        self.factor = factor
        self.window = window
        self.min_samples = min_samples
        self.warn_interval = warn_interval
        self.clock = clock
        self.floor = floor
        self._rejudge = max(1, window // 20)
        self._kinds: dict[str, _Kind] = {}
        self._listeners: tuple[Listener, ...] = ()
        self._slow_listeners: tuple[Listener, ...] = ()
        self._failed_listeners: set[int] = set()
        """The ids of listeners whose failure was logged."""
        self._slow: deque[StepTiming] = deque(maxlen=100)
        self._running: set[StepClock] = set()
        self._rates: dict[str, _Rates | None] = {}

    # -- what callers tell it --------------------------------------------------------------

    def step(self, kind: str, key: str, *, label: str | None = None) -> StepClock:
        """Time the ``with`` block as one step; an exception leaving it records ``error``
        (``cancelled`` for a cancellation) and goes on."""
        return StepClock(self, kind, key, label)

    def record(
        self,
        kind: str,
        key: str,
        *,
        label: str | None = None,
        seconds: float,
        started: float | None = None,
        queued_seconds: float = 0.0,
        first_token_seconds: float | None = None,
        outcome: str = "ok",
        usage: CallUsage | None = None,
    ) -> StepTiming:
        """A step the caller timed itself (``started`` defaults to ``seconds`` ago), or one
        taken from the checkpoints (``outcome="reused"``, ``seconds=0``)."""
        if outcome not in OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(OUTCOMES)}, not {outcome!r}")
        if started is None:
            started = self.clock() - seconds
        return self._finish(
            kind, key, label, started, seconds, queued_seconds, first_token_seconds, outcome, usage
        )

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Every finished step, as it finishes (sync, must be cheap; exceptions are logged,
        never raised into the pipeline). Returns an unsubscribe function."""
        self._listeners = (*self._listeners, listener)
        return functools.partial(self._unsubscribe, listener, slow=False)

    def on_slow(self, listener: Listener) -> Callable[[], None]:
        """Slow steps only, already rate-limited (at most one per kind per warn_interval)."""
        self._slow_listeners = (*self._slow_listeners, listener)
        return functools.partial(self._unsubscribe, listener, slow=True)

    def reset(self) -> None:
        """Start the table again (what judges a step slow stays: it is about recent calls)."""
        for stats in self._kinds.values():
            stats.reset()

    # -- what it tells -------------------------------------------------------------------

    def table(self) -> list[StepStats]:
        """One row per kind that ran a step since the start (or :meth:`reset`)."""
        order = {kind: n for n, kind in enumerate(KINDS)}
        kinds = sorted(self._kinds, key=lambda kind: order.get(kind, len(order)))
        rows = []
        for kind in kinds:
            stats = self._kinds[kind]
            if stats.count == 0:
                continue
            durations = stats.durations
            rows.append(
                StepStats(
                    kind=kind,
                    count=stats.count,
                    errors=stats.errors,
                    p50=durations.quantile(0.5),
                    p95=durations.quantile(0.95),
                    max=max(durations.max, 0.0),
                    first_token_p50=(
                        stats.first_tokens.quantile(0.5) if stats.first_tokens.count else None
                    ),
                    input_tokens=stats.input_tokens,
                    output_tokens=stats.output_tokens,
                    cache_read_tokens=stats.cache_read_tokens,
                    cache_write_tokens=stats.cache_write_tokens,
                    cost_usd=stats.cost_usd,
                )
            )
        return rows

    def recent_slow(self, n: int = 20) -> list[StepTiming]:
        """The last ``n`` slow steps (of the last 100), newest first, warned of or not."""
        newest = list(self._slow)[-n:] if n > 0 else []
        newest.reverse()
        return newest

    def in_flight(self) -> list[tuple[str, str, str | None, float]]:
        """Steps being timed now: (kind, key, label, started), the longest-running first."""
        running = [(c.kind, c.key, c.label, c.started) for c in self._running]
        running.sort(key=lambda step: step[3])
        return running

    def threshold(self, kind: str) -> float | None:
        """What a step of ``kind`` finishing now would be judged against (None: nothing yet)."""
        stats = self._kinds.get(kind)
        if stats is None:
            return self.thresholds.get(kind)
        return self._threshold(stats)

    # -- the work ------------------------------------------------------------------------

    def _finish(
        self,
        kind: str,
        key: str,
        label: str | None,
        started: float,
        seconds: float,
        queued: float,
        first_token: float | None,
        outcome: str,
        usage: CallUsage | None,
    ) -> StepTiming:
        stats = self._kinds.get(kind)
        if stats is None:
            stats = self._kinds[kind] = _Kind(self.thresholds.get(kind), self.window)
        cost = None if usage is None else self._cost(usage)
        threshold = self._threshold(stats)
        ran = outcome != "reused"
        slow = ran and threshold is not None and seconds > threshold
        timing = StepTiming(
            kind,
            key,
            label,
            started,
            seconds,
            queued,
            first_token,
            outcome,
            usage,
            cost,
            slow,
            threshold,
        )
        if ran:
            stats.count += 1
            if outcome == "ok":
                stats.durations.add(seconds)
                stats.recent.append(seconds)
                stats.since_judged += 1
                if first_token is not None:
                    stats.first_tokens.add(first_token)
            elif outcome == "error":
                stats.errors += 1
            if usage is not None:
                stats.input_tokens += usage.input_tokens
                stats.output_tokens += usage.output_tokens
                stats.cache_read_tokens += usage.cache_read_tokens
                stats.cache_write_tokens += usage.cache_write_tokens
                if cost is not None:
                    stats.cost_usd += cost
        for listener in self._listeners:
            self._tell(listener, timing)
        if slow:
            self._slow_step(stats, timing)
        return timing

    def _threshold(self, stats: _Kind) -> float | None:
        if stats.fixed is not None:
            return stats.fixed
        if len(stats.recent) < self.min_samples:
            return None
        if stats.judged is None or stats.since_judged >= self._rejudge:
            p95 = nearest_rank(sorted(stats.recent), 0.95)
            stats.judged = max(self.floor, self.factor * p95)
            stats.since_judged = 0
        return stats.judged

    def _slow_step(self, stats: _Kind, timing: StepTiming) -> None:
        self._slow.append(timing)
        now = self.clock()
        if stats.last_warned is not None and now - stats.last_warned < self.warn_interval:
            stats.suppressed += 1
            return
        more = stats.suppressed
        stats.last_warned, stats.suppressed = now, 0
        log.warning(
            "slow %s step %s (episode %s): %.2f s, over its threshold of %.2f s%s",
            timing.kind,
            timing.key,
            timing.label or "-",
            timing.seconds,
            timing.threshold,
            f" ({more} more slow {timing.kind} steps since the last warning)" if more else "",
        )
        for listener in self._slow_listeners:
            self._tell(listener, timing)

    def _tell(self, listener: Listener, timing: StepTiming) -> None:
        try:
            listener(timing)
        except Exception as err:
            # Logged once per listener: a broken metrics hook must not log on every step.
            if id(listener) not in self._failed_listeners:
                self._failed_listeners.add(id(listener))
                log.error(
                    "a step listener (%r) failed; its later failures are not logged: %s",
                    listener,
                    err,
                    exc_info=err,
                )

    def _cost(self, usage: CallUsage) -> float | None:
        try:
            rates = self._rates[usage.model]
        except KeyError:
            rates = self._rates[usage.model] = _rates_of(usage.model)
        if rates is None:
            return None
        per_input, per_output, per_write, per_read = rates
        return (
            usage.input_tokens * per_input
            + usage.output_tokens * per_output
            + usage.cache_write_tokens * per_write
            + usage.cache_read_tokens * per_read
        )

    def _unsubscribe(self, listener: Listener, *, slow: bool) -> None:
        if slow:
            self._slow_listeners = tuple(x for x in self._slow_listeners if x is not listener)
        else:
            self._listeners = tuple(x for x in self._listeners if x is not listener)


def _rates_of(model: str) -> _Rates | None:
    """Per-token prices, from :func:`estimate_cost` (linear in each count) so that pricing
    stays in one place; None when the model has no price."""
    rates = []
    for field in ("input_tokens", "output_tokens", "cache_write_tokens", "cache_read_tokens"):
        cost = estimate_cost(model, UsageTotals.model_validate({field: 1_000_000}))
        if cost is None:
            return None
        rates.append(cost / 1_000_000)
    return rates[0], rates[1], rates[2], rates[3]


P = ParamSpec("P")
T = TypeVar("T")


def monitor_performance(
    kind: str, *, monitor: PerformanceMonitor | None = None
) -> Callable[[Callable[P, Coroutine[Any, Any, T]]], Callable[P, Coroutine[Any, Any, T]]]:
    """Time each call of an async function as a step of ``kind``, keyed by its qualified name.

    The monitor is ``monitor``, or else the first argument's ``.monitor`` (a method of an
    object that has one; its ``.label``, if it is a string, labels the step). A first argument
    whose ``.monitor`` is None runs untimed.
    """

    def decorate(
        func: Callable[P, Coroutine[Any, Any, T]],
    ) -> Callable[P, Coroutine[Any, Any, T]]:
        key = func.__qualname__

        @functools.wraps(func)
        async def timed(*args: P.args, **kwargs: P.kwargs) -> T:
            owner = args[0] if args else None
            chosen = monitor if monitor is not None else _monitor_of(owner, key)
            if chosen is None:
                return await func(*args, **kwargs)
            label = getattr(owner, "label", None)
            with chosen.step(kind, key, label=label if isinstance(label, str) else None):
                return await func(*args, **kwargs)

        return timed

    return decorate


def _monitor_of(owner: object, name: str) -> PerformanceMonitor | None:
    found = getattr(owner, "monitor", _MISSING)
    if found is _MISSING:
        raise TypeError(
            f"{name} is timed by @monitor_performance without a monitor: pass monitor=..., "
            "or make it a method of an object with a .monitor attribute"
        )
    if found is not None and not isinstance(found, PerformanceMonitor):
        raise TypeError(f"{name}: .monitor is not a PerformanceMonitor but {found!r}")
    return found


_MISSING: Final = object()
