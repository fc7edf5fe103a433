"""Smoke test of bench/monitor.py: the untimed monitor times nothing, the timed one every step.

Its figures depend on the machine, so none is asserted: only that both ways write the same
episodes, that "untimed" really is, and that the command prints its table.
"""

from __future__ import annotations

import pytest

from bench.monitor import UntimedMonitor, episodes, main
from scriptgen.monitor import PerformanceMonitor, StepTiming


async def test_untimed_times_nothing_and_timed_times_every_step() -> None:
    untimed, timed = UntimedMonitor(), PerformanceMonitor()
    heard: list[StepTiming] = []
    untimed.subscribe(heard.append)
    await episodes(untimed, 1)
    assert heard == [] and untimed.table() == []
    await episodes(timed, 1)
    rows = {row.kind: row.count for row in timed.table()}
    assert rows["dialogue"] == rows["directions"] == 12
    assert rows["checkpoint"] == sum(rows.values()) - rows["checkpoint"]


async def test_the_command_prints_both_ways(capsys: pytest.CaptureFixture[str]) -> None:
    await main(quick=True)
    out = capsys.readouterr().out
    assert "12-scene episodes" in out
    for row in ("wall", "CPU", "monitor.step() alone"):
        assert row in out
