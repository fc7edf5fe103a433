"""How a job's work ends, as an outcome to show: the one place episodes and rewrites turn a
cancel, a pause or a failure into what their status message says."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Protocol, TypeVar

from bot.status import Outcome
from scriptgen.errors import ScriptgenError

log = logging.getLogger(__name__)

T = TypeVar("T")

UNEXPECTED = "Something went wrong on our side; it has been logged."


class Stoppable(Protocol):
    cancelled_by: str | None
    pausing: bool
    outcome: Outcome
    detail: str | None


async def finish_or_report(
    work: Awaitable[T], job: Stoppable, fail: Callable[[str], Awaitable[object]], name: str
) -> T | None:
    """The work's result; or ``None`` with ``job.outcome`` set, a failure stored by ``fail``.

    Cancel and pause are outcomes to report, not reasons to stop reporting them: the task is
    uncancelled so its status message can still be edited. Any other cancellation propagates.
    """
    try:
        return await work
    except asyncio.CancelledError:
        if job.cancelled_by is None and not job.pausing:
            raise
        current = asyncio.current_task()
        if current is not None:
            current.uncancel()
        if job.pausing:
            job.outcome, job.detail = Outcome.PAUSED, None
        else:
            job.outcome, job.detail = Outcome.CANCELLED, f"Cancelled by {job.cancelled_by}."
    except ScriptgenError as exc:
        await fail(str(exc))
        job.outcome, job.detail = Outcome.FAILED, str(exc)
    except Exception:
        log.exception("%s failed unexpectedly", name)
        await fail(UNEXPECTED)
        job.outcome, job.detail = Outcome.FAILED, UNEXPECTED
    return None


__all__ = ["UNEXPECTED", "Stoppable", "finish_or_report"]
