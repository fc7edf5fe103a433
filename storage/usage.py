"""The ledger of model calls: one row per call, failed ones included, because all were paid.

Totals are summed from the ledger rather than taken from a finished :class:`~scriptgen.models.
Script`: an episode resumed after a restart, or retried after a failure, paid for calls that its
final script does not list, and an operator's bill is the ledger's sum.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal

from scriptgen.models import CallUsage, UsageTotals
from storage._time import to_db
from storage.database import Database, Row, Transaction
from storage.errors import StorageError

__all__ = ["Outcome", "UsageLog"]

Outcome = Literal["ok", "error"]

USAGE_COLUMNS: Final = (
    "episode_id",
    "step",
    "model",
    "input_tokens",
    "output_tokens",
    "cache_write_tokens",
    "cache_read_tokens",
    "latency_s",
    "retries",
    "outcome",
    "created_at",
)
"""The columns :func:`usage_values` gives values for, in its order."""

TOTALS_SQL: Final = (
    "count(*), coalesce(sum(u.input_tokens), 0), coalesce(sum(u.output_tokens), 0),"
    " coalesce(sum(u.cache_write_tokens), 0), coalesce(sum(u.cache_read_tokens), 0),"
    " coalesce(sum(u.latency_s), 0.0)"
)
"""The select list that :func:`totals_from_row` reads, over ``usage`` aliased as ``u``."""


class UsageLog:
    """Records model calls and sums them per episode or per guild."""

    def __init__(self, db: Database) -> None:
        self._db = db

    async def record(self, episode_id: int, usage: CallUsage, outcome: Outcome = "ok") -> None:
        """Record one call. Successful steps are recorded by the checkpoints' ``save``; this is
        for calls that produced no step (a failure, a validation retry)."""
        async with self._db.transaction() as tx:
            await insert_usage(tx, episode_id, usage, outcome)

    async def totals(self, episode_id: int) -> UsageTotals:
        """Every call recorded for the episode, across restarts and retries."""
        row = await self._db.fetchone(
            f"SELECT {TOTALS_SQL} FROM usage u WHERE u.episode_id = ?", (episode_id,)
        )
        return totals_from_row(row)

    async def guild_totals(self, guild_id: int, since: datetime | None = None) -> UsageTotals:
        """Every call made for a guild's episodes, from ``since`` (aware) if given: budgets."""
        sql = (
            f"SELECT {TOTALS_SQL} FROM usage u JOIN episodes e ON e.id = u.episode_id"
            " WHERE e.guild_id = ?"
        )
        params: list[int | str] = [guild_id]
        if since is not None:
            sql += " AND u.created_at >= ?"
            params.append(to_db(since))
        return totals_from_row(await self._db.fetchone(sql, params))

    async def totals_by_model(self, since: datetime) -> dict[str, UsageTotals]:
        """Every call of every guild from ``since`` (aware), by model: what they cost."""
        rows = await self._db.fetchall(
            f"SELECT {TOTALS_SQL}, u.model FROM usage u WHERE u.created_at >= ? GROUP BY u.model",
            (to_db(since),),
        )
        return {str(row["model"]): totals_from_row(row) for row in rows}


async def insert_usage(tx: Transaction, episode_id: int, usage: CallUsage, outcome: Outcome) -> int:
    """Insert one ledger row inside ``tx``; return its id."""
    row = await tx.fetchone(
        f"INSERT INTO usage ({', '.join(USAGE_COLUMNS)})"
        f" VALUES ({', '.join('?' * len(USAGE_COLUMNS))}) RETURNING id",
        usage_values(episode_id, usage, outcome, tx.now()),
    )
    if row is None:  # pragma: no cover - INSERT … RETURNING always returns the row
        raise StorageError(f"{tx.db.label}: recording usage returned no row")
    return int(row[0])


def usage_values(
    episode_id: int, usage: CallUsage, outcome: Outcome, now: datetime
) -> tuple[int, str, str, int, int, int, int, float, int, str, str]:
    """The values of one ledger row, in the order of :data:`USAGE_COLUMNS`."""
    return (
        episode_id,
        usage.step,
        usage.model,
        usage.input_tokens,
        usage.output_tokens,
        usage.cache_write_tokens,
        usage.cache_read_tokens,
        float(usage.latency_s),
        usage.retries,
        outcome,
        to_db(now),
    )


def usage_from_row(row: Row) -> CallUsage:
    """A :class:`CallUsage` from a row holding the ``usage`` columns."""
    return CallUsage(
        step=row["step"],
        model=row["model"],
        input_tokens=row["input_tokens"],
        output_tokens=row["output_tokens"],
        cache_write_tokens=row["cache_write_tokens"],
        cache_read_tokens=row["cache_read_tokens"],
        latency_s=row["latency_s"],
        retries=row["retries"],
    )


def totals_from_row(row: Row | None) -> UsageTotals:
    if row is None:
        return UsageTotals()
    return UsageTotals(
        calls=row[0],
        input_tokens=row[1],
        output_tokens=row[2],
        cache_write_tokens=row[3],
        cache_read_tokens=row[4],
        call_seconds=row[5],
    )
