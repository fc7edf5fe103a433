"""Many episodes from many guilds at once: the real bot, in-process, against the fake Discord.

    uv run python bench/bot_load.py [--quick]

Prints a report, writes nothing (the database lives in a temporary directory that is removed).

The fake Discord (tests/fake_discord) listens on loopback with 10 guilds, each with one channel and
5 writers; the bot is built by the composition root (``build_generator``/``build_bot``) with the
offline demo provider at known latencies, and the fake refuses more than 5 edits of one message
per 5 s with a 429 (without advertising the bucket), so only the bot's own pacing avoids them.
One episode runs alone first (the reference), then every writer of every guild runs ``/episode``
at once (guild after guild: the order a FIFO queue would serve unfairly), and the bench waits
until every script is posted and every status shows its final summary.

Figures:
- delivered / lost: a delivery is a channel message POST carrying a ``.fountain`` file;
- REST calls per episode during the load (callbacks, status edits, channel posts, other);
- the shortest gap between two edits of one message, and the 401/403/429 answers;
- event-loop lag: a task in the same loop (bot and fake share it) sleeps 10 ms and records how
  late it wakes;
- the process-wide LLM call limiter: its peak vs its capacity, and the share of the time calls
  were queued during which every slot was busy (a work-conserving limiter is at 100%);
- fairness: each guild's completion time (its first invocation to its last delivery) divided by
  the time one episode takes alone.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import logging
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.__main__ import build_bot, build_generator
from bot.client import ShowrunnerBot
from bot.settings import Settings
from scriptgen.limiter import FairLimiter
from scriptgen.providers.base import Generation, OutputT, StepKind, StepRequest
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

# Targets.
LAG_P99_TARGET = 0.020
AT_BOUND_TARGET = 0.90
CALLBACK_DEADLINE = 3.0
FAIRNESS_SPREAD_TARGET = 1.5
WALL_LIMIT = 90.0


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
    queued_s: float = 0.0
    queued_at_bound_s: float = 0.0
    busy_s: float = 0.0
    slot_seconds: float = 0.0
    max_waiting: int = 0

    async def run(self) -> None:
        in_flight, waiting = self.limiter.in_flight, self.limiter.waiting
        while True:
            before = time.perf_counter()
            await asyncio.sleep(self.period)
            elapsed = time.perf_counter() - before
            self.lags.append(max(0.0, elapsed - self.period))
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
    """The status shows the summary of a finished episode ("**4 scenes** · written in ...")."""
    if message is None or not message.embeds:
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
    load_start: float = 0.0
    fired_s: float = 0.0
    last_delivery: float = 0.0
    finals_at: float | None = None
    interactions: list[tuple[Room, FakeInteraction]] = field(default_factory=list)
    deliveries: dict[str, RecordedRequest] = field(default_factory=dict)
    duplicates: int = 0
    final_ok: int = 0
    records_done: int = 0
    episode_authors: dict[str, tuple[int, int]] = field(default_factory=dict)
    model_calls: int = 0
    model_seconds: float = 0.0


async def start_bot(
    fake: FakeDiscord, settings: Settings, provider: MeteredDemoProvider, db: Database
) -> tuple[ShowrunnerBot, asyncio.Task[None]]:
    generator = build_generator(settings, provider)
    bot = build_bot(settings, db, generator, guild_ready_timeout=0.05)
    task = asyncio.create_task(bot.start(TOKEN), name="bot")
    await fake.wait_until_ready(10)
    await asyncio.wait_for(bot.wait_until_ready(), 10)
    return bot, task


async def one_alone(fake: FakeDiscord, room: Room, run: Run) -> None:
    """The reference: one episode with nothing else running, invocation to script posted."""
    deliveries = Deliveries(fake, time.monotonic())
    inter = await invoke(fake, room, 0)
    if not await wait_until(fake, lambda: deliveries.poll() >= 1, 30):
        raise SystemExit("bot_load: the episode run alone was never posted")
    [posted] = deliveries.by_nonce.values()
    run.alone = posted.timestamp - inter.created_at
    # Its last status edit comes up to one interval later; let it land before the load starts.
    await wait_until(fake, lambda: is_final(inter.original), 10)


async def load(
    fake: FakeDiscord, bot: ShowrunnerBot, rooms: list[Room], run: Run, sampler: Sampler
) -> None:
    expected = run.guilds * run.per_guild
    run.load_start = time.monotonic()
    deliveries = Deliveries(fake, run.load_start)
    sampling = asyncio.create_task(sampler.run(), name="lag-sampler")
    try:
        order = [(room, w) for room in rooms for w in range(run.per_guild)]
        fired = await asyncio.gather(*(invoke(fake, room, w) for room, w in order))
        run.fired_s = time.monotonic() - run.load_start
        run.interactions = [(room, inter) for (room, _), inter in zip(order, fired, strict=True)]
        deadline = WALL_LIMIT - (time.monotonic() - run.load_start)
        await wait_until(fake, lambda: deliveries.poll() >= expected, deadline)
        run.deliveries, run.duplicates = deliveries.by_nonce, deliveries.duplicates
        if run.deliveries:
            run.last_delivery = max(r.timestamp for r in run.deliveries.values())
        remaining = {inter.id: inter for _, inter in run.interactions}

        def all_final() -> bool:
            for key, inter in list(remaining.items()):
                if is_final(inter.original):
                    del remaining[key]
            return not remaining

        if await wait_until(fake, all_final, STATUS_INTERVAL * 4 + 5):
            run.finals_at = time.monotonic()
        run.final_ok = expected - len(remaining)
    finally:
        sampling.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampling
    for room in rooms:
        for record in await bot.episodes.list_recent(room.guild.id, limit=100):
            run.episode_authors[record.public_id] = (record.guild_id, record.author_id)
            if f"sr-{record.public_id}" in run.deliveries and record.status == "done":
                run.records_done += record.delivered_message_id is not None


async def bench(guilds: int, per_guild: int) -> None:
    warnings = WarningLog()
    logging.getLogger().addHandler(warnings)
    run = Run(guilds, per_guild)
    async with FakeDiscord(bot_token=TOKEN) as fake:
        with fake.patch_discord_py():
            await run_against(fake, run, guilds, per_guild, warnings)


async def run_against(
    fake: FakeDiscord, run: Run, guilds: int, per_guild: int, warnings: WarningLog
) -> None:
    provider = MeteredDemoProvider()
    rooms: list[Room] = []
    for n in range(guilds):
        guild = fake.add_guild(f"Writers' Room {n + 1}")
        channel = guild.add_text_channel("episodes")
        writers = [guild.add_member(f"writer{n + 1}-{w + 1}") for w in range(WRITERS_PER_GUILD)]
        rooms.append(Room(guild, channel, writers))
    limit, per = EDIT_BUCKET
    fake.emulate_bucket(lambda r: r.route in EDIT_ROUTES, limit=limit, per=per)
    with tempfile.TemporaryDirectory(prefix="showrunner-bench-") as tmp:
        values: dict[str, Any] = {
            "discord_token": TOKEN,
            "provider": "demo",
            "db_path": Path(tmp) / "showrunner.db",
            "discord_api_base": fake.rest_base,
            "discord_gateway": str(fake.gateway_url),
            "dev_guild_id": None,
            "status_interval": STATUS_INTERVAL,
            "max_episodes_per_guild": max(5, per_guild),
            "max_concurrent_calls": MAX_CONCURRENT_CALLS,
            "max_parallel_scenes": MAX_PARALLEL_SCENES,
        }
        settings = Settings(_env_file=None, **values)  # type: ignore[call-arg]
        db = await Database.open(settings.db_path)
        try:
            bot, task = await start_bot(fake, settings, provider, db)
            try:
                assert bot.generator.limiter is not None
                sampler = Sampler(bot.generator.limiter)
                await one_alone(fake, rooms[0], run)
                calls, seconds = provider.calls, provider.model_seconds
                await load(fake, bot, rooms, run, sampler)
                run.model_calls = provider.calls - calls
                run.model_seconds = provider.model_seconds - seconds
            finally:
                await bot.close()
                with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                    await asyncio.wait_for(task, 10)
        finally:
            await db.close()
    report(fake, run, sampler, warnings.records)


# -- the report ---------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "FAIL"


def row(metric: str, value: str, target: str = "", ok: bool | None = None) -> None:
    mark = "" if ok is None else verdict(ok)
    print(f"  {metric:<44} {value:>22}   {target:<18} {mark}")


def report(
    fake: FakeDiscord, run: Run, sampler: Sampler, warnings: list[logging.LogRecord]
) -> None:
    expected = run.guilds * run.per_guild
    limiter = sampler.limiter
    log = [r for r in fake.requests if r.timestamp >= run.load_start]
    end = run.finals_at or time.monotonic()
    makespan = run.last_delivery - run.load_start if run.last_delivery else float("nan")

    print(
        f"\nShowrunner under load: {expected} episodes of {SCENES} scenes from {run.guilds} guilds "
        f"at once ({run.per_guild} writers each), the real bot vs the fake Discord, one process"
    )
    latencies = ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in LATENCIES.items())
    print(f"  demo provider: {latencies}")
    print(
        f"  max_concurrent_calls {MAX_CONCURRENT_CALLS}, max_parallel_scenes "
        f"{MAX_PARALLEL_SCENES}, status_interval {STATUS_INTERVAL} s, edit bucket "
        f"{EDIT_BUCKET[0]} per {EDIT_BUCKET[1]:.0f} s per message (429 beyond)"
    )
    print(f"  one episode alone: {run.alone:.2f} s from /episode to the script posted")
    finals = f"{run.finals_at - run.load_start:.2f} s" if run.finals_at else "never (timeout)"
    print(
        f"  load: {expected} /episode fired in {run.fired_s * 1000:.0f} ms; last script posted "
        f"after {makespan:.2f} s; every status final after {finals}"
    )
    ideal = run.model_seconds / limiter.capacity
    print(
        f"  model work: {run.model_calls} calls, {run.model_seconds:.1f} call-s; / capacity "
        f"{limiter.capacity} = {ideal:.2f} s, the shortest possible load; "
        f"makespan / that = {makespan / ideal if ideal else float('nan'):.2f}"
    )

    print(f"\n  {'metric':<44} {'value':>22}   {'target':<18} result")
    # Delivery.
    delivered = len(run.deliveries)
    lost = expected - delivered
    row("delivered / lost", f"{delivered} / {lost}", "0 lost", lost == 0)
    row("duplicate script posts", str(run.duplicates), "0", run.duplicates == 0)
    row(
        "statuses ending on the summary",
        f"{run.final_ok} / {expected}",
        "all",
        run.final_ok == expected,
    )
    row(
        "episodes done+delivered in storage",
        f"{run.records_done} / {expected}",
        "all",
        run.records_done == expected,
    )
    refusals = sum(
        1 for _, i in run.interactions if i.callback is not None and i.callback.type != 5
    )
    delays = [i.callback.delay for _, i in run.interactions if i.callback is not None]
    row("refused /episode (not deferred)", str(refusals), "0", refusals == 0)
    worst_callback = max(delays, default=float("inf"))
    row(
        "slowest first answer (defer)",
        f"{worst_callback * 1000:.0f} ms",
        f"< {CALLBACK_DEADLINE:.0f} s",
        worst_callback < CALLBACK_DEADLINE and len(delays) == expected,
    )

    # REST calls.
    kinds: Counter[str] = Counter()
    others: Counter[str] = Counter()
    for request in log:
        if request.route == CALLBACK_ROUTE:
            kinds["callbacks"] += 1
        elif request.route in EDIT_ROUTES:
            kinds["status edits"] += 1
        elif request.route == POST_MESSAGE:
            kinds["channel posts"] += 1
        else:
            kinds["other"] += 1
            others[request.route or request.path] += 1
    row("REST calls per episode (during the load)", f"{len(log) / expected:.2f}")
    for kind in ("callbacks", "status edits", "channel posts", "other"):
        row(f"  {kind}", f"{kinds[kind] / expected:.2f}")

    # Pacing.
    edits: dict[str, list[float]] = {}
    for request in fake.requests:
        if request.route in EDIT_ROUTES:
            edits.setdefault(request.path, []).append(request.timestamp)
    gaps = [b - a for times in edits.values() for a, b in itertools.pairwise(times)]
    min_gap = min(gaps, default=float("inf"))
    row(
        "shortest gap between edits of one message",
        f"{min_gap:.3f} s",
        f">= {STATUS_INTERVAL} s",
        min_gap >= STATUS_INTERVAL,
    )
    statuses = Counter(r.status for r in fake.requests)
    bad = {code: statuses[code] for code in (429, 401, 403)}
    row(
        "429 / 401 / 403 answers",
        " / ".join(str(n) for n in bad.values()),
        "0",
        sum(bad.values()) == 0 and fake.invalid_request_count == 0,
    )

    # Event loop.
    lags = sampler.lags
    p50, p99, worst = percentile(lags, 0.50), percentile(lags, 0.99), max(lags, default=0.0)
    row(f"event-loop lag p50 ({len(lags)} samples of 10 ms)", f"{p50 * 1000:.1f} ms")
    row(
        "event-loop lag p99",
        f"{p99 * 1000:.1f} ms",
        f"< {LAG_P99_TARGET * 1000:.0f} ms",
        p99 < LAG_P99_TARGET,
    )
    row("event-loop lag max", f"{worst * 1000:.1f} ms")

    # The limiter.
    row(
        "LLM calls in flight: peak / bound",
        f"{limiter.peak} / {limiter.capacity}",
        "<= bound",
        limiter.peak <= limiter.capacity,
    )
    at_bound = sampler.queued_at_bound_s / sampler.queued_s if sampler.queued_s else float("nan")
    row(
        "at the bound while calls wait",
        f"{at_bound:.0%} of {sampler.queued_s:.2f} s",
        f">= {AT_BOUND_TARGET:.0%}",
        at_bound >= AT_BOUND_TARGET,
    )
    utilisation = (
        sampler.slot_seconds / (sampler.busy_s * limiter.capacity) if sampler.busy_s else 0
    )
    row("mean slots used while any call runs", f"{utilisation:.0%} of {sampler.busy_s:.2f} s")
    row("most calls waiting at once", str(sampler.max_waiting))

    # Fairness.
    first: dict[int, float] = {}
    for room, inter in run.interactions:
        gid = room.guild.id
        first[gid] = min(first.get(gid, inter.created_at), inter.created_at)
    last: dict[int, float] = {}
    channel_guild = {room.channel.id: room.guild.id for room, _ in run.interactions}
    for request in run.deliveries.values():
        gid = channel_guild.get(int(request.path_params["channel_id"]), 0)
        last[gid] = max(last.get(gid, 0.0), request.timestamp)
    ratios = sorted((last[g] - first[g]) / run.alone for g in first if g in last)
    if ratios:
        spread = ratios[-1] / ratios[0]
        row(
            "guild completion / one alone: min",
            f"{ratios[0]:.2f}x",
        )
        row("  median", f"{statistics.median(ratios):.2f}x")
        row("  max", f"{ratios[-1]:.2f}x")
        row(
            "  spread (max / min)",
            f"{spread:.2f}",
            f"<= {FAIRNESS_SPREAD_TARGET}",
            spread <= FAIRNESS_SPREAD_TARGET and len(ratios) == run.guilds,
        )
    episode_times = episode_latencies(run)
    if episode_times:
        row(
            "one episode under load / alone: p50 / max",
            f"{statistics.median(episode_times) / run.alone:.2f}x / "
            f"{max(episode_times) / run.alone:.2f}x",
        )

    print("\n  per guild (guild-major firing order): completion s, / alone")
    line = []
    for n, gid in enumerate(first, 1):
        if gid in last:
            line.append(
                f"g{n} {last[gid] - first[gid]:.2f} s {(last[gid] - first[gid]) / run.alone:.2f}x"
            )
        else:
            line.append(f"g{n} -")
    for chunk in range(0, len(line), 5):
        print("    " + " | ".join(line[chunk : chunk + 5]))
    if others:
        print("  other REST calls: " + ", ".join(f"{k} x{v}" for k, v in others.most_common()))
    if warnings:
        print(f"\n  {len(warnings)} warnings logged; the first:")
        for record in warnings[:5]:
            print(f"    {record.name}: {record.getMessage()[:160]}")
    elapsed = end - run.load_start
    print(f"\n  (load phase {elapsed:.1f} s)")


def episode_latencies(run: Run) -> list[float]:
    """Invocation to script posted, per episode of the load."""
    by_writer: Mapping[tuple[int, int], FakeInteraction] = {
        (room.guild.id, inter.user.id): inter for room, inter in run.interactions
    }
    times = []
    for nonce, request in run.deliveries.items():
        author = run.episode_authors.get(nonce.removeprefix("sr-"))
        inter = by_writer.get(author) if author else None
        if inter is not None:
            times.append(request.timestamp - inter.created_at)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 episodes from 5 guilds")
    quick = parser.parse_args().quick
    guilds, per_guild = (5, 2) if quick else (10, 5)
    started = time.perf_counter()
    asyncio.run(bench(guilds, per_guild))
    print(f"  (whole run {time.perf_counter() - started:.1f} s)")


if __name__ == "__main__":
    main()
