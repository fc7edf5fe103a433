"""What the live dashboard shows, as one JSON-able snapshot, and what it may not show.

Writers' text (premises, titles, scene headings, notes) stays off the page unless the operator
opts in (``SHOWRUNNER_DASHBOARD_SHOW_TEXT``): an episode is its public id, its stage and its
scenes' states. Nothing here names a guild or a user.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from scriptgen.limiter import FairLimiter
from scriptgen.models import UsageTotals
from scriptgen.monitor import PerformanceMonitor, StepTiming
from scriptgen.pricing import estimate_cost
from scriptgen.progress import EpisodeProgress, RewriteProgress

__all__ = ["CostToday", "Dashboard", "EpisodeView", "RewriteView"]

SLOW_SHOWN = 12


class CostToday:
    """What model calls cost since midnight UTC: the ledger's figure when the process started
    (:meth:`seed`), plus each call since, as a monitor listener tells it."""

    def __init__(self, today: Callable[[], date] = lambda: datetime.now(UTC).date()) -> None:
        self._today = today
        self.day = today()
        self.usd = 0.0
        self.unpriced_calls = 0
        """Calls of a model without a known price: their cost is not in ``usd``."""

    def seed(self, day: date, by_model: Mapping[str, UsageTotals]) -> None:
        """What the ledger says ``day``'s calls cost before this process made any: a restart
        does not set the day's cost back to nothing."""
        if day != self._today():
            return
        self.day = day
        for model, totals in by_model.items():
            cost = estimate_cost(model, totals)
            if cost is None:
                self.unpriced_calls += totals.calls
            else:
                self.usd += cost

    def __call__(self, timing: StepTiming) -> None:
        if timing.usage is None or timing.outcome == "reused":
            return
        day = self._today()
        if day != self.day:
            self.day, self.usd, self.unpriced_calls = day, 0.0, 0
        if timing.cost_usd is None:
            self.unpriced_calls += 1
        else:
            self.usd += timing.cost_usd


@dataclass(frozen=True)
class EpisodeView:
    """An episode in flight, as the dashboard needs it (the bot's jobs give these)."""

    public_id: str
    model: str
    premise: str
    progress: EpisodeProgress
    started: float


@dataclass(frozen=True)
class RewriteView:
    public_id: str
    episode_id: str
    model: str
    note: str
    progress: RewriteProgress
    started: float


@dataclass
class Dashboard:
    monitor: PerformanceMonitor
    limiter: FairLimiter | None
    episodes: Callable[[], Iterable[EpisodeView]]
    rewrites: Callable[[], Iterable[RewriteView]]
    cost_today: CostToday
    loop_lag: Callable[[], tuple[float, float]]
    """The last and the worst recent event-loop lag, in seconds."""
    show_text: bool = False
    clock: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], float] = time.time

    def snapshot(self) -> dict[str, Any]:
        now = self.clock()
        limiter = self.limiter
        last_lag, worst_lag = self.loop_lag()
        return {
            "at": self.wall_clock(),
            "show_text": self.show_text,
            "episodes": [self._episode(view, now) for view in self.episodes()],
            "rewrites": [self._rewrite(view, now) for view in self.rewrites()],
            "limiter": None
            if limiter is None
            else {
                "limit": limiter.capacity,
                "max": limiter.max_capacity,
                "in_flight": limiter.in_flight,
                "waiting": limiter.waiting,
            },
            "calls": [
                {"kind": kind, "key": key, "episode": label, "seconds": round(now - started, 2)}
                for kind, key, label, started in self.monitor.in_flight()
            ],
            "steps": [
                {
                    "kind": row.kind,
                    "count": row.count,
                    "errors": row.errors,
                    "p50": row.p50,
                    "p95": row.p95,
                    "max": row.max,
                    "first_token_p50": row.first_token_p50,
                    "cost_usd": row.cost_usd,
                }
                for row in self.monitor.table()
            ],
            "cost_today": {
                "usd": self.cost_today.usd,
                "day": self.cost_today.day.isoformat(),
                "unpriced_calls": self.cost_today.unpriced_calls,
            },
            "slow": [
                {
                    "kind": t.kind,
                    "key": t.key,
                    "episode": t.label,
                    "seconds": t.seconds,
                    "threshold": t.threshold,
                    "ago": round(now - (t.started + t.seconds), 1),
                }
                for t in self.monitor.recent_slow(SLOW_SHOWN)
            ],
            "loop_lag": {"last": last_lag, "worst": worst_lag},
        }

    def _episode(self, view: EpisodeView, now: float) -> dict[str, Any]:
        p = view.progress
        text = self.show_text
        return {
            "id": view.public_id,
            "stage": p.stage.value,
            "current": p.current,
            "total": p.total,
            "elapsed": round(now - view.started, 1),
            "cost_usd": estimate_cost(view.model, UsageTotals.of(p.usage)),
            "reused_steps": p.reused_steps,
            "scenes": [
                {
                    "number": scene.number,
                    "state": scene.state.value,
                    "heading": scene.heading if text else None,
                }
                for scene in p.scenes
            ],
            "title": p.title if text else None,
            "premise": view.premise if text else None,
        }

    def _rewrite(self, view: RewriteView, now: float) -> dict[str, Any]:
        p = view.progress
        return {
            "id": view.public_id,
            "episode": view.episode_id,
            "scene": p.scene,
            "takes": [state.value for state in p.takes],
            "current": p.current,
            "total": p.total,
            "elapsed": round(now - view.started, 1),
            "cost_usd": estimate_cost(view.model, UsageTotals.of(p.usage)),
            "note": view.note if self.show_text else None,
        }
