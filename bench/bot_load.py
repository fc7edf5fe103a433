"""Many episodes from many guilds at once: the real bot, in-process, against the fake Discord.

    uv run python bench/bot_load.py [--quick]

Prints a report, writes nothing (the database lives in a temporary directory that is removed).

The fake Discord (tests/fake_discord) listens on loopback with 10 guilds, each with one channel and
5 writers; the bot is built by the composition root (``build_generator``/``build_bot``) with the
offline demo provider at known latencies. The fake answers a 6th edit of one message within 5 s
with a 429 (without advertising the bucket), so only the bot's own pacing avoids them.
One episode runs alone first (the reference), then every writer of every guild runs ``/episode``
at once, guild after guild (the order in which a FIFO queue would favour the first guilds), and
the bench waits until every script is posted and every status shows its final summary.
``--quick``: 10 episodes from 5 guilds.

Figures (the load phase only, unless said):
- delivered / lost: a delivery is a channel message POST carrying a ``.fountain`` file;
- REST calls per episode (callbacks, status edits, channel posts, other);
- the shortest gap between two edits of one message, and the 401/403/429 answers (whole run);
- event-loop lag: a task in the loop (the bot and the fake share it) sleeps 10 ms and records
  how late it wakes; late wakes are split into those where the loop's thread was on the CPU
  (blocking code or garbage collection) and those where it was not (other processes);
- the process-wide LLM call limiter: its peak vs its capacity, the share of the time calls were
  queued during which every slot was taken (a work-conserving limiter is at 100%), and slot
  time per second of model time (what a slot is held for besides the model call);
- fairness: each guild's completion time (its first invocation to its last delivery) divided by
  the time one episode takes alone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import logging
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pydantic import SecretStr

from bench._ops_watch import OPS_TOKEN, OpsMode, operator_watching
from bot.__main__ import build_bot, build_generator
from bot.client import ShowrunnerBot
from bot.settings import Settings
from scriptgen.limiter import FairLimiter
from scriptgen.providers.base import Generation, OutputT, Provider, StepKind, StepRequest
from scriptgen.providers.demo import DemoProvider
from storage import Database
from tests.fake_discord import (
    CALLBACK_ROUTE,
    FakeChannel,
    FakeDiscord,
    FakeGuild,
    FakeInteraction,
    FakeMessage,
    FakeUser,
    RecordedRequest,
)

LATENCIES: dict[StepKind, float] = {
    "outline": 0.1,
    "dialogue": 0.2,
    "directions": 0.1,
    "comedy": 0.15,
    "refine": 0.1,
}
TOKEN = "bench-bot-token"
SCENES = 4
WRITERS_PER_GUILD = 5
MAX_CONCURRENT_CALLS = 16
MAX_PARALLEL_SCENES = 3
STATUS_INTERVAL = 1.5
EDIT_BUCKET = (5, 5.0)
"""The emulated per-message edit bucket: at most 5 edits per 5 s, else 429."""
SAMPLE_PERIOD = 0.01
ALONE_TIMEOUT = 20.0
LOAD_TIMEOUT = 75.0
PREMISES = [
    "A barista discovers the espresso machine is haunted",
    "The office goes paperless and the printer takes it personally",
    "A wedding planner is double-booked with her own ex",
    "The night shift at a museum finds the dinosaur bones rearranged",
    "Two rival food trucks are forced to share one parking spot",
]

POST_MESSAGE = "POST /channels/{channel_id}/messages"
EDIT_ROUTES = frozenset(
    {
        "PATCH /webhooks/{webhook_id}/{webhook_token}/messages/@original",
        "PATCH /webhooks/{webhook_id}/{webhook_token}/messages/{message_id}",
        "PATCH /channels/{channel_id}/messages/{message_id}",
    }
)
DEFERRED = 5
"""Interaction callback type of ``defer(thinking=True)``."""

# Targets.
LAG_P99_TARGET = 0.020
AT_BOUND_TARGET = 0.90
CALLBACK_DEADLINE = 3.0
FAIRNESS_SPREAD_TARGET = 1.5


class MeteredDemoProvider(DemoProvider):
    """The demo provider at the bench latencies, counting its calls and their model time."""

    def __init__(self) -> None:
        super().__init__(seed=7, latencies=LATENCIES)
        self.calls = 0
        self.model_seconds = 0.0

    async def generate(self, step: StepRequest[OutputT]) -> Generation[OutputT]:
        self.calls += 1
        self.model_seconds += self.latencies[step.kind]
        return await super().generate(step)


@dataclass
class Room:
    guild: FakeGuild
    channel: FakeChannel
    writers: list[FakeUser]


@dataclass
class Sampler:
    """Event-loop lag and the limiter's state, every ``period`` seconds, in the bot's loop."""

    limiter: FairLimiter
    period: float = SAMPLE_PERIOD
    lags: list[float] = field(default_factory=list)
    late_on_cpu: int = 0
    """Late wakes (over the lag target) during which the loop's thread mostly ran on the CPU."""
    queued_s: float = 0.0
    queued_at_bound_s: float = 0.0
    busy_s: float = 0.0
    slot_seconds: float = 0.0
    max_waiting: int = 0

    async def run(self) -> None:
        in_flight, waiting = self.limiter.in_flight, self.limiter.waiting
        while True:
            before, cpu_before = time.perf_counter(), time.thread_time()
            await asyncio.sleep(self.period)
            elapsed = time.perf_counter() - before
            lag = max(0.0, elapsed - self.period)
            self.lags.append(lag)
            if lag > LAG_P99_TARGET and time.thread_time() - cpu_before >= 0.8 * lag:
                self.late_on_cpu += 1
            # The state seen at the last sample is held over the interval since.
            if waiting > 0:
                self.queued_s += elapsed
                if in_flight >= self.limiter.capacity:
                    self.queued_at_bound_s += elapsed
            if in_flight > 0 or waiting > 0:
                self.busy_s += elapsed
                self.slot_seconds += in_flight * elapsed
            in_flight, waiting = self.limiter.in_flight, self.limiter.waiting
            self.max_waiting = max(self.max_waiting, waiting)


@dataclass
class GcPauses:
    """The garbage collector's pauses (they stop the loop like blocking code does)."""

    pauses: list[tuple[int, float]] = field(default_factory=list)
    _started: float = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.pauses.append((info["generation"], time.perf_counter() - self._started))

    @contextlib.contextmanager
    def watching(self) -> Iterator[None]:
        gc.callbacks.append(self)
        try:
            yield
        finally:
            gc.callbacks.remove(self)


class Deliveries:
    """Script posts seen by the fake, found incrementally (the log is only scanned once)."""

    def __init__(self, fake: FakeDiscord, since: float) -> None:
        self.fake = fake
        self.since = since
        self._cursor = 0
        self._pending: list[RecordedRequest] = []
        self.by_nonce: dict[str, RecordedRequest] = {}
        self.duplicates = 0

    def poll(self) -> int:
        items = self.fake.requests.items
        self._pending.extend(items[self._cursor :])
        self._cursor = len(items)
        still: list[RecordedRequest] = []
        for request in self._pending:
            if not request.done:
                still.append(request)
            elif is_delivery(request) and request.timestamp >= self.since:
                nonce = str(request.payload.get("nonce", ""))
                if nonce in self.by_nonce:
                    self.duplicates += 1
                else:
                    self.by_nonce[nonce] = request
        self._pending = still
        return len(self.by_nonce)


def is_delivery(request: RecordedRequest) -> bool:
    return (
        request.route == POST_MESSAGE
        and request.status == 200
        and any(f.filename.endswith(".fountain") for f in request.files)
    )


def is_final(message: FakeMessage | None) -> bool:
    """The status shows a finished episode's summary ("**4 scenes** · written in ...") and no
    Cancel button."""
    if message is None or not message.embeds or message.custom_ids():
        return False
    return f"{SCENES} scenes" in str(message.embeds[0].get("description", ""))


async def wait_until(fake: FakeDiscord, probe: Callable[[], bool], timeout: float) -> bool:  # noqa: ASYNC109
    """Waits (woken by the fake's change signal, no polling) until ``probe()``; False on timeout."""
    try:
        await fake.state.signal.wait_until(lambda: True if probe() else None, timeout, "the bench")
    except TimeoutError:
        return False
    return True


async def invoke(fake: FakeDiscord, room: Room, writer: int) -> FakeInteraction:
    return await fake.invoke_slash_command(
        room.guild,
        room.channel,
        room.writers[writer],
        "episode",
        {"premise": PREMISES[writer % len(PREMISES)], "scenes": SCENES},
        require_synced=True,
    )


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * len(ordered)) - 1))]


class WarningLog(logging.Handler):
    """Keeps the bot's (and discord.py's) warnings for the report instead of printing them."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        if "voice will NOT be supported" not in record.getMessage():
            self.records.append(record)


@dataclass
class Run:
    guilds: int
    per_guild: int
    alone: float = 0.0
    alone_episode: str = ""
    load_start: float = 0.0
    fired_s: float = 0.0
    last_delivery: float = 0.0
    finals_at: float | None = None
    interactions: list[tuple[Room, FakeInteraction]] = field(default_factory=list)
    deliveries: dict[str, RecordedRequest] = field(default_factory=dict)
    duplicates: int = 0
    final_ok: int = 0
    stored_ok: int = 0
    model_calls: int = 0
    model_seconds: float = 0.0
    gc: GcPauses = field(default_factory=GcPauses)
    provider: str = "demo"
    latencies: dict[StepKind, float] = field(default_factory=lambda: dict(LATENCIES))
    max_calls: int = MAX_CONCURRENT_CALLS
    load_timeout: float = LOAD_TIMEOUT
    ops: OpsMode = "default"
    load_cpu_s: float = 0.0
    """The process's CPU time over the load phase (every thread: the loop's and SQLite's)."""

    @property
    def expected(self) -> int:
        return self.guilds * self.per_guild


# -- the run ------------------------------------------------------------------------------------


async def bench(guilds: int, per_guild: int) -> dict[str, bool]:
    """Runs the bench, prints the report; returns each verdict by metric."""
    return (await load_bench(guilds, per_guild)).verdicts


class Metered(Provider, Protocol):
    """A provider that counts its calls and the model time they were meant to take."""

    calls: int
    model_seconds: float


@dataclass(frozen=True)
class LoadResult:
    verdicts: dict[str, bool]
    run: Run
    sampler: Sampler


async def load_bench(
    guilds: int,
    per_guild: int,
    provider: Metered | None = None,
    during_load: contextlib.AbstractContextManager[Any] | None = None,
    **options: Any,
) -> LoadResult:
    """The bench with ``provider`` (the demo's by default), ``during_load`` entered around the
    load phase, ``options`` for the :class:`Run` (``latencies`` the provider's calls take,
    ``max_calls``, ``load_timeout``); prints the report."""
    warnings = WarningLog()
    logging.getLogger().addHandler(warnings)
    try:
        async with FakeDiscord(bot_token=TOKEN) as fake:
            with fake.patch_discord_py(), tempfile.TemporaryDirectory(prefix="showrunner-") as tmp:
                path = Path(tmp) / "showrunner.db"
                run = Run(guilds, per_guild, **options)
                sampler = await run_bot(fake, path, run, provider, during_load)
            return LoadResult(report(fake, run, sampler, warnings.records), run, sampler)
    finally:
        logging.getLogger().removeHandler(warnings)


async def run_bot(
    fake: FakeDiscord,
    db_path: Path,
    run: Run,
    provider: Metered | None = None,
    during_load: contextlib.AbstractContextManager[Any] | None = None,
) -> Sampler:
    """Starts the bot against ``fake``, runs one episode alone and then the load, stops it."""
    rooms = populate(fake, run.guilds)
    limit, per = EDIT_BUCKET
    fake.emulate_bucket(lambda r: r.route in EDIT_ROUTES, limit=limit, per=per)
    settings = make_settings(fake, db_path, run.per_guild, run.max_calls)
    if run.ops == "on":
        settings = settings.model_copy(
            update={"http_port": 0, "dashboard_token": SecretStr(OPS_TOKEN)}
        )
    provider = provider or MeteredDemoProvider()
    run.provider = provider.name
    async with await Database.open(settings.db_path) as db:
        bot, task = await start_bot(fake, settings, provider, db)
        try:
            assert bot.generator.limiter is not None
            sampler = Sampler(bot.generator.limiter)
            if run.ops == "off":
                await bot.ops.stop()  # no listeners on the monitor, no lag sampler, no server
            await one_alone(fake, rooms[0], run)
            calls, seconds = provider.calls, provider.model_seconds
            with run.gc.watching(), during_load or contextlib.nullcontext():
                async with operator_watching(bot) if run.ops == "on" else _nothing():
                    await load(fake, rooms, run, sampler)
            run.model_calls = provider.calls - calls
            run.model_seconds = provider.model_seconds - seconds
            await check_storage(bot, rooms, run)
        finally:
            await bot.close()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(task, 10)
    return sampler


def populate(fake: FakeDiscord, guilds: int) -> list[Room]:
    rooms = []
    for n in range(1, guilds + 1):
        guild = fake.add_guild(f"Writers' Room {n}")
        channel = guild.add_text_channel("episodes")
        writers = [guild.add_member(f"writer{n}-{w}") for w in range(1, WRITERS_PER_GUILD + 1)]
        rooms.append(Room(guild, channel, writers))
    return rooms


def make_settings(
    fake: FakeDiscord, db_path: Path, per_guild: int, max_calls: int = MAX_CONCURRENT_CALLS
) -> Settings:
    values: dict[str, Any] = {
        "discord_token": TOKEN,
        "provider": "demo",
        "db_path": db_path,
        "discord_api_base": fake.rest_base,
        "discord_gateway": str(fake.gateway_url),
        "dev_guild_id": None,
        "status_interval": STATUS_INTERVAL,
        "max_episodes_per_guild": max(5, per_guild),
        "max_concurrent_calls": max_calls,
        "max_parallel_scenes": MAX_PARALLEL_SCENES,
    }
    return Settings(_env_file=None, **values)


async def start_bot(
    fake: FakeDiscord, settings: Settings, provider: Provider, db: Database
) -> tuple[ShowrunnerBot, asyncio.Task[None]]:
    generator = build_generator(settings, provider)
    # on_ready otherwise waits 2 s after the last GUILD_CREATE
    bot = build_bot(settings, db, generator, guild_ready_timeout=0.05)
    task = asyncio.create_task(bot.start(TOKEN), name="bot")
    await fake.wait_until_ready(10)
    await asyncio.wait_for(bot.wait_until_ready(), 10)
    return bot, task


async def one_alone(fake: FakeDiscord, room: Room, run: Run) -> None:
    """The reference: one episode with nothing else running, invocation to script posted."""
    deliveries = Deliveries(fake, time.monotonic())
    inter = await invoke(fake, room, 0)
    if not await wait_until(fake, lambda: deliveries.poll() >= 1, ALONE_TIMEOUT):
        raise SystemExit("bot_load: the episode run alone was never posted")
    [(nonce, posted)] = deliveries.by_nonce.items()
    run.alone = posted.timestamp - inter.created_at
    run.alone_episode = nonce.removeprefix("sr-")
    # Its last status edit comes up to one interval later; let it land before the load starts.
    await wait_until(fake, lambda: is_final(inter.original), STATUS_INTERVAL + 5)


async def load(fake: FakeDiscord, rooms: list[Room], run: Run, sampler: Sampler) -> None:
    """Every writer's /episode at once; returns when all are posted and final (or timed out)."""
    run.load_start = time.monotonic()
    cpu_start = time.process_time()
    deliveries = Deliveries(fake, run.load_start)
    sampling = asyncio.create_task(sampler.run(), name="lag-sampler")
    try:
        order = [(room, w) for room in rooms for w in range(run.per_guild)]
        fired = await asyncio.gather(*(invoke(fake, room, w) for room, w in order))
        run.fired_s = time.monotonic() - run.load_start
        run.interactions = [(room, inter) for (room, _), inter in zip(order, fired, strict=True)]
        timeout = run.load_timeout - run.fired_s
        await wait_until(fake, lambda: deliveries.poll() >= run.expected, timeout)
        run.deliveries, run.duplicates = deliveries.by_nonce, deliveries.duplicates
        run.last_delivery = max((r.timestamp for r in run.deliveries.values()), default=0.0)
        remaining = {inter.id: inter for _, inter in run.interactions}

        def all_final() -> bool:
            for key, inter in list(remaining.items()):
                if is_final(inter.original):
                    del remaining[key]
            return not remaining

        if await wait_until(fake, all_final, STATUS_INTERVAL * 2 + 5):
            run.finals_at = time.monotonic()
        run.final_ok = run.expected - len(remaining)
        run.load_cpu_s = time.process_time() - cpu_start
    finally:
        sampling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampling


async def check_storage(bot: ShowrunnerBot, rooms: list[Room], run: Run) -> None:
    """The load's episodes are done and marked delivered in the database."""
    for room in rooms:
        for record in await bot.episodes.list_recent(room.guild.id, limit=100):
            if record.public_id != run.alone_episode:
                ok = record.status == "done" and record.delivered_message_id is not None
                run.stored_ok += ok


# -- the report ---------------------------------------------------------------------------------


class Table:
    """Prints one row per figure, and keeps each PASS/FAIL verdict by metric."""

    def __init__(self) -> None:
        self.verdicts: dict[str, bool] = {}

    def row(self, metric: str, value: str, target: str = "", ok: bool | None = None) -> None:
        mark = ""
        if ok is not None:
            self.verdicts[metric.strip()] = ok
            mark = "PASS" if ok else "FAIL"
        print(f"  {metric:<46} {value:>20}   {target:<10} {mark}".rstrip())


def report(
    fake: FakeDiscord, run: Run, sampler: Sampler, warnings: list[logging.LogRecord]
) -> dict[str, bool]:
    """Prints the report; returns each verdict by metric."""
    table = Table()
    expected = run.expected
    limiter = sampler.limiter
    makespan = run.last_delivery - run.load_start if run.last_delivery else float("nan")
    finals = f"{run.finals_at - run.load_start:.2f} s" if run.finals_at else "never (timed out)"
    ideal = run.model_seconds / limiter.capacity
    latencies = ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in run.latencies.items())
    print(
        f"\nShowrunner bot under load: {expected} episodes of {SCENES} scenes from {run.guilds} "
        f"guilds at once ({run.per_guild} writers each), fake Discord on loopback, one process\n"
        f"  {run.provider} provider, latencies: {latencies}\n"
        f"  max_concurrent_calls {run.max_calls}, max_parallel_scenes "
        f"{MAX_PARALLEL_SCENES}, status_interval {STATUS_INTERVAL} s; the fake answers 429 past "
        f"{EDIT_BUCKET[0]} edits per {EDIT_BUCKET[1]:.0f} s of one message\n"
        f"  one episode alone: {run.alone:.2f} s from /episode to its script posted\n"
        f"  load: {expected} /episode fired in {run.fired_s * 1000:.0f} ms; last script posted "
        f"after {makespan:.2f} s; every status final after {finals}\n"
        f"  model work: {run.model_calls} calls, {run.model_seconds:.1f} call-seconds, / "
        f"{limiter.capacity} slots = {ideal:.2f} s at best; last post / that = "
        f"{makespan / ideal if ideal else float('nan'):.2f}"
    )
    print(f"\n  {'metric':<46} {'value':>20}   {'target':<10} result")
    report_delivery(table, fake, run)
    report_rest(table, fake, run)
    report_loop(table, run, sampler)
    report_limiter(table, run, sampler)
    ratios = report_fairness(table, run)
    if ratios:
        print("\n  per guild, first /episode to last script posted (guild-major firing order):")
        cells = [f"g{n} {seconds:.2f} s {seconds / run.alone:.2f}x" for n, seconds in ratios]
        for start in range(0, len(cells), 5):
            print("    " + " | ".join(cells[start : start + 5]))
    if warnings:
        print(f"\n  {len(warnings)} warnings logged; the first:")
        for record in warnings[:5]:
            print(f"    {record.name}: {record.getMessage()[:160]}")
    return table.verdicts


def report_delivery(table: Table, fake: FakeDiscord, run: Run) -> None:
    expected = run.expected
    delivered = len(run.deliveries)
    table.row(
        "delivered / lost", f"{delivered} / {expected - delivered}", "0 lost", delivered == expected
    )
    table.row("duplicate script posts", str(run.duplicates), "0", run.duplicates == 0)
    table.row(
        "statuses ending on the summary",
        f"{run.final_ok} / {expected}",
        "all",
        run.final_ok == expected,
    )
    table.row(
        "done and delivered in storage",
        f"{run.stored_ok} / {expected}",
        "all",
        run.stored_ok == expected,
    )
    callbacks = [i.callback for _, i in run.interactions if i.callback is not None]
    deferred = sum(c.type == DEFERRED for c in callbacks)
    table.row(
        "/episode deferred (not refused)", f"{deferred} / {expected}", "all", deferred == expected
    )
    slowest = max((c.delay for c in callbacks), default=float("inf"))
    table.row(
        "slowest first answer (the defer)",
        f"{slowest * 1000:.0f} ms",
        f"< {CALLBACK_DEADLINE:.0f} s",
        slowest < CALLBACK_DEADLINE and len(callbacks) == expected,
    )
    pings = len(fake.mention_violations())
    table.row("message writes that could ping", str(pings), "0", pings == 0)


def report_rest(table: Table, fake: FakeDiscord, run: Run) -> None:
    kinds: Counter[str] = Counter()
    requests = [r for r in fake.requests if r.timestamp >= run.load_start]
    for request in requests:
        if request.route == CALLBACK_ROUTE:
            kinds["callbacks"] += 1
        elif request.route in EDIT_ROUTES:
            kinds["status edits"] += 1
        elif request.route == POST_MESSAGE:
            kinds["channel posts"] += 1
        else:
            kinds[f"other: {request.route or request.path}"] += 1
    table.row("REST calls per episode", f"{len(requests) / run.expected:.2f}")
    for kind in ("callbacks", "status edits", "channel posts"):
        table.row(f"  {kind}", f"{kinds.pop(kind, 0) / run.expected:.2f}")
    table.row("  other", f"{sum(kinds.values()) / run.expected:.2f}")
    for kind, count in kinds.most_common():
        table.row(f"    {kind[7:]}", f"{count / run.expected:.2f}")

    edits: dict[str, list[float]] = {}
    for request in fake.requests:
        if request.route in EDIT_ROUTES:
            edits.setdefault(request.path, []).append(request.timestamp)
    gaps = [b - a for times in edits.values() for a, b in itertools.pairwise(times)]
    shortest = min(gaps, default=float("inf"))
    table.row(
        f"shortest edit gap, one message ({len(edits)} messages)",
        f"{shortest:.3f} s",
        f">= {STATUS_INTERVAL} s",
        shortest >= STATUS_INTERVAL,
    )
    statuses = Counter(r.status for r in fake.requests)
    refused = [statuses[429], statuses[401], statuses[403]]
    table.row(
        "429 / 401 / 403 answers",
        " / ".join(map(str, refused)),
        "0",
        sum(refused) == 0 and fake.invalid_request_count == 0,
    )


def report_loop(table: Table, run: Run, sampler: Sampler) -> None:
    lags = sampler.lags
    p99 = percentile(lags, 0.99)
    table.row(f"event-loop lag p50 ({len(lags)} wakes)", f"{percentile(lags, 0.5) * 1000:.1f} ms")
    target = f"< {LAG_P99_TARGET * 1000:.0f} ms"
    table.row("event-loop lag p99", f"{p99 * 1000:.1f} ms", target, p99 < LAG_P99_TARGET)
    table.row("event-loop lag max", f"{max(lags, default=0.0) * 1000:.1f} ms")
    late = sum(lag > LAG_P99_TARGET for lag in lags)
    # Not on the CPU: other processes had it, or another thread (the database's) held the GIL.
    table.row(
        f"  wakes > {target[2:]} late: all / loop thread on CPU", f"{late} / {sampler.late_on_cpu}"
    )
    full = [pause for generation, pause in run.gc.pauses if generation == 2]
    table.row(
        "  garbage collections: all / full, longest full",
        f"{len(run.gc.pauses)} / {len(full)}, {max(full, default=0.0) * 1000:.0f} ms",
    )


def report_limiter(table: Table, run: Run, sampler: Sampler) -> None:
    limiter = sampler.limiter
    table.row(
        "LLM calls in flight: peak / bound",
        f"{limiter.peak} / {limiter.capacity}",
        "<= bound",
        limiter.peak <= limiter.capacity,
    )
    share = sampler.queued_at_bound_s / sampler.queued_s if sampler.queued_s else float("nan")
    table.row(
        "at the bound while calls wait",
        f"{share:.0%} of {sampler.queued_s:.2f} s",
        f">= {AT_BOUND_TARGET:.0%}",
        share >= AT_BOUND_TARGET,
    )
    table.row("most calls waiting at once", str(sampler.max_waiting))
    if sampler.busy_s:
        used = sampler.slot_seconds / (sampler.busy_s * limiter.capacity)
        table.row(
            "slots taken while any call runs or waits", f"{used:.0%} of {sampler.busy_s:.2f} s"
        )
    if run.model_seconds:
        table.row(
            "slot time per second of model time", f"{sampler.slot_seconds / run.model_seconds:.2f}"
        )


def report_fairness(table: Table, run: Run) -> list[tuple[int, float]]:
    """Rows for the completion-time ratios; returns (guild number, seconds) per guild."""
    first: dict[int, float] = {}
    channel_guild: dict[int, int] = {}
    for room, inter in run.interactions:
        first[room.guild.id] = min(first.get(room.guild.id, inter.created_at), inter.created_at)
        channel_guild[room.channel.id] = room.guild.id
    last: dict[int, float] = {}
    for request in run.deliveries.values():
        guild = channel_guild[int(request.path_params["channel_id"])]
        last[guild] = max(last.get(guild, 0.0), request.timestamp)
    per_guild = [
        (n, last[guild] - started)
        for n, (guild, started) in enumerate(first.items(), 1)
        if guild in last
    ]
    ratios = sorted(seconds / run.alone for _, seconds in per_guild)
    if not ratios:
        return []
    table.row("guild completion / one episode alone: min", f"{ratios[0]:.2f}x")
    table.row("  median", f"{statistics.median(ratios):.2f}x")
    table.row("  max", f"{ratios[-1]:.2f}x")
    spread = ratios[-1] / ratios[0]
    table.row(
        "  spread (max / min)",
        f"{spread:.2f}",
        f"<= {FAIRNESS_SPREAD_TARGET}",
        spread <= FAIRNESS_SPREAD_TARGET and len(ratios) == run.guilds,
    )
    return per_guild


@contextlib.asynccontextmanager
async def _nothing() -> AsyncIterator[None]:
    yield


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 episodes from 5 guilds")
    parser.add_argument(
        "--ops-overhead",
        action="store_true",
        help="the load with the bot's monitoring off and on (scraped, dashboard open), in turns",
    )
    args = parser.parse_args()
    guilds, per_guild = (5, 2) if args.quick else (10, WRITERS_PER_GUILD)
    started = time.perf_counter()
    if args.ops_overhead:
        from bench._ops_overhead import ops_overhead

        asyncio.run(ops_overhead(guilds, per_guild, rounds=3))
    else:
        asyncio.run(bench(guilds, per_guild))
    print(f"\n  (the whole run took {time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
