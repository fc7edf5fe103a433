"""StatusReporter: few, spaced, single-flight edits that end on the newest state, and moves."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import discord
import pytest

from bot.reporter import (
    INVALID_WEBHOOK_TOKEN,
    UNKNOWN_MESSAGE,
    UNKNOWN_WEBHOOK,
    ChannelTarget,
    StatusContent,
    StatusReporter,
)

if TYPE_CHECKING:
    import aiohttp

INTERVAL = 0.05
SLACK = 0.002
"""asyncio may wake a timer up to its clock resolution early: allow a hair under the interval."""


async def until(condition: Callable[[], bool]) -> None:
    """Let the reporter run until ``condition`` holds (yields to the loop; no timed sleep)."""
    for _ in range(10_000):
        if condition():
            return
        await asyncio.sleep(0)
    raise AssertionError("the condition never held")


class ManualClock:
    """A clock that moves only when told: expiry is decided by the test, not the wall."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Response:
    """What ``discord.HTTPException`` reads from a response."""

    status: int
    reason: str


def http_error(status: int, code: int, message: str) -> discord.HTTPException:
    response = cast("aiohttp.ClientResponse", Response(status, message))
    kind = {404: discord.NotFound, 403: discord.Forbidden}.get(status, discord.HTTPException)
    if status >= 500:
        kind = discord.DiscordServerError
    return kind(response, {"code": code, "message": message})


class Board:
    """The episode state the reporter renders: a counter, rendered on demand, able to break."""

    def __init__(self) -> None:
        self.state = 0
        self.renders = 0
        self.fail_next = False

    def render(self) -> StatusContent:
        self.renders += 1
        if self.fail_next:
            self.fail_next = False
            raise RuntimeError("render blew up")
        return StatusContent(discord.Embed(title=f"state {self.state}"), None)


class FakeTarget(ChannelTarget):
    """A status message that records edits and can be slowed, broken or made to expire.

    A real subclass of the target the mover returns; ``edit`` and ``expired`` never touch a
    channel, so none is needed.
    """

    def __init__(
        self,
        message_id: int,
        clock: Callable[[], float] = time.monotonic,
        expires_at: float | None = None,
    ) -> None:
        self._message_id = message_id
        self.clock = clock
        self.expires_at = expires_at
        self.failures: list[Exception] = []
        self.gate: asyncio.Event | None = None
        self.attempts: list[float] = []
        """When each edit started, by ``clock``, failed or not."""
        self.shown: list[str] = []
        """Titles of the edits that succeeded, in order."""
        self.in_flight = 0
        self.max_in_flight = 0
        self._changed = asyncio.Condition()

    def expired(self, now: float) -> bool:
        return self.expires_at is not None and now >= self.expires_at

    async def edit(self, content: StatusContent) -> None:
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        self.attempts.append(self.clock())
        try:
            async with self._changed:
                self._changed.notify_all()
            if self.gate is not None:
                await self.gate.wait()
            if self.failures:
                raise self.failures.pop(0)
            self.shown.append(str(content.embed.title))
        finally:
            self.in_flight -= 1
            async with self._changed:
                self._changed.notify_all()

    async def wait_for_attempts(self, count: int) -> None:
        async with self._changed:
            await asyncio.wait_for(
                self._changed.wait_for(lambda: len(self.attempts) >= count), timeout=2
            )

    async def wait_for_shown(self, count: int) -> None:
        async with self._changed:
            await asyncio.wait_for(
                self._changed.wait_for(lambda: len(self.shown) >= count), timeout=2
            )


class Mover:
    """Posts the status as a new channel message: records what it posted, can fail."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self.clock = clock
        self.posted: list[str] = []
        self.targets: list[FakeTarget] = []
        self.failure: Exception | None = None

    async def __call__(self, content: StatusContent) -> ChannelTarget:
        if self.failure is not None:
            raise self.failure
        self.posted.append(str(content.embed.title))
        target = FakeTarget(100 + len(self.targets), self.clock)
        self.targets.append(target)
        return target


def reporter_for(
    board: Board,
    target: FakeTarget,
    mover: Mover | None = None,
    *,
    clock: Callable[[], float] = time.monotonic,
) -> StatusReporter:
    return StatusReporter(
        board.render,
        target,
        interval=INTERVAL,
        move=mover or Mover(clock),
        clock=clock,
    )


async def test_a_burst_of_updates_during_an_edit_becomes_one_more_edit() -> None:
    """A hundred updates while an edit is in flight are sent as one edit of the newest state."""
    board, target = Board(), FakeTarget(1)
    target.gate = asyncio.Event()
    reporter = reporter_for(board, target)
    reporter.start()
    await target.wait_for_attempts(1)
    for _ in range(100):
        board.state += 1
        reporter.update("Scene 1/3: writing dialogue", board.state, 9)
        await asyncio.sleep(0)
    target.gate.set()
    await reporter.finish()
    assert target.shown == ["state 0", "state 100"]
    assert board.renders == 2


async def test_updates_spread_over_time_are_coalesced_and_spaced() -> None:
    """Updates every 5 ms for 0.3 s give a handful of edits, each at least the interval apart."""
    board, target = Board(), FakeTarget(1)
    reporter = reporter_for(board, target)
    reporter.start()
    started = time.monotonic()
    while time.monotonic() - started < 0.3:
        board.state += 1
        reporter.update()
        await asyncio.sleep(0.005)
    await reporter.finish()
    elapsed = time.monotonic() - started
    edits = len(target.attempts)
    assert 3 <= edits <= elapsed / (INTERVAL - SLACK) + 1, (edits, elapsed)
    assert edits < board.state / 2, (edits, board.state)
    gaps = [b - a for a, b in itertools.pairwise(target.attempts)]
    assert min(gaps) >= INTERVAL - SLACK, gaps
    assert target.shown[-1] == f"state {board.state}"


async def test_never_two_edits_in_flight() -> None:
    """While an edit hangs, updates and finish() wait for it: one edit in flight at most."""
    board, target = Board(), FakeTarget(1)
    target.gate = asyncio.Event()
    reporter = reporter_for(board, target)
    reporter.start()
    await target.wait_for_attempts(1)
    finishing = asyncio.create_task(reporter.finish())
    for _ in range(20):
        reporter.update()
        await asyncio.sleep(0)
    assert target.in_flight == 1 and len(target.attempts) == 1
    assert not finishing.done()
    target.gate.set()
    await asyncio.wait_for(finishing, 2)
    assert target.max_in_flight == 1
    assert len(target.attempts) == 2


async def test_finish_sends_the_state_as_it_is_at_send_time() -> None:
    """The final edit renders when it is sent: a change made after the last update is in it."""
    board, target = Board(), FakeTarget(1)
    target.gate = asyncio.Event()
    reporter = reporter_for(board, target)
    reporter.start()
    await target.wait_for_attempts(1)
    board.state = 1
    reporter.update()
    board.state = 2  # no update() for this one: finish() must still show it
    finishing = asyncio.create_task(reporter.finish())
    await asyncio.sleep(0)
    target.gate.set()
    await asyncio.wait_for(finishing, 2)
    assert target.shown == ["state 0", "state 2"]


async def test_finish_right_after_an_edit_waits_the_interval_then_sends() -> None:
    """finish() just after an edit still sends the final state, one interval later."""
    board, target = Board(), FakeTarget(1)
    reporter = reporter_for(board, target)
    reporter.start()
    await target.wait_for_shown(1)
    board.state = 9
    await reporter.finish()
    assert target.shown == ["state 0", "state 9"]
    assert target.attempts[1] - target.attempts[0] >= INTERVAL - SLACK


@pytest.mark.parametrize(
    ("status", "code"),
    [(401, INVALID_WEBHOOK_TOKEN), (404, UNKNOWN_WEBHOOK), (404, UNKNOWN_MESSAGE)],
    ids=["invalid-webhook-token", "unknown-webhook", "unknown-message"],
)
async def test_a_dead_status_message_moves_to_a_new_one(status: int, code: int) -> None:
    """A dead token or deleted message: the newest state is posted anew and edited there."""
    clock = ManualClock()
    board, first, mover = Board(), FakeTarget(1, clock), Mover(clock)
    first.failures.append(http_error(status, code, "gone"))
    reporter = reporter_for(board, first, mover, clock=clock)
    reporter.start()
    await until(lambda: reporter.target is not first)
    assert mover.posted == ["state 0"]
    [second] = mover.targets
    assert reporter.target is second
    board.state = 1
    reporter.update()
    await second.wait_for_shown(1)
    await reporter.finish()
    assert second.shown[-1] == "state 1"
    assert len(first.attempts) == 1 and first.shown == []
    assert not reporter.broken


async def test_an_expired_target_moves_before_any_edit_is_tried() -> None:
    """Once the interaction token is about to die, the status moves instead of editing it."""
    clock = ManualClock()
    board, first, mover = Board(), FakeTarget(1, clock, expires_at=100.0), Mover(clock)
    reporter = reporter_for(board, first, mover, clock=clock)
    reporter.start()
    await first.wait_for_shown(1)
    clock.now = 100.0
    board.state = 1
    reporter.update()
    await reporter.finish()
    assert first.attempts == [0.0] and first.shown == ["state 0"]
    assert mover.posted == ["state 1"]
    assert len(mover.targets) == 1 and reporter.target is mover.targets[0]


async def test_after_a_move_edits_go_to_the_new_message() -> None:
    """Updates after an expiry move edit the channel message, never the dead interaction."""
    clock = ManualClock()
    board, first, mover = Board(), FakeTarget(1, clock, expires_at=100.0), Mover(clock)
    reporter = reporter_for(board, first, mover, clock=clock)
    reporter.start()
    await first.wait_for_shown(1)
    clock.now = 100.0
    reporter.update()
    await until(lambda: bool(mover.targets))
    board.state = 5
    reporter.update()
    await reporter.finish()
    [second] = mover.targets
    assert second.shown == ["state 5"]
    assert len(first.attempts) == 1


async def test_a_generic_http_error_is_logged_and_the_next_update_tries_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A failed edit (e.g. a 503) is logged; the next update edits the same message again."""
    clock = ManualClock()
    board, target, mover = Board(), FakeTarget(1, clock), Mover(clock)
    target.failures.append(http_error(503, 0, "Service Unavailable"))
    reporter = reporter_for(board, target, mover, clock=clock)
    reporter.start()
    await target.wait_for_attempts(1)
    board.state = 1
    reporter.update()
    await target.wait_for_shown(1)
    await reporter.finish()
    assert target.shown[0] == "state 1" and len(target.attempts) >= 2
    assert mover.posted == [] and reporter.target is target and not reporter.broken
    assert "status edit failed (503 Service Unavailable" in caplog.text
    assert "the next update tries again" in caplog.text


async def test_an_exception_in_render_does_not_stop_the_reporter(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A render that raises is logged; the next update renders and edits normally."""
    board, target = Board(), FakeTarget(1)
    board.fail_next = True
    reporter = reporter_for(board, target)
    reporter.start()
    await until(lambda: board.renders == 1 and "render blew up" in caplog.text)
    board.state = 3
    reporter.update()
    await target.wait_for_shown(1)
    board.state = 4
    await reporter.finish()
    assert target.shown == ["state 3", "state 4"]
    assert "status update failed; the episode goes on" in caplog.text
    assert "render blew up" in caplog.text


async def test_when_the_move_fails_too_the_reporter_gives_up_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A deleted message in a channel the bot cannot post in: broken, nothing more is sent."""
    clock = ManualClock()
    board, target, mover = Board(), FakeTarget(1, clock), Mover(clock)
    target.failures.append(http_error(404, UNKNOWN_MESSAGE, "Unknown Message"))
    mover.failure = http_error(403, 50013, "Missing Permissions")
    reporter = reporter_for(board, target, mover, clock=clock)
    reporter.start()
    await target.wait_for_attempts(1)
    reporter.update()
    await asyncio.wait_for(reporter.finish(), 2)
    assert reporter.broken
    assert len(target.attempts) == 1 and mover.targets == []
    assert "cannot post the status in the channel" in caplog.text
