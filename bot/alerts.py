"""Slow steps posted to an operators' channel (``SHOWRUNNER_ALERT_CHANNEL_ID``).

The monitor already rate-limits slow steps per kind; a stalled API still makes every kind slow
at once, so posts are spaced too: at most one per ``interval``, carrying every slow step since
the last one (the newest few by name, the rest counted). Nothing in a post can ping anyone.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable

import discord

from bot.tasks import cancel_and_wait
from scriptgen.monitor import StepTiming

__all__ = ["SlowStepAlerts", "alert_text"]

log = logging.getLogger(__name__)

NAMED = 10
"""Slow steps named in one post; older ones are counted."""


def alert_text(steps: list[StepTiming], more: int) -> str:
    lines = ["🐢 **Slow steps**"]
    for t in steps:
        threshold = f"{t.threshold:.1f} s" if t.threshold is not None else "-"
        lines.append(
            f"• `{t.kind}` `{t.key}` of `{t.label or '-'}`: {t.seconds:.1f} s "
            f"(threshold {threshold})"
        )
    if more:
        lines.append(f"…and {more} more since the last post.")
    return "\n".join(lines)


class SlowStepAlerts:
    """A slow-step listener for the monitor that posts through ``send`` (one message's
    content), spaced by ``interval`` seconds."""

    def __init__(
        self,
        send: Callable[[str], Awaitable[object]],
        interval: float,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._send = send
        self.interval = interval
        self._clock = clock
        self._pending: deque[StepTiming] = deque(maxlen=NAMED)
        self._dropped = 0
        self._last_post = float("-inf")
        self._task: asyncio.Task[None] | None = None
        self.posts = 0

    def __call__(self, timing: StepTiming) -> None:
        if len(self._pending) == self._pending.maxlen:
            self._dropped += 1
        self._pending.append(timing)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(
                self._post_soon(), name="slow-step-alert"
            )

    async def _post_soon(self) -> None:
        wait = self._last_post + self.interval - self._clock()
        if wait > 0:
            await asyncio.sleep(wait)
        steps, more = list(self._pending), self._dropped
        self._pending.clear()
        self._dropped = 0
        self._last_post = self._clock()
        try:
            await self._send(alert_text(steps, more))
            self.posts += 1
        except discord.HTTPException as exc:
            log.warning("could not post slow steps to the alert channel: %s", exc)

    async def stop(self) -> None:
        task, self._task = self._task, None
        await cancel_and_wait(task)
