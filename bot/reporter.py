"""Turns a stream of progress signals into a few well-spaced edits of one status message.

Discord rate-limits edits per message, and every 429 counts toward an IP ban, so the reporter
edits at most once per ``interval``, sends only the newest state, never has two edits in flight,
and always ends on the final state. The status lives on the interaction's response while its
token is alive (15 minutes) and moves to an ordinary channel message before it dies.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Protocol

import discord

log = logging.getLogger(__name__)

INVALID_WEBHOOK_TOKEN = 50027
UNKNOWN_WEBHOOK = 10015
UNKNOWN_MESSAGE = 10008


@dataclass(frozen=True)
class StatusContent:
    embed: discord.Embed
    view: discord.ui.View | None


class StatusTarget(Protocol):
    """Where the status message is: it can be edited, and it says when it stops being editable."""

    @property
    def message_id(self) -> int | None: ...

    def expired(self, now: float) -> bool: ...

    async def edit(self, content: StatusContent) -> None: ...


class InteractionTarget:
    """The interaction's original response, edited through the interaction token."""

    def __init__(self, interaction: discord.Interaction, ttl: float, created: float) -> None:
        self.interaction = interaction
        self.ttl = ttl
        self.created = created
        self._message_id: int | None = None

    @property
    def message_id(self) -> int | None:
        return self._message_id

    def expired(self, now: float) -> bool:
        return now - self.created >= self.ttl

    async def edit(self, content: StatusContent) -> None:
        message = await self.interaction.edit_original_response(
            content=None, embed=content.embed, view=content.view
        )
        self._message_id = message.id


class ChannelTarget:
    """An ordinary message edited with the bot token: it does not expire."""

    def __init__(self, channel: discord.PartialMessageable, message_id: int) -> None:
        self.channel = channel
        self._message_id = message_id

    @property
    def message_id(self) -> int | None:
        return self._message_id

    def expired(self, now: float) -> bool:
        return False

    async def edit(self, content: StatusContent) -> None:
        partial = self.channel.get_partial_message(self._message_id)
        await partial.edit(embed=content.embed, view=content.view)


Mover = Callable[[StatusContent], Awaitable[ChannelTarget]]
"""Posts the status as a new channel message and returns it as the new target."""


@dataclass
class EditTally:
    """Status edits of every reporter of the process, for the operator's metrics."""

    ok: int = 0
    failed: int = 0

    def counts(self) -> dict[str, int]:
        return {"ok": self.ok, "failed": self.failed}


class StatusReporter:
    def __init__(
        self,
        render: Callable[[], StatusContent],
        target: StatusTarget,
        *,
        interval: float,
        move: Mover,
        clock: Callable[[], float] = time.monotonic,
        tally: EditTally | None = None,
    ) -> None:
        self._render = render
        self.target = target
        self.interval = interval
        self._move = move
        self._clock = clock
        self._tally = tally or EditTally()
        self._dirty = asyncio.Event()
        self._closing = False
        self._last_edit = float("-inf")
        self._task: asyncio.Task[None] | None = None
        self.edits = 0
        self.broken = False
        """Editing failed for good (message deleted, access lost): nothing more is sent."""

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="status-reporter")
        self._dirty.set()

    def update(self, *_: object) -> None:
        """Something changed: the newest state goes out with the next edit. Never blocks."""
        self._dirty.set()

    async def finish(self) -> None:
        """Send the final state (respecting the interval) and stop."""
        self._closing = True
        self._dirty.set()
        if self._task is not None:
            await asyncio.shield(self._task)

    async def _run(self) -> None:
        while True:
            await self._dirty.wait()
            wait = self._last_edit + self.interval - self._clock()
            if wait > 0:
                await asyncio.sleep(wait)
            self._dirty.clear()
            try:
                await self._edit_once()
            except Exception:
                log.exception("status update failed; the episode goes on")
            if self._closing and not self._dirty.is_set():
                return

    async def _edit_once(self) -> None:
        if self.broken:
            return
        content = self._render()
        try:
            if self.target.expired(self._clock()):
                await self._move_to_channel(content)
            else:
                await self.target.edit(content)
            self._tally.ok += 1
        except discord.HTTPException as exc:
            self._tally.failed += 1
            if exc.code in (INVALID_WEBHOOK_TOKEN, UNKNOWN_WEBHOOK, UNKNOWN_MESSAGE):
                # The interaction died early, or a writer deleted the status: start a new one.
                await self._try_move(content)
            else:
                log.warning("status edit failed (%s); the next update tries again", exc)
        finally:
            self._last_edit = self._clock()
            self.edits += 1

    async def _try_move(self, content: StatusContent) -> None:
        try:
            await self._move_to_channel(content)
        except discord.HTTPException as exc:
            log.warning("cannot post the status in the channel (%s); giving up on it", exc)
            self.broken = True

    async def _move_to_channel(self, content: StatusContent) -> None:
        self.target = await self._move(content)


def moving_reporter(
    render: Callable[[], StatusContent],
    target: InteractionTarget | ChannelTarget,
    channel: discord.PartialMessageable,
    *,
    interval: float,
    remember: Callable[[int, int], Awaitable[object]],
    tally: EditTally | None = None,
) -> StatusReporter:
    """A reporter whose status, once it must leave the interaction, becomes a channel message
    (``remember(channel_id, message_id)`` stores where, so a restart finds it)."""

    async def move(content: StatusContent) -> ChannelTarget:
        message = await channel.send(
            embed=content.embed, view=content.view or discord.utils.MISSING
        )
        if isinstance(target, InteractionTarget):
            # Best effort: if the token is already gone, the new status is what matters.
            with contextlib.suppress(discord.HTTPException):
                await target.interaction.edit_original_response(
                    content=f"The status moved to {message.jump_url}: Discord ends edits "
                    "of interaction messages after 15 minutes.",
                    embed=None,
                    view=None,
                )
        await remember(channel.id, message.id)
        return ChannelTarget(channel, message.id)

    return StatusReporter(render, target, interval=interval, move=move, tally=tally)
