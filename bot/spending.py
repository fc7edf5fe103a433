"""What a server may spend, applied where work starts and settled where it ends.

Every start (an episode, a retry, a note) reserves its estimated cost, an upper bound, before
its first call; the reservation is checked against the server's monthly budget together with
what the usage ledger says was spent and what other running work has reserved, in one write
transaction, so parallel starts cannot overshoot together. When the work ends its reservation is
settled: from then on its real cost, in the ledger, is what counts.
"""

from __future__ import annotations

import logging

from bot.settings import Settings
from scriptgen.estimate import estimate_episode, estimate_rewrite
from scriptgen.generator import ScriptGenerator
from scriptgen.models import EpisodeRequest, Script
from storage import BudgetStore, Database, Reservation, StorageError

log = logging.getLogger(__name__)


class Spending:
    def __init__(
        self, settings: Settings, db: Database, budgets: BudgetStore, generator: ScriptGenerator
    ) -> None:
        self.settings = settings
        self.db = db
        self.budgets = budgets
        self.generator = generator

    @property
    def model(self) -> str:
        return self.generator.provider.model

    def estimate(self, request: EpisodeRequest) -> float | None:
        return estimate_episode(
            request,
            self.model,
            self.generator.max_refinements,
            self.generator.max_refine_scenes,
        )

    async def limit(self, guild_id: int) -> float | None:
        """The server's own budget, else the operator's default; ``None``: no limit."""
        own = await self.budgets.monthly(guild_id)
        return own if own is not None else self.settings.guild_monthly_budget_usd

    async def reserve_episode(
        self, guild_id: int, author_id: int, request: EpisodeRequest, *, new: bool = True
    ) -> Reservation:
        """Raises ``BudgetExceeded`` or ``QuotaExceeded`` (their text is for the writer)."""
        return await self.budgets.reserve(
            guild_id=guild_id,
            author_id=author_id,
            amount_usd=self.estimate(request) or 0.0,
            monthly_limit=await self.limit(guild_id),
            daily_episodes=self.settings.episodes_per_user_per_day if new else None,
            counts_as_episode=new,
            now=self.db.now(),
        )

    async def reserve_rewrite(
        self, guild_id: int, author_id: int, script: Script, index: int, note: str, takes: int
    ) -> Reservation:
        amount = estimate_rewrite(script, index, note, takes, self.model) or 0.0
        return await self.budgets.reserve(
            guild_id=guild_id,
            author_id=author_id,
            amount_usd=amount,
            monthly_limit=await self.limit(guild_id),
            daily_episodes=None,
            counts_as_episode=False,
            now=self.db.now(),
        )

    async def settle(self, *, episode_id: int | None = None, rewrite_id: int | None = None) -> None:
        """The work ended: its ledger rows are its cost from now on. A failure here is logged:
        an unsettled reservation only makes the budget stricter until it is settled."""
        try:
            reservation = await self.budgets.open_for(episode_id=episode_id, rewrite_id=rewrite_id)
            if reservation is not None:
                await self.budgets.settle(reservation.id)
        except StorageError as exc:
            log.warning("could not settle a reservation: %s", exc)


__all__ = ["Spending"]
