"""``bench/storage.py --database-url postgresql://...``: the checkpoint replay and a restart's
resume on PostgreSQL, beside the same on an SQLite file, in one run.

Each run gets a schema of its own in the database the URL names
(``showrunner_bench_<pid>_<n>``, dropped afterwards): nothing else in it is touched. Figures:
what a step waits for its checkpoint (the hand-over to its episode's ``CheckpointWriter``), the
time until the save is committed, checkpoints per second, and a restart's ``Database.open``,
``list_unfinished()`` and ``SqliteCheckpoints.load()`` of each unfinished episode.
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from itertools import count
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import asyncpg

from bench._episodes import create_episodes
from storage import Database, EpisodeStore, SqliteCheckpoints
from storage.postgres import safe_label

if TYPE_CHECKING:
    from bench.storage import Recorded

__all__ = ["compare"]

RESUME_EPISODES = 100
_runs = count(1)


async def compare(url: str, episodes: Sequence[Recorded], quick: bool) -> list[str]:
    """The replay (burst and paced) and the resume, on SQLite and on PostgreSQL: lines to print."""
    from bench.storage import latency_row, ms, writer_run

    lines = [
        f"Checkpoint writes, {len(episodes)} episodes at once, as the generator hands them over:"
        f" an SQLite file vs {safe_label(url)}",
        f"{'':<34} {'saves':>6} {'ckpt/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}"
        f"  {'target':<22} result   on disk p50 / p99 / max ms",
    ]
    with tempfile.TemporaryDirectory(prefix="showrunner-bench-") as tmp:
        for mode in ("burst", "paced"):
            for name in ("SQLite", "PostgreSQL"):
                async with _target(name, url, Path(tmp) / f"{mode}.db") as target:
                    samples = await writer_run(target, episodes, mode)
                lines.append(latency_row(f"  {mode}, {name}", samples, True, mode == "burst"))
        lines.append(
            f"Resume: {RESUME_EPISODES} unfinished episodes with some steps saved;"
            " ms to open / list_unfinished() / load each one's steps"
        )
        for name in ("SQLite", "PostgreSQL"):
            async with _target(name, url, Path(tmp) / "resume.db") as target:
                await _fill(target, episodes)
                repeats = [await _resume(target) for _ in range(1 if quick else 3)]
            opened, listed, loaded = (
                sorted(part)[len(part) // 2] for part in zip(*repeats, strict=True)
            )
            lines.append(
                f"  {name:<12} {ms(opened):>8} / {ms(listed):>8} / {ms(loaded):>8}"
                f"  (median of {len(repeats)})"
            )
    return lines


@asynccontextmanager
async def _target(name: str, url: str, path: Path) -> AsyncIterator[str | Path]:
    """The SQLite file ``path``, or a new schema in the database ``url`` names."""
    if name == "SQLite":
        yield path
        return
    schema = f"showrunner_bench_{os.getpid()}_{next(_runs)}"
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(f'CREATE SCHEMA "{schema}"')
        parts = urlsplit(url)
        query = urlencode([*parse_qsl(parts.query), ("search_path", schema)])
        yield urlunsplit(parts._replace(query=query))
    finally:
        await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        await connection.close()


async def _fill(target: str | Path, templates: Sequence[Recorded]) -> None:
    """Unfinished episodes, each with a random part of its steps saved."""
    rng = random.Random(7)
    chosen = [templates[n % len(templates)] for n in range(RESUME_EPISODES)]
    async with await Database.open(target) as db:
        ids = await create_episodes(db, [e.request for e in chosen])
        for episode_id, episode in zip(ids, chosen, strict=True):
            checkpoints = SqliteCheckpoints(db, episode_id)
            for save in episode.saves[: rng.randint(1, len(episode.saves) - 1)]:
                await checkpoints.save(save.key, save.value, save.usage)


async def _resume(target: str | Path) -> tuple[float, float, float]:
    """Seconds to open, to list the unfinished episodes, and to load each one's steps."""
    started = time.perf_counter()
    db = await Database.open(target)
    opened = time.perf_counter()
    try:
        unfinished = await EpisodeStore(db).list_unfinished()
        listed = time.perf_counter()
        for record in unfinished:
            await SqliteCheckpoints(db, record.id).load()
        loaded = time.perf_counter()
    finally:
        await db.close()
    return opened - started, listed - opened, loaded - listed
