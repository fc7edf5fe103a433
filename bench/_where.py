"""Where the event loop's thread spends its time, sampled.

A wall-clock timer (``SIGALRM`` every ``period`` seconds) interrupts the main thread, which runs
the loop; the handler files the frame it interrupted under a component by its source path, and
the shares of samples are the shares of the loop's time. A sample taken while the thread waits
in the selector is idle time: waiting for the network or a timer. Python runs a signal handler
between two bytecodes, so time inside a C function (JSON, pydantic's core, SQLite's module)
counts for the Python frame that called it. The handler walks the stack of its own thread only
(walking another thread's frames from a sampling thread is not safe on CPython 3.11); it costs a
few microseconds a sample, so the sampled run is a little slower than an unsampled one.

The fake Discord runs in the same loop as the bot: a sample whose stack passes through its code
is its time, not the bot's, whatever it calls.
"""

from __future__ import annotations

import signal
import threading
from collections import Counter
from types import FrameType, TracebackType
from typing import Any

__all__ = ["LoopSampler"]

_FAKES = (("/tests/fake_anthropic/", "fake Messages API"), ("/tests/fake_discord/", "fake Discord"))
_OWNERS = (
    ("/selectors.py", "idle: waiting for I/O or a timer"),
    ("/bench/_where.py", "the sampler"),
    ("/scriptgen/", "scriptgen: the pipeline"),
    ("/bot/", "bot: the Discord adapter"),
    ("/storage/", "storage and aiosqlite"),
    ("/aiosqlite/", "storage and aiosqlite"),
    ("/anthropic/", "Anthropic SDK and its HTTP client"),
    ("/httpx2/", "Anthropic SDK and its HTTP client"),
    ("/httpcore2/", "Anthropic SDK and its HTTP client"),
    ("/h11/", "Anthropic SDK and its HTTP client"),
    ("/anyio/", "Anthropic SDK and its HTTP client"),
    ("/discord/", "discord.py and aiohttp"),
    ("/aiohttp/", "discord.py and aiohttp"),
    ("/yarl/", "discord.py and aiohttp"),
    ("/multidict/", "discord.py and aiohttp"),
    ("/pydantic", "pydantic"),
    ("/asyncio/", "asyncio: the loop itself"),
    ("/logging/", "logging"),
    ("/json/", "json"),
)


class LoopSampler:
    """``with LoopSampler():`` in the loop's thread (the main thread) samples it until exit."""

    def __init__(self, period: float = 0.001) -> None:
        self.period = period
        self.samples: Counter[str] = Counter()
        self._previous: Any = None

    def __enter__(self) -> LoopSampler:
        if threading.current_thread() is not threading.main_thread():
            raise RuntimeError("signals reach the main thread only: sample it from there")
        self._previous = signal.signal(signal.SIGALRM, self._sample)
        signal.setitimer(signal.ITIMER_REAL, self.period, self.period)
        return self

    def __exit__(
        self, et: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, self._previous)

    def _sample(self, signum: int, frame: FrameType | None) -> None:
        if frame is not None:
            self.samples[component(frame)] += 1

    def shares(self) -> list[tuple[str, float]]:
        """Each component's share of the samples, largest first."""
        total = sum(self.samples.values()) or 1
        return [(name, count / total) for name, count in self.samples.most_common()]

    def busy_shares(self) -> list[tuple[str, float]]:
        """The same, of the samples when the loop was not idle."""
        busy = {k: v for k, v in self.samples.items() if not k.startswith("idle")}
        total = sum(busy.values()) or 1
        return sorted(((k, v / total) for k, v in busy.items()), key=lambda kv: -kv[1])


def component(frame: FrameType) -> str:
    """The fake the stack passes through, else the innermost frame's owner (a frame of the
    standard library not listed counts for its caller: ``uuid4`` for the SDK that wanted one)."""
    walker: FrameType | None = frame
    while walker is not None:
        path = walker.f_code.co_filename
        for part, name in _FAKES:
            if part in path:
                return name
        walker = walker.f_back
    walker = frame
    while walker is not None:
        path = walker.f_code.co_filename
        for part, name in _OWNERS:
            if part in path:
                return name
        walker = walker.f_back
    return "other"
