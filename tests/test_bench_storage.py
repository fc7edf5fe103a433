"""Smoke test of bench/storage.py: its pieces run, and its what-if writes what the product writes.

The full bench takes tens of seconds and its figures depend on the machine, so only small runs
here, checking the bench measures what it says (every save timed, the breakdown adds up, the
replay of the previous save reads back through ``SqliteCheckpoints`` exactly like the product's).
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import pytest

from bench._checkpoint_pipeline import PipelineRun, pipeline_report, pipeline_run
from bench.storage import (
    Recorded,
    file_size,
    pct,
    previous_run,
    product_run,
    record,
    size_bench,
    writer_run,
)
from scriptgen.models import EpisodeRequest
from storage import Database, EpisodeStore, SqliteCheckpoints


@pytest.fixture
async def episode() -> Recorded:
    return await record(seed=3, scenes=4)


async def stored_steps(path: Path) -> dict[str, tuple[str, str, int]]:
    async with await Database.open(path) as db:
        (record_,) = await EpisodeStore(db).list_unfinished()
        steps = await SqliteCheckpoints(db, record_.id).load()
    return {k: (s.payload, s.usage.step, s.usage.output_tokens) for k, s in steps.items()}


def expected_steps(episode: Recorded) -> dict[str, tuple[str, str, int]]:
    return {
        s.key: (s.value.model_dump_json(), s.usage.step, s.usage.output_tokens)
        for s in episode.saves
    }


def test_recording_has_every_step_of_the_generator(episode: Recorded) -> None:
    """Outline, two saves per scene, comedy, and any refinements, in the generator's order."""
    keys = [s.key for s in episode.saves]
    assert keys[0] == "outline"
    for n in range(1, 5):
        assert keys.index(f"scene:{n}:dialogue") < keys.index(f"scene:{n}:directions")
    assert "comedy" in keys
    assert len(keys) == len(set(keys)) == len(episode.script.usage)


async def test_product_run_times_every_save_and_the_parts_add_up(
    tmp_path: Path, episode: Recorded
) -> None:
    samples = await product_run(tmp_path / "p.db", [episode], "alone")
    assert len(samples.total) == len(samples.statement) == len(episode.saves)
    for total, queue, statement in zip(
        samples.total, samples.queue, samples.statement, strict=True
    ):
        assert queue >= 0 and statement > 0
        assert queue + statement <= total
    assert samples.wall >= sum(samples.total) * 0.99
    # One episode at a time: nothing to group with.
    assert samples.statements == samples.rows == len(episode.saves)
    assert await stored_steps(tmp_path / "p.db") == expected_steps(episode)


@pytest.mark.parametrize("mode", ["alone", "burst"])
async def test_writer_run_times_the_hand_over_and_the_commit(
    tmp_path: Path, episode: Recorded, mode: Literal["alone", "burst"]
) -> None:
    """The shipped rows: every save handed over and committed, the commit after the hand-over,
    and the file holds what the product writes."""
    path = tmp_path / "w.db"
    samples = await writer_run(path, [episode], mode)
    assert len(samples.total) == len(samples.on_disk) == len(episode.saves)
    assert all(lag > 0 for lag in samples.on_disk)
    assert samples.wall >= max(samples.on_disk)
    assert await stored_steps(path) == expected_steps(episode)


@pytest.mark.parametrize("variant", ["memory", "shipped", "awaited"])
async def test_pipeline_run_writes_every_episode_whole(
    tmp_path: Path, variant: Literal["memory", "shipped", "awaited"]
) -> None:
    """Section 4: each episode is timed, and on disk (shipped, awaited) every call's step is
    stored, even with the write lock held by another connection meanwhile."""
    requests = [EpisodeRequest(premise="The espresso machine unionizes.", scene_count=2)] * 3
    run = await pipeline_run(
        tmp_path / "p.db", requests, variant, stalled=True, stall_at=0.0, stall_s=0.2
    )
    assert len(run.episode_s) == 3 and all(t > 0 for t in run.episode_s)
    assert run.wall_s >= max(run.episode_s)
    assert run.calls >= 3 * (1 + 2 * 2 + 1)
    assert run.steps_stored == (0 if variant == "memory" else run.calls)


def test_pipeline_report_compares_each_episode_with_its_time_in_memory() -> None:
    """The ratio is per episode against the memory run of the same repeat; only the shipped
    rows have a target, and a missing step fails them."""
    memory = PipelineRun("memory", False, [1.0, 2.0], 2.0, 0, 10)
    shipped = PipelineRun("shipped", False, [1.02, 2.04], 2.04, 10, 10)
    awaited = PipelineRun("awaited", False, [1.5, 3.0], 3.0, 10, 10)
    shipped_locked = PipelineRun("shipped", True, [1.1, 2.2], 2.2, 9, 10)
    awaited_locked = PipelineRun("awaited", True, [2.0, 4.0], 4.0, 10, 10)
    lines = pipeline_report([memory, shipped, awaited, shipped_locked, awaited_locked])
    by_label = {line.split("  ")[0]: line for line in lines[1:]}
    assert "1.020x" in by_label["SQLite, as shipped"] and "PASS" in by_label["SQLite, as shipped"]
    assert "1.500x" in by_label["SQLite, awaited in the slot (before)"]
    locked = by_label["SQLite, as shipped, locked 1 s"]
    assert "1.100x" in locked and "MISSING" in locked and "FAIL" in locked


@pytest.mark.parametrize("grouped", [True, False])
async def test_concurrent_saves_are_grouped_unless_turned_off(
    tmp_path: Path, episode: Recorded, grouped: bool
) -> None:
    """Five copies of the episode saving at once share statements; with grouping off, not."""
    samples = await product_run(tmp_path / "p.db", [episode] * 5, "burst", grouped=grouped)
    assert samples.rows == len(samples.total) == len(samples.statement) == 5 * len(episode.saves)
    if grouped:
        assert samples.statements < samples.rows
    else:
        assert samples.statements == samples.rows


async def test_previous_save_writes_what_the_product_writes(
    tmp_path: Path, episode: Recorded
) -> None:
    path = tmp_path / "w.db"
    samples = await previous_run(path, [episode], "burst")
    assert len(samples.total) == len(episode.saves)
    assert samples.statement == []  # not instrumented
    assert await stored_steps(path) == expected_steps(episode)


async def test_size_is_measured_after_a_truncating_checkpoint(
    tmp_path: Path, episode: Recorded
) -> None:
    figures = await size_bench(tmp_path, episode, 3)
    assert figures.file_bytes == file_size(tmp_path / "size-4.db") > figures.empty_bytes
    assert file_size(tmp_path / "size-4.db-wal") == 0
    assert {"episodes", "steps", "usage"} <= figures.by_object.keys()
    assert sum(figures.by_object.values()) == figures.file_bytes


def test_percentile_is_nearest_rank() -> None:
    values = [float(n) for n in range(1, 101)]
    assert (pct(values, 50), pct(values, 99), pct(values, 100)) == (50.0, 99.0, 100.0)
    assert pct([5.0], 99) == 5.0
    assert pct([float(n) for n in range(1, 1016)], 99) == 1005.0
