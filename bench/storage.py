"""What the SQLite storage costs: checkpoint writes under load, resuming after a restart, file size.

    uv run python bench/storage.py [--quick]

Prints tables and writes nothing outside a temporary directory that it removes. Everything runs
on real files (WAL, synchronous=NORMAL, as ``Database.open`` configures them) on this machine's
disk. Step payloads are real: one run of the generator with the demo provider (no latency) and
``MemoryCheckpoints`` records, per episode, every ``save(key, value, usage)`` in the order the
generator makes them (outline, dialogue + directions per scene, comedy, refinements); the
benchmarks replay those saves through ``SqliteCheckpoints``.

1. Checkpoint writes, 50 episodes on one ``Database``:
   - ``alone``: the same episodes one after another, one save at a time (no contention);
   - ``burst``: 50 episodes replaying their saves concurrently with no pause between saves, the
     worst case (every episode's model call returning at the same instant, over and over); its
     rate is the storage's capacity;
   - ``paced``: 50 episodes concurrently, each pausing 0-200 ms (uniform) before each save: up
     to 500 saves/s offered (~300/s averaged over the run, as short episodes end first), about
     what 256 concurrent model calls of ~1 s (the largest ``max_concurrent_calls``) would ask.
   Latency is measured around each ``await save(...)``. The breakdown splits it into the wait for
   the ``Database`` lock; the statements before ``COMMIT`` (five worker-thread round trips:
   BEGIN and its cursor's close, INSERT usage … RETURNING, INSERT step and its cursor's close);
   the ``COMMIT`` (a sixth round trip: the WAL append, plus, when the WAL has passed 1,000 pages,
   the automatic checkpoint that copies it into the database and fsyncs); and the rest (JSON
   dump, wake-ups).
   Variants isolate the causes, on the same code with one pragma changed:
   ``wal_autocheckpoint=0`` (no checkpoint inside any commit) and ``synchronous=FULL`` (an fsync
   on every commit). Two what-ifs, built in this file on plain sqlite3 with the same SQL and
   pragmas, show what the fixes would give: each save as ONE call on one worker thread with
   checkpoints on a background connection; and that plus group commit.
   A noise floor (how late the event loop wakes from a 1 ms sleep, and one no-op round trip to a
   worker thread), taken before and after, tells what the machine itself adds: on a shared
   2-CPU machine the tail latencies of every row move with the other processes' load.
2. Resume: 100 unfinished episodes with some of their steps saved (plus finished history); time
   ``Database.open``, ``EpisodeStore.list_unfinished()`` and ``SqliteCheckpoints.load()`` of
   each, one after another as ``bot.jobs.Jobs.resume_all`` does.
3. Size: finished episodes (their steps and ledger kept, script stored by ``finish``); file
   bytes after ``wal_checkpoint(TRUNCATE)`` divided by the number of episodes, for 4 and 12
   scenes, with where the bytes are (``dbstat``).

Targets: p99 < 1 ms per checkpoint (the brief's); capacity >= 1,000 checkpoints/s (4x what the
largest ``max_concurrent_calls`` of 256 could ask at ~1 s per model call); resume of 100 episodes
(list + loads) < 500 ms and ``Database.open`` < 100 ms (a restart should be invisible next to
Discord's own reconnect); <= 100 KiB per 12-scene and <= 50 KiB per 4-scene episode (a 1 GiB
volume holds 10,000 long episodes).
"""

from __future__ import annotations

import argparse
import asyncio
import contextvars
import math
import os
import random
import sqlite3
import sys
import tempfile
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Literal, cast

import aiosqlite
from pydantic import BaseModel

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scriptgen.checkpoints import MemoryCheckpoints
from scriptgen.generator import ScriptGenerator
from scriptgen.models import CallUsage, EpisodeRequest, Script
from scriptgen.providers.base import StepKind
from scriptgen.providers.demo import DemoProvider
from storage import Database, EpisodeStore, SqliteCheckpoints

EPISODES = 50
RESUME_EPISODES = 100
SIZE_EPISODES = 50
PREMISE = "A barista discovers the espresso machine is haunted"
NO_LATENCY: dict[StepKind, float] = dict.fromkeys(
    ("outline", "dialogue", "directions", "comedy", "refine"), 0.0
)
Mode = Literal["alone", "burst", "paced"]
MODES: tuple[Mode, ...] = ("alone", "burst", "paced")
GUILD, CHANNEL, AUTHOR = 111_111_111_111_111_111, 333_333_333_333_333_333, 444_444_444_444_444_444

P99_TARGET_MS = 1.0
RATE_TARGET = 1000.0
OPEN_TARGET_MS = 100.0
RESUME_TARGET_MS = 500.0
SIZE_TARGET_KIB = {4: 50.0, 12: 100.0}
SLOW_COMMIT_S = 0.010


# -- recorded episodes -------------------------------------------------------------------------


@dataclass(frozen=True)
class Save:
    key: str
    value: BaseModel
    usage: CallUsage


@dataclass(frozen=True)
class Recorded:
    request: EpisodeRequest
    saves: list[Save]
    script: Script

    @property
    def payload_bytes(self) -> int:
        return sum(len(s.value.model_dump_json()) for s in self.saves)


class RecordingCheckpoints(MemoryCheckpoints):
    """MemoryCheckpoints that also keep each save's model object, in the order of the saves."""

    def __init__(self) -> None:
        super().__init__()
        self.saves: list[Save] = []

    async def save(self, key: str, value: BaseModel, usage: CallUsage) -> None:
        await super().save(key, value, usage)
        self.saves.append(Save(key, value, usage))


async def record(seed: int, scenes: int) -> Recorded:
    request = EpisodeRequest(premise=PREMISE, scene_count=scenes)
    checkpoints = RecordingCheckpoints()
    generator = ScriptGenerator(DemoProvider(seed, latencies=NO_LATENCY), 3)
    script = await generator.generate_full_script(request, checkpoints=checkpoints)
    return Recorded(request, checkpoints.saves, script)


# -- timing the inside of a save -----------------------------------------------------------------


@dataclass
class Marks:
    """perf_counter instants within one save, set by the instrumented Database."""

    lock_requested: float = 0.0
    locked: float = 0.0
    commit_started: float = 0.0
    committed: float = 0.0


_MARKS: contextvars.ContextVar[Marks | None] = contextvars.ContextVar("marks", default=None)


class TimedLock(asyncio.Lock):
    async def acquire(self) -> Literal[True]:
        marks = _MARKS.get()
        if marks is not None:
            marks.lock_requested = time.perf_counter()
        await super().acquire()
        if marks is not None:
            marks.locked = time.perf_counter()
        return True


class TimedDatabase(Database):
    """The product's Database, with its lock and COMMIT timed (nothing else differs)."""

    def __init__(
        self, connection: aiosqlite.Connection, label: str, clock: Callable[[], datetime]
    ) -> None:
        super().__init__(connection, label, clock)
        self._lock = TimedLock()

    async def _end(self, verb: str) -> None:
        marks = _MARKS.get()
        if marks is None or verb != "COMMIT":
            await super()._end(verb)
            return
        marks.commit_started = time.perf_counter()
        await super()._end(verb)
        marks.committed = time.perf_counter()


async def open_timed(path: Path) -> TimedDatabase:
    return cast(TimedDatabase, await TimedDatabase.open(path))


@dataclass
class Samples:
    """Per-save durations in seconds: total and its parts."""

    total: list[float] = field(default_factory=list)
    lock: list[float] = field(default_factory=list)
    statements: list[float] = field(default_factory=list)
    commit: list[float] = field(default_factory=list)
    other: list[float] = field(default_factory=list)
    wall: float = 0.0

    def add(self, total: float, marks: Marks | None) -> None:
        self.total.append(total)
        if marks is None or not marks.committed:
            return
        lock = marks.locked - marks.lock_requested
        statements = marks.commit_started - marks.locked
        commit = marks.committed - marks.commit_started
        self.lock.append(lock)
        self.statements.append(statements)
        self.commit.append(commit)
        self.other.append(total - lock - statements - commit)

    def extend(self, other: Samples) -> None:
        for name in ("total", "lock", "statements", "commit", "other"):
            getattr(self, name).extend(getattr(other, name))
        self.wall += other.wall


def pct(values: Sequence[float], q: float) -> float:
    """Nearest-rank percentile; q in [0, 100]."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.3f}"


# -- scenario 1: checkpoint writes -----------------------------------------------------------------

Saver = Callable[[int, Save], Awaitable[None]]


async def create_episodes(db: Database, episodes: Sequence[Recorded]) -> list[int]:
    store = EpisodeStore(db)
    ids = []
    for n, episode in enumerate(episodes):
        record_ = await store.create(
            guild_id=GUILD + n % 5,
            channel_id=CHANNEL,
            author_id=AUTHOR + n,
            author_name=f"writer{n}",
            request=episode.request,
            provider="demo",
            model="showrunner-demo",
        )
        ids.append(record_.id)
    return ids


async def replay(
    saver: Saver,
    ids: Sequence[int],
    episodes: Sequence[Recorded],
    mode: Mode,
    instrumented: bool,
) -> Samples:
    samples = Samples()

    async def one(episode_id: int, episode: Recorded, rng: random.Random) -> None:
        for save in episode.saves:
            if mode == "paced":
                await asyncio.sleep(rng.uniform(0.0, 0.2))
            marks = Marks() if instrumented else None
            token = _MARKS.set(marks)
            started = time.perf_counter()
            try:
                await saver(episode_id, save)
            finally:
                _MARKS.reset(token)
            samples.add(time.perf_counter() - started, marks)

    started = time.perf_counter()
    if mode == "alone":
        for n, (episode_id, episode) in enumerate(zip(ids, episodes, strict=True)):
            await one(episode_id, episode, random.Random(n))
    else:
        await asyncio.gather(
            *(
                one(episode_id, episode, random.Random(n))
                for n, (episode_id, episode) in enumerate(zip(ids, episodes, strict=True))
            )
        )
    samples.wall = time.perf_counter() - started
    return samples


async def product_run(
    path: Path,
    episodes: Sequence[Recorded],
    mode: Mode,
    pragmas: Sequence[str] = (),
) -> Samples:
    """Replay through SqliteCheckpoints on the product's Database (instrumented)."""
    db = await open_timed(path)
    try:
        for pragma in pragmas:
            await db.fetchall(pragma)
        ids = await create_episodes(db, episodes)
        checkpoints = {episode_id: SqliteCheckpoints(db, episode_id) for episode_id in ids}

        async def saver(episode_id: int, save: Save) -> None:
            await checkpoints[episode_id].save(save.key, save.value, save.usage)

        return await replay(saver, ids, episodes, mode, instrumented=True)
    finally:
        await db.close()


_INSERT_USAGE = (
    "INSERT INTO usage (episode_id, step, model, input_tokens, output_tokens,"
    " cache_write_tokens, cache_read_tokens, latency_s, retries, outcome, created_at)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id"
)
_UPSERT_STEP = (
    "INSERT INTO steps (episode_id, key, payload, usage_id, created_at)"
    " VALUES (?, ?, ?, ?, ?)"
    " ON CONFLICT (episode_id, key) DO UPDATE"
    " SET payload = excluded.payload, usage_id = excluded.usage_id,"
    " created_at = excluded.created_at"
)


class WorkerStore:
    """What-if: the fixes this bench points at, built on plain sqlite3 (not product code).

    - Each save's whole transaction (BEGIN, INSERT usage, INSERT step, COMMIT) is ONE call to
      one worker thread, instead of six round trips (BEGIN, its cursor close, INSERT … RETURNING,
      INSERT, its cursor close, COMMIT) plus an asyncio lock; the single worker serializes.
    - ``group=True``: saves waiting meanwhile are committed together in one transaction (each
      still returns only once the commit that holds it is done: same durability).
    - No automatic WAL checkpoint inside a commit (``wal_autocheckpoint=0``): a second
      connection on its own thread runs ``wal_checkpoint(PASSIVE)`` every 100 ms, which never
      blocks the writer.

    Same file, schema, pragmas and SQL as ``SqliteCheckpoints.save``.
    """

    def __init__(self, path: Path, group: bool) -> None:
        self.path = path
        self.group = group
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        self.conn: sqlite3.Connection | None = None
        self.pending: list[tuple[int, str, str, CallUsage, asyncio.Future[None]]] = []
        self.flusher: asyncio.Task[None] | None = None
        self.stop = threading.Event()
        self.checkpointer = threading.Thread(target=self._checkpoint_loop, daemon=True)
        self.checkpoints = 0

    def _connect(self) -> sqlite3.Connection:
        conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        for pragma in ("busy_timeout = 5000", "foreign_keys = ON", "synchronous = NORMAL"):
            conn.execute(f"PRAGMA {pragma}")
        return conn

    def _checkpoint_loop(self) -> None:
        conn = self._connect()
        try:
            while not self.stop.wait(0.1):
                conn.execute("PRAGMA wal_checkpoint(PASSIVE)")
                self.checkpoints += 1
        finally:
            conn.close()

    async def __aenter__(self) -> WorkerStore:
        loop = asyncio.get_running_loop()
        self.conn = await loop.run_in_executor(self.executor, self._connect)
        await loop.run_in_executor(
            self.executor, self.conn.execute, "PRAGMA wal_autocheckpoint = 0"
        )
        self.checkpointer.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop.set()
        await asyncio.to_thread(self.checkpointer.join)
        if self.conn is not None:
            await asyncio.get_running_loop().run_in_executor(self.executor, self.conn.close)
        self.executor.shutdown()

    def _commit(self, batch: Sequence[tuple[int, str, str, CallUsage]]) -> None:
        assert self.conn is not None
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            for episode_id, key, payload, usage in batch:
                usage_id = self.conn.execute(
                    _INSERT_USAGE,
                    (
                        episode_id,
                        usage.step,
                        usage.model,
                        usage.input_tokens,
                        usage.output_tokens,
                        usage.cache_write_tokens,
                        usage.cache_read_tokens,
                        float(usage.latency_s),
                        usage.retries,
                        "ok",
                        now,
                    ),
                ).fetchone()[0]
                self.conn.execute(_UPSERT_STEP, (episode_id, key, payload, usage_id, now))
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise

    async def save(self, episode_id: int, save: Save) -> None:
        payload = save.value.model_dump_json()
        loop = asyncio.get_running_loop()
        if not self.group:
            item = [(episode_id, save.key, payload, save.usage)]
            await loop.run_in_executor(self.executor, self._commit, item)
            return
        done: asyncio.Future[None] = loop.create_future()
        self.pending.append((episode_id, save.key, payload, save.usage, done))
        if self.flusher is None or self.flusher.done():
            self.flusher = loop.create_task(self._flush())
        await done

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        while self.pending:
            batch, self.pending = self.pending, []
            try:
                items = [(e, k, p, u) for e, k, p, u, _ in batch]
                await loop.run_in_executor(self.executor, self._commit, items)
            except Exception as exc:
                for *_, future in batch:
                    future.set_exception(exc)
            else:
                for *_, future in batch:
                    future.set_result(None)


async def worker_run(
    path: Path,
    episodes: Sequence[Recorded],
    mode: Mode,
    group: bool,
) -> Samples:
    db = await Database.open(path)
    try:
        ids = await create_episodes(db, episodes)
    finally:
        await db.close()
    async with WorkerStore(path, group) as store:
        return await replay(store.save, ids, episodes, mode, instrumented=False)


async def floor(count: int) -> tuple[list[float], list[float]]:
    """What this machine adds to any save, storage aside: seconds of lateness of the event loop
    waking from a 1 ms sleep, and of one round trip to a worker thread doing nothing."""
    lateness, trips = [], []
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(max_workers=1) as executor:
        for _ in range(count):
            started = time.perf_counter()
            await asyncio.sleep(0.001)
            lateness.append(time.perf_counter() - started - 0.001)
            started = time.perf_counter()
            await loop.run_in_executor(executor, int)
            trips.append(time.perf_counter() - started)
    return lateness, trips


def fsync_cost(directory: Path, count: int) -> list[float]:
    """Seconds per write(4 KiB) + fsync of a file on the same disk as the databases."""
    path = directory / "fsync.probe"
    durations = []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o644)
    try:
        for n in range(count):
            os.pwrite(fd, os.urandom(4096), (n % 16) * 4096)
            started = time.perf_counter()
            os.fsync(fd)
            durations.append(time.perf_counter() - started)
    finally:
        os.close(fd)
        path.unlink()
    return durations


def file_size(path: Path) -> int:
    """Bytes of a file, 0 if it does not exist (a WAL after a TRUNCATE checkpoint)."""
    return path.stat().st_size if path.exists() else 0


def remove_database(path: Path) -> None:
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)


# -- scenario 2: resume --------------------------------------------------------------------------


@dataclass
class ResumeFigures:
    open_s: list[float] = field(default_factory=list)
    list_s: list[float] = field(default_factory=list)
    load_s: list[float] = field(default_factory=list)
    steps_loaded: int = 0
    file_bytes: int = 0


async def resume_bench(
    path: Path, templates: Sequence[Recorded], history: int, repeats: int
) -> ResumeFigures:
    rng = random.Random(7)
    db = await Database.open(path)
    try:
        store = EpisodeStore(db)
        # Finished history first (older ids), then the unfinished episodes.
        chosen = [templates[n % len(templates)] for n in range(history + RESUME_EPISODES)]
        ids = await create_episodes(db, chosen)
        for n, (episode_id, episode) in enumerate(zip(ids, chosen, strict=True)):
            checkpoints = SqliteCheckpoints(db, episode_id)
            finished = n < history
            steps = len(episode.saves) if finished else rng.randint(1, len(episode.saves) - 1)
            for save in episode.saves[:steps]:
                await checkpoints.save(save.key, save.value, save.usage)
            if finished:
                await store.finish(episode_id, episode.script)
        await db.fetchall("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        await db.close()
    figures = ResumeFigures(file_bytes=file_size(path))
    for _ in range(repeats):
        started = time.perf_counter()
        db = await Database.open(path)
        figures.open_s.append(time.perf_counter() - started)
        try:
            store = EpisodeStore(db)
            started = time.perf_counter()
            unfinished = await store.list_unfinished()
            figures.list_s.append(time.perf_counter() - started)
            assert len(unfinished) == RESUME_EPISODES, len(unfinished)
            started = time.perf_counter()
            loaded = 0
            for record_ in unfinished:
                loaded += len(await SqliteCheckpoints(db, record_.id).load())
            figures.load_s.append(time.perf_counter() - started)
            figures.steps_loaded = loaded
        finally:
            await db.close()
    return figures


# -- scenario 3: size ----------------------------------------------------------------------------


@dataclass
class SizeFigures:
    scenes: int
    episodes: int
    file_bytes: int
    empty_bytes: int
    by_object: dict[str, int]
    script_bytes: float
    steps_payload_bytes: float


async def size_bench(directory: Path, template: Recorded, count: int) -> SizeFigures:
    path = directory / f"size-{template.request.scene_count}.db"
    db = await Database.open(path)
    try:
        await db.fetchall("PRAGMA wal_checkpoint(TRUNCATE)")
        empty = file_size(path)
        store = EpisodeStore(db)
        ids = await create_episodes(db, [template] * count)
        for episode_id in ids:
            checkpoints = SqliteCheckpoints(db, episode_id)
            for save in template.saves:
                await checkpoints.save(save.key, save.value, save.usage)
            assert await store.finish(episode_id, template.script)
        await db.fetchall("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        await db.close()
    assert file_size(path.with_name(path.name + "-wal")) == 0
    conn = sqlite3.connect(path)
    try:
        rows = conn.execute(
            "SELECT coalesce(s.tbl_name, d.name), sum(d.pgsize) FROM dbstat d"
            " LEFT JOIN sqlite_schema s ON s.name = d.name GROUP BY 1"
        ).fetchall()
        freelist = conn.execute("PRAGMA freelist_count").fetchone()[0]
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
    finally:
        conn.close()
    by_object = {str(name): int(size) for name, size in rows}
    by_object["(free pages)"] = int(freelist) * int(page_size)
    return SizeFigures(
        scenes=template.request.scene_count,
        episodes=count,
        file_bytes=file_size(path),
        empty_bytes=empty,
        by_object=by_object,
        script_bytes=len(template.script.model_dump_json()),
        steps_payload_bytes=template.payload_bytes,
    )


# -- report ----------------------------------------------------------------------------------------


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def latency_row(name: str, samples: Samples, rate_target: bool) -> str:
    rate = len(samples.total) / samples.wall
    p99 = pct(samples.total, 99)
    checks = [p99 * 1000 < P99_TARGET_MS]
    target = f"p99<{P99_TARGET_MS:g}ms"
    if rate_target:
        checks.append(rate >= RATE_TARGET)
        target += f", >={RATE_TARGET:,.0f}/s"
    return (
        f"{name:<34} {len(samples.total):>6} {rate:>9,.0f} {ms(pct(samples.total, 50)):>8}"
        f" {ms(p99):>8} {ms(max(samples.total)):>8}  {target:<22} {verdict(all(checks))}"
    )


def breakdown_row(name: str, samples: Samples) -> str:
    cells = []
    for part in (samples.lock, samples.statements, samples.commit, samples.other):
        mean = sum(part) / len(part)
        cells.append(f"{ms(mean)} / {ms(pct(part, 99))} / {ms(max(part))}")
    slow = sum(1 for c in samples.commit if c > SLOW_COMMIT_S)
    return f"{name:<34} " + " ".join(f"{c:>24}" for c in cells) + f" {slow:>6}"


async def run_repeats(
    make: Callable[[Path], Awaitable[Samples]], directory: Path, label: str, repeats: int
) -> Samples:
    """Run ``make`` on a fresh file ``repeats`` times; pool the samples."""
    pooled = Samples()
    for n in range(repeats):
        path = directory / f"{label}-{n}.db"
        pooled.extend(await make(path))
        remove_database(path)
    return pooled


@dataclass(frozen=True)
class Row:
    section: str
    label: str
    make: Callable[[Path], Awaitable[Samples]]
    mode: Mode
    instrumented: bool
    repeat: bool = False
    """Pooled over several runs in a full run (the shipped alone and burst rows)."""


def rows_to_run(episodes: Sequence[Recorded], quick: bool) -> list[Row]:
    """Every row; ``quick`` drops the paced rows (3-4 s each) but the shipped one."""
    shipped = "as shipped: SqliteCheckpoints.save on Database"
    causes = "causes isolated: the same code, one pragma changed"
    one = "what-if: one worker call per save, WAL checkpoints on a background connection"
    group = "what-if: the same, plus group commit of the saves waiting meanwhile"
    names: dict[Mode, str] = {
        "alone": "1 episode at a time",
        "burst": "50 concurrent, burst",
        "paced": "50 concurrent, paced 0-200 ms",
    }
    no_checkpoint = ["PRAGMA wal_autocheckpoint = 0"]
    rows: list[Row] = []
    for mode in MODES:
        make = partial(product_run, episodes=episodes, mode=mode)
        rows.append(Row(shipped, names[mode], make, mode, True, repeat=mode != "paced"))
    for mode in MODES:
        make = partial(product_run, episodes=episodes, mode=mode, pragmas=no_checkpoint)
        rows.append(Row(causes, f"{mode}, wal_autocheckpoint=0", make, mode, True))
    make = partial(
        product_run, episodes=episodes[:10], mode="alone", pragmas=["PRAGMA synchronous = FULL"]
    )
    rows.append(Row(causes, "alone, synchronous=FULL (10 ep.)", make, "alone", True))
    for mode in MODES:
        make = partial(worker_run, episodes=episodes, mode=mode, group=False)
        rows.append(Row(one, names[mode], make, mode, False))
    for mode in MODES[1:]:
        make = partial(worker_run, episodes=episodes, mode=mode, group=True)
        rows.append(Row(group, names[mode], make, mode, False))
    if quick:
        rows = [row for row in rows if row.mode != "paced" or row.section == shipped]
    return rows


async def main(quick: bool) -> None:
    began = time.perf_counter()
    repeats = 1 if quick else 2
    history = 50 if quick else 100
    episodes = [await record(seed, 4 + seed % 9) for seed in range(EPISODES)]
    saves = sum(len(e.saves) for e in episodes)
    sizes = sorted(len(s.value.model_dump_json()) for e in episodes for s in e.saves)
    print(
        f"Recorded {EPISODES} demo episodes of 4-12 scenes: {saves} saves, payload median "
        f"{pct(sizes, 50):,.0f} B, max {sizes[-1]:,} B; SQLite {sqlite3.sqlite_version}, "
        f"{os.cpu_count()} CPUs; shipped alone/burst rows pooled over {repeats} run(s), others 1"
    )
    print(f"Load average before: {load()} (other processes on this machine add to tail latency)")
    floors = [await floor(200 if quick else 500)]
    rows = rows_to_run(episodes, quick)
    results: list[tuple[Row, Samples]] = []
    with tempfile.TemporaryDirectory(prefix="showrunner-bench-") as tmp:
        directory = Path(tmp)
        for n, row in enumerate(rows):
            count = repeats if row.repeat else 1
            results.append((row, await run_repeats(row.make, directory, f"row{n}", count)))
        floors.append(await floor(200 if quick else 500))
        fsyncs = fsync_cost(directory, 20 if quick else 50)
        resume = await resume_bench(
            directory / "resume.db", episodes[:20], history=history, repeats=5
        )
        by_scenes = {e.request.scene_count: e for e in episodes}
        size = [await size_bench(directory, by_scenes[n], SIZE_EPISODES) for n in (4, 12)]

    for when, (lateness, trips) in zip(("before", "after"), floors, strict=True):
        print(
            f"Noise floor {when} section 1: the event loop wakes from a 1 ms sleep late by p50"
            f" {ms(pct(lateness, 50))} / p99 {ms(pct(lateness, 99))} ms; one worker-thread round"
            f" trip (no-op) takes p50 {ms(pct(trips, 50))} / p99 {ms(pct(trips, 99))} ms"
        )
    print(f"\n1. Checkpoint writes: {EPISODES} episodes on one Database, real file (WAL)")
    print(
        f"{'':<34} {'saves':>6} {'ckpt/s':>9} {'p50 ms':>8} {'p99 ms':>8}"
        f" {'max ms':>8}  {'target':<22} result"
    )
    section = ""
    for row, samples in results:
        if row.section != section:
            section = row.section
            print(f"  {section}")
        print(latency_row("    " + row.label, samples, rate_target=row.mode == "burst"))

    print(
        "\n   Where a save's time goes (instrumented rows), ms as mean / p99 / max;"
        " last column: COMMITs over 10 ms (each ~ one automatic WAL checkpoint)"
    )
    parts = ("lock wait", "BEGIN+INSERTs (5 trips)", "COMMIT", "other (JSON, wake-up)")
    print(f"{'':<34} " + " ".join(f"{h:>24}" for h in parts) + f" {'>10ms':>6}")
    for row, samples in results:
        if row.instrumented:
            label = row.label if row.section.startswith("causes") else f"{row.label} (shipped)"
            print(breakdown_row(label, samples))
    print(
        f"   fsync of 4 KiB on this disk: p50 {ms(pct(fsyncs, 50))} ms, p99 "
        f"{ms(pct(fsyncs, 99))} ms, max {ms(max(fsyncs))} ms ({len(fsyncs)} samples)"
    )

    r = resume
    med = {k: pct(v, 50) for k, v in (("open", r.open_s), ("list", r.list_s), ("load", r.load_s))}
    resume_total = med["list"] + med["load"]
    print(
        f"\n2. Resume: {RESUME_EPISODES} unfinished episodes ({r.steps_loaded} steps saved) among "
        f"{RESUME_EPISODES + history} episodes, file {r.file_bytes / 1e6:.1f} MB;"
        f" median of {len(r.open_s)} restarts (file in the page cache)"
    )
    print(f"{'':<42} {'median ms':>10} {'max ms':>10}  {'target':<14} result")
    open_ok = med["open"] * 1000 < OPEN_TARGET_MS
    print(
        f"{'Database.open (existing, up to date)':<42} {ms(med['open']):>10}"
        f" {ms(max(r.open_s)):>10}  {f'<{OPEN_TARGET_MS:g} ms':<14} {verdict(open_ok)}"
    )
    print(f"{'list_unfinished()':<42} {ms(med['list']):>10} {ms(max(r.list_s)):>10}")
    print(
        f"{'100 x SqliteCheckpoints.load(), in turn':<42} {ms(med['load']):>10}"
        f" {ms(max(r.load_s)):>10}"
    )
    resume_ok = resume_total * 1000 < RESUME_TARGET_MS
    print(
        f"{'list + loads':<42} {ms(resume_total):>10} {'':>10}"
        f"  {f'<{RESUME_TARGET_MS:g} ms':<14} {verdict(resume_ok)}"
    )

    print("\n3. Size per finished episode (file after wal_checkpoint(TRUNCATE) / episodes)")
    print(
        f"{'scenes':>6} {'episodes':>8} {'file KiB':>9} {'KiB/ep':>8} {'script KiB':>10}"
        f" {'steps KiB':>9}  {'target':<12} result"
    )
    for s in size:
        per = s.file_bytes / s.episodes / 1024
        target = SIZE_TARGET_KIB[s.scenes]
        print(
            f"{s.scenes:>6} {s.episodes:>8} {s.file_bytes / 1024:>9,.0f} {per:>8.1f}"
            f" {s.script_bytes / 1024:>10.1f} {s.steps_payload_bytes / 1024:>9.1f}"
            f"  {f'<={target:g} KiB':<12} {verdict(per <= target)}"
        )
    for s in size:
        total = sum(s.by_object.values())
        shares = ", ".join(
            f"{name} {part / total:.0%}"
            for name, part in sorted(s.by_object.items(), key=lambda kv: -kv[1])
            if part / total >= 0.01
        )
        print(
            f"   {s.scenes} scenes, where the bytes are (tables with their indexes): {shares};"
            f" empty schema {s.empty_bytes / 1024:.0f} KiB"
        )
    print(f"\nTotal run time {time.perf_counter() - began:.1f} s; load average after: {load()}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rows and runs")
    arguments = parser.parse_args()
    asyncio.run(main(arguments.quick))
