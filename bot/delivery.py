"""The screenplay as Discord attachments, within the upload limit.

A Fountain script over the limit is split between scenes into numbered parts (each a valid
Fountain file with the title page); a PDF cannot be split usefully, so it is refused with a
message saying what to do instead.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import discord

from scriptgen.models import Script
from scriptgen.render import Format, filename_for, render


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


async def attachments(script: Script, fmt: Format, limit: int) -> list[Attachment]:
    data = await render(script, fmt)
    if len(data) <= limit:
        return [Attachment(filename_for(script, fmt), data)]
    if fmt != "fountain":
        raise TooLarge(
            f"The {fmt.upper()} is {megabytes(len(data))}, over this server's upload limit of "
            f"{megabytes(limit)}. The .fountain file opens in any screenwriting app instead."
        )
    return await _split(script, limit)


async def _split(script: Script, limit: int) -> list[Attachment]:
    groups: list[list[int]] = [[]]
    for index in range(len(script.scenes)):
        candidate = [*groups[-1], index]
        if len(await render(_part(script, candidate), "fountain")) <= limit:
            groups[-1] = candidate
        elif groups[-1]:
            groups.append([index])
        else:
            groups[-1] = [index]
        if len(await render(_part(script, groups[-1]), "fountain")) > limit:
            raise TooLarge(
                f"Scene {index + 1} alone is over this server's upload limit of "
                f"{megabytes(limit)}; the script cannot be posted here."
            )
    stem = filename_for(script, "fountain").removesuffix(".fountain")
    parts = []
    for n, group in enumerate(groups, 1):
        data = await render(_part(script, group), "fountain")
        parts.append(Attachment(f"{stem} (part {n} of {len(groups)}).fountain", data))
    return parts


def _part(script: Script, indexes: list[int]) -> Script:
    return script.model_copy(update={"scenes": [script.scenes[i] for i in indexes]})
