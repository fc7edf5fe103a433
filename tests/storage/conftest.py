"""Fixtures for the storage tests: real SQLite files under tmp_path, a clock the tests move."""

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


@pytest.fixture
async def db(db_path: Path, clock: FakeClock) -> AsyncIterator[Database]:
    async with await Database.open(db_path, clock=clock) as database:
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
