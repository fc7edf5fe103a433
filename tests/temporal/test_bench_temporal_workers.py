"""Smoke test of bench/temporal_workers.py: one worker, then two, on the same batch.

A quick run is too short for its speed-up to mean much, so no threshold is asserted on it: only
that both runs wrote every episode in full and that the verdict follows the figures.
"""

from __future__ import annotations

from bench.temporal_workers import SCENES, TARGET, Report, Run, bench, markdown


async def test_quick_run_writes_every_episode_on_one_then_two_workers() -> None:
    report = await bench(quick=True)
    assert [r.workers for r in report.runs] == [1, 2]
    for run in report.runs:
        assert run.episodes == 4 and run.wall_s > 0
        # Outline, two calls a scene and the comedy pass at least, for every episode.
        assert run.calls >= run.episodes * (2 + 2 * SCENES)
    text = markdown(report)
    assert f"{report.speedup:.2f}x" in text and "| 2 | 4 |" in text


def test_verdict_follows_the_speedup() -> None:
    one = Run(workers=1, episodes=10, wall_s=10.0, calls=80)
    assert Report(0.2, [one, Run(2, 10, 10.0 / TARGET, 80)]).ok
    assert not Report(0.2, [one, Run(2, 10, 10.0 / (TARGET - 0.1), 80)]).ok
    assert "MISSED" in markdown(Report(0.2, [one, Run(2, 10, 9.0, 80)]))
