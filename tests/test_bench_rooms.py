"""Smoke test of bench/rooms.py: a quick run goes through the whole path and its report adds up.

Times and cache shares are the bench's findings, not guarantees, so no threshold is asserted:
only that every figure is measured from what the run did, the targets are judged from those
figures, and a missed target makes the command fail.
"""

from __future__ import annotations

import asyncio
import math
import statistics

import pytest

from bench import rooms
from bench.rooms import Report, Row, Tokens, bench, markdown, scene_chains, step_kind


@pytest.fixture(scope="module")
def report() -> Report:
    return asyncio.run(bench(quick=True))


def test_quick_run_scales_the_latencies_and_gives_three_notes(report: Report) -> None:
    """--quick: every latency x0.1, 3 notes, each making the next revision."""
    assert report.latencies == {k: v * rooms.QUICK_SCALE for k, v in rooms.LATENCIES.items()}
    assert [n.scene for n in report.notes] == list(rooms.NOTE_SCENES[: rooms.QUICK_NOTES])
    assert [n.revision for n in report.notes] == [2, 3, 4]


def test_both_episodes_are_six_scenes_of_the_room_with_its_bible(report: Report) -> None:
    """The 2nd episode's "previously" recalls the 1st, as the bot's would."""
    for episode in (report.first, report.second):
        assert len(episode.script.scenes) == rooms.SCENES
        bible = episode.script.request.bible
        assert bible is not None
        assert (len(bible.characters), len(bible.running_gags)) == (6, 5)
        assert all(c.description and c.voice for c in bible.characters)
        assert episode.record.status == "done"
    assert len(report.first.recalled) == 3
    assert report.second.recalled == [*report.first.recalled, report.first.script.title]


def test_turnaround_is_the_median_note_over_the_median_chain(report: Report) -> None:
    chains = scene_chains(report.first.script)
    assert len(chains) == rooms.SCENES and all(c > 0 for c in chains)
    assert report.chain_s == statistics.median(chains)
    assert report.note_s == statistics.median(n.seconds for n in report.notes)
    assert report.turnaround == pytest.approx(report.note_s / report.chain_s)
    row = report.rows[0]
    assert row.value == report.turnaround and row.target == "<= 1.3x"
    assert row.ok is (report.turnaround <= rooms.TURNAROUND_TARGET)


def test_each_note_is_timed_in_parts_around_its_two_calls(report: Report) -> None:
    for note in report.notes:
        assert [step_kind(u.step) for u in note.usage] == ["dialogue", "directions"]
        assert note.model_seconds == pytest.approx(sum(u.latency_s for u in note.usage))
        assert 0 < note.model_seconds <= note.rewrite_s
        assert note.before_s > 0 and note.after_s > 0 and note.full_gc_s >= 0
        assert note.before_s + note.rewrite_s + note.after_s == pytest.approx(note.seconds)


def test_cache_shares_sum_every_call_of_each_phase(report: Report) -> None:
    """The episodes' rows have the 80 % target; the rewrites' is reported without one."""
    first, second, rewrites = report.tokens.values()
    assert first.calls == len(report.first.script.usage) >= 1 + 2 * rooms.SCENES + 1
    assert second.calls == len(report.second.script.usage)
    assert rewrites.calls == 2 * len(report.notes)
    for tokens in (first, second, rewrites):
        assert tokens.cache_read > 0
        assert 0 < tokens.read_share < 1
        assert tokens.read_share == tokens.cache_read / (
            tokens.input + tokens.cache_write + tokens.cache_read
        )
    shares = report.rows[1:]
    assert [row.value for row in shares] == [t.read_share for t in (first, second, rewrites)]
    for row in shares[:2]:
        assert row.target == ">= 80%" and row.ok is (row.value >= rooms.CACHE_SHARE_TARGET)
    assert shares[2].ok is None


def test_cache_prefix_is_measured_part_by_part(report: Report) -> None:
    parts = report.prefix_tokens
    assert list(parts) == [
        "tools",
        "system prompt",
        "series bible",
        "previously",
        "premise",
        "outline",
    ]
    assert all(tokens > 0 for tokens in parts.values())


def test_markdown_has_one_row_per_figure_and_a_verdict_per_target(report: Report) -> None:
    text = markdown(report)
    assert "| metric | measured | target | result |" in text
    for row in report.rows:
        line = next(line for line in text.splitlines() if line.startswith(f"| {row.metric} |"))
        if row.ok is not None:
            assert line.endswith("| PASS |" if row.ok else "| FAIL |")
    assert report.passed is all(row.ok is not False for row in report.rows)


@pytest.mark.parametrize("ok", [True, False])
def test_the_command_fails_when_a_target_is_missed(
    report: Report, ok: bool, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    judged = Report(**{**vars(report), "rows": [Row("figure", 1.0, "1.0", "<= 2", ok)]})

    async def fake_bench(quick: bool, min_cacheable: int) -> Report:
        assert (quick, min_cacheable) == (True, 1024)
        return judged

    monkeypatch.setattr(rooms, "bench", fake_bench)
    monkeypatch.setattr("sys.argv", ["rooms.py", "--quick", "--min-cacheable", "1024"])
    if ok:
        rooms.main()
    else:
        with pytest.raises(SystemExit) as exited:
            rooms.main()
        assert exited.value.code == 1
        assert "target missed: figure" in capsys.readouterr().err


def test_tokens_of_no_calls_have_no_share() -> None:
    assert math.isnan(Tokens.of([]).read_share)


def test_step_kinds_of_episode_and_rewrite_keys() -> None:
    keys = [
        "outline",
        "scene:2:dialogue",
        "comedy",
        "refine:1:scene:3",
        "take:1:scene:2:directions",
    ]
    assert [step_kind(k) for k in keys] == [
        "outline",
        "dialogue",
        "comedy",
        "refine",
        "directions",
    ]
