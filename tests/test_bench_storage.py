"""Smoke test of bench/storage.py: its pieces run, and its what-if writes what the product writes.

The full bench takes tens of seconds and its figures depend on the machine, so only small runs
here, checking the bench measures what it says (every save timed, the breakdown adds up, the
replay of the previous save reads back through ``SqliteCheckpoints`` exactly like the product's).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.storage import (
    Recorded,
    file_size,
    pct,
    previous_run,
    product_run,
    record,
    size_bench,
)
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
