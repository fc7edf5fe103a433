"""Smoke test of ``bench/bot_load.py --ops-overhead``: both ways run end to end (the timing
figures depend on the machine, so only what must hold is asserted)."""

from __future__ import annotations

import pytest

from bench._ops_overhead import ops_overhead


async def test_the_load_runs_with_monitoring_off_built_and_watched(
    capsys: pytest.CaptureFixture[str],
) -> None:
    verdicts = await ops_overhead(guilds=2, per_guild=1, rounds=1)
    out = capsys.readouterr().out
    assert verdicts["delivered"], out
    assert "  off " in out and "  built " in out and "  watched " in out
    assert "wall time to the last post, built / off" in out
