"""``python -m bot`` with an unusable database: exit code 2 and one line naming the file.

Each scenario runs the real entry point in a subprocess with a clean environment (the demo
provider, a dummy token), in its own empty working directory. Discord's API is pointed at a
closed port on loopback: a bot that got past its database would try to log in there and fail
with a connection error, not with the database's one line, so "before Discord" is checked by
what the bot prints. The processes start at once in one module fixture (a bot takes about a
second to import); each test reads the outcome of its scenario.
"""

from __future__ import annotations

import asyncio
import os
import socket
import sqlite3
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from scriptgen.models import CallUsage, EpisodeRequest
from storage import MIGRATIONS, Database, EpisodeStore, SqliteCheckpoints
from storage.migrations import APPLICATION_ID

CLOSED_HOST, CLOSED_PORT = "127.0.0.1", 9
CLOSED_API = f"http://{CLOSED_HOST}:{CLOSED_PORT}/api/v10"
NEWER_MIGRATION = "m999_written_by_a_newer_showrunner"


def snapshot(base: Path) -> dict[str, bytes | None]:
    """Every file (its bytes) and directory (None) under ``base``, by relative path."""
    return {
        str(p.relative_to(base)): p.read_bytes() if p.is_file() else None
        for p in sorted(base.rglob("*"))
    }


@dataclass(frozen=True)
class Outcome:
    db_path: Path
    base: Path
    before: dict[str, bytes | None]
    returncode: int
    stdout: str
    stderr: str

    def changes(self) -> list[str]:
        """What the run added, removed or modified under the scenario's directory."""
        after = snapshot(self.base)
        return sorted(
            name
            for name in self.before.keys() | after.keys()
            if self.before.get(name, b"absent") != after.get(name, b"absent")
        )

    def database_line(self) -> str:
        """The one line a bot with an unusable database prints; checks exit code and shape."""
        assert self.returncode == 2, self
        assert "Traceback" not in self.stdout + self.stderr, self.stderr
        assert self.stdout == "", self.stdout
        lines = self.stderr.splitlines()
        assert len(lines) == 1, lines
        line = lines[0]
        assert line.startswith("showrunner: "), line
        assert str(self.db_path) in line, line
        # Nothing of Discord: no client log, no attempt at the closed port.
        assert "discord" not in line.lower() and CLOSED_HOST not in line, line
        return line


# -- the scenarios: each makes its database path under its own directory -------------------------


def corrupt_file(base: Path) -> Path:
    path = base / "showrunner.db"
    path.write_bytes(os.urandom(16 * 1024))
    return path


def directory(base: Path) -> Path:
    path = base / "showrunner.db"
    path.mkdir()
    return path


def under_a_regular_file(base: Path) -> Path:
    blocker = base / "data"
    blocker.write_text("a file where the database's directory should be\n")
    return blocker / "showrunner.db"


def newer_showrunner(base: Path) -> Path:
    """A real Showrunner database, to which a newer version has added a migration."""
    path = base / "showrunner.db"

    async def create() -> None:
        async with await Database.open(path):
            pass

    asyncio.run(create())
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO _migrations (name, applied_at) VALUES (?, ?)",
            (NEWER_MIGRATION, "2031-01-01T00:00:00.000000Z"),
        )
    conn.close()
    return path


def another_application(base: Path) -> Path:
    path = base / "notes.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT)")
        conn.execute("INSERT INTO notes (body) VALUES ('keep me')")
    conn.close()
    return path


def damaged_in_the_middle(base: Path) -> Path:
    """A real Showrunner database with episodes and steps, 40 of its data pages zeroed.

    The schema and ``_migrations`` (the first pages written) are intact: only the rows are hit.
    """
    path = base / "showrunner.db"

    async def create() -> None:
        async with await Database.open(path) as db:
            episodes = EpisodeStore(db)
            for n in range(40):
                request = EpisodeRequest(premise=f"Episode {n}: " + "a sitcom premise " * 100)
                record = await episodes.create(
                    guild_id=1,
                    channel_id=2,
                    author_id=3 + n,
                    author_name="writer",
                    request=request,
                    provider="demo",
                    model="showrunner-demo",
                )
                checkpoints = SqliteCheckpoints(db, record.id)
                for step in range(6):
                    usage = CallUsage(step=f"step:{step}", model="showrunner-demo")
                    await checkpoints.save(f"step:{step}", request, usage)
            await db.fetchall("PRAGMA wal_checkpoint(TRUNCATE)")

    asyncio.run(create())
    pages = path.stat().st_size // 4096
    assert pages > 150, pages
    with path.open("r+b") as file:
        file.seek(60 * 4096)
        file.write(bytes(40 * 4096))
    with sqlite3.connect(path) as conn:
        assert conn.execute("SELECT count(*) FROM _migrations").fetchone()[0] == len(MIGRATIONS)
        with pytest.raises(sqlite3.DatabaseError, match="malformed"):
            conn.execute("SELECT count(*), sum(length(payload)) FROM steps").fetchone()
    conn.close()
    return path


def missing_parents(base: Path) -> Path:
    return base / "not" / "yet" / "there" / "showrunner.db"


SCENARIOS: dict[str, Callable[[Path], Path]] = {
    "corrupt": corrupt_file,
    "directory": directory,
    "under-file": under_a_regular_file,
    "newer": newer_showrunner,
    "foreign": another_application,
    "damaged-middle": damaged_in_the_middle,
    "missing-parents": missing_parents,
}


def port_is_closed(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.settimeout(2)
        return probe.connect_ex((host, port)) != 0


@pytest.fixture(scope="module")
def outcomes(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Outcome]]:
    if not port_is_closed(CLOSED_HOST, CLOSED_PORT):
        pytest.skip(
            f"something listens on {CLOSED_HOST}:{CLOSED_PORT}; the safety net needs it closed"
        )
    running: dict[str, tuple[Path, Path, dict[str, bytes | None], subprocess.Popen[str]]] = {}
    try:
        for name, make in SCENARIOS.items():
            base = tmp_path_factory.mktemp(f"db-{name}")
            db_path = make(base)
            before = snapshot(base)
            cwd = tmp_path_factory.mktemp(f"cwd-{name}")
            env = {
                "DISCORD_TOKEN": "x",
                "SHOWRUNNER_PROVIDER": "demo",
                "SHOWRUNNER_DB_PATH": str(db_path),
                "SHOWRUNNER_DISCORD_API_BASE": CLOSED_API,
            }
            process = subprocess.Popen(
                [sys.executable, "-m", "bot"],
                cwd=cwd,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            running[name] = (db_path, base, before, process)
        results = {}
        for name, (db_path, base, before, process) in running.items():
            stdout, stderr = process.communicate(timeout=60)
            results[name] = Outcome(db_path, base, before, process.returncode, stdout, stderr)
        yield results
    finally:
        for *_, process in running.values():
            if process.poll() is None:
                process.kill()
                process.wait(timeout=5)


def test_corrupt_file_is_refused_and_left_alone(outcomes: dict[str, Outcome]) -> None:
    """Random bytes: exit 2, one line saying the file is damaged; the file is not touched."""
    outcome = outcomes["corrupt"]
    line = outcome.database_line()
    assert "not a usable Showrunner database" in line
    assert "backup" in line
    assert outcome.changes() == []


def test_directory_as_path_is_refused(outcomes: dict[str, Outcome]) -> None:
    """A directory where the file should be: one line suggesting a file name inside it."""
    outcome = outcomes["directory"]
    line = outcome.database_line()
    assert "is a directory" in line
    assert str(outcome.db_path / "showrunner.db") in line
    assert outcome.changes() == []


def test_path_under_a_regular_file_is_refused(outcomes: dict[str, Outcome]) -> None:
    """A parent that is a file cannot become a directory: one line, the file unchanged."""
    outcome = outcomes["under-file"]
    line = outcome.database_line()
    assert "writable directory" in line
    assert outcome.changes() == []


def test_database_of_a_newer_showrunner_is_refused(outcomes: dict[str, Outcome]) -> None:
    """An unknown migration recorded: one line naming it and saying to upgrade; nothing undone."""
    outcome = outcomes["newer"]
    line = outcome.database_line()
    assert "newer Showrunner" in line
    assert NEWER_MIGRATION in line
    with sqlite3.connect(outcome.db_path) as conn:
        names = [row[0] for row in conn.execute("SELECT name FROM _migrations ORDER BY rowid")]
    conn.close()
    assert names == [*(fn.__name__ for fn in MIGRATIONS), NEWER_MIGRATION]
    assert outcome.changes() == []


def test_another_applications_database_is_refused(outcomes: dict[str, Outcome]) -> None:
    """An SQLite file with someone else's tables: one line; their data untouched."""
    outcome = outcomes["foreign"]
    line = outcome.database_line()
    assert "another application" in line
    with sqlite3.connect(outcome.db_path) as conn:
        tables = [row[0] for row in conn.execute("SELECT name FROM sqlite_schema")]
        bodies = [row[0] for row in conn.execute("SELECT body FROM notes")]
    conn.close()
    assert (tables, bodies) == (["notes"], ["keep me"])


def test_another_applications_database_is_left_exactly_as_it_was(
    outcomes: dict[str, Outcome],
) -> None:
    """Refusing someone else's file should not change it, not even its journal mode."""
    outcome = outcomes["foreign"]
    outcome.database_line()
    with sqlite3.connect(outcome.db_path) as conn:
        mode = conn.execute("PRAGMA journal_mode").fetchone()[0]
    conn.close()
    assert (mode, outcome.changes()) == ("delete", [])


def test_database_damaged_past_its_schema_is_refused(outcomes: dict[str, Outcome]) -> None:
    """Zeroed data pages: what a bad disk or a half-copied backup leaves. The rows are lost."""
    outcome = outcomes["damaged-middle"]
    line = outcome.database_line()
    assert "malformed" in line
    assert "restore it from a backup" in line


def test_missing_parent_directories_are_created(outcomes: dict[str, Outcome]) -> None:
    """The directories and an up-to-date Showrunner database are made before Discord is tried."""
    outcome = outcomes["missing-parents"]
    assert outcome.db_path.is_file()
    with sqlite3.connect(outcome.db_path) as conn:
        application_id = conn.execute("PRAGMA application_id").fetchone()[0]
        names = [row[0] for row in conn.execute("SELECT name FROM _migrations ORDER BY rowid")]
    conn.close()
    assert application_id == APPLICATION_ID
    assert names == [fn.__name__ for fn in MIGRATIONS]


def test_with_a_good_database_the_failure_is_discords(outcomes: dict[str, Outcome]) -> None:
    """Past the database, the bot fails on the closed Discord port, not on the database."""
    outcome = outcomes["missing-parents"]
    output = outcome.stdout + outcome.stderr
    assert outcome.returncode not in (0, 2), output
    assert f"{CLOSED_HOST}:{CLOSED_PORT}" in output
    assert str(outcome.db_path) not in output
    ours = [line for line in output.splitlines() if line.startswith("showrunner: ")]
    assert all("Discord" in line for line in ours), ours


def test_unreachable_discord_is_one_line_too(outcomes: dict[str, Outcome]) -> None:
    """An unreachable Discord deserves what a bad database gets: one line, no traceback."""
    outcome = outcomes["missing-parents"]
    assert "Traceback" not in outcome.stderr
    ours = [line for line in outcome.stderr.splitlines() if line.startswith("showrunner: ")]
    assert len(ours) == 1
    assert f"{CLOSED_HOST}:{CLOSED_PORT}" in ours[0]
