"""The screenplay as Discord attachments, posted exactly once, within the upload limit.

A Fountain script over the limit is split between scenes into numbered parts (each a valid
Fountain file with the title page); a PDF cannot be split usefully, so it is refused with a
message saying what to do instead.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime

import discord

from scriptgen.models import Script
from scriptgen.render import Format, filename_for, render
from storage import EpisodeRecord

DEFAULT_UPLOAD_LIMIT = 10 * 1024 * 1024
"""Discord's limit for a server without boosts."""


class TooLarge(Exception):
    """The file cannot be sent within the limit; the message says what to do."""


@dataclass(frozen=True)
class Attachment:
    filename: str
    data: bytes

    def file(self) -> discord.File:
        return discord.File(io.BytesIO(self.data), filename=self.filename)


def megabytes(size: int) -> str:
    return f"{size / 1_048_576:.1f} MB"


async def attachments(
    script: Script, fmt: Format, limit: int, *, suffix: str = ""
) -> list[Attachment]:
    """The script as files within ``limit``; ``suffix`` marks a revision (`` v2``)."""
    data = await render(script, fmt)
    if len(data) <= limit:
        return [Attachment(filename_for(script, fmt, suffix=suffix), data)]
    if fmt != "fountain":
        raise TooLarge(
            f"The {fmt.upper()} is {megabytes(len(data))}, over this server's upload limit of "
            f"{megabytes(limit)}. The .fountain file opens in any screenwriting app instead."
        )
    return await _split(script, limit, suffix)


async def _split(script: Script, limit: int, suffix: str) -> list[Attachment]:
    groups: list[list[int]] = [[]]
    for index in range(len(script.scenes)):
        candidate = [*groups[-1], index]
        if len(await render(_part(script, candidate), "fountain")) <= limit:
            groups[-1] = candidate
            continue
        if len(await render(_part(script, [index]), "fountain")) > limit:
            raise TooLarge(
                f"Scene {index + 1} alone is over this server's upload limit of "
                f"{megabytes(limit)}; the script cannot be posted here."
            )
        groups.append([index])
    stem = filename_for(script, "fountain", suffix=suffix).removesuffix(".fountain")
    parts = []
    for n, group in enumerate(groups, 1):
        data = await render(_part(script, group), "fountain")
        parts.append(Attachment(f"{stem} (part {n} of {len(groups)}).fountain", data))
    return parts


def _part(script: Script, indexes: list[int]) -> Script:
    return script.model_copy(update={"scenes": [script.scenes[i] for i in indexes]})


def headline(record: EpisodeRecord, script: Script) -> str:
    title = discord.utils.escape_markdown(script.title)
    return f"📜 **{title}** · {len(script.scenes)} scenes · episode `{record.public_id}`"


async def deliver(
    channel: discord.PartialMessageable,
    script: Script,
    limit: int,
    view: discord.ui.View,
    *,
    headline: str,
    nonce: str,
    suffix: str = "",
) -> discord.Message:
    """Post the script; the nonce makes a repeated post return the first message.

    The upload limit counts all the files of one message, so parts that do not fit together
    follow in further messages; the first one (returned) carries the headline and ``view``.
    """
    batches: list[list[Attachment]] = [[]]
    for part in await attachments(script, "fountain", limit, suffix=suffix):
        batch = batches[-1]
        if batch and (sum(len(a.data) for a in batch) + len(part.data) > limit or len(batch) == 10):
            batches.append(batch := [])
        batch.append(part)
    first: discord.Message | None = None
    for n, batch in enumerate(batches):
        message = await channel.send(
            content=headline if n == 0 else f"(part {n + 1}) `{nonce.removeprefix('sr-')}`",
            files=[a.file() for a in batch],
            view=view if n == 0 else discord.utils.MISSING,
            nonce=nonce + (f"-{n}" if n else ""),
        )
        first = first or message
    assert first is not None
    return first


async def find_delivery(
    channel: discord.PartialMessageable, marker: str, since: datetime, me: discord.abc.User | None
) -> discord.Message | None:
    """A file the bot posted since ``since`` whose text carries ``marker`` (an episode's or a
    rewrite's id), if there is one."""
    if me is None:
        return None
    async for message in channel.history(limit=100, after=since):
        if message.author.id == me.id and message.attachments and marker in message.content:
            return message
    return None
