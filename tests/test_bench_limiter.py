"""Smoke test of bench/limiter.py: a quick run goes through every scenario, both limiters.

Throughput and the share of 429s depend on the machine and on a run this short, so no threshold
is asserted on them: only that every figure is measured from what the run did, the targets are
judged from those figures, the adaptive limiter loses no episode, and a missed target makes the
command fail.
"""

from __future__ import annotations

import asyncio

import pytest

from bench import limiter as bench_limiter
from bench.limiter import Report, Row, bench, markdown


@pytest.fixture(scope="module")
def report() -> Report:
    return asyncio.run(bench(quick=True))


def test_each_scenario_runs_adaptive_then_fixed(report: Report) -> None:
    """The same episodes, through the adaptive limiter and then today's fixed one."""
    assert [(r.scenario.name, r.adaptive) for r in report.runs] == [
        ("concurrency cap", True),
        ("concurrency cap", False),
        ("output tokens per minute", True),
        ("output tokens per minute", False),
    ]
    for r in report.runs:
        assert r.scenario.episodes == 6 and r.wall_s > 0


def test_the_fake_enforces_what_each_scenario_says(report: Report) -> None:
    """A cap of 4 in flight in the first scenario, an enforced output limit in the second."""
    cap, otpm = report.runs[0].scenario, report.runs[2].scenario
    assert (cap.limits.max_in_flight, cap.limits.enforce, cap.cap) == (4, False, 4)
    assert (otpm.limits.max_in_flight, otpm.limits.enforce, otpm.cap) == (None, True, None)
    assert otpm.limits.window_s < 60


def test_the_adaptive_limiter_loses_no_episode(report: Report) -> None:
    """Every episode written through the adaptive limiter is finished."""
    for r in report.runs:
        if r.adaptive:
            assert (r.episodes_failed, r.errors) == (0, [])
            assert r.answers >= r.scenario.episodes * (1 + 2 * bench_limiter.SCENES + 1)


def test_figures_are_counted_from_the_requests_the_fake_saw(report: Report) -> None:
    """429s and complete answers are requests; shares and rates follow from the counts."""
    for r in report.runs:
        assert r.refused >= 0 and r.answers > 0 and r.refused + r.answers <= r.requests
        assert r.refused_share == r.refused / r.requests
        assert r.throughput == r.answers / r.wall_s
        if r.scenario.cap is not None:
            assert r.cap_share == r.throughput / (r.scenario.cap / r.scenario.latency)
        assert r.mean_answer_s > 0
        assert 1.0 <= r.final_limit <= r.highest_limit <= bench_limiter.LIMITER_CAPACITY


def test_rows_judge_the_adaptive_runs_on_their_targets(report: Report) -> None:
    """Throughput for the capped scenario, 429 share and failed episodes for both."""
    adaptive = [r for r in report.runs if r.adaptive]
    assert [(row.scenario, row.metric) for row in report.rows] == [
        ("concurrency cap", "answers per second / (4 / latency)"),
        ("concurrency cap", "429s / requests"),
        ("concurrency cap", "episodes failed"),
        ("output tokens per minute", "429s / requests"),
        ("output tokens per minute", "episodes failed"),
    ]
    share, refused, failed = report.rows[:3]
    assert share.value == adaptive[0].cap_share
    assert share.ok is (share.value >= bench_limiter.THROUGHPUT_TARGET)
    assert refused.value == adaptive[0].refused_share
    assert refused.ok is (refused.value < bench_limiter.REFUSED_TARGET)
    assert (failed.value, failed.ok) == (0, True)
    assert report.rows[3].value == adaptive[1].refused_share
    assert report.passed is all(row.ok for row in report.rows)


def test_markdown_shows_every_target_and_both_limiters(report: Report) -> None:
    text = markdown(report)
    assert "| scenario | metric | measured | target | result |" in text
    for row in report.rows:
        line = next(
            line
            for line in text.splitlines()
            if line.startswith(f"| {row.scenario} | {row.metric} |")
        )
        assert line.endswith("| PASS |" if row.ok else "| FAIL |")
    for name in ("concurrency cap", "output tokens per minute"):
        assert f"| {name} | adaptive |" in text
        assert f"| {name} | fixed (before) |" in text


@pytest.mark.parametrize("ok", [True, False])
def test_the_command_fails_when_a_target_is_missed(
    report: Report, ok: bool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    judged = Report(report.quick, report.runs, [Row("capped", "figure", 1.0, "1.0", "<= 2", ok)])

    async def fake_bench(quick: bool) -> Report:
        assert quick is True
        return judged

    monkeypatch.setattr(bench_limiter, "bench", fake_bench)
    monkeypatch.setattr("sys.argv", ["limiter.py", "--quick"])
    if ok:
        bench_limiter.main()
    else:
        with pytest.raises(SystemExit) as exited:
            bench_limiter.main()
        assert exited.value.code == 1
        assert "target missed: capped: figure" in capsys.readouterr().err
