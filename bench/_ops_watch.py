"""An operator watching the bot during a bench: Prometheus scraping ``/metrics`` and the
dashboard's event stream open, as they would be in production (the scrapes more often)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Literal

import aiohttp

from bot.client import ShowrunnerBot

__all__ = ["OPS_TOKEN", "OpsMode", "Watched", "operator_watching"]

OPS_TOKEN = "bench-dashboard-token"
SCRAPE_EVERY = 1.0
"""Seconds between two scrapes (Prometheus' default is 15 s: this is the harsh case)."""

OpsMode = Literal["default", "off", "on"]
"""``default``: as the bot is built (metrics and lag sampler, no server); ``off``: the bot's
operations part stopped (the pipeline's monitor has no listener); ``on``: the server too,
scraped and its dashboard open."""


@dataclass
class Watched:
    scrapes: int = 0
    events: int = 0


@contextlib.asynccontextmanager
async def operator_watching(bot: ShowrunnerBot) -> AsyncIterator[Watched]:
    server = bot.ops.server
    if server is None:
        raise RuntimeError("operator_watching needs the bot's operations server (http_port)")
    watched = Watched()
    async with aiohttp.ClientSession() as http:

        async def scrape() -> None:
            while True:
                async with http.get(f"{server.url}/metrics") as response:
                    await response.read()
                watched.scrapes += 1
                await asyncio.sleep(SCRAPE_EVERY)

        async def dashboard() -> None:
            headers = {"Authorization": f"Bearer {OPS_TOKEN}"}
            async with http.get(f"{server.url}/events", headers=headers) as response:
                async for line in response.content:
                    watched.events += line.startswith(b"data: ")

        tasks = [asyncio.create_task(scrape()), asyncio.create_task(dashboard())]
        try:
            yield watched
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
