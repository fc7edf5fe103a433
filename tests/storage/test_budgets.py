"""BudgetStore: monthly budgets, reservations that cannot overshoot together, daily quotas, and
usage reports, from the usage ledger."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta, timezone

import pytest

from scriptgen.models import CallUsage
from storage import (
    BudgetExceeded,
    BudgetStore,
    Database,
    EpisodeRecord,
    EpisodeStore,
    QuotaExceeded,
    Reservation,
    RewriteStore,
    StorageError,
    UsageLog,
    WriteRefused,
    rewrite_prefix,
)
from storage.budgets import (
    UNATTACHED_HOLD,
    day_start,
    month_start,
    next_day_start,
    next_month_start,
)
from storage.usage import Outcome
from tests.storage.conftest import AUTHOR, GUILD, FakeClock, NewEpisode, build_script

HAIKU = "claude-haiku-4-5"
"""$5 per million output tokens: a dollar is 200,000 output tokens."""
OPUS = "claude-opus-4-1"
"""$75 per million output tokens, $15 per million input tokens."""
OTHER_GUILD = 222_222_222_222_222_222
WRITER = 555_555_555_555_555_555


@pytest.fixture
def budgets(db: Database) -> BudgetStore:
    return BudgetStore(db)


async def spend(
    db: Database,
    episode_id: int,
    dollars: float,
    *,
    step: str = "outline",
    outcome: Outcome = "ok",
) -> None:
    """A ledger row costing ``dollars`` (output tokens of Haiku)."""
    usage = CallUsage(step=step, model=HAIKU, output_tokens=round(dollars * 200_000))
    await UsageLog(db).record(episode_id, usage, outcome)


async def reserve(
    budgets: BudgetStore,
    clock: FakeClock,
    amount: float,
    *,
    limit: float | None = None,
    daily: int | None = None,
    new: bool = False,
    author_id: int = AUTHOR,
) -> Reservation:
    return await budgets.reserve(
        guild_id=GUILD,
        author_id=author_id,
        amount_usd=amount,
        monthly_limit=limit,
        daily_episodes=daily,
        counts_as_episode=new,
        now=clock(),
    )


async def finished(episodes: EpisodeStore, record: EpisodeRecord) -> EpisodeRecord:
    assert await episodes.finish(record.id, build_script(record.request))
    done = await episodes.get_by_id(record.id)
    assert done is not None
    return done


# -- the guild's budget -------------------------------------------------------------------------


async def test_a_guilds_own_budget_is_kept_and_cleared(budgets: BudgetStore) -> None:
    """set_monthly stores the guild's amount; None clears it back to "no own budget"."""
    await budgets.set_monthly(GUILD, 12.5, "maya")
    assert (await budgets.monthly(GUILD), await budgets.monthly(OTHER_GUILD)) == (12.5, None)
    await budgets.set_monthly(GUILD, None, "maya")
    assert await budgets.monthly(GUILD) is None


@pytest.mark.parametrize("amount", [-1.0, float("nan"), float("inf")])
async def test_a_budget_is_a_dollar_amount(budgets: BudgetStore, amount: float) -> None:
    """Negative, NaN and infinite budgets are refused before anything is written."""
    with pytest.raises(ValueError, match="0 or more"):
        await budgets.set_monthly(GUILD, amount, "maya")
    assert await budgets.monthly(GUILD) is None


# -- what was spent -----------------------------------------------------------------------------


async def test_spent_prices_every_ledger_row_of_the_guild_per_model(
    db: Database, budgets: BudgetStore, new_episode: NewEpisode, clock: FakeClock
) -> None:
    """Each model's rows at its own price, failed calls included; other guilds left out."""
    ours = await new_episode()
    theirs = await new_episode(guild_id=OTHER_GUILD)
    await spend(db, ours.id, 0.25)
    await spend(db, ours.id, 0.5, step="scene:1:dialogue", outcome="error")
    opus = CallUsage(step="comedy", model=OPUS, input_tokens=100_000, output_tokens=10_000)
    await UsageLog(db).record(ours.id, opus)  # $1.50 + $0.75
    await spend(db, theirs.id, 3.0)
    assert await budgets.spent(GUILD, month_start(clock())) == pytest.approx(3.0)


async def test_spent_counts_only_rows_since(
    db: Database, budgets: BudgetStore, new_episode: NewEpisode, clock: FakeClock
) -> None:
    """Rows before ``since`` are another month's."""
    record = await new_episode()
    await spend(db, record.id, 1.0)
    clock.advance(15 * 3600)  # 1 February, 00:00 UTC
    await spend(db, record.id, 0.25, step="comedy")
    assert await budgets.spent(GUILD, month_start(clock())) == pytest.approx(0.25)


async def test_a_model_with_no_price_costs_nothing_in_spent(
    db: Database, budgets: BudgetStore, new_episode: NewEpisode, clock: FakeClock
) -> None:
    """A budget cannot be kept on unknown prices: those rows count as nothing, not as an error."""
    record = await new_episode()
    await UsageLog(db).record(record.id, CallUsage(step="x", model="gpt-9", output_tokens=10**6))
    await spend(db, record.id, 0.5)
    assert await budgets.spent(GUILD, month_start(clock())) == pytest.approx(0.5)


# -- reserving against the budget ---------------------------------------------------------------


async def test_a_reservation_within_the_budget_is_recorded(
    budgets: BudgetStore, clock: FakeClock
) -> None:
    """What reserve returns is the row as stored: open, unattached, stamped with ``now``."""
    made = await reserve(budgets, clock, 0.75, limit=1.0, new=True)
    assert (made.guild_id, made.author_id, made.amount_usd) == (GUILD, AUTHOR, 0.75)
    assert (made.counts_as_episode, made.created_at, made.is_open) == (True, clock(), True)
    assert (made.episode_id, made.rewrite_id) == (None, None)
    assert await budgets.get(made.id) == made


async def test_a_start_past_the_budget_is_refused_with_what_was_spent(
    db: Database, budgets: BudgetStore, new_episode: NewEpisode, clock: FakeClock
) -> None:
    """Spent + amount over the limit: BudgetExceeded says spent, limit, the cost and the reset."""
    record = await new_episode()
    await spend(db, record.id, 4.82)
    with pytest.raises(BudgetExceeded) as refused:
        await reserve(budgets, clock, 0.5, limit=5.0)
    err = refused.value
    assert isinstance(err, WriteRefused) and isinstance(err, StorageError)
    assert (err.spent_usd, err.limit_usd, err.amount_usd) == pytest.approx((4.82, 5.0, 0.5))
    assert err.resets_at == datetime(2025, 2, 1, tzinfo=UTC)
    assert str(err) == (
        "This server has spent $4.82 of its $5.00 monthly budget, and this could cost up to "
        "$0.50; it resets on 1 February."
    )
    assert await budgets.held(GUILD, clock()) == 0.0  # nothing was reserved


async def test_a_start_that_exactly_fills_the_budget_is_allowed(
    db: Database, budgets: BudgetStore, new_episode: NewEpisode, clock: FakeClock
) -> None:
    """The limit is inclusive, whatever the float rounding of the sum."""
    record = await new_episode()
    await spend(db, record.id, 0.1)
    await spend(db, record.id, 0.2, step="comedy")
    await reserve(budgets, clock, 0.7, limit=1.0)


async def test_open_reservations_count_against_the_budget(
    budgets: BudgetStore, clock: FakeClock
) -> None:
    """Work in progress holds its estimate: the next start sees it, and the message says so."""
    await reserve(budgets, clock, 0.6, limit=1.0)
    with pytest.raises(BudgetExceeded) as refused:
        await reserve(budgets, clock, 0.5, limit=1.0)
    assert refused.value.spent_usd == 0.0
    assert refused.value.reserved_usd == pytest.approx(0.6)
    assert "($0.60 more is held for work in progress)" in str(refused.value)
    await reserve(budgets, clock, 0.4, limit=1.0)


async def test_a_reservation_holds_only_what_its_work_has_not_spent_yet(
    db: Database, budgets: BudgetStore, new_episode: NewEpisode, clock: FakeClock
) -> None:
    """The episode's rows since the reservation are in "spent": the hold shrinks by as much."""
    made = await reserve(budgets, clock, 1.0, limit=2.0)
    record = await new_episode()
    assert await budgets.attach(made.id, episode_id=record.id)
    await spend(db, record.id, 0.3)
    assert await budgets.held(GUILD, clock()) == pytest.approx(0.7)
    with pytest.raises(BudgetExceeded):
        await reserve(budgets, clock, 1.01, limit=2.0)
    await reserve(budgets, clock, 1.0, limit=2.0)


async def test_a_reservation_spent_past_its_amount_holds_nothing(
    db: Database, budgets: BudgetStore, new_episode: NewEpisode, clock: FakeClock
) -> None:
    """An estimate that proved short holds nothing, never less than nothing."""
    made = await reserve(budgets, clock, 0.5)
    record = await new_episode()
    await budgets.attach(made.id, episode_id=record.id)
    await spend(db, record.id, 0.8)
    assert await budgets.held(GUILD, clock()) == 0.0
    with pytest.raises(BudgetExceeded) as refused:
        await reserve(budgets, clock, 0.3, limit=1.0)
    assert refused.value.spent_usd == pytest.approx(0.8)


async def test_rows_from_before_the_reservation_do_not_shrink_it(
    db: Database, budgets: BudgetStore, new_episode: NewEpisode, clock: FakeClock
) -> None:
    """A retried episode's earlier calls belong to its earlier run, not to the new hold."""
    record = await new_episode()
    await spend(db, record.id, 0.4)
    clock.advance(60)
    made = await reserve(budgets, clock, 1.0)
    await budgets.attach(made.id, episode_id=record.id)
    assert await budgets.held(GUILD, clock()) == pytest.approx(1.0)


async def test_a_settled_reservation_leaves_only_the_ledger(
    db: Database, budgets: BudgetStore, new_episode: NewEpisode, clock: FakeClock
) -> None:
    """Once settled, the work's real cost is all that counts; settling twice does nothing."""
    made = await reserve(budgets, clock, 1.0, limit=1.0)
    record = await new_episode()
    await budgets.attach(made.id, episode_id=record.id)
    await spend(db, record.id, 0.2)
    assert await budgets.settle(made.id)
    assert not await budgets.settle(made.id)
    assert await budgets.open_for(episode_id=record.id) is None
    await reserve(budgets, clock, 0.8, limit=1.0)


async def test_a_released_reservation_is_forgotten(budgets: BudgetStore, clock: FakeClock) -> None:
    """A start that never ran gives its amount back; a settled one cannot be released."""
    first = await reserve(budgets, clock, 1.0, limit=1.0)
    assert await budgets.release(first.id)
    assert await budgets.get(first.id) is None
    second = await reserve(budgets, clock, 1.0, limit=1.0)
    assert await budgets.settle(second.id)
    assert not await budgets.release(second.id)


async def test_a_reservation_of_ended_work_holds_nothing_even_unsettled(
    db: Database,
    budgets: BudgetStore,
    episodes: EpisodeStore,
    new_episode: NewEpisode,
    clock: FakeClock,
) -> None:
    """A failed settle cannot shrink the budget: an ended episode's cost is all in the ledger."""
    made = await reserve(budgets, clock, 1.0, limit=1.0)
    record = await new_episode()
    await budgets.attach(made.id, episode_id=record.id)
    assert await episodes.fail(record.id, "the provider is down")
    assert await budgets.held(GUILD, clock()) == 0.0
    await reserve(budgets, clock, 1.0, limit=1.0)


async def test_a_start_that_died_before_attaching_stops_holding(
    budgets: BudgetStore, clock: FakeClock
) -> None:
    """A reservation never attached (a crash in between) holds only for UNATTACHED_HOLD."""
    await reserve(budgets, clock, 1.0, limit=1.0)
    clock.advance(UNATTACHED_HOLD.total_seconds() - 1)
    with pytest.raises(BudgetExceeded):
        await reserve(budgets, clock, 0.5, limit=1.0)
    clock.advance(2)
    await reserve(budgets, clock, 0.5, limit=1.0)


async def test_a_rewrites_reservation_is_covered_by_its_own_calls_only(
    db: Database,
    budgets: BudgetStore,
    episodes: EpisodeStore,
    new_episode: NewEpisode,
    clock: FakeClock,
) -> None:
    """Ledger rows under ``rw{id}:`` shrink the rewrite's hold; the episode's own rows do not."""
    done = await finished(episodes, await new_episode())
    made = await reserve(budgets, clock, 1.0)
    rewrite = await RewriteStore(db).create(
        episode=done, scene=1, note="Louder.", takes=1, author_id=WRITER, author_name="bo"
    )
    assert await budgets.attach(made.id, rewrite_id=rewrite.id)
    await spend(db, done.id, 0.5, step="comedy")
    assert await budgets.held(GUILD, clock()) == pytest.approx(1.0)
    step = f"{rewrite_prefix(rewrite.id)}take:1:scene:1:dialogue"
    await spend(db, done.id, 0.25, step=step)
    assert await budgets.held(GUILD, clock()) == pytest.approx(0.75)
    assert await budgets.open_for(rewrite_id=rewrite.id) == await budgets.get(made.id)


async def test_the_budget_resets_on_the_first_of_the_month(
    db: Database, budgets: BudgetStore, new_episode: NewEpisode, clock: FakeClock
) -> None:
    """January's spending does not count in February."""
    record = await new_episode()
    await spend(db, record.id, 1.0)
    with pytest.raises(BudgetExceeded):
        await reserve(budgets, clock, 0.5, limit=1.0)
    clock.advance(15 * 3600)  # 2025-02-01T00:00Z
    await reserve(budgets, clock, 0.5, limit=1.0)


async def test_no_limit_means_no_budget_check(
    db: Database, budgets: BudgetStore, new_episode: NewEpisode, clock: FakeClock
) -> None:
    """monthly_limit=None reserves whatever was spent (the reservation is still recorded)."""
    record = await new_episode()
    await spend(db, record.id, 100.0)
    made = await reserve(budgets, clock, 5.0)
    assert await budgets.held(GUILD, clock()) == pytest.approx(5.0)
    assert made.is_open


async def test_parallel_starts_cannot_overshoot_together(
    budgets: BudgetStore, clock: FakeClock
) -> None:
    """Ten starts at once of $0.30 against $1.00: exactly three get through."""
    results = await asyncio.gather(
        *(reserve(budgets, clock, 0.3, limit=1.0) for _ in range(10)), return_exceptions=True
    )
    made = [r for r in results if isinstance(r, Reservation)]
    refused = [r for r in results if isinstance(r, BudgetExceeded)]
    assert (len(made), len(refused)) == (3, 7)
    assert await budgets.held(GUILD, clock()) == pytest.approx(0.9)


@pytest.mark.parametrize("amount", [-0.01, float("nan")])
async def test_a_reservation_is_a_dollar_amount(
    budgets: BudgetStore, clock: FakeClock, amount: float
) -> None:
    """A negative or NaN amount would loosen the budget: refused."""
    with pytest.raises(ValueError, match="0 or more"):
        await reserve(budgets, clock, amount, limit=1.0)


async def test_reserve_refuses_a_naive_now(budgets: BudgetStore) -> None:
    """Months and days are UTC: an instant without a zone is ambiguous."""
    with pytest.raises(ValueError, match="timezone-aware"):
        await budgets.reserve(
            guild_id=GUILD,
            author_id=AUTHOR,
            amount_usd=0.1,
            monthly_limit=1.0,
            daily_episodes=None,
            counts_as_episode=False,
            now=datetime(2025, 1, 31, 9),
        )


# -- the daily quota ----------------------------------------------------------------------------


async def test_the_daily_quota_counts_the_writers_episodes_today(
    budgets: BudgetStore, episodes: EpisodeStore, new_episode: NewEpisode, clock: FakeClock
) -> None:
    """Episodes started today, whatever became of them: QuotaExceeded says so, and when."""
    first = await new_episode()
    await new_episode()
    await episodes.cancel(first.id, "maya")
    with pytest.raises(QuotaExceeded) as refused:
        await reserve(budgets, clock, 0.1, daily=2, new=True)
    err = refused.value
    assert isinstance(err, WriteRefused)
    assert (err.count, err.limit, err.resets_at) == (2, 2, datetime(2025, 2, 1, tzinfo=UTC))
    assert str(err) == (
        "You have started 2 of your 2 episodes for today; the count starts again at midnight UTC."
    )


async def test_the_quota_is_per_writer_per_guild_per_day(
    budgets: BudgetStore, new_episode: NewEpisode, clock: FakeClock
) -> None:
    """Yesterday's episodes, another writer's and another guild's do not count."""
    await new_episode()
    clock.advance(15 * 3600)  # the next UTC day
    await new_episode(author_id=WRITER)
    await new_episode(guild_id=OTHER_GUILD)
    await reserve(budgets, clock, 0.1, daily=1, new=True)


async def test_a_retry_is_not_a_new_episode(
    budgets: BudgetStore, new_episode: NewEpisode, clock: FakeClock
) -> None:
    """counts_as_episode=False starts are held to the budget only."""
    await new_episode()
    await reserve(budgets, clock, 0.1, daily=1, new=False)


async def test_parallel_starts_of_one_writer_cannot_pass_the_quota_together(
    budgets: BudgetStore, clock: FakeClock
) -> None:
    """A start reserved but not yet attached to its episode counts already."""
    results = await asyncio.gather(
        *(reserve(budgets, clock, 0.1, daily=2, new=True) for _ in range(5)),
        return_exceptions=True,
    )
    assert sum(isinstance(r, Reservation) for r in results) == 2
    assert sum(isinstance(r, QuotaExceeded) for r in results) == 3


async def test_an_attached_start_is_counted_once(
    budgets: BudgetStore, new_episode: NewEpisode, clock: FakeClock
) -> None:
    """Once attached, the start is its episode: not counted a second time."""
    made = await reserve(budgets, clock, 0.1, daily=2, new=True)
    await budgets.attach(made.id, episode_id=(await new_episode()).id)
    await reserve(budgets, clock, 0.1, daily=2, new=True)


async def test_a_released_start_gives_its_place_in_the_quota_back(
    budgets: BudgetStore, clock: FakeClock
) -> None:
    """A start refused further on (e.g. a limit of running episodes) is not an episode."""
    made = await reserve(budgets, clock, 0.1, daily=1, new=True)
    await budgets.release(made.id)
    await reserve(budgets, clock, 0.1, daily=1, new=True)


async def test_a_zero_quota_switches_new_episodes_off(
    budgets: BudgetStore, clock: FakeClock
) -> None:
    """daily_episodes=0 refuses every new episode, with a message that says it is switched off."""
    with pytest.raises(QuotaExceeded, match="switched off"):
        await reserve(budgets, clock, 0.0, daily=0, new=True)


# -- attaching, settling, finding ---------------------------------------------------------------


async def test_attach_takes_exactly_one_kind_of_work(
    budgets: BudgetStore, clock: FakeClock
) -> None:
    """An episode or a rewrite, never both or neither."""
    made = await reserve(budgets, clock, 0.1)
    with pytest.raises(ValueError, match="exactly one"):
        await budgets.attach(made.id)
    with pytest.raises(ValueError, match="exactly one"):
        await budgets.attach(made.id, episode_id=1, rewrite_id=1)


async def test_a_reservation_is_attached_once(
    budgets: BudgetStore, new_episode: NewEpisode, clock: FakeClock
) -> None:
    """A second attach, or one after settling, changes nothing."""
    made = await reserve(budgets, clock, 0.1)
    first, second = await new_episode(), await new_episode()
    assert await budgets.attach(made.id, episode_id=first.id)
    assert not await budgets.attach(made.id, episode_id=second.id)
    assert await budgets.open_for(episode_id=first.id) == await budgets.get(made.id)
    assert await budgets.open_for(episode_id=second.id) is None


async def test_attaching_a_new_reservation_settles_the_episodes_old_one(
    budgets: BudgetStore, new_episode: NewEpisode, clock: FakeClock
) -> None:
    """Work has one open reservation: a retry's replaces a run's that was never settled."""
    record = await new_episode()
    old = await reserve(budgets, clock, 1.0)
    await budgets.attach(old.id, episode_id=record.id)
    clock.advance(1)
    new = await reserve(budgets, clock, 1.0)
    await budgets.attach(new.id, episode_id=record.id)
    found = await budgets.get(old.id)
    assert found is not None and found.settled_at == clock()
    assert await budgets.open_for(episode_id=record.id) == await budgets.get(new.id)
    assert await budgets.held(GUILD, clock()) == pytest.approx(1.0)


async def test_settle_ended_tidies_what_holds_nothing(
    budgets: BudgetStore, episodes: EpisodeStore, new_episode: NewEpisode, clock: FakeClock
) -> None:
    """Ended work's reservations are settled, dead starts released, running work's kept."""
    ended, running = await new_episode(), await new_episode()
    for record in (ended, running):
        made = await reserve(budgets, clock, 0.5)
        await budgets.attach(made.id, episode_id=record.id)
    await episodes.cancel(ended.id, "maya")
    dead = await reserve(budgets, clock, 0.5)
    clock.advance(UNATTACHED_HOLD.total_seconds() + 1)
    fresh = await reserve(budgets, clock, 0.5)
    assert await budgets.settle_ended(clock()) == 2
    assert await budgets.get(dead.id) is None
    assert await budgets.open_for(episode_id=ended.id) is None
    assert await budgets.open_for(episode_id=running.id) is not None
    assert (await budgets.get(fresh.id)) == fresh


# -- months and days ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "month", "next_month", "next_day"),
    [
        (
            datetime(2025, 1, 31, 23, 59, tzinfo=UTC),
            datetime(2025, 1, 1, tzinfo=UTC),
            datetime(2025, 2, 1, tzinfo=UTC),
            datetime(2025, 2, 1, tzinfo=UTC),
        ),
        (
            datetime(2025, 12, 31, 12, tzinfo=UTC),
            datetime(2025, 12, 1, tzinfo=UTC),
            datetime(2026, 1, 1, tzinfo=UTC),
            datetime(2026, 1, 1, tzinfo=UTC),
        ),
        (  # 1 March 00:30 in Paris is still February in UTC
            datetime(2024, 3, 1, 0, 30, tzinfo=timezone(timedelta(hours=1))),
            datetime(2024, 2, 1, tzinfo=UTC),
            datetime(2024, 3, 1, tzinfo=UTC),
            datetime(2024, 3, 1, tzinfo=UTC),
        ),
    ],
)
def test_months_and_days_are_utc(
    now: datetime, month: datetime, next_month: datetime, next_day: datetime
) -> None:
    """Budgets reset on the first at 00:00 UTC, quotas at midnight UTC, December included."""
    assert (month_start(now), next_month_start(now), next_day_start(now)) == (
        month,
        next_month,
        next_day,
    )
    assert day_start(now) == next_day - timedelta(days=1)


# -- the usage report ---------------------------------------------------------------------------


async def test_the_report_sums_calls_by_model_and_by_writer(
    db: Database,
    budgets: BudgetStore,
    episodes: EpisodeStore,
    new_episode: NewEpisode,
    clock: FakeClock,
) -> None:
    """Per model and per writer: calls, tokens by kind, failures and cost, costliest first; a
    note's calls are its writer's."""
    done = await finished(episodes, await new_episode())
    await spend(db, done.id, 1.0)
    await spend(db, done.id, 0.5, step="comedy", outcome="error")
    rewrite = await RewriteStore(db).create(
        episode=done, scene=1, note="Louder.", takes=1, author_id=WRITER, author_name="bo"
    )
    opus = CallUsage(
        step=f"{rewrite_prefix(rewrite.id)}take:1:scene:1:dialogue",
        model=OPUS,
        input_tokens=1000,
        output_tokens=40_000,  # $3.00 + $0.015
        cache_read_tokens=10_000,  # $0.015
    )
    await UsageLog(db).record(done.id, opus)
    await spend(db, (await new_episode(guild_id=OTHER_GUILD)).id, 9.0)

    report = await budgets.report(GUILD, month_start(clock()))

    assert [(r.name, r.totals.calls, r.failed_calls) for r in report.by_model] == [
        (OPUS, 1, 0),
        (HAIKU, 2, 1),
    ]
    assert [r.cost_usd for r in report.by_model] == pytest.approx([3.03, 1.5])
    opus_row = report.by_model[0].totals
    assert (opus_row.input_tokens, opus_row.output_tokens, opus_row.cache_read_tokens) == (
        1000,
        40_000,
        10_000,
    )
    assert [(r.name, r.author_id, r.totals.calls) for r in report.by_writer] == [
        ("bo", WRITER, 1),
        ("maya", AUTHOR, 2),
    ]
    assert [r.cost_usd for r in report.by_writer] == pytest.approx([3.03, 1.5])
    assert report.totals.calls == 3
    assert report.cost_usd == pytest.approx(4.53)


async def test_the_report_cannot_price_a_model_with_no_price(
    db: Database, budgets: BudgetStore, new_episode: NewEpisode, clock: FakeClock
) -> None:
    """Rows of an unknown model cost None, after the priced ones, and so does the total."""
    record = await new_episode()
    await UsageLog(db).record(record.id, CallUsage(step="x", model="gpt-9", output_tokens=5))
    await spend(db, record.id, 0.1)
    report = await budgets.report(GUILD, month_start(clock()))
    assert [(r.name, r.cost_usd) for r in report.by_model] == [
        (HAIKU, pytest.approx(0.1)),
        ("gpt-9", None),
    ]
    assert (report.by_writer[0].cost_usd, report.cost_usd) == (None, None)


async def test_a_writers_row_carries_their_latest_name(
    db: Database, budgets: BudgetStore, new_episode: NewEpisode, clock: FakeClock
) -> None:
    """A writer renamed between episodes is one row, under the newer name."""
    await spend(db, (await new_episode(author_name="maya")).id, 0.1)
    await spend(db, (await new_episode(author_name="Maya R.")).id, 0.1)
    report = await budgets.report(GUILD, month_start(clock()))
    assert [(r.name, r.totals.calls) for r in report.by_writer] == [("Maya R.", 2)]


async def test_an_empty_month_has_an_empty_report(budgets: BudgetStore, clock: FakeClock) -> None:
    """No calls: no rows, zero totals, a cost of nothing."""
    report = await budgets.report(GUILD, month_start(clock()))
    assert (report.by_model, report.by_writer, report.totals.calls) == ([], [], 0)
    assert report.cost_usd == 0.0


# -- query plans --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "index"),
    [
        (
            "SELECT u.model, count(*) FROM episodes e JOIN usage u ON u.episode_id = e.id"
            " WHERE e.guild_id = 1 AND u.created_at >= '2025' GROUP BY u.model",
            "usage_episode_time (episode_id=? AND created_at>?)",
        ),
        (
            "SELECT count(*) FROM episodes WHERE guild_id = 1 AND author_id = 2"
            " AND created_at >= '2025'",
            "episodes_author_recent (guild_id=? AND author_id=? AND created_at>?)",
        ),
        (
            "SELECT * FROM reservations WHERE guild_id = 1 AND settled_at IS NULL",
            "reservations_open (guild_id=?)",
        ),
    ],
)
@pytest.mark.sqlite_only  # SQLite's query plans
async def test_budget_queries_use_their_index(db: Database, sql: str, index: str) -> None:
    """What every start runs inside its write transaction is index searches, not scans."""
    plan = " ".join(str(r[3]) for r in await db.fetchall(f"EXPLAIN QUERY PLAN {sql}"))
    assert f"INDEX {index}" in plan
    assert "SCAN u" not in plan and "SCAN usage" not in plan
