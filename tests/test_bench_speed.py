"""Smoke test of bench/speed.py: a quick run goes through every section and its report adds up.

Ratios in --quick (latencies x0.1, one run each) say nothing about the pipeline, so no target is
asserted: only that every figure is there, measured from what the run did, and judged.
"""

from __future__ import annotations

import asyncio
import json

import pytest

from bench import _speed_model as model
from bench import speed
from bench._speed_model import RateResponder, entry_ends
from scriptgen.models import Outline


@pytest.fixture(scope="module")
def report() -> speed.Report:
    return asyncio.run(speed.bench(quick=True))


def test_every_section_reports_its_figures_with_their_targets(report: speed.Report) -> None:
    """Critical path, first scene call, time to script (6 and 3 in flight), orchestration,
    the provider's CPU before and now, the bot under load."""
    targets = {row.metric.split(",")[0].strip(): row for row in report.rows if row.target}
    assert {
        "wall / critical path",
        "first scene call",
        "time to script",
        "orchestration per call (generator",
        "bot under load: 10 episodes at once",
        "event-loop lag p99 (p50",
    } <= set(targets)
    assert all(isinstance(row.ok, bool) for row in report.rows if row.target)
    assert sum(row.metric.startswith("time to script") for row in report.rows) == 2
    metrics = [row.metric for row in report.rows]
    assert any("messages.stream() helper (before)" in m for m in metrics)
    assert any(m.strip().startswith("of the busy time:") for m in metrics)


def test_the_scenes_began_while_the_outline_streamed(report: speed.Report) -> None:
    """The first scene call reached the fake before the outline call ended, and every episode
    was delivered under load."""
    rows = {row.metric: row for row in report.rows}
    [first] = [r for m, r in rows.items() if m.startswith("first scene call")]
    assert first.ok
    [delivered] = [r for m, r in rows.items() if m.startswith("bot under load")]
    assert delivered.shown == "10 / 10" and delivered.ok


def test_the_report_is_a_markdown_table_with_a_verdict_per_target(report: speed.Report) -> None:
    text = speed.markdown(report)
    assert text.startswith("## Speed (quick)")
    assert "| metric | measured | target | result |" in text
    judged = [row for row in report.rows if row.ok is not None]
    assert text.count("| PASS |") + text.count("| FAIL |") == len(judged)


def test_the_sized_answers_take_the_calibrated_times() -> None:
    """At the model's rate, an outline of six scenes streams for about 3 s, a dialogue 3 s."""

    def seconds(value: object) -> float:
        chars = len(json.dumps(value))
        return model.TTFT + -(-chars // model.CHUNK_CHARS) * model.PER_CHUNK

    respond = RateResponder()
    outline = respond(_body("write_outline", "exactly 6 scenes"))
    dialogue = respond(_body("write_dialogue", "Write the dialogue of scene 1 (X) only"))
    assert seconds(outline) == pytest.approx(3.0, abs=0.15)
    assert seconds(dialogue) == pytest.approx(3.0, abs=0.15)
    Outline.model_validate(outline)
    assert len(entry_ends(json.dumps(outline))) == 6


def _body(tool: str, prompt: str) -> dict[str, object]:
    return {
        "tools": [{"name": tool}],
        "tool_choice": {"type": "tool", "name": tool},
        "messages": [{"role": "user", "content": [{"type": "text", "text": prompt}]}],
    }
