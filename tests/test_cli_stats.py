"""``scriptgen --stats``: the per-step table of a CLI run, printed by a real subprocess."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from scriptgen.monitor import KINDS
from tests.episode_responder import EpisodeResponder
from tests.fake_anthropic import FakeAnthropic
from tests.test_cli import PREMISE, clean_env, scriptgen


def table_rows(stdout: str) -> dict[str, list[str]]:
    """The stats table's rows, the header's too, by their first cell (rich draws cells
    between "│", the header's between "┃")."""
    start = stdout.index("Steps")
    rows: dict[str, list[str]] = {}
    for line in stdout[start:].splitlines():
        cells = [cell.strip() for cell in line.replace("┃", "│").strip(" │").split("│")]
        if len(cells) == 12:
            rows[cells[0]] = cells[1:]
    return rows


def test_stats_prints_every_kind_of_step(tmp_path: Path) -> None:
    """After the summary, one row per kind: steps, errors, durations, first token, tokens,
    cost; the checkpoints are one per call, and the total counts every step."""
    done = scriptgen(PREMISE, "--scenes", "2", "--provider", "demo", "--stats", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.index("LLM calls") < done.stdout.index("\nSteps")
    rows = table_rows(done.stdout)
    assert rows["kind"] == [
        *("steps", "errors", "p50", "p95", "max", "1st token p50"),
        *("tokens in", "out", "cache read", "cache write", "cost"),
    ]
    assert set(KINDS) <= set(rows)
    counts = {kind: int(rows[kind][0]) for kind in KINDS}
    assert counts["outline"] == counts["comedy"] == 1
    assert counts["dialogue"] == counts["directions"] == 2
    calls = sum(counts[kind] for kind in KINDS if kind != "checkpoint")
    assert counts["checkpoint"] == calls
    assert f"│ LLM calls      │ {calls}" in done.stdout
    assert int(rows["all"][0]) == 2 * calls
    for kind in KINDS:
        _, errors, p50, p95, longest, first, tokens_in, out, *_, cost = rows[kind]
        assert errors == "0" and cost == "$0.0000"
        assert all(d.endswith((" s", " ms", " µs")) for d in (p50, p95, longest))
        if kind == "checkpoint":
            assert (first, tokens_in, out) == ("-", "0", "0")
        else:
            # The demo's answers begin after its 0.25 s first-token time.
            assert first.endswith("ms") and int(first.removesuffix(" ms")) >= 100
            assert int(out.replace(",", "")) > 0


async def test_stats_after_a_failed_run_through_the_real_sdk(tmp_path: Path) -> None:
    """A run that fails still prints what ran: the failed call counted as an error, the
    priced model's cost, first tokens streamed from the fake Messages API."""
    async with FakeAnthropic(responder=EpisodeResponder(seed=3), ttft=0.02) as fake:
        fake.enqueue_status(400, error_type="invalid_request_error", match="add_stage_directions")
        env = clean_env(ANTHROPIC_API_KEY="test-key", ANTHROPIC_BASE_URL=fake.base_url)
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "scriptgen",
            PREMISE,
            *("--scenes", "1", "--provider", "anthropic", "--model", "claude-sonnet-5-5"),
            "--stats",
            cwd=tmp_path,
            env=env,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await asyncio.wait_for(process.communicate(), 120)
    assert process.returncode == 1
    assert "stage directions" in stderr.decode() and "Traceback" not in stderr.decode()
    rows = table_rows(stdout.decode())
    assert [rows[kind][:2] for kind in ("outline", "dialogue", "directions")] == [
        ["1", "0"],
        ["1", "0"],
        ["1", "1"],
    ]
    assert rows["checkpoint"][0] == "3"  # the outline, the dialogue, the failed call's row
    assert rows["dialogue"][5].endswith("ms") and rows["directions"][5] == "-"
    assert float(rows["all"][-1].removeprefix("$")) > 0
    assert not any(p.name.startswith("episode") for p in tmp_path.iterdir())  # noqa: ASYNC240
