"""Fixtures for the storage tests: a clock the tests move, and real databases of both dialects.

Tests that take ``db`` (or ``db_target``) run twice, ids ``sqlite`` (a real file under tmp_path)
and ``postgres`` (a fresh database on a throwaway server, ``postgres_server.py``). Tests about
SQLite itself (WAL, files, group commit) are marked ``sqlite_only``. Without PostgreSQL's
binaries the ``postgres`` runs are skipped, except in CI (``CI`` set), where they fail.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from scriptgen.models import (
    Action,
    AnalyzedJoke,
    CallUsage,
    ComedyReport,
    Dialogue,
    EpisodeRequest,
    Outline,
    Scene,
    SceneOutline,
    Script,
)
from storage import Database, EpisodeRecord, EpisodeStore
from tests.storage.postgres_server import PostgresServer

# Snowflake-sized, so a 64-bit column is exercised.
GUILD = 111_111_111_111_111_111
CHANNEL = 333_333_333_333_333_333
AUTHOR = 444_444_444_444_444_444


class FakeClock:
    """A clock that only moves when a test says so."""

    def __init__(self) -> None:
        self.current = datetime(2025, 1, 31, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def advance_clock(clock: FakeClock) -> Callable[[float], None]:
    return clock.advance


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "data" / "showrunner.db"


DIALECTS: tuple[str, ...] = ("sqlite", "postgres")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "sqlite_only: a test about SQLite itself, not run on PostgreSQL"
    )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "dialect" in metafunc.fixturenames:
        sqlite_only = metafunc.definition.get_closest_marker("sqlite_only") is not None
        dialects = DIALECTS[:1] if sqlite_only else DIALECTS
        metafunc.parametrize("dialect", dialects, indirect=True)


@pytest.fixture
def dialect(request: pytest.FixtureRequest) -> str:
    return str(getattr(request, "param", "sqlite"))


@pytest.fixture
async def db_target(
    dialect: str, db_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[str | Path]:
    """What the ``db`` fixture opens, for a test that opens it again (a restart): the SQLite
    file's path, or the URL of the shared PostgreSQL database, emptied, schema applied."""
    if dialect == "sqlite":
        yield db_path
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    yield await server.reset()


@pytest.fixture
async def new_db_target(
    dialect: str, tmp_path: Path, request: pytest.FixtureRequest
) -> AsyncIterator[str | Path]:
    """A database that does not exist yet (SQLite) or is empty (PostgreSQL): for migrations."""
    if dialect == "sqlite":
        yield tmp_path / "new" / "showrunner.db"
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    url = await server.new_schema()
    try:
        yield url
    finally:
        await server.drop_schema(url)


@pytest.fixture
async def db(db_target: str | Path, clock: FakeClock) -> AsyncIterator[Database]:
    """An open database of the test's dialect, schema up to date."""
    async with await Database.open(db_target, clock=clock) as database:
        yield database


@pytest.fixture
def episodes(db: Database) -> EpisodeStore:
    return EpisodeStore(db)


@pytest.fixture
def request_() -> EpisodeRequest:
    return EpisodeRequest(premise="Maya's espresso machine becomes sentient.", scene_count=1)


def build_script(request: EpisodeRequest) -> Script:
    """The smallest valid Script: one scene, one joke."""
    outline = Outline(
        title="The Espresso Incident",
        logline="A coffee machine wants a raise.",
        scenes=[
            SceneOutline(
                heading="INT. COFFEE SHOP - DAY",
                location="Coffee shop",
                time="DAY",
                characters=["MAYA"],
                beat="The machine refuses to brew.",
                comic_goal="Maya negotiates with an appliance.",
            )
        ],
    )
    scene = Scene(
        heading="INT. COFFEE SHOP - DAY",
        elements=[
            Action(text="The machine hisses."),
            Dialogue(character="MAYA", parenthetical="calm", line="Let's talk about this."),
        ],
    )
    return Script(
        request=request,
        outline=outline,
        scenes=[scene],
        comedy=ComedyReport(
            analyzed_jokes=[AnalyzedJoke(scene=1, line=2, kind="one-liner", score=7)], edits=[]
        ),
        usage=[CallUsage(step="outline", model="demo-1", input_tokens=10, output_tokens=20)],
        provider="demo",
        model="demo-1",
        wall_seconds=1.5,
    )


@pytest.fixture
def make_script() -> Callable[[EpisodeRequest], Script]:
    return build_script


NewEpisode = Callable[..., Awaitable[EpisodeRecord]]


@pytest.fixture
def new_episode(episodes: EpisodeStore, request_: EpisodeRequest) -> NewEpisode:
    """Create an episode; every field has a default, keywords override them."""

    async def create(**overrides: object) -> EpisodeRecord:
        fields: dict[str, object] = {
            "guild_id": GUILD,
            "channel_id": CHANNEL,
            "author_id": AUTHOR,
            "author_name": "maya",
            "request": request_,
            "provider": "demo",
            "model": "demo-1",
        }
        fields.update(overrides)
        return await episodes.create(**fields)  # type: ignore[arg-type]

    return create


@pytest.fixture
def unwritable_dir(tmp_path: Path) -> Iterator[Path]:
    """A directory path in which this process cannot create a file.

    chmod 0o500 does it for an ordinary user; root ignores permission bits, so there a regular
    file stands in for the directory (nothing can be created "inside" a file).
    """
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    probe = locked / "probe"
    try:
        probe.touch()
    except PermissionError:
        target = locked
    else:
        probe.unlink()
        target = tmp_path / "a-file-not-a-directory"
        target.write_text("")
    yield target
    locked.chmod(0o700)
