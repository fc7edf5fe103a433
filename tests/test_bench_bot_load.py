"""Smoke test of bench/bot_load.py: a small load runs end to end through the fake Discord.

Event-loop lag, the limiter's share at its bound and fairness depend on the machine, so only the
figures the bot guarantees are asserted: everything delivered once, every status final, no 429s,
edits paced, the call bound kept.
"""

from __future__ import annotations

import pytest

from bench.bot_load import bench

GUARANTEED = [
    "delivered / lost",
    "duplicate script posts",
    "statuses ending on the summary",
    "done and delivered in storage",
    "/episode deferred (not refused)",
    "slowest first answer (the defer)",
    "message writes that could ping",
    "429 / 401 / 403 answers",
    "LLM calls in flight: peak / bound",
]


async def test_small_load_is_delivered_paced_and_bounded(
    capsys: pytest.CaptureFixture[str],
) -> None:
    verdicts = await bench(guilds=2, per_guild=2)
    out = capsys.readouterr().out
    assert "4 episodes of 4 scenes from 2 guilds" in out
    for metric in GUARANTEED:
        assert verdicts[metric], f"{metric} failed:\n{out}"
    [gap] = [ok for metric, ok in verdicts.items() if metric.startswith("shortest edit gap")]
    assert gap, out
