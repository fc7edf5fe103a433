"""Budgets and quotas: what a guild may spend on model calls a month, how many episodes a writer
may start a day, and what the guild spent, from the usage ledger.

How a start is held to the budget:

- **Reserve, in one write transaction.** A start (an episode, a retry, a note) reserves an
  upper bound of its cost (:mod:`scriptgen.estimate`) before its first call. The check and the
  reservation are one ``BEGIN IMMEDIATE`` transaction, so parallel starts are serialised: each
  sees the ones before it, and together they cannot overshoot.
- **Committed = spent + held.** What counts against the month is what the ledger says the guild
  spent since the first of the month (every row: failed calls were paid too), plus what the open
  reservations still hold: each its amount less what its own work has already spent since it was
  made (those rows are in "spent" already). A reservation whose work has ended holds nothing,
  even if settling it failed: its cost is all in the ledger.
- **Attach, then settle or release.** The reservation is made before its episode or rewrite
  exists and attached to it right after. When the work ends it is *settled*: the ledger alone
  counts from then on. A start that never ran (refused, or failed before its first call) is
  *released*: deleted, since nothing was spent. An unattached reservation older than
  :data:`UNATTACHED_HOLD` is a start that died between the two (a crash) and holds nothing.
- **Prices come from :mod:`scriptgen.pricing`**, per model, in Python: the ledger stores tokens,
  and a guild's month may mix models. Calls of a model with no price count as nothing: a budget
  cannot be kept on a model whose price is unknown (its estimate is ``None`` too).

Months and days are UTC: a month resets on the first at 00:00 UTC, a day at midnight UTC.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Final

from scriptgen.models import UsageTotals
from scriptgen.pricing import cost_by_model, estimate_cost
from storage._time import from_db, to_db
from storage.checkpoints import rewrite_key_sql
from storage.database import Database, Row, Transaction
from storage.errors import BudgetExceeded, QuotaExceeded, StorageError
from storage.usage import TOTALS_SQL, totals_from_row

__all__ = [
    "UNATTACHED_HOLD",
    "BudgetStore",
    "Reservation",
    "UsageReport",
    "UsageRow",
    "day_start",
    "month_start",
    "next_day_start",
    "next_month_start",
]

UNATTACHED_HOLD: Final = timedelta(minutes=10)
"""How long a reservation not yet attached to its work holds its amount. A start attaches it
within a second or two; one still unattached after this died in between."""

_EPSILON: Final = 1e-9
"""Dollars: a reservation exactly filling the budget is allowed, whatever the float rounding."""

_REWRITE_ID_SQL: Final = (
    f"(CASE WHEN {rewrite_key_sql('u.step')}"
    " THEN CAST(substr(u.step, 3, instr(u.step, ':') - 3) AS INTEGER) END)"
)
"""The rewrite a ledger row belongs to (its step is ``rw{id}:…``), else NULL: the episode's."""

_UNFINISHED_WORK_SQL: Final = (
    "(e.status IN ('queued', 'running') OR w.status = 'running'"
    " OR (r.episode_id IS NULL AND r.rewrite_id IS NULL AND r.created_at >= ?))"
)
"""An open reservation that still holds: its episode or rewrite can still make calls, or it is
a start not attached yet. ``queued`` is an outline in review: it will be written."""


# -- months and days ------------------------------------------------------------------------------


def month_start(now: datetime) -> datetime:
    """00:00 UTC on the first of ``now``'s month (UTC)."""
    return _utc(now).replace(day=1, hour=0, minute=0, second=0, microsecond=0)


def next_month_start(now: datetime) -> datetime:
    """00:00 UTC on the first of the next month: when a monthly budget resets."""
    start = month_start(now)
    if start.month == 12:
        return start.replace(year=start.year + 1, month=1)
    return start.replace(month=start.month + 1)


def day_start(now: datetime) -> datetime:
    """The last midnight UTC."""
    return _utc(now).replace(hour=0, minute=0, second=0, microsecond=0)


def next_day_start(now: datetime) -> datetime:
    """The next midnight UTC: when a daily quota resets."""
    return day_start(now) + timedelta(days=1)


def _utc(now: datetime) -> datetime:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError(f"a timezone-aware datetime is required, got naive {now!r}")
    return now.astimezone(UTC)


# -- records --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Reservation:
    """One row of ``reservations``: an upper bound of a start's cost, held until settled."""

    id: int
    guild_id: int
    author_id: int
    amount_usd: float
    counts_as_episode: bool
    """A new episode: counted against the writer's daily quota."""
    created_at: datetime
    episode_id: int | None = None
    rewrite_id: int | None = None
    settled_at: datetime | None = None

    @property
    def is_open(self) -> bool:
        return self.settled_at is None


@dataclass(frozen=True, slots=True)
class UsageRow:
    """One line of a usage report: a model's calls, or a writer's."""

    name: str
    """The model id, or the writer's display name (as of their latest episode or note)."""
    totals: UsageTotals
    cost_usd: float | None
    """``None`` if some of the calls were of a model with no price."""
    failed_calls: int = 0
    """Calls that produced nothing (counted in ``totals`` too: they were paid for)."""
    author_id: int | None = None
    """The writer, on a writer's row."""


@dataclass(frozen=True, slots=True)
class UsageReport:
    """What a guild's model calls since ``since`` were, by model and by writer, costliest first.

    A note's calls are its writer's, not the episode's author's.
    """

    guild_id: int
    since: datetime
    by_model: list[UsageRow]
    by_writer: list[UsageRow]
    totals: UsageTotals
    cost_usd: float | None


# -- the store ------------------------------------------------------------------------------------


class BudgetStore:
    """Guilds' budgets, reservations against them, writers' daily quotas, and usage reports."""

    def __init__(self, db: Database) -> None:
        self._db = db

    # -- the budget ---------------------------------------------------------------------------

    async def set_monthly(self, guild_id: int, amount_usd: float | None, set_by: str) -> None:
        """Set the guild's own monthly budget in dollars; ``None`` clears it (the operator's
        default applies again). ``0`` stops every start that could cost anything."""
        if amount_usd is not None and not (math.isfinite(amount_usd) and amount_usd >= 0):
            raise ValueError(f"a monthly budget is a dollar amount of 0 or more, not {amount_usd}")
        async with self._db.transaction() as tx:
            await tx.execute(
                "INSERT INTO guild_budgets (guild_id, monthly_usd, set_by, updated_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (guild_id) DO UPDATE"
                " SET monthly_usd = excluded.monthly_usd, set_by = excluded.set_by,"
                " updated_at = excluded.updated_at",
                (guild_id, amount_usd, set_by, to_db(tx.now())),
            )

    async def monthly(self, guild_id: int) -> float | None:
        """The guild's own monthly budget; ``None`` if it has none (the caller's default)."""
        row = await self._db.fetchone(
            "SELECT monthly_usd FROM guild_budgets WHERE guild_id = ?", (guild_id,)
        )
        return None if row is None or row[0] is None else float(row[0])

    async def spent(self, guild_id: int, since: datetime) -> float:
        """What the guild's calls since ``since`` (aware) cost, every ledger row included."""
        return _priced(await _spent_by_model(self._db, guild_id, since))

    # -- reservations -------------------------------------------------------------------------

    async def reserve(
        self,
        *,
        guild_id: int,
        author_id: int,
        amount_usd: float,
        monthly_limit: float | None,
        daily_episodes: int | None,
        counts_as_episode: bool,
        now: datetime,
    ) -> Reservation:
        """Hold ``amount_usd`` (an upper bound of the work's cost) against the guild's month.

        Raises :class:`QuotaExceeded` if ``counts_as_episode`` and the writer already started
        ``daily_episodes`` episodes in this guild today (UTC; episodes they created, whatever
        became of them, and their starts not yet attached), and :class:`BudgetExceeded` if the
        month's committed cost (see the module) plus ``amount_usd`` would pass
        ``monthly_limit``. ``None`` limits are not checked. Nothing is written when refused.
        Keyword-only: two snowflake ints in a row are too easy to swap. ``now`` is
        ``db.now()``: ledger rows are stamped by the same clock.
        """
        if not (math.isfinite(amount_usd) and amount_usd >= 0):
            raise ValueError(f"a reservation is a dollar amount of 0 or more, not {amount_usd}")
        stale = to_db(now - UNATTACHED_HOLD)
        async with self._db.transaction() as tx:
            if counts_as_episode and daily_episodes is not None:
                count = await _episodes_started(tx, guild_id, author_id, day_start(now), stale)
                if count >= daily_episodes:
                    raise QuotaExceeded(count, daily_episodes, next_day_start(now))
            if monthly_limit is not None:
                spent = _priced(await _spent_by_model(tx, guild_id, month_start(now)))
                held = await _held(tx, guild_id, stale)
                if spent + held + amount_usd > monthly_limit + _EPSILON:
                    raise BudgetExceeded(
                        spent,
                        monthly_limit,
                        next_month_start(now),
                        reserved_usd=held,
                        amount_usd=amount_usd,
                    )
            row = await tx.fetchone(
                "INSERT INTO reservations (guild_id, author_id, amount_usd, counts_as_episode,"
                " created_at) VALUES (?, ?, ?, ?, ?) RETURNING *",
                (guild_id, author_id, amount_usd, int(counts_as_episode), to_db(now)),
            )
        if row is None:  # pragma: no cover - INSERT … RETURNING always returns the row
            raise StorageError(f"{self._db.label}: reserving returned no row")
        return _reservation(row)

    async def attach(
        self, reservation_id: int, *, episode_id: int | None = None, rewrite_id: int | None = None
    ) -> bool:
        """Tie an open, unattached reservation to the work it was made for (exactly one of
        ``episode_id``, ``rewrite_id``); False if it is attached, settled or gone already.

        Work has one open reservation: attaching one settles any other still open for the same
        episode or rewrite (an earlier run whose settling failed), whose cost is in the ledger.
        """
        column, work_id = _work(episode_id, rewrite_id)
        async with self._db.transaction() as tx:
            attached = await tx.execute(
                f"UPDATE reservations SET {column} = ? WHERE id = ? AND settled_at IS NULL"
                " AND episode_id IS NULL AND rewrite_id IS NULL",
                (work_id, reservation_id),
            )
            if attached:
                await tx.execute(
                    f"UPDATE reservations SET settled_at = ? WHERE {column} = ? AND id <> ?"
                    " AND settled_at IS NULL",
                    (to_db(tx.now()), work_id, reservation_id),
                )
        return attached > 0

    async def settle(self, reservation_id: int) -> bool:
        """The work ended: its real cost is in the ledger from now on. False if settled already
        (or released)."""
        async with self._db.transaction() as tx:
            changed = await tx.execute(
                "UPDATE reservations SET settled_at = ? WHERE id = ? AND settled_at IS NULL",
                (to_db(tx.now()), reservation_id),
            )
        return changed > 0

    async def release(self, reservation_id: int) -> bool:
        """Nothing was spent (the start was refused, or failed before any call): forget the
        reservation, quota included. False if it was settled (its work ran) or is gone."""
        async with self._db.transaction() as tx:
            deleted = await tx.execute(
                "DELETE FROM reservations WHERE id = ? AND settled_at IS NULL", (reservation_id,)
            )
        return deleted > 0

    async def open_for(
        self, episode_id: int | None = None, rewrite_id: int | None = None
    ) -> Reservation | None:
        """The open reservation of an episode or a rewrite (exactly one given), if any."""
        column, work_id = _work(episode_id, rewrite_id)
        row = await self._db.fetchone(
            f"SELECT * FROM reservations WHERE {column} = ? AND settled_at IS NULL"
            " ORDER BY id DESC LIMIT 1",
            (work_id,),
        )
        return _reservation(row) if row is not None else None

    async def get(self, reservation_id: int) -> Reservation | None:
        row = await self._db.fetchone("SELECT * FROM reservations WHERE id = ?", (reservation_id,))
        return _reservation(row) if row is not None else None

    async def held(self, guild_id: int, now: datetime) -> float:
        """What the guild's open reservations still hold beyond what their work has spent: the
        part of the month's committed cost that is not in the ledger yet."""
        return await _held(self._db, guild_id, to_db(now - UNATTACHED_HOLD))

    async def settle_ended(self, now: datetime) -> int:
        """Settle the open reservations whose work has ended and release the starts that died
        before attaching theirs (older than :data:`UNATTACHED_HOLD`); how many. For start-up:
        neither holds anything already, this only keeps the open ones few."""
        stale = to_db(now - UNATTACHED_HOLD)
        async with self._db.transaction() as tx:
            released = await tx.execute(
                "DELETE FROM reservations WHERE settled_at IS NULL AND episode_id IS NULL"
                " AND rewrite_id IS NULL AND created_at < ?",
                (stale,),
            )
            settled = await tx.execute(
                "UPDATE reservations SET settled_at = ? WHERE settled_at IS NULL AND ("
                " episode_id IN (SELECT id FROM episodes"
                "  WHERE status IN ('done', 'failed', 'cancelled'))"
                " OR rewrite_id IN (SELECT id FROM rewrites WHERE status <> 'running'))",
                (to_db(tx.now()),),
            )
        return released + settled

    # -- reports ------------------------------------------------------------------------------

    async def report(self, guild_id: int, since: datetime) -> UsageReport:
        """The guild's calls since ``since`` (aware), by model and by writer, for ``/usage``."""
        rows = await self._db.fetchall(
            f"SELECT {TOTALS_SQL}, u.model AS model,"
            " coalesce(w.author_id, e.author_id) AS writer_id,"
            " coalesce(w.author_name, e.author_name) AS writer_name,"
            " max(u.id) AS last_id, sum(CASE WHEN u.outcome = 'error' THEN 1 ELSE 0 END) AS failed"
            " FROM episodes e JOIN usage u ON u.episode_id = e.id"
            f" LEFT JOIN rewrites w ON w.id = {_REWRITE_ID_SQL}"
            " WHERE e.guild_id = ? AND u.created_at >= ?"
            " GROUP BY u.model, writer_id, writer_name",
            (guild_id, to_db(since)),
        )
        models: dict[str, _Tally] = {}
        writers: dict[int, _Tally] = {}
        for row in rows:
            totals, failed, model = totals_from_row(row), int(row["failed"]), str(row["model"])
            models.setdefault(model, _Tally()).add(model, totals, failed)
            writer = writers.setdefault(int(row["writer_id"]), _Tally())
            writer.add(model, totals, failed, name=str(row["writer_name"]), at=row["last_id"])
        by_model = [tally.row(model) for model, tally in models.items()]
        by_writer = [tally.row(tally.name, author_id) for author_id, tally in writers.items()]
        everything = _Tally()
        for model, tally in models.items():
            everything.add(model, tally.totals, tally.failed)
        return UsageReport(
            guild_id=guild_id,
            since=since,
            by_model=_costliest_first(by_model),
            by_writer=_costliest_first(by_writer),
            totals=everything.totals,
            cost_usd=cost_by_model(everything.by_model),
        )


# -- queries --------------------------------------------------------------------------------------


async def _spent_by_model(
    reader: Database | Transaction, guild_id: int, since: datetime
) -> dict[str, UsageTotals]:
    rows = await reader.fetchall(
        f"SELECT {TOTALS_SQL}, u.model FROM episodes e JOIN usage u ON u.episode_id = e.id"
        " WHERE e.guild_id = ? AND u.created_at >= ? GROUP BY u.model",
        (guild_id, to_db(since)),
    )
    return {str(row["model"]): totals_from_row(row) for row in rows}


async def _held(reader: Database | Transaction, guild_id: int, stale: str) -> float:
    """Σ over the guild's open reservations that still hold of (amount - what their own work
    spent since they were made), each at least 0."""
    rows = await reader.fetchall(
        f"SELECT {TOTALS_SQL}, r.id AS id, r.amount_usd AS amount, u.model AS model"
        " FROM reservations r"
        " LEFT JOIN episodes e ON e.id = r.episode_id"
        " LEFT JOIN rewrites w ON w.id = r.rewrite_id"
        " LEFT JOIN usage u ON u.episode_id = coalesce(r.episode_id, w.episode_id)"
        "  AND u.created_at >= r.created_at"
        "  AND CASE WHEN r.rewrite_id IS NULL"
        f"   THEN NOT {rewrite_key_sql('u.step')}"
        "   ELSE substr(u.step, 1, length('rw' || r.rewrite_id || ':'))"
        "    = 'rw' || r.rewrite_id || ':'"
        "  END"
        f" WHERE r.guild_id = ? AND r.settled_at IS NULL AND {_UNFINISHED_WORK_SQL}"
        " GROUP BY r.id, u.model",
        (guild_id, stale),
    )
    amounts: dict[int, float] = {}
    spent: dict[int, dict[str, UsageTotals]] = {}
    for row in rows:
        amounts[int(row["id"])] = float(row["amount"])
        if row["model"] is not None:  # a row of the LEFT JOIN that found no usage
            spent.setdefault(int(row["id"]), {})[str(row["model"])] = totals_from_row(row)
    return sum(
        max(0.0, amount - _priced(spent.get(reservation_id, {})))
        for reservation_id, amount in amounts.items()
    )


async def _episodes_started(
    tx: Transaction, guild_id: int, author_id: int, since: datetime, stale: str
) -> int:
    """Episodes the writer created in the guild since ``since``, and their starts reserved but
    not yet attached (a parallel start about to create one)."""
    row = await tx.fetchone(
        "SELECT (SELECT count(*) FROM episodes"
        "  WHERE guild_id = ? AND author_id = ? AND created_at >= ?)"
        " + (SELECT count(*) FROM reservations"
        "  WHERE guild_id = ? AND settled_at IS NULL AND author_id = ? AND counts_as_episode = 1"
        "  AND episode_id IS NULL AND rewrite_id IS NULL AND created_at >= ?)",
        (guild_id, author_id, to_db(since), guild_id, author_id, max(to_db(since), stale)),
    )
    return int(row[0]) if row is not None else 0


# -- helpers --------------------------------------------------------------------------------------


def _work(episode_id: int | None, rewrite_id: int | None) -> tuple[str, int]:
    if (episode_id is None) == (rewrite_id is None):
        raise ValueError("give exactly one of episode_id and rewrite_id")
    if episode_id is not None:
        return "episode_id", episode_id
    assert rewrite_id is not None
    return "rewrite_id", rewrite_id


def _reservation(row: Row) -> Reservation:
    return Reservation(
        id=row["id"],
        guild_id=row["guild_id"],
        author_id=row["author_id"],
        amount_usd=float(row["amount_usd"]),
        counts_as_episode=bool(row["counts_as_episode"]),
        created_at=from_db(row["created_at"]),
        episode_id=row["episode_id"],
        rewrite_id=row["rewrite_id"],
        settled_at=from_db(row["settled_at"]) if row["settled_at"] is not None else None,
    )


def _priced(by_model: Mapping[str, UsageTotals]) -> float:
    """The cost of each model's totals; a model with no price counts as nothing."""
    return sum(estimate_cost(model, totals) or 0.0 for model, totals in by_model.items())


def _plus(a: UsageTotals, b: UsageTotals) -> UsageTotals:
    return UsageTotals(
        calls=a.calls + b.calls,
        input_tokens=a.input_tokens + b.input_tokens,
        output_tokens=a.output_tokens + b.output_tokens,
        cache_write_tokens=a.cache_write_tokens + b.cache_write_tokens,
        cache_read_tokens=a.cache_read_tokens + b.cache_read_tokens,
        call_seconds=a.call_seconds + b.call_seconds,
    )


class _Tally:
    """A report row being summed: its totals per model, and its latest name."""

    def __init__(self) -> None:
        self.by_model: dict[str, UsageTotals] = {}
        self.failed = 0
        self.name = ""
        self._named_at = -1

    @property
    def totals(self) -> UsageTotals:
        total = UsageTotals()
        for totals in self.by_model.values():
            total = _plus(total, totals)
        return total

    def add(
        self, model: str, totals: UsageTotals, failed: int, *, name: str = "", at: int = 0
    ) -> None:
        self.by_model[model] = _plus(self.by_model.get(model, UsageTotals()), totals)
        self.failed += failed
        if at > self._named_at:
            self.name, self._named_at = name, at

    def row(self, name: str, author_id: int | None = None) -> UsageRow:
        return UsageRow(
            name=name,
            totals=self.totals,
            cost_usd=cost_by_model(self.by_model),
            failed_calls=self.failed,
            author_id=author_id,
        )


def _costliest_first(rows: list[UsageRow]) -> list[UsageRow]:
    """Costliest first; rows of unknown cost after them, by calls; then by name."""
    return sorted(
        rows,
        key=lambda r: (r.cost_usd is None, -(r.cost_usd or 0.0), -r.totals.calls, r.name),
    )
