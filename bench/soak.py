"""Fault soak: many episodes from many guilds through the real bot while the model API misbehaves.

    uv run python bench/soak.py [--quick] [--seed N] [--rate 0.2] [--kinds 429,529,...]

Prints a report and exits 1 when a check fails; writes nothing (the database lives in a
temporary directory that is removed).

The bot is built by the composition root (``build_generator``/``build_bot``) in-process against
the fake Discord (tests/fake_discord), with the real ``AnthropicProvider`` and SDK over loopback
against the fake Messages API (tests/fake_anthropic). The fake fails a seeded share of the model
requests (``RandomFaults``): a 429 with ``retry-after``, a 529, a 500, a stream dropped mid-answer,
an SSE ``error`` event, or a stall (an answer that comes late). No step fails more often than the
provider retries, so every episode can be written; what the soak checks is what the faults must
not do:

- lose an episode: every one is delivered, as exactly one script post (counted by its nonce);
- leave a status behind: every status message ends on its summary and "Script posted";
- pay for a step twice: the fake's complete answers per (episode, step) are at most one, the
  usage ledger has one successful row per step, and it holds every complete answer and every
  retry the faults forced (requests = complete answers + failed ones);
- leave anything unfinished in storage: every episode is done and marked delivered.

A fault-free run of the same load follows (skipped with ``--quick``): the makespan ratio is what
the faults cost in time; the limiter's capacity is sampled too (it adapts to 429/529 answers).
``--quick``: 10 episodes from 5 guilds; ``--kinds``: deal only these faults.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import anthropic

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.__main__ import build_bot, build_generator
from bot.client import ShowrunnerBot
from bot.settings import Settings
from scriptgen.limiter import FairLimiter
from scriptgen.providers.anthropic import AnthropicProvider, Backoff
from scriptgen.providers.base import Provider
from storage import Database, EpisodeRecord
from tests.episode_responder import EpisodeResponder
from tests.fake_anthropic import (
    FAILURES,
    FAULT_KINDS,
    FakeAnthropic,
    FaultHook,
    FaultKind,
    RandomFaults,
    StepId,
    completed_by_step,
)
from tests.fake_discord import (
    FakeChannel,
    FakeDiscord,
    FakeGuild,
    FakeInteraction,
    FakeMessage,
    FakeUser,
)

TOKEN = "soak-bot-token"
API_KEY = "soak-api-key"
POST_MESSAGE = "POST /channels/{channel_id}/messages"
PREMISES = [
    "A barista discovers the espresso machine is haunted",
    "The office goes paperless and the printer takes it personally",
    "A wedding planner is double-booked with her own ex",
    "The night shift at a museum finds the dinosaur bones rearranged",
    "Two rival food trucks are forced to share one parking spot",
]
POSTED = "Script posted"
SAMPLE_PERIOD = 0.05
ENDINGS = (POSTED, "**Failed.**", "**Cancelled.**", "could not be posted", "**Paused")
"""What a status that will not change again says (the last three should not happen here)."""


@dataclass(frozen=True)
class SoakConfig:
    """One soak: the load, the faults and the fake model's pace."""

    guilds: int = 5
    per_guild: int = 6
    scenes: int = 3
    rate: float = 0.2
    """The share of model requests faulted."""
    kinds: tuple[FaultKind, ...] = FAULT_KINDS
    """The faults dealt, in turn."""
    seed: int = 1
    ttft: float = 0.1
    """Seconds before a fake answer's first token."""
    per_chunk: float = 0.002
    """Seconds between two streamed deltas."""
    stall_s: float = 2.0
    retry_after: float = 1.0
    """The ``retry-after`` (seconds) of a faulted 429."""
    max_per_step: int = 2
    """Failures one step may meet; the provider makes ``max_attempts`` (more) attempts."""
    max_attempts: int = 4
    max_concurrent_calls: int = 8
    max_parallel_scenes: int = 3
    status_interval: float = 1.0
    timeout: float = 180.0
    """Seconds the whole load may take before the soak gives up waiting."""

    @property
    def expected(self) -> int:
        return self.guilds * self.per_guild


@dataclass
class Room:
    guild: FakeGuild
    channel: FakeChannel
    writers: list[FakeUser]


@dataclass
class SoakResult:
    """What one soak saw; :meth:`checks` turns it into verdicts."""

    config: SoakConfig
    records: list[EpisodeRecord] = field(default_factory=list)
    interactions: list[FakeInteraction] = field(default_factory=list)
    premises: list[str] = field(default_factory=list)
    """The premise of each interaction's /episode, in the same order."""
    posts_by_nonce: Counter[str] = field(default_factory=Counter)
    answers: Counter[StepId] = field(default_factory=Counter)
    """The fake's complete answers per step."""
    ledger_ok: Counter[tuple[str, str]] = field(default_factory=Counter)
    """Successful ledger rows per (episode public id, step key)."""
    ledger_retries: int = 0
    ledger_errors: int = 0
    requests: int = 0
    faults: RandomFaults | None = None
    makespan: float = float("nan")
    """Seconds from the first /episode to the last status on its final state."""
    episode_seconds: list[float] = field(default_factory=list)
    """Per episode, from its /episode to its script posted."""
    calls_peak: int = 0
    calls_bound: int = 0
    limits: list[int] = field(default_factory=list)
    """The limiter's capacity (its adaptive limit), sampled every ``SAMPLE_PERIOD`` s."""
    in_flight: list[int] = field(default_factory=list)
    """Calls in flight, sampled with :attr:`limits`."""
    discord_refusals: int = 0
    errors_logged: list[str] = field(default_factory=list)

    # -- the figures the checks read -----------------------------------------------------------

    @property
    def delivered(self) -> int:
        ids = {f"sr-{r.public_id}" for r in self.records}
        return len(ids & set(self.posts_by_nonce))

    @property
    def duplicate_posts(self) -> int:
        return sum(n - 1 for n in self.posts_by_nonce.values())

    @property
    def final_statuses(self) -> int:
        return sum(is_final(i.original, self.config.scenes) for i in self.interactions)

    @property
    def stored_done(self) -> int:
        return sum(r.status == "done" and r.delivered_message_id is not None for r in self.records)

    @property
    def answered_twice(self) -> list[StepId]:
        return sorted(step for step, n in self.answers.items() if n > 1)

    @property
    def recorded_twice(self) -> list[tuple[str, str]]:
        return sorted(key for key, n in self.ledger_ok.items() if n > 1)

    @property
    def failed_requests(self) -> int:
        return self.faults.failures if self.faults is not None else 0

    @property
    def complete_answers(self) -> int:
        return sum(self.answers.values())

    def checks(self) -> dict[str, tuple[str, str, bool]]:
        """Each check's figure, target and verdict, by name."""
        n = self.config.expected
        stored = len(self.records)
        answers, failed = self.complete_answers, self.failed_requests
        ledger = sum(self.ledger_ok.values())
        out = {
            "episodes started": (f"{stored} / {n}", "all", stored == n),
            "delivered / lost": (
                f"{self.delivered} / {n - self.delivered}",
                "0 lost",
                self.delivered == n,
            ),
            "duplicate script posts": (str(self.duplicate_posts), "0", self.duplicate_posts == 0),
            "statuses on their final state": (
                f"{self.final_statuses} / {n}",
                "all",
                self.final_statuses == n,
            ),
            "done and delivered in storage": (
                f"{self.stored_done} / {n}",
                "all",
                self.stored_done == n,
            ),
            "steps answered twice (fake)": (
                str(len(self.answered_twice)),
                "0",
                not self.answered_twice,
            ),
            "steps recorded twice (ledger)": (
                str(len(self.recorded_twice)),
                "0",
                not self.recorded_twice,
            ),
            "complete answers / ledger rows": (f"{answers} / {ledger}", "equal", answers == ledger),
            "requests - answers - faulted": (
                str(self.requests - answers - failed),
                "0",
                self.requests == answers + failed,
            ),
            "retries on the ledger / faulted": (
                f"{self.ledger_retries} / {failed}",
                "equal",
                self.ledger_retries == failed,
            ),
            "failed calls on the ledger": (str(self.ledger_errors), "0", self.ledger_errors == 0),
            "errors logged": (str(len(self.errors_logged)), "0", not self.errors_logged),
        }
        if self.faults is not None and self.config.rate > 0:
            kinds = self.faults.by_kind()
            seen = sum(kind in kinds for kind in self.config.kinds)
            out["fault kinds injected"] = (
                f"{seen} / {len(self.config.kinds)}",
                "all",
                seen == len(self.config.kinds),
            )
        return out


def is_final(message: FakeMessage | None, scenes: int) -> bool:
    """The status shows the finished episode's summary and where its script was posted, and no
    button."""
    if message is None or not message.embeds or message.custom_ids():
        return False
    text = str(message.embeds[0].get("description", ""))
    return f"{scenes} scenes" in text and POSTED in text


def has_ended(message: FakeMessage | None) -> bool:
    """The status will not change again (whatever the ending)."""
    if message is None or not message.embeds or message.custom_ids():
        return False
    text = str(message.embeds[0].get("description", ""))
    return any(ending in text for ending in ENDINGS)


# -- the bot and its world --------------------------------------------------------------------


def populate(fake: FakeDiscord, guilds: int, writers: int) -> list[Room]:
    rooms = []
    for n in range(1, guilds + 1):
        guild = fake.add_guild(f"Soak Room {n}")
        channel = guild.add_text_channel("episodes")
        people = [guild.add_member(f"writer{n}-{w}") for w in range(1, writers + 1)]
        rooms.append(Room(guild, channel, people))
    return rooms


def make_settings(
    fake: FakeDiscord, api: FakeAnthropic, db_path: Path, **overrides: Any
) -> Settings:
    values: dict[str, Any] = {
        "discord_token": TOKEN,
        "provider": "anthropic",
        "anthropic_api_key": API_KEY,
        "anthropic_base_url": api.base_url,
        "db_path": db_path,
        "discord_api_base": fake.rest_base,
        "discord_gateway": str(fake.gateway_url),
        "dev_guild_id": None,
        **overrides,
    }
    return Settings(_env_file=None, **values)


def make_provider(
    api: FakeAnthropic, backoff: Backoff | None, max_attempts: int
) -> AnthropicProvider:
    """The real provider on the real SDK, pointed at the fake."""
    client = anthropic.AsyncAnthropic(api_key=API_KEY, base_url=api.base_url)
    return AnthropicProvider(client, max_attempts=max_attempts, backoff=backoff)


@contextlib.asynccontextmanager
async def running_bot(
    fake: FakeDiscord, settings: Settings, provider: Provider
) -> AsyncIterator[ShowrunnerBot]:
    """The bot, built by the composition root and connected to ``fake``; closed afterwards
    (with its database)."""
    async with await Database.open(settings.db_path) as db:
        generator = build_generator(settings, provider)
        # on_ready otherwise waits 2 s after the last GUILD_CREATE
        bot = build_bot(settings, db, generator, guild_ready_timeout=0.05)
        task = asyncio.create_task(bot.start(TOKEN), name="soak-bot")
        try:
            await fake.wait_until_ready(10)
            await asyncio.wait_for(bot.wait_until_ready(), 10)
            yield bot
        finally:
            await bot.close()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(task, 10)


async def wait_until(fake: FakeDiscord, probe: Callable[[], bool], timeout: float) -> bool:  # noqa: ASYNC109
    """Waits (woken by the fake Discord's change signal) until ``probe()``; False on timeout."""
    try:
        await fake.state.signal.wait_until(lambda: True if probe() else None, timeout, "the soak")
    except TimeoutError:
        return False
    return True


class ErrorLog(logging.Handler):
    """Keeps the errors the bot (or a library) logs, for the report."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    @contextlib.contextmanager
    def installed(self) -> Iterator[ErrorLog]:
        root = logging.getLogger()
        root.addHandler(self)
        try:
            yield self
        finally:
            root.removeHandler(self)


# -- the soak ---------------------------------------------------------------------------------


async def soak(config: SoakConfig, backoff: Backoff | None = None) -> SoakResult:
    """Runs one soak; ``backoff`` replaces the provider's (tests make it instant)."""
    faults = RandomFaults(
        rate=config.rate,
        seed=config.seed,
        kinds=config.kinds,
        retry_after=config.retry_after,
        stall_s=config.stall_s,
        max_per_step=config.max_per_step,
    )
    hook: FaultHook | None = faults if config.rate > 0 else None
    result = SoakResult(config, faults=faults)
    responder = EpisodeResponder(seed=config.seed)
    with ErrorLog().installed() as errors:
        async with (
            FakeAnthropic(
                responder=responder, ttft=config.ttft, per_chunk=config.per_chunk, faults=hook
            ) as api,
            FakeDiscord(bot_token=TOKEN) as fake,
        ):
            with fake.patch_discord_py(), tempfile.TemporaryDirectory(prefix="soak-") as tmp:
                settings = make_settings(
                    fake,
                    api,
                    Path(tmp) / "showrunner.db",
                    status_interval=config.status_interval,
                    max_episodes_per_guild=config.per_guild,
                    max_concurrent_calls=config.max_concurrent_calls,
                    max_parallel_scenes=config.max_parallel_scenes,
                )
                provider = make_provider(api, backoff, config.max_attempts)
                rooms = populate(fake, config.guilds, config.per_guild)
                async with running_bot(fake, settings, provider) as bot:
                    limiter = bot.generator.limiter
                    sampling = asyncio.create_task(sample(limiter, result), name="soak-sampler")
                    try:
                        await load(fake, rooms, config, result)
                    finally:
                        sampling.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await sampling
                    await collect(bot, rooms, result)
                    if limiter is not None:
                        result.calls_peak, result.calls_bound = limiter.peak, limiter.capacity
            result.answers = completed_by_step(api.requests)
            result.requests = len(api.requests)
            posts = posts_by_nonce(fake)
            result.posts_by_nonce = Counter({nonce: len(t) for nonce, t in posts.items()})
            result.episode_seconds = episode_seconds(result, posts)
            result.discord_refusals = sum(r.status in (401, 403, 429) for r in fake.requests)
    result.errors_logged = [f"{r.name}: {r.getMessage()[:200]}" for r in errors.records]
    return result


async def sample(limiter: FairLimiter | None, result: SoakResult) -> None:
    """The limiter's capacity and calls in flight, every ``SAMPLE_PERIOD`` s (it adapts to
    429/529 answers: how far the faults push it down is part of what they cost)."""
    if limiter is None:
        return
    while True:
        result.limits.append(limiter.capacity)
        result.in_flight.append(limiter.in_flight)
        await asyncio.sleep(SAMPLE_PERIOD)


def premise(config: SoakConfig, guild: int, writer: int) -> str:
    """Every episode its own premise: the fake tells episodes apart by it."""
    number = guild * config.per_guild + writer + 1
    return f"{PREMISES[number % len(PREMISES)]} (soak episode {number})"


async def load(
    fake: FakeDiscord, rooms: list[Room], config: SoakConfig, result: SoakResult
) -> None:
    """Every writer's /episode at once; returns when every status has ended (or on timeout)."""
    order = [(g, room, w) for g, room in enumerate(rooms) for w in range(config.per_guild)]
    result.premises = [premise(config, g, w) for g, _, w in order]
    started = time.monotonic()
    fired = await asyncio.gather(
        *(
            fake.invoke_slash_command(
                room.guild,
                room.channel,
                room.writers[w],
                "episode",
                {"premise": text, "scenes": config.scenes},
                require_synced=True,
            )
            for (_, room, w), text in zip(order, result.premises, strict=True)
        )
    )
    result.interactions = list(fired)
    remaining = list(fired)

    def all_ended() -> bool:
        remaining[:] = [i for i in remaining if not has_ended(i.original)]
        return not remaining

    await wait_until(fake, all_ended, config.timeout)
    result.makespan = time.monotonic() - started


async def collect(bot: ShowrunnerBot, rooms: Sequence[Room], result: SoakResult) -> None:
    """The episodes as storage has them, and the usage ledger."""
    for room in rooms:
        result.records += await bot.episodes.list_recent(room.guild.id, limit=1000)
    rows = await bot.db.fetchall(
        "SELECT e.public_id, u.step, u.outcome, u.retries FROM usage u"
        " JOIN episodes e ON e.id = u.episode_id"
    )
    for row in rows:
        if row["outcome"] == "ok":
            result.ledger_ok[(row["public_id"], row["step"])] += 1
        else:
            result.ledger_errors += 1
        result.ledger_retries += int(row["retries"])


def posts_by_nonce(fake: FakeDiscord) -> dict[str, list[float]]:
    """The script posts the fake answered, by nonce: when each was made."""
    posts: dict[str, list[float]] = {}
    for r in fake.requests:
        script = any(f.filename.endswith(".fountain") for f in r.files)
        if r.route == POST_MESSAGE and r.status == 200 and script:
            posts.setdefault(str(r.payload.get("nonce", "")), []).append(r.timestamp)
    return posts


def episode_seconds(result: SoakResult, posts: dict[str, list[float]]) -> list[float]:
    """Per delivered episode, from its /episode to its script posted."""
    by_premise = {r.request.premise: r.public_id for r in result.records}
    seconds = []
    for inter, text in zip(result.interactions, result.premises, strict=True):
        times = posts.get(f"sr-{by_premise.get(text, '')}")
        if times:
            seconds.append(min(times) - inter.created_at)
    return seconds


# -- the report -------------------------------------------------------------------------------


def report(result: SoakResult, reference: SoakResult | None = None) -> bool:
    """Prints the report; True when every check passed."""
    config = result.config
    faults = result.faults
    kinds = faults.by_kind() if faults is not None else Counter()
    injected = sum(kinds.values())
    requests = result.requests or 1
    print(
        f"\nShowrunner fault soak: {config.expected} episodes of {config.scenes} scenes from "
        f"{config.guilds} guilds at once ({config.per_guild} writers each), the real bot, SDK and "
        f"provider against the fake Discord and Messages API, one process\n"
        f"  faults: {config.rate:.0%} of model requests (seed {config.seed}), at most "
        f"{config.max_per_step} failures per step; the provider makes up to "
        f"{config.max_attempts} attempts; 429s carry retry-after {config.retry_after:g} s, "
        f"stalls last {config.stall_s:g} s\n"
        f"  fake model: first token after {config.ttft * 1000:.0f} ms, "
        f"{config.per_chunk * 1000:g} ms per streamed delta; max_concurrent_calls "
        f"{config.max_concurrent_calls}, max_parallel_scenes {config.max_parallel_scenes}, "
        f"status_interval {config.status_interval:g} s"
    )
    print(f"\n  {'model requests':<40} {result.requests:>8}")
    print(f"  {'complete answers':<40} {result.complete_answers:>8}")
    print(
        f"  {'faults injected':<40} {injected:>8}   {injected / requests:.1%} of requests "
        f"({result.failed_requests} failed, {kinds['stall']} stalled)"
    )
    for kind in config.kinds:
        effect = "fails" if kind in FAILURES else "delays"
        print(f"    {kind + ' (' + effect + ')':<38} {kinds[kind]:>8}")
    seconds = sorted(result.episode_seconds)
    if seconds:
        print(
            f"  {'/episode to script posted: p50 / max':<40} "
            f"{statistics.median(seconds):>7.2f} s / {seconds[-1]:.2f} s"
        )
    print(f"  {'last status final after':<40} {result.makespan:>7.2f} s")
    if reference is not None:
        ratio = result.makespan / reference.makespan if reference.makespan else float("nan")
        print(
            f"  {'the same load without faults':<40} {reference.makespan:>7.2f} s   "
            f"(with faults: {ratio:.2f}x; its limiter capacity mean "
            f"{statistics.fmean(reference.limits or [0]):.1f})"
        )
    print(
        f"  {'LLM calls in flight: peak / mean':<40} {result.calls_peak:>4} / "
        f"{statistics.fmean(result.in_flight or [0]):.1f}"
    )
    if result.limits:
        print(
            f"  {'limiter capacity: min / mean / at the end':<40} {min(result.limits):>4} / "
            f"{statistics.fmean(result.limits):.1f} / {result.calls_bound}   "
            f"(max_concurrent_calls {config.max_concurrent_calls})"
        )
    print(f"  {'Discord 401/403/429 answers':<40} {result.discord_refusals:>8}")

    print(f"\n  {'check':<40} {'value':>14}   {'target':<8} result")
    passed = True
    for name, (value, target, ok) in result.checks().items():
        passed &= ok
        print(f"  {name:<40} {value:>14}   {target:<8} {'PASS' if ok else 'FAIL'}")
    problems = _problems(result)
    if problems:
        print("\n  what went wrong:")
        for line in problems[:12]:
            print(f"    {line}")
    return passed


def _problems(result: SoakResult) -> list[str]:
    lines = []
    for record in result.records:
        if record.status != "done" or record.delivered_message_id is None:
            lines.append(f"{record.public_id}: {record.status}, {record.error or 'not delivered'}")
    for step in result.answered_twice:
        lines.append(f"answered {result.answers[step]} times: {step.key} of '{step.episode}'")
    for public_id, key in result.recorded_twice:
        lines.append(
            f"on the ledger {result.ledger_ok[(public_id, key)]} times: {key} of {public_id}"
        )
    for inter in result.interactions:
        if not is_final(inter.original, result.config.scenes):
            message = inter.original
            text = (
                str(message.embeds[0].get("description", "")) if message and message.embeds else ""
            )
            lines.append(f"status of interaction {inter.id} not final: {text[-160:]!r}")
    lines += result.errors_logged
    return lines


def _kinds(text: str) -> tuple[FaultKind, ...]:
    chosen = [k.strip() for k in text.split(",") if k.strip()]
    unknown = [k for k in chosen if k not in FAULT_KINDS]
    if unknown or not chosen:
        raise argparse.ArgumentTypeError(f"choose among {', '.join(FAULT_KINDS)}")
    return tuple(k for k in FAULT_KINDS if k in chosen)


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 episodes from 5 guilds")
    parser.add_argument("--seed", type=int, default=SoakConfig.seed)
    parser.add_argument("--rate", type=float, default=SoakConfig.rate)
    parser.add_argument(
        "--kinds",
        type=_kinds,
        default=FAULT_KINDS,
        help=f"the faults to deal, comma-separated (default: {','.join(FAULT_KINDS)})",
    )
    args = parser.parse_args()
    config = SoakConfig(seed=args.seed, rate=args.rate, kinds=args.kinds)
    if args.quick:
        config = replace(config, per_guild=2)
    started = time.perf_counter()
    result = asyncio.run(soak(config))
    reference = None if args.quick else asyncio.run(soak(replace(config, rate=0.0)))
    ok = report(result, reference)
    print(f"\n  (the whole run took {time.perf_counter() - started:.1f} s)")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
