"""The ``scriptgen`` command, run as a user runs it: a real subprocess."""

from __future__ import annotations

import asyncio
import io
import os
import subprocess
import sys
from pathlib import Path

import pytest
from screenplain.parsers import fountain
from screenplain.types import Dialog, Slug

from tests.episode_responder import EpisodeResponder
from tests.fake_anthropic import FakeAnthropic

PREMISE = "A barista discovers the espresso machine is haunted"


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("ANTHROPIC_", "SHOWRUNNER_"))}
    return {**env, **extra}


def scriptgen(
    *args: str, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scriptgen", *args],
        cwd=cwd,
        env=env or clean_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_demo_episode_is_written_with_progress_and_summary(tmp_path: Path) -> None:
    """The demo provider writes episode.fountain, shows each step and ends with a summary."""
    done = scriptgen(PREMISE, "--scenes", "2", "--provider", "demo", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    screenplay = fountain.parse(io.StringIO((tmp_path / "episode.fountain").read_text()))
    kinds = [type(p) for p in screenplay.paragraphs]
    assert kinds.count(Slug) == 2 and kinds.count(Dialog) >= 10
    assert "[1/" in done.stderr and "Scene 2/2 done" in done.stderr
    for label in ("wall time", "LLM calls", "tokens", "estimated cost", "speed-up", "demo"):
        assert label in done.stdout


@pytest.mark.parametrize(("fmt", "magic"), [("pdf", b"%PDF"), ("fdx", b"<?xml"), ("md", b"# ")])
def test_other_formats_and_out_path(tmp_path: Path, fmt: str, magic: bytes) -> None:
    """--format and --out choose what is written and where."""
    out = tmp_path / "drafts" / f"pilot.{fmt}"
    out.parent.mkdir()
    done = scriptgen(
        "A goat joins the board",
        "--scenes",
        "1",
        "--provider",
        "demo",
        "--format",
        fmt,
        "--out",
        str(out),
        "--seed",
        "7",
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert out.read_bytes().startswith(magic)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["", "--provider", "demo"], "the premise is empty"),
        (["   ", "--provider", "demo"], "the premise needs some words"),
        (["x" * 2001, "--provider", "demo"], "too long (2001 characters; the limit is 2000)"),
        (["hi", "--scenes", "0", "--provider", "demo"], "--scenes must be between 1 and 12"),
        (["hi", "--scenes", "50", "--provider", "demo"], "--scenes must be between 1 and 12"),
        (["hi", "--max-parallel", "0", "--provider", "demo"], "must be at least 1"),
        (["hi"], "set the ANTHROPIC_API_KEY environment variable"),
    ],
    ids=["empty", "blank", "huge", "zero-scenes", "fifty-scenes", "zero-parallel", "no-key"],
)
def test_bad_options_get_one_line_and_exit_2(
    tmp_path: Path, args: list[str], expected: str
) -> None:
    """Bad input is one clear line on stderr and exit code 2, never a traceback."""
    done = scriptgen(*args, cwd=tmp_path)
    assert done.returncode == 2
    assert expected in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert not list(tmp_path.iterdir())


async def test_anthropic_provider_through_the_real_sdk(tmp_path: Path) -> None:
    """--provider anthropic talks to ANTHROPIC_BASE_URL with the key and writes the episode."""
    async with FakeAnthropic(responder=EpisodeResponder(seed=3)) as fake:
        env = clean_env(ANTHROPIC_API_KEY="test-key", ANTHROPIC_BASE_URL=fake.base_url)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "scriptgen",
            PREMISE,
            "--scenes",
            "2",
            "--provider",
            "anthropic",
            "--model",
            "claude-sonnet-5-5",
            cwd=tmp_path,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 0, stderr.decode()
    assert {r.body["model"] for r in fake.requests} == {"claude-sonnet-5-5"}
    tools = [r.tool_name for r in fake.requests]
    assert tools[0] == "write_outline" and tools.count("write_dialogue") == 2
    screenplay = fountain.parse(io.StringIO((tmp_path / "episode.fountain").read_text()))
    assert [type(p) for p in screenplay.paragraphs].count(Slug) == 2
    assert "demo" not in stdout.decode()
