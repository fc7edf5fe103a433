"""UsageLog: the ledger of calls, summed per episode and per guild."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from scriptgen.models import CallUsage, UsageTotals
from storage import Database, EpisodeRecord, UsageLog

NewEpisode = Callable[..., Awaitable[EpisodeRecord]]


def call(step: str, **numbers: int | float) -> CallUsage:
    return CallUsage.model_validate({"step": step, "model": "demo-1", **numbers})


@pytest.fixture
def log(db: Database) -> UsageLog:
    return UsageLog(db)


async def test_totals_of_an_episode_without_calls_are_zero(
    log: UsageLog, new_episode: NewEpisode
) -> None:
    """No calls yet: every total is zero, not None."""
    episode = await new_episode()
    assert await log.totals(episode.id) == UsageTotals()


async def test_totals_sum_ok_and_error_calls(log: UsageLog, new_episode: NewEpisode) -> None:
    """Failed calls were paid for: they count in the totals."""
    episode = await new_episode()
    await log.record(episode.id, call("outline", input_tokens=100, output_tokens=7, latency_s=1.5))
    await log.record(
        episode.id,
        call("scene:1:dialogue", input_tokens=50, cache_write_tokens=3, cache_read_tokens=40),
        "error",
    )
    assert await log.totals(episode.id) == UsageTotals(
        calls=2,
        input_tokens=150,
        output_tokens=7,
        cache_write_tokens=3,
        cache_read_tokens=40,
        call_seconds=1.5,
    )


async def test_record_keeps_the_outcome(
    db: Database, log: UsageLog, new_episode: NewEpisode
) -> None:
    """The ledger row says whether the call succeeded."""
    episode = await new_episode()
    await log.record(episode.id, call("outline", retries=2), "error")
    rows = await db.fetchall("SELECT step, retries, outcome FROM usage")
    assert [tuple(r) for r in rows] == [("outline", 2, "error")]


async def test_guild_totals_are_guild_scoped(log: UsageLog, new_episode: NewEpisode) -> None:
    """A guild's totals include only its own episodes' calls."""
    ours = await new_episode(guild_id=1)
    theirs = await new_episode(guild_id=2)
    await log.record(ours.id, call("outline", output_tokens=10))
    await log.record(ours.id, call("comedy", output_tokens=5))
    await log.record(theirs.id, call("outline", output_tokens=1000))
    totals = await log.guild_totals(1)
    assert (totals.calls, totals.output_tokens) == (2, 15)


async def test_guild_totals_since(
    log: UsageLog, new_episode: NewEpisode, advance_clock: Callable[[float], None]
) -> None:
    """``since`` keeps only calls recorded at or after it: a daily budget window."""
    episode = await new_episode(guild_id=1)
    await log.record(episode.id, call("outline", output_tokens=100))
    advance_clock(3600)
    await log.record(episode.id, call("comedy", output_tokens=1))
    cutoff = datetime(2025, 1, 31, 9, 30, tzinfo=UTC)
    assert (await log.guild_totals(1, since=cutoff)).output_tokens == 1
    in_paris = cutoff.astimezone(ZoneInfo("Europe/Paris"))
    assert (await log.guild_totals(1, since=in_paris)).output_tokens == 1
    assert (await log.guild_totals(1, since=cutoff - timedelta(hours=1))).output_tokens == 101


async def test_guild_totals_refuse_a_naive_since(log: UsageLog) -> None:
    """A datetime without a zone is ambiguous and refused."""
    with pytest.raises(ValueError, match="timezone-aware"):
        await log.guild_totals(1, since=datetime(2025, 1, 31, 9, 30))
