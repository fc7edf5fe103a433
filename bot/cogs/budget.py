"""/budget and /usage: what this server spends on model calls, and its monthly limit."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.status import plain
from storage import UsageRow
from storage.budgets import month_start, next_month_start

if TYPE_CHECKING:
    from bot.client import ShowrunnerBot


def dollars(amount: float) -> str:
    return f"${amount:,.2f}" if amount >= 0.995 or amount == 0 else f"${amount:.3f}"


class Budget(commands.Cog):
    budget = app_commands.Group(
        name="budget", description="This server's monthly spending limit", guild_only=True
    )

    def __init__(self, bot: ShowrunnerBot) -> None:
        self.bot = bot

    @budget.command(name="show", description="This month's spending against the budget")
    async def show(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        await interaction.response.defer(ephemeral=True)
        await interaction.followup.send(await self._summary(interaction.guild_id), ephemeral=True)

    @budget.command(name="set", description="Set this server's monthly budget in US dollars")
    @app_commands.describe(amount="Dollars per calendar month (UTC); 0 stops all spending")
    @app_commands.default_permissions(manage_guild=True)
    async def set_(
        self, interaction: discord.Interaction, amount: app_commands.Range[float, 0, 100_000]
    ) -> None:
        assert interaction.guild_id is not None
        if not interaction.permissions.manage_guild:
            await interaction.response.send_message(
                "Only members with Manage Server can set the budget.", ephemeral=True
            )
            return
        await interaction.response.defer(ephemeral=True)
        await self.bot.spending.budgets.set_monthly(
            interaction.guild_id, round(amount, 2), interaction.user.display_name
        )
        await interaction.followup.send(
            f"Budget set: {dollars(amount)} a month.\n" + await self._summary(interaction.guild_id),
            ephemeral=True,
        )

    @budget.command(name="clear", description="Use the bot's default budget for this server")
    @app_commands.default_permissions(manage_guild=True)
    async def clear(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        if not interaction.permissions.manage_guild:
            await interaction.response.send_message(
                "Only members with Manage Server can change the budget.", ephemeral=True
            )
            return
        await interaction.response.defer(ephemeral=True)
        await self.bot.spending.budgets.set_monthly(
            interaction.guild_id, None, interaction.user.display_name
        )
        await interaction.followup.send(await self._summary(interaction.guild_id), ephemeral=True)

    @app_commands.command(name="usage", description="This server's model usage this month")
    @app_commands.guild_only()
    async def usage(self, interaction: discord.Interaction) -> None:
        assert interaction.guild_id is not None
        await interaction.response.defer(ephemeral=True)
        now = self.bot.db.now()
        report = await self.bot.spending.budgets.report(interaction.guild_id, month_start(now))
        embed = discord.Embed(
            title=f"Usage in {month_start(now):%B %Y}", colour=discord.Colour.blurple()
        )
        if not report.by_model:
            embed.description = "No model calls this month yet."
        else:
            embed.description = await self._summary(interaction.guild_id)
            embed.add_field(name="By model", value=_rows(report.by_model)[:1024], inline=False)
            embed.add_field(name="By writer", value=_rows(report.by_writer)[:1024], inline=False)
        await interaction.followup.send(embed=embed, ephemeral=True)

    async def _summary(self, guild_id: int) -> str:
        now = self.bot.db.now()
        spent = await self.bot.spending.budgets.spent(guild_id, month_start(now))
        limit = await self.bot.spending.limit(guild_id)
        resets = discord.utils.format_dt(next_month_start(now), "D")
        if limit is None:
            return f"Spent this month: {dollars(spent)}. No budget is set."
        left = max(0.0, limit - spent)
        return (
            f"Spent this month: {dollars(spent)} of {dollars(limit)} ({dollars(left)} left); "
            f"it resets {resets}."
        )


def _rows(rows: Sequence[UsageRow]) -> str:
    lines = []
    for row in rows:
        cost = "cost unknown" if row.cost_usd is None else dollars(row.cost_usd)
        tokens = row.totals.input_tokens + row.totals.cache_read_tokens
        tokens += row.totals.cache_write_tokens + row.totals.output_tokens
        lines.append(
            f"**{plain(row.name, 60)}** · {row.totals.calls} calls · "
            f"{tokens / 1000:,.1f}k tokens ({row.totals.cache_read_tokens / 1000:,.1f}k from "
            f"cache) · {cost}"
        )
    return "\n".join(lines)
