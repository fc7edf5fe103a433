"""The command line's live view of an episode, and its closing summary."""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from scriptgen.models import Script
from scriptgen.monitor import StepStats
from scriptgen.pricing import estimate_cost
from scriptgen.progress import EpisodeProgress, SceneState

_STATE_STYLE = {
    SceneState.WAITING: "dim",
    SceneState.DIALOGUE: "yellow",
    SceneState.DIRECTIONS: "cyan",
    SceneState.DONE: "green",
    SceneState.PUNCH_UP: "magenta",
}


class EpisodeDisplay:
    """A live panel on a terminal; one line per status change when output is not a terminal
    (CI logs, pipes), where redrawing would only repeat itself."""

    def __init__(self, progress: EpisodeProgress, console: Console) -> None:
        self.progress = progress
        self.console = console
        self._live: Live | None = None

    def __enter__(self) -> EpisodeDisplay:
        if self.console.is_terminal:
            self._live = Live(self._render(), console=self.console, refresh_per_second=8)
            self._live.__enter__()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._live is not None:
            self._live.update(self._render())
            self._live.__exit__(exc_type, exc, tb)

    def on_progress(self, status: str, current: int, total: int) -> None:
        if self._live is not None:
            self._live.update(self._render())
        else:
            self.console.print(f"[{current}/{total}] {status}", markup=False, highlight=False)

    def _render(self) -> RenderableType:
        p = self.progress
        elapsed = time.monotonic() - p.started_at
        header = Text.assemble(
            (p.title or "Untitled episode", "bold"), f"  {p.stage.value}  {elapsed:5.1f}s"
        )
        scenes = Table.grid(padding=(0, 2))
        for scene in p.scenes:
            scenes.add_row(
                f"{scene.number:>2}",
                Text(scene.heading or "…", overflow="ellipsis", no_wrap=True),
                Text(scene.state.value, style=_STATE_STYLE[scene.state]),
            )
        bar = ProgressBar(total=p.total, completed=p.current, width=40)
        return Group(header, scenes, bar, Text(p.status, style="dim"))


def summary_table(script: Script, out: Path) -> Table:
    totals = script.totals
    cost = estimate_cost(script.model, totals)
    speedup = totals.call_seconds / script.wall_seconds if script.wall_seconds else 0.0
    table = Table(title=f"{script.title}  ->  {out}", show_header=False, title_justify="left")
    table.add_row("wall time", f"{script.wall_seconds:.1f} s")
    table.add_row("LLM calls", str(totals.calls))
    table.add_row(
        "tokens",
        f"{totals.input_tokens:,} in, {totals.output_tokens:,} out, "
        f"{totals.cache_write_tokens:,} cache write, {totals.cache_read_tokens:,} cache read",
    )
    table.add_row("estimated cost", "unknown for this model" if cost is None else f"${cost:.4f}")
    table.add_row("speed-up", f"{speedup:.1f}x the sum of the calls' own durations")
    if script.provider == "demo":
        table.add_row("note", "written by the offline demo provider, not by Claude")
    return table


def stats_table(rows: Sequence[StepStats]) -> Table:
    """``--stats``: per kind of step, how many ran, how long they took and what they cost;
    then the calls, tokens and cost of all of them."""
    table = Table(title="Steps", title_justify="left")
    table.add_column("kind", no_wrap=True)
    for header in ("steps", "errors", "p50", "p95", "max", "1st token p50"):
        table.add_column(header, justify="right", no_wrap=True)
    for header in (*_TOKENS.values(), "cost"):
        table.add_column(header, justify="right", no_wrap=True)
    for row in rows:
        table.add_row(
            row.kind,
            str(row.count),
            str(row.errors),
            _duration(row.p50),
            _duration(row.p95),
            _duration(row.max),
            "-" if row.first_token_p50 is None else _duration(row.first_token_p50),
            *(f"{getattr(row, name):,}" for name in _TOKENS),
            f"${row.cost_usd:.4f}",
        )
    table.add_section()
    table.add_row(
        "all",
        str(sum(row.count for row in rows)),
        str(sum(row.errors for row in rows)),
        *([""] * 4),
        *(f"{sum(getattr(row, name) for row in rows):,}" for name in _TOKENS),
        f"${sum(row.cost_usd for row in rows):.4f}",
        style="bold",
    )
    return table


def _duration(seconds: float) -> str:
    """Model calls take seconds; checkpoint commits, microseconds: each in its own unit."""
    if seconds >= 1:
        return f"{seconds:.2f} s"
    if seconds >= 0.001:
        return f"{seconds * 1e3:.0f} ms"
    return f"{seconds * 1e6:.0f} µs"


_TOKENS = {
    "input_tokens": "tokens in",
    "output_tokens": "out",
    "cache_read_tokens": "cache read",
    "cache_write_tokens": "cache write",
}
