"""The dashboard's snapshot: what it shows of episodes and rewrites, and what it keeps off."""

from __future__ import annotations

import json
from datetime import date

from bot.dashboard import CostToday, Dashboard, EpisodeView, RewriteView
from scriptgen.limiter import FairLimiter
from scriptgen.models import CallUsage
from scriptgen.monitor import PerformanceMonitor
from scriptgen.progress import EpisodeProgress, RewriteProgress, SceneState

PREMISE = "A barista discovers the espresso machine is haunted"
NOTE = "Theo should sing his resignation"
HEADING = "INT. CAFE - NIGHT"
MODEL = "claude-sonnet-5-5"


def dashboard(show_text: bool, monitor: PerformanceMonitor | None = None) -> Dashboard:
    progress = EpisodeProgress(3)
    progress.title = "The Haunted Espresso"
    progress.scenes[0].heading = HEADING
    progress.scenes[0].state = SceneState.DIRECTIONS
    progress.usage.append(CallUsage(step="outline", model=MODEL, output_tokens=1000))
    rewrite = RewriteProgress(2, takes=[SceneState.DIALOGUE, SceneState.DONE])
    return Dashboard(
        monitor or PerformanceMonitor(),
        FairLimiter(8),
        lambda: [EpisodeView("ep-abc12", MODEL, PREMISE, progress, started=90.0)],
        lambda: [RewriteView("rw-xyz34", "ep-old99", MODEL, NOTE, rewrite, started=95.0)],
        CostToday(),
        lambda: (0.001, 0.004),
        show_text=show_text,
        clock=lambda: 100.0,
    )


def test_writers_text_stays_off_unless_the_operator_opts_in() -> None:
    """Ids, stages and states always; premise, title, headings and notes only when opted in."""
    hidden = json.dumps(dashboard(show_text=False).snapshot())
    for text in (PREMISE, NOTE, HEADING, "Haunted"):
        assert text not in hidden
    snapshot = dashboard(show_text=False).snapshot()
    [episode] = snapshot["episodes"]
    assert episode["id"] == "ep-abc12" and episode["elapsed"] == 10.0
    assert [s["state"] for s in episode["scenes"]] == [
        "adding stage directions",
        "waiting",
        "waiting",
    ]
    assert episode["cost_usd"] > 0
    [rewrite] = snapshot["rewrites"]
    assert rewrite["takes"] == ["writing dialogue", "done"] and rewrite["scene"] == 2
    shown = json.dumps(dashboard(show_text=True).snapshot())
    for text in (PREMISE, NOTE, HEADING, "Haunted"):
        assert text in shown


def test_calls_in_flight_and_slow_steps_come_from_the_monitor() -> None:
    """The step running now with its age, the slow one with its threshold, the table's rows."""
    monitor = PerformanceMonitor(thresholds={"dialogue": 1.0}, clock=lambda: 99.0)
    monitor.record("dialogue", "scene:1:dialogue", label="ep-abc12", seconds=2.5, started=90.0)
    with monitor.step("directions", "scene:2:directions", label="ep-abc12"):
        snapshot = dashboard(show_text=False, monitor=monitor).snapshot()
    assert snapshot["calls"] == [
        {"kind": "directions", "key": "scene:2:directions", "episode": "ep-abc12", "seconds": 1.0}
    ]
    [slow] = snapshot["slow"]
    assert slow["key"] == "scene:1:dialogue" and slow["threshold"] == 1.0
    assert [row["kind"] for row in snapshot["steps"]] == ["dialogue"]
    # The adaptive limiter starts at one call and grows as the API accepts them.
    assert snapshot["limiter"] == {"limit": 1, "max": 8, "in_flight": 0, "waiting": 0}


def test_cost_today_starts_again_at_midnight_utc() -> None:
    """New calls count (reused ones were paid for before); a new UTC day starts at zero;
    calls of a model without a price are counted apart."""
    day = [date(2026, 12, 1)]
    cost = CostToday(today=lambda: day[0])
    monitor = PerformanceMonitor()
    monitor.subscribe(cost)
    usage = CallUsage(step="outline", model=MODEL, input_tokens=1_000_000)
    monitor.record("outline", "outline", seconds=1.0, usage=usage)
    monitor.record("outline", "outline", seconds=0.0, usage=usage, outcome="reused")
    first = cost.usd
    assert first > 0
    day[0] = date(2026, 12, 2)
    monitor.record("outline", "outline", seconds=1.0, usage=usage)
    assert cost.usd == first and cost.day == date(2026, 12, 2)
    monitor.record("outline", "outline", seconds=1.0, usage=CallUsage(step="x", model="unknown"))
    assert cost.unpriced_calls == 1
