"""Writers' rooms: how fast a note becomes a revision, and how much of a room's prompts is cached.

    uv run python bench/rooms.py [--quick] [--min-cacheable TOKENS]

Prints a Markdown report; exits 1 if a target is missed. Nothing outlives the run (the SQLite
file lives in a temporary directory).

Every call goes through the real Anthropic SDK, streaming over loopback from the fake Messages
API (tests/fake_anthropic), which models per-step latency (``ttft_by_tool``) and prompt caching
by the API's rules, with a minimum cacheable prefix of 1,024 tokens (that of the Sonnet 5 models,
the bot's default; Sonnet 4.6's is 2,048, Opus 4.5's 4,096: ``--min-cacheable``), and through
the generator the bot builds (``build_generator``: the default ``max_parallel_scenes`` and the
process-wide limiter). The room is stored and read back
as the bot does it (bench/_room.py): 6 characters with descriptions and voices, 5 running gags,
3 "previously" summaries; the fake's answers are as long as a model's (20 dialogue lines, 8
stage directions).

One run, in order:
1. the room's first episode, 6 scenes, as ``EpisodeJobs`` writes it (SQLite checkpoints, the
   script stored, its summary added to the room's continuity, the Fountain file rendered);
2. notes on that episode, one after another, each timed from the note received to the
   revision's Fountain file ready to post: what ``/notes`` and ``RewriteJobs`` do, minus Discord
   (load the episode and its latest revision, create the rewrite, ``rewrite_scene`` with
   ``SqliteCheckpoints(db, episode_id, prefix=f"rw{id}:")``, load the latest revision again,
   ``Script.replace_scene``, ``RewriteStore.complete``, load the revision, render it);
3. the room's second episode, its bible built as ``/episode`` builds it: "previously" now
   recalls the first episode too.

Figures, all from this one run:
- note to revision / one scene's chain: the median note's time over the median of the first
  episode's 6 scene chains (a scene's dialogue call + its directions call, the calls' own
  durations). A one-take rewrite is one such chain, so the ratio is 1 plus what the rest of the
  path adds. Target <= 1.3x;
- cache-read share: cache read / (input + cache read + cache write) tokens, summed over every
  call of the first episode and of the second (target >= 80 % each), and over the notes'
  rewrites (reported; a rewrite is not an episode).

Latencies: outline 0.5 s, dialogue 0.6 s, directions 0.3 s, punch-up (comedy pass and
refinements) 0.8 s. ``--quick`` scales them by 0.1 and gives 3 notes instead of 5.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import anthropic

from bench._room import AUTHOR, CHANNEL, GUILD, RoomResponder, open_room, room_bible
from bench._sdk import TOOLS
from bot.__main__ import build_generator
from bot.settings import Settings
from scriptgen.continuity import summarize
from scriptgen.generator import ScriptGenerator
from scriptgen.models import CallUsage, EpisodeRequest, Script
from scriptgen.pricing import CACHE_READ_FACTOR, CACHE_WRITE_FACTOR
from scriptgen.progress import RewriteProgress, SceneState
from scriptgen.providers.anthropic import AnthropicProvider
from scriptgen.providers.base import StepKind
from scriptgen.render import render
from storage import (
    Database,
    EpisodeRecord,
    EpisodeStore,
    RewriteStore,
    RoomRecord,
    RoomStore,
    SqliteCheckpoints,
)
from tests.fake_anthropic import FakeAnthropic, estimate_tokens

LATENCIES: dict[StepKind, float] = {
    "outline": 0.5,
    "dialogue": 0.6,
    "directions": 0.3,
    "comedy": 0.8,  # the punch_up tool, which the refinements call too
}
QUICK_SCALE = 0.1
MIN_CACHEABLE_TOKENS = 1024
SCENES = 6
NOTES = 5
QUICK_NOTES = 3
TURNAROUND_TARGET = 1.3
CACHE_SHARE_TARGET = 0.80
PREMISES = (
    "Mirela auditions new baristas and hires the one who can out-sing her",
    "The espresso machine is finally fixed, and nobody knows how to work without it",
)
NOTE_TEXTS = (
    "Theo should win the argument by accident.",
    "Give Ada a reason to break radio silence; the scene needs a turn halfway.",
    "Cut the first exchange; start in the middle of the row.",
    "Mr. Okafor should have the last word, and it should be a proverb that backfires.",
    "Bo's entrance is too early: hold it back for the button.",
)
NOTE_SCENES = (2, 5, 3, 6, 1)
"""The scene each note is on (1-based), in order."""
STEP_KINDS = ("outline", "dialogue", "directions", "comedy", "refine")


@dataclass(frozen=True)
class Tokens:
    """The input tokens of some calls, as the API reported them."""

    calls: int = 0
    input: int = 0
    cache_write: int = 0
    cache_read: int = 0

    @classmethod
    def of(cls, usage: Sequence[CallUsage]) -> Tokens:
        return cls(
            len(usage),
            sum(u.input_tokens for u in usage),
            sum(u.cache_write_tokens for u in usage),
            sum(u.cache_read_tokens for u in usage),
        )

    @property
    def total(self) -> int:
        return self.input + self.cache_write + self.cache_read

    @property
    def read_share(self) -> float:
        return self.cache_read / self.total if self.total else math.nan

    @property
    def priced(self) -> float:
        """What the input costs, in plain input tokens (a write costs more, a read less)."""
        return (
            self.input + self.cache_write * CACHE_WRITE_FACTOR + self.cache_read * CACHE_READ_FACTOR
        )


@dataclass(frozen=True)
class Episode:
    record: EpisodeRecord
    script: Script
    recalled: list[str]
    """The earlier episodes its bible's "previously" carries, by title."""
    seconds: float


@dataclass(frozen=True)
class Note:
    scene: int
    seconds: float
    """From the note received to the revision's Fountain file rendered."""
    model_seconds: float
    """The rewrite's own two calls (dialogue, directions), as the provider timed them."""
    before_s: float
    """From the note to ``rewrite_scene`` called: loading, creating the rewrite."""
    rewrite_s: float
    """``rewrite_scene`` itself: the two calls, and committing their checkpoints."""
    after_s: float
    """From ``rewrite_scene`` returned to the Fountain file: the revision stored and rendered."""
    full_gc_s: float
    """Full garbage collections during the note: a pause of the whole process."""
    revision: int
    usage: list[CallUsage]


@dataclass(frozen=True)
class Row:
    metric: str
    value: float
    shown: str
    target: str = ""
    ok: bool | None = None
    """``None``: reported without a target."""


@dataclass
class Report:
    quick: bool
    latencies: dict[StepKind, float]
    min_cacheable: int
    first: Episode
    second: Episode
    notes: list[Note]
    prefix_tokens: dict[str, int]
    """A scene call's cached prefix, part by part (first episode)."""
    rows: list[Row] = field(default_factory=list)

    @property
    def chains(self) -> list[float]:
        return scene_chains(self.first.script)

    @property
    def chain_s(self) -> float:
        return statistics.median(self.chains)

    @property
    def note_s(self) -> float:
        return statistics.median(n.seconds for n in self.notes)

    @property
    def turnaround(self) -> float:
        return self.note_s / self.chain_s

    @property
    def tokens(self) -> dict[str, Tokens]:
        return {
            "1st episode of the room": Tokens.of(self.first.script.usage),
            "2nd episode of the room": Tokens.of(self.second.script.usage),
            f"rewrites ({len(self.notes)} notes, 1 take)": Tokens.of(
                [u for n in self.notes for u in n.usage]
            ),
        }

    @property
    def passed(self) -> bool:
        return all(row.ok is not False for row in self.rows)


def scene_chains(script: Script) -> list[float]:
    """Each scene's dialogue call + directions call, as the provider timed them."""
    by_step = {u.step: u.latency_s for u in script.usage}
    return [
        by_step[f"scene:{n}:dialogue"] + by_step[f"scene:{n}:directions"]
        for n in range(1, len(script.scenes) + 1)
    ]


def step_kind(step: str) -> str:
    """``scene:2:dialogue`` → dialogue, ``refine:1:scene:3`` → refine, ``comedy`` → comedy."""
    return step if step in ("outline", "comedy") else step.split(":")[0 if "refine" in step else -1]


class FullCollections:
    """Seconds spent in full (generation 2) garbage collections: they stop the whole process,
    and land on whatever is running (bench/bot_load.py sees them in its event-loop lag)."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self._started = 0.0

    def __call__(self, phase: str, info: dict[str, int]) -> None:
        if info["generation"] != 2:
            return
        if phase == "start":
            self._started = time.perf_counter()
        else:
            self.seconds += time.perf_counter() - self._started

    @contextlib.contextmanager
    def watching(self) -> Iterator[None]:
        gc.callbacks.append(self)
        try:
            yield
        finally:
            gc.callbacks.remove(self)


# -- the run ------------------------------------------------------------------------------------


async def bench(quick: bool = False, min_cacheable: int = MIN_CACHEABLE_TOKENS) -> Report:
    """Runs the bench (see the module's docstring); returns the report, its rows judged."""
    scale = QUICK_SCALE if quick else 1.0
    latencies = {kind: seconds * scale for kind, seconds in LATENCIES.items()}
    by_tool = {TOOLS[kind]: seconds for kind, seconds in latencies.items()}
    collections = FullCollections()
    with tempfile.TemporaryDirectory(prefix="showrunner-rooms-") as tmp:
        path = Path(tmp) / "showrunner.db"
        async with (
            FakeAnthropic(
                responder=RoomResponder(seed=1),
                ttft_by_tool=by_tool,
                min_cacheable_tokens=min_cacheable,
            ) as fake,
            anthropic.AsyncAnthropic(api_key="bench", base_url=fake.base_url) as client,
            await Database.open(path) as db,
        ):
            generator = build_generator(settings(path), AnthropicProvider(client))
            room = await open_room(db)
            first = await write_episode(db, generator, room, PREMISES[0])
            # A scene call begun once the outline was written (one begun before carries the
            # outline in its prompt, not in the prefix): the one with the most cached blocks.
            scene_calls = fake.requests_for("write_dialogue") + fake.requests_for(
                "add_stage_directions"
            )
            prefix = prefix_tokens(max(scene_calls, key=lambda r: len(r.system_blocks)).body)
            with collections.watching():
                notes = [
                    await give_note(db, generator, first.record, scene, text, collections)
                    for scene, text in list(zip(NOTE_SCENES, NOTE_TEXTS, strict=True))[
                        : QUICK_NOTES if quick else NOTES
                    ]
                ]
            second = await write_episode(db, generator, room, PREMISES[1])
    report = Report(quick, latencies, min_cacheable, first, second, notes, prefix)
    judge(report)
    return report


def settings(path: Path) -> Settings:
    """The bot's settings, defaults kept (the provider is handed to ``build_generator``)."""
    values: dict[str, Any] = {"discord_token": "bench", "anthropic_api_key": "bench"}
    return Settings(_env_file=None, db_path=path, **values)


async def write_episode(
    db: Database, generator: ScriptGenerator, room: RoomRecord, premise: str
) -> Episode:
    """An episode of the room, as ``/episode`` and ``EpisodeJobs`` write and deliver it."""
    started = time.perf_counter()
    episodes = EpisodeStore(db)
    bible, recalled = await room_bible(db, room)
    record = await episodes.create(
        guild_id=GUILD,
        channel_id=CHANNEL,
        author_id=AUTHOR,
        author_name="mirela-fan",
        request=EpisodeRequest(premise=premise, scene_count=SCENES, bible=bible),
        provider=generator.provider.name,
        model=generator.provider.model,
        room_id=room.id,
    )
    script = await generator.generate_full_script(
        record.request,
        lambda *_: None,
        checkpoints=SqliteCheckpoints(db, record.id),
        tenant=str(record.guild_id),
    )
    if not await episodes.finish(record.id, script):
        raise SystemExit(f"rooms: episode {record.public_id} could not be stored")
    await RoomStore(db).add_summary(room.id, record.id, summarize(script))
    await render(script, "fountain")
    await episodes.mark_delivered(record.id, record.id)
    finished = await episodes.get(GUILD, record.public_id)
    assert finished is not None
    assert finished.script is not None
    return Episode(finished, script, recalled, time.perf_counter() - started)


async def give_note(
    db: Database,
    generator: ScriptGenerator,
    episode: EpisodeRecord,
    scene: int,
    note: str,
    collections: FullCollections,
) -> Note:
    """``/notes`` with one take, timed from the note received to the revision ready to post."""
    episodes, rewrites = EpisodeStore(db), RewriteStore(db)
    collected = collections.seconds
    started = time.perf_counter()
    # /notes (bot/cogs/notes.py)
    record = await episodes.get(episode.guild_id, episode.public_id)
    assert record is not None
    assert record.script is not None
    latest = await rewrites.latest_revision(record)
    assert scene <= len(latest.script.scenes)
    rewrite = await rewrites.create(
        episode=record,
        scene=scene,
        note=note,
        takes=1,
        author_id=AUTHOR,
        author_name="mirela-fan",
    )
    # RewriteJobs._write
    base = await rewrites.latest_revision(record)
    calling = time.perf_counter()
    takes = await generator.rewrite_scene(
        base.script,
        scene - 1,
        note,
        takes=1,
        checkpoints=SqliteCheckpoints(db, record.id, prefix=f"rw{rewrite.id}:"),
        tenant=str(rewrite.guild_id),
        progress=RewriteProgress(scene, [SceneState.WAITING]),
        progress_callback=lambda *_: None,
    )
    returned = time.perf_counter()
    # RewriteJobs._adopt
    owner = await episodes.get_by_id(rewrite.episode_id)
    assert owner is not None
    latest = await rewrites.latest_revision(owner)
    script = latest.script.replace_scene(scene - 1, takes[0].scene)
    number = await rewrites.complete(rewrite.id, script, chosen_take=None, chosen_by=None)
    assert number is not None, "the rewrite was no longer running"
    done = await rewrites.get_by_id(rewrite.id)
    assert done is not None
    assert done.revision == number
    # RewriteJobs._deliver_revision, up to the post
    owner = await episodes.get_by_id(done.episode_id)
    assert owner is not None
    revision = await rewrites.get_revision(owner, number)
    assert revision is not None
    fountain = await render(revision.script, "fountain")
    ended = time.perf_counter()
    assert fountain
    await rewrites.mark_delivered(rewrite.id, rewrite.id)
    usage = takes[0].usage
    return Note(
        scene=scene,
        seconds=ended - started,
        model_seconds=sum(u.latency_s for u in usage),
        before_s=calling - started,
        rewrite_s=returned - calling,
        after_s=ended - returned,
        full_gc_s=collections.seconds - collected,
        revision=number,
        usage=usage,
    )


def prefix_tokens(body: dict[str, Any]) -> dict[str, int]:
    """The parts of a scene call's cached prefix, in tokens as the fake counts them."""
    tools = sum(
        estimate_tokens(
            json.dumps({k: v for k, v in tool.items() if k != "cache_control"}, sort_keys=True)
        )
        for tool in body["tools"]
    )
    labels: tuple[str, ...] = ("system prompt", "series bible", "previously", "premise", "outline")
    blocks = [estimate_tokens(block["text"]) for block in body["system"]]
    if len(blocks) == len(labels) - 1:  # a room with no earlier episodes has no "previously"
        labels = tuple(label for label in labels if label != "previously")
    return {"tools": tools, **dict(zip(labels, blocks, strict=True))}


# -- the report ---------------------------------------------------------------------------------


def judge(report: Report) -> None:
    """The report's rows: each figure, its target and whether it is met."""
    ratio = report.turnaround
    report.rows.append(
        Row(
            f"note to revision / one scene's chain (median of {len(report.notes)} notes)",
            ratio,
            f"{ratio:.2f}x ({report.note_s:.3f} s / {report.chain_s:.3f} s)",
            f"<= {TURNAROUND_TARGET:.1f}x",
            ratio <= TURNAROUND_TARGET,
        )
    )
    for n, (label, tokens) in enumerate(report.tokens.items()):
        share = tokens.read_share
        episode = n < 2
        report.rows.append(
            Row(
                f"cache-read share, {label}",
                share,
                f"{share:.1%}",
                f">= {CACHE_SHARE_TARGET:.0%}" if episode else "",
                share >= CACHE_SHARE_TARGET if episode else None,
            )
        )


def markdown(report: Report) -> str:
    latencies = ", ".join(f"{k} {v * 1000:.0f} ms" for k, v in report.latencies.items())
    lines = [
        f"## Writers' rooms{' (quick)' if report.quick else ''}",
        "",
        f"Real Anthropic SDK streaming from the fake Messages API; latencies {latencies}; "
        f"minimum cacheable prefix {report.min_cacheable:,} tokens; {SCENES}-scene episodes.",
        "",
        "| metric | measured | target | result |",
        "|---|---:|---|---|",
    ]
    for row in report.rows:
        result = "" if row.ok is None else ("PASS" if row.ok else "FAIL")
        lines.append(f"| {row.metric} | {row.shown} | {row.target} | {result} |")
    lines += ["", *notes_table(report), "", *tokens_table(report)]
    return "\n".join(lines)


def notes_table(report: Report) -> list[str]:
    lines = [
        "| note | scene | note to revision | its 2 calls | before | around the calls | after "
        "| of which full GC | revision |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for i, note in enumerate(report.notes, 1):
        around = note.rewrite_s - note.model_seconds
        lines.append(
            f"| {i} | {note.scene} | {note.seconds:.3f} s | {note.model_seconds:.3f} s "
            f"| {note.before_s * 1000:.1f} ms | {around * 1000:.1f} ms "
            f"| {note.after_s * 1000:.1f} ms | {note.full_gc_s * 1000:.0f} ms | v{note.revision} |"
        )
    rest = statistics.median(n.seconds - n.model_seconds for n in report.notes)
    chains = ", ".join(f"{c:.3f}" for c in report.chains)
    lines += [
        "",
        f"Median of what the path adds to the rewrite's two calls: {rest * 1000:.1f} ms. "
        f"The 1st episode's scene chains: {chains} s.",
    ]
    return lines


def tokens_table(report: Report) -> list[str]:
    lines = [
        "| calls | n | input | cache write | cache read | read share | priced as input "
        "| input by step: " + " / ".join(STEP_KINDS) + " |",
        "|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    usages = [
        report.first.script.usage,
        report.second.script.usage,
        [u for n in report.notes for u in n.usage],
    ]
    for (label, t), usage in zip(report.tokens.items(), usages, strict=True):
        by_kind = dict.fromkeys(STEP_KINDS, 0)
        for u in usage:
            by_kind[step_kind(u.step)] += u.input_tokens
        lines.append(
            f"| {label} | {t.calls} | {t.input:,} | {t.cache_write:,} | {t.cache_read:,} "
            f"| {t.read_share:.1%} | {t.priced:,.0f} "
            f"| {' / '.join(f'{v:,}' for v in by_kind.values())} |"
        )
    parts = ", ".join(f"{k} {v:,}" for k, v in report.prefix_tokens.items())
    lines += [
        "",
        f"Priced as input: input + cache write x {CACHE_WRITE_FACTOR} + cache read x "
        f"{CACHE_READ_FACTOR}, what the input tokens cost as plain input tokens. The comedy "
        "pass writes the draft to the cache (the last block of its prefix) and the "
        "refinements read it there, told only the elements changed since.",
    ]
    opening = report.second.script.usage[0]
    lines += [
        "",
        f"A scene call's cached prefix (tokens): {parts}. "
        f"The 2nd episode's first call ({opening.step}) read {opening.cache_read_tokens:,} "
        f"tokens from the cache and wrote {opening.cache_write_tokens:,}: its bible recalls "
        f"{len(report.second.recalled)} episodes ({', '.join(report.second.recalled)}), the "
        f"1st's {len(report.first.recalled)}.",
        f"Episodes took {report.first.seconds:.2f} s and {report.second.seconds:.2f} s.",
    ]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="latencies x0.1, 3 notes")
    parser.add_argument(
        "--min-cacheable",
        type=int,
        default=MIN_CACHEABLE_TOKENS,
        metavar="TOKENS",
        help=f"the model's minimum cacheable prefix (default {MIN_CACHEABLE_TOKENS})",
    )
    args = parser.parse_args()
    started = time.perf_counter()
    report = asyncio.run(bench(args.quick, args.min_cacheable))
    print(markdown(report))
    print(f"\n(the whole run took {time.perf_counter() - started:.1f} s)")
    missed = [row.metric for row in report.rows if row.ok is False]
    if missed:
        print(f"rooms: target missed: {'; '.join(missed)}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
