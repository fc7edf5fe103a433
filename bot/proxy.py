"""Point discord.py at a REST proxy and a gateway (proxy) instead of discord.com.

Large bots put a REST proxy in front of Discord to share one rate-limit view between processes.
discord.py reads its REST base from ``Route.BASE`` (interaction webhooks included) and its gateway
from ``DiscordWebSocket.DEFAULT_GATEWAY``: those two are all that needs to change.
"""

from __future__ import annotations

import discord.gateway
import discord.http
import yarl


def use_endpoints(api_base: str | None, gateway: str | None) -> None:
    if api_base:
        discord.http.Route.BASE = api_base.rstrip("/")
    if gateway:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(gateway)
