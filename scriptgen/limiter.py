"""A process-wide bound on in-flight model calls, shared fairly between tenants (guilds), that
adapts to what the API says.

Fairness: one busy guild with twelve-scene episodes must not starve a guild asking for one
scene, so waiting calls are served round-robin across tenants, FIFO within a tenant.

Adaptation (``adaptive=True``, the default), from what the provider's retry loop reports through
each call's grant (:class:`~scriptgen.ratelimits.RateFeedback`):

- **Concurrency, AIMD.** A 429 or 529 multiplies the limit by ``decrease`` (0.7, as TCP CUBIC
  does), at most once per congestion episode: answers to calls admitted before the decrease
  are the same episode, only one admitted after it can start another. Successes (a request the
  API accepted, or a call that ended well) add to it, and only while the limit is in use (a
  limit nobody fills proves nothing): one per success up to just under the level that last
  congested (a fast recovery), then slowly, one per ``probe_windows`` windows of calls, past
  it, so that probing a hard ceiling costs one 429 every ``probe_windows`` windows rather than
  every window; above it, one per window again. Never above ``capacity``
  (``SHOWRUNNER_MAX_CONCURRENT_CALLS``). It starts at ``initial`` and grows one per accepted
  request (TCP's slow start: a process that starts with sixteen calls against a ceiling of
  four does not send twelve 429s first); a provider that reports nothing (the demo) is not
  paced at all: when a call ends and none has said a word, the limit is the whole bound.
- **Budgets, before a 429.** The last ``anthropic-ratelimit-*`` headers say how many requests,
  input and output tokens are left until when. A call reserves its
  :class:`~scriptgen.ratelimits.Reservation` (``max_tokens`` of output, an estimate of its
  input, one request) and is admitted only if what is left covers it, minus what the calls
  the API had not counted then reserved; otherwise it waits for the reset (the head of the
  line waits, so a big call is not starved by small ones). A call's reservation is settled
  with its real usage when it ends. The API counts a call's output as ``max_tokens`` while it
  runs and gives back the rest as it ends, but a client cannot tell whether the figures in
  hand show that yet: what ended calls get back lets one call through (a probe) when no
  other figures are on their way, and its answer brings figures that show it.
- **Retries do not hold a slot.** While the retry loop waits (``retry-after``), the call's
  slot serves others; the retry is admitted again first in line, when the limit and the
  budgets allow, so retries do not stampede back all at once.

``adaptive=False`` is the fixed limiter: ``capacity`` calls at once, no pacing.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections import OrderedDict, deque
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass

from scriptgen.ratelimits import (
    CONGESTION_STATUSES,
    RateLimitSnapshot,
    RateLimitWindow,
    Reservation,
    reporting_to,
)

__all__ = ["FairLimiter"]

log = logging.getLogger(__name__)

_KINDS = ("requests", "input_tokens", "output_tokens")
"""The budgets a call reserves from: fields of both Reservation and RateLimitSnapshot."""
_RESET_RESOLUTION_S = 1.0
"""Reset times come to the second: one read as 12:00:03 may be 12:00:03.999."""


class FairLimiter:
    def __init__(
        self,
        capacity: int,
        *,
        adaptive: bool = True,
        initial: int = 1,
        decrease: float = 0.7,
        probe_windows: float = 8.0,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """``clock`` (wall-clock seconds, as reset times are) and ``sleep`` pace the waits for
        a budget's reset; tests pass their own."""
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        if not 0 < decrease < 1:
            raise ValueError("decrease must be between 0 and 1")
        self._max = capacity
        self._adaptive = adaptive
        self._limit = float(min(capacity, max(1, initial)) if adaptive else capacity)
        self._ceiling: float | None = None
        """The limit when congestion last struck (None: never yet, slow start)."""
        self._heard = False
        """Whether any call has reported (the provider does: the limit starts low)."""
        self._decrease = decrease
        self._probe_windows = probe_windows
        self._clock = clock
        self._sleep = sleep
        self._in_flight = 0
        self.peak = 0
        self._paused = False
        self._idle = asyncio.Event()
        self._idle.set()
        # Tenants with waiters, in the order they are next served; each a FIFO of grants.
        self._queues: OrderedDict[str, deque[_Grant]] = OrderedDict()
        self._resuming: deque[_Grant] = deque()
        """Calls coming back from a retry's wait: served before anyone else."""
        self._held: set[_Grant] = set()
        self._admissions = 0
        self._episode_start = 0
        """Admissions numbered from here on belong to the next congestion episode."""
        self._windows = {kind: _Window(kind) for kind in _KINDS}
        self._timer: asyncio.Task[None] | None = None
        self._timer_at = math.inf
        self.decreases = 0
        """Times the limit was cut (once per congestion episode)."""
        self.congestion_signals = 0
        """429/529 answers reported, the episodes' repeats included."""
        self.budget_waits = 0
        """Calls that waited for a budget to reset (or for news of it) before they ran."""

    @property
    def capacity(self) -> int:
        """The calls admitted at once now (the adaptive limit, rounded down)."""
        return max(1, math.floor(self._limit))

    @property
    def max_capacity(self) -> int:
        """The configured bound, which the adaptive limit never exceeds."""
        return self._max

    @property
    def limit(self) -> float:
        """The adaptive limit, with the fraction its slow growth has reached."""
        return self._limit

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def waiting(self) -> int:
        return len(self._resuming) + sum(len(q) for q in self._queues.values())

    async def drain(self, timeout: float) -> bool:  # noqa: ASYNC109
        """Grant no more slots, and wait up to ``timeout`` for those in use to be released.

        For a graceful stop: calls already running may finish (and their results be kept)
        while no new call starts (nor a retry). ``True`` if everything was released in time.
        """
        self._paused = True
        try:
            await asyncio.wait_for(self._idle.wait(), timeout)
        except TimeoutError:
            return False
        return True

    def set_capacity(self, capacity: int) -> None:
        """Set the bound, and the limit to it (an operator's override of what was learnt)."""
        self._max = max(1, capacity)
        self._limit = float(self._max)
        self._ceiling = None
        self._wake()

    @asynccontextmanager
    async def slot(
        self, tenant: str = "", reserve: Reservation | None = None
    ) -> AsyncIterator[None]:
        """One call's turn. The code inside reports to the limiter through
        :func:`~scriptgen.ratelimits.current_feedback` (the provider's retry loop does)."""
        grant = _Grant(self, tenant, reserve or Reservation())
        await self._acquire(grant)
        ended_well = False
        try:
            with reporting_to(grant):
                yield
            ended_well = True
        finally:
            if grant.held:
                self._release(grant, success=ended_well)

    # -- admission ------------------------------------------------------------------------------

    async def _acquire(self, grant: _Grant, *, first: bool = False) -> None:
        if (
            not self._paused
            and self._in_flight < self.capacity
            and not self.waiting
            and self._admissible(grant.need)[0]
        ):
            self._admit(grant)
            return
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        grant.future = future
        if first:
            self._resuming.append(grant)
        else:
            self._queues.setdefault(grant.tenant, deque()).append(grant)
        self._wake()  # it may be first in line, waiting on a budget: arm the timer
        try:
            await future
        except asyncio.CancelledError:
            if future.done() and not future.cancelled():
                # The slot was handed over just as we were cancelled: give it back.
                self._release(grant, success=False)
            else:
                self._discard(grant)
                self._wake()  # it may have been first in line, holding the others back
            raise

    def _admit(self, grant: _Grant) -> None:
        grant.start(self._admissions)
        self._admissions += 1
        self._held.add(grant)
        self._in_flight += 1
        self.peak = max(self.peak, self._in_flight)
        self._idle.clear()
        if self._adaptive:
            for kind in _KINDS:
                window, amount = self._windows[kind], getattr(grant.need, kind)
                grant.charges[kind] = _Charge(window.epoch, amount)
                window.spent += amount

    def _release(self, grant: _Grant, *, success: bool) -> None:
        if self._adaptive and not self._heard and self._limit < self._max:
            # A call ended and no call has said a word: the provider reports nothing (the
            # demo), so nothing will ever pace it. It gets the whole bound.
            self._limit = float(self._max)
        if success:
            self._succeeded(grant)
        grant.held = False
        self._held.discard(grant)
        self._in_flight -= 1
        for kind, charge in grant.charges.items():
            window = self._windows[kind]
            if charge.epoch == window.epoch:  # still part of the budget as last seen
                window.settle(charge, grant.used)
        grant.charges.clear()
        self._wake()

    def _discard(self, grant: _Grant) -> None:
        if grant in self._resuming:
            self._resuming.remove(grant)
            return
        queue = self._queues.get(grant.tenant)
        if queue is not None and grant in queue:
            queue.remove(grant)
            if not queue:
                del self._queues[grant.tenant]

    def _head(self) -> _Grant | None:
        if self._resuming:
            return self._resuming[0]
        for queue in self._queues.values():
            return queue[0]
        return None

    def _pop_head(self) -> _Grant:
        if self._resuming:
            return self._resuming.popleft()
        tenant, queue = next(iter(self._queues.items()))
        grant = queue.popleft()
        # Served tenants go to the back of the line: round-robin between guilds.
        del self._queues[tenant]
        if queue:
            self._queues[tenant] = queue
        return grant

    def _wake(self) -> None:
        if self._in_flight == 0:
            self._idle.set()
        while not self._paused and self._in_flight < self.capacity:
            grant = self._head()
            if grant is None:
                break
            admissible, until = self._admissible(grant.need)
            if not admissible:
                if not grant.waited:
                    grant.waited = True
                    self.budget_waits += 1
                if until is not None:
                    self._arm(until)
                break
            self._pop_head()
            assert grant.future is not None
            if grant.future.done():  # cancelled; _discard is on its way
                continue
            self._admit(grant)
            grant.future.set_result(None)
        if not self.waiting and self._timer is not None:
            self._timer.cancel()
            self._timer = None

    # -- budgets --------------------------------------------------------------------------------

    def _admissible(self, need: Reservation) -> tuple[bool, float | None]:
        """Whether a call needing ``need`` may start now; if not, when the budgets it lacks
        reset (None: not known; news will come from the calls in flight)."""
        if not self._adaptive:
            return True, None
        covered, with_credit, until = self._budgets(need)
        if covered:
            return True, None
        if with_credit and all(g.accepted for g in self._held):
            return True, None  # no figures on their way: let one call (a probe) bring some
        if until is None and self._in_flight == 0:
            return True, None  # nothing in flight will bring news: let it ask
        return False, until

    def _budgets(self, need: Reservation) -> tuple[bool, bool, float | None]:
        """Whether what is left of every known budget covers ``need``; whether it would with
        what calls that ended are being given back (output they did not write: the API
        counted their ``max_tokens``); and when the budgets it lacks reset (None when one of
        them is not known).

        What ended calls get back is never counted as left: the figures in hand may or may
        not show it already (the API gives it back as the answer ends, the client cannot
        tell whether before or after it wrote them). A call may start on it only when no
        figures are on their way (every call in flight acknowledged): a probe, whose answer
        brings figures that show it.
        """
        now = self._clock()
        covered = with_credit = True
        until = 0.0
        for kind in _KINDS:
            window = self._windows[kind]
            if window.reset_at is not None and now >= window.reset_at:
                window.roll(self._charged(kind), self._admissions)
            amount = getattr(need, kind)
            if window.remaining is None or amount == 0:
                continue
            if window.limit is not None:
                amount = min(amount, window.limit)  # bigger than a whole window: ask when fresh
            left = window.remaining - window.spent
            if left >= amount:
                continue
            covered = False
            with_credit = with_credit and left + window.credit >= amount
            until = math.inf if window.reset_at is None else max(until, window.reset_at)
        return covered, with_credit, None if covered or until == math.inf else until

    def _charged(self, kind: str) -> list[_Grant]:
        return [g for g in self._held if kind in g.charges]

    def _update(self, snapshot: RateLimitSnapshot, source: _Grant) -> None:
        """New figures, which came with ``source``'s answer (and acknowledged its request)."""
        for kind in _KINDS:
            figures: RateLimitWindow = getattr(snapshot, kind)
            reset_at = None
            if figures.reset is not None:
                reset_at = figures.reset.timestamp()
                if figures.reset.microsecond == 0:
                    reset_at += _RESET_RESOLUTION_S
            if source.held:
                source.counted_until[kind] = reset_at
            self._windows[kind].replace(
                figures.remaining, figures.limit, reset_at, self._charged(kind), source.admission
            )

    def _arm(self, at: float) -> None:
        if self._timer is not None and not self._timer.done():
            if self._timer_at <= at:
                return
            self._timer.cancel()
        self._timer_at = at
        self._timer = asyncio.get_running_loop().create_task(self._ring(at))

    async def _ring(self, at: float) -> None:
        await self._sleep(max(0.0, at - self._clock()))
        self._timer = None
        self._wake()

    # -- adaptation -----------------------------------------------------------------------------

    def _observe(
        self, grant: _Grant, status: int | None, snapshot: RateLimitSnapshot | None
    ) -> None:
        if not self._adaptive:
            return
        self._heard = True
        if status == 200 and grant.held:
            grant.accepted = True
        if snapshot is not None:
            self._update(snapshot, grant)
        if status in CONGESTION_STATUSES:
            self._congested(grant)
        elif status == 200:
            self._succeeded(grant)
        self._wake()

    def _settle(self, grant: _Grant, input_tokens: int, output_tokens: int) -> None:
        grant.used["input_tokens"] = grant.used.get("input_tokens", 0) + input_tokens
        grant.used["output_tokens"] = grant.used.get("output_tokens", 0) + output_tokens

    def _congested(self, grant: _Grant) -> None:
        self.congestion_signals += 1
        grant.congested = True
        if not grant.held or grant.admission < self._episode_start:
            return  # admitted before the last decrease: that episode's news, already acted on
        before = self._limit
        self._ceiling = before
        self._limit = max(1.0, before * self._decrease)
        self._episode_start = self._admissions
        self.decreases += 1
        log.info("model calls at once: %.1f -> %.1f after a 429/529", before, self._limit)

    def _succeeded(self, grant: _Grant) -> None:
        if not self._adaptive or grant.counted or grant.congested:
            return
        grant.counted = True
        if self._limit >= self._max or self._in_flight < math.floor(self._limit):
            return
        good = self._max if self._ceiling is None else max(1, math.floor(self._ceiling) - 1)
        if self._limit < good:
            self._limit = min(self._limit + 1.0, float(good))
        elif self._ceiling is not None and self._limit < self._ceiling + 1:
            self._limit += 1.0 / (self._probe_windows * self._limit)
        else:
            self._limit += 1.0 / self._limit
        self._limit = min(self._limit, float(self._max))

    @asynccontextmanager
    async def _lend(self, grant: _Grant) -> AsyncIterator[None]:
        if not self._adaptive or not grant.held:
            yield
            return
        self._release(grant, success=False)
        yield
        # Not reached if the wait raised: the call then ends without its slot.
        await self._acquire(grant, first=True)


@dataclass
class _Charge:
    """What one admission of a call took from one budget."""

    epoch: int
    """The window's epoch it belongs to; a charge from an older one is history."""
    amount: int
    served: bool = False
    """Whether the server's figures of this epoch count it (the call's request was
    acknowledged before they were written), rather than the limiter's ``spent``."""


@dataclass
class _Window:
    """One budget as the limiter sees it: what the last headers said was left (None: no
    headers yet), and what calls the server had not counted then took from it (``spent``).
    ``epoch`` changes with every new baseline (headers, or a reset), and each call's
    :class:`_Charge` is carried over to it or left behind.
    """

    kind: str
    remaining: int | None = None
    limit: int | None = None
    reset_at: float | None = None
    spent: int = 0
    credit: int = 0
    """What calls counted by the figures were given back when they ended (see
    :meth:`FairLimiter._budgets`)."""
    epoch: int = 0
    source: int = -1
    """The admission whose answer brought the figures (a reset: the first one after it)."""

    def replace(
        self,
        remaining: int | None,
        limit: int | None,
        reset_at: float | None,
        charged: list[_Grant],
        source: int,
    ) -> None:
        """New headers, from the answer to admission ``source``. Older ones than the last are
        ignored (they count less). Calls admitted up to ``source`` that the API acknowledged
        are in its figures now; the others may not be, and stay charged here."""
        if source < self.source:
            return
        self.remaining, self.limit, self.reset_at = remaining, limit, reset_at
        self.source = source
        self._rebase(charged, source)

    def roll(self, charged: list[_Grant], admissions: int) -> None:
        """The window reset: all of it is left again, as far as we know, but for the calls
        not yet acknowledged (they will count in the new window). Headers that come with
        answers to calls admitted before the reset may be from before it: ignored."""
        self.remaining, self.reset_at = self.limit, None
        self.source = admissions
        self._rebase(charged, None)

    def _rebase(self, charged: list[_Grant], source: int | None) -> None:
        """Carry the calls in flight over to the new figures (from the answer to admission
        ``source``; None: a reset).

        Not acknowledged by the API, or admitted after ``source`` (its request may have
        reached the API after it wrote these figures): charged here. Acknowledged, admitted
        before, in the same window (its own answer gave the same reset time): the figures
        count it, and it will be given back what it does not use. Acknowledged in another
        window: that window's business, left behind.
        """
        self.epoch += 1
        self.spent = self.credit = 0
        for grant in charged:
            amount = grant.charges[self.kind].amount
            if not grant.accepted or (source is not None and grant.admission > source):
                grant.charges[self.kind] = _Charge(self.epoch, amount)
                self.spent += amount
            elif source is not None and grant.counted_until.get(self.kind) == self.reset_at:
                grant.charges[self.kind] = _Charge(self.epoch, amount, served=True)

    def settle(self, charge: _Charge, used: dict[str, int]) -> None:
        """A call of this epoch ended: its reservation becomes what it really used.

        Not counted by the server yet: ``spent`` had its reservation, now its usage (a request
        stays a request). Counted by the server: the API counted its output as ``max_tokens``
        and gives back what it did not write; input it counted as it was.
        """
        if not charge.served:
            real = charge.amount if self.kind == "requests" else used.get(self.kind, 0)
            self.spent += real - charge.amount
        elif self.kind == "output_tokens" and self.kind in used:
            self.credit += max(0, charge.amount - used[self.kind])


class _Grant:
    """One call's claim on the limiter, and the feedback its provider reports through
    (:class:`~scriptgen.ratelimits.RateFeedback`)."""

    def __init__(self, limiter: FairLimiter, tenant: str, need: Reservation) -> None:
        self.limiter = limiter
        self.tenant = tenant
        self.need = need
        self.future: asyncio.Future[None] | None = None
        self.held = False
        self.waited = False
        self.admission = -1
        self.accepted = False
        """The API acknowledged this admission's request (its budgets count it)."""
        self.counted = False
        """This admission's success has been counted."""
        self.congested = False
        self.charges: dict[str, _Charge] = {}
        self.counted_until: dict[str, float | None] = {}
        """Budget kind -> the reset time its acknowledgement came with: the window (as the
        API keeps them) that counts this admission's request."""
        self.used: dict[str, int] = {}

    def start(self, admission: int) -> None:
        """A new admission: the first, or a retry's after a wait."""
        self.held, self.admission = True, admission
        self.accepted = self.counted = self.congested = False
        self.used = {}
        self.counted_until = {}

    def observe(self, status: int | None, snapshot: RateLimitSnapshot | None) -> None:
        self.limiter._observe(self, status, snapshot)

    def settle(self, input_tokens: int, output_tokens: int) -> None:
        self.limiter._settle(self, input_tokens, output_tokens)

    def paused(self) -> AbstractAsyncContextManager[None]:
        return self.limiter._lend(self)
