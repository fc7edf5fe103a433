"""``scriptgen``: write an episode from the command line, watching it being written.

Exit codes: 0 written, 1 the generation failed, 2 bad options or set-up, 130 interrupted.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from pydantic import ValidationError
from rich.console import Console
from rich.table import Table

from scriptgen.cli_display import EpisodeDisplay, stats_table, summary_table
from scriptgen.errors import ConfigurationError, ScriptgenError
from scriptgen.generator import ScriptGenerator
from scriptgen.models import MAX_PREMISE_CHARS, MAX_SCENES, EpisodeRequest
from scriptgen.progress import EpisodeProgress
from scriptgen.providers import PROVIDER_NAMES, ProviderName, make_provider
from scriptgen.render import FORMATS, Format, render


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"scriptgen: error: {message}\n")


def _scene_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"--scenes takes a whole number, not {text!r}") from None
    if not 1 <= value <= MAX_SCENES:
        raise argparse.ArgumentTypeError(
            f"--scenes must be between 1 and {MAX_SCENES}, not {value}"
        )
    return value


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, not {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="scriptgen",
        description="Write a sitcom episode: an outline, every scene in parallel, a comedy pass.",
    )
    parser.add_argument("premise", help=f"what the episode is about (1-{MAX_PREMISE_CHARS} chars)")
    parser.add_argument("--scenes", type=_scene_count, default=4, help="number of scenes (1-12)")
    parser.add_argument("--title", help="a working title (default: the outline's)")
    parser.add_argument("--tone", help='e.g. "dry workplace comedy"')
    parser.add_argument(
        "--provider",
        choices=PROVIDER_NAMES,
        default="anthropic",
        help="anthropic (needs ANTHROPIC_API_KEY) or demo (offline, no key)",
    )
    parser.add_argument("--model", help="the Anthropic model (default: claude-sonnet-5-5)")
    parser.add_argument(
        "--max-parallel", type=_positive, default=3, help="scenes written at once (default 3)"
    )
    parser.add_argument("--format", choices=FORMATS, default="fountain", help="output format")
    parser.add_argument("--out", type=Path, help="output file (default: episode.<format>)")
    parser.add_argument("--seed", type=int, default=0, help="the demo provider's seed")
    parser.add_argument(
        "--stats",
        action="store_true",
        help="then print a table of the steps: time, time to first token, tokens, cost",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> None:
    sys.exit(run(argv))


def run(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    err = Console(stderr=True, highlight=False)
    try:
        request = EpisodeRequest(
            premise=args.premise, scene_count=args.scenes, title=args.title, tone=args.tone
        )
    except ValidationError as exc:
        _fail(_first_error(exc))
        return 2
    provider_name: ProviderName = args.provider
    try:
        provider = make_provider(
            provider_name,
            api_key=os.environ.get("ANTHROPIC_API_KEY"),
            base_url=os.environ.get("ANTHROPIC_BASE_URL"),
            model=args.model,
            seed=args.seed,
        )
    except ConfigurationError as exc:
        _fail(f"{exc} (--provider demo)")
        return 2
    fmt: Format = args.format
    out: Path = args.out or Path(f"episode.{'md' if fmt == 'md' else fmt}")
    generator = ScriptGenerator(provider, max_parallel_scenes=args.max_parallel)
    try:
        return asyncio.run(_write(generator, request, fmt, out, err, stats=args.stats))
    except KeyboardInterrupt:
        _fail("interrupted; nothing was written")
        return 130


async def _write(
    generator: ScriptGenerator,
    request: EpisodeRequest,
    fmt: Format,
    out: Path,
    err: Console,
    *,
    stats: bool,
) -> int:
    progress = EpisodeProgress(request.scene_count, generator.max_refinements)
    display = EpisodeDisplay(progress, err)
    try:
        with display:
            script = await generator.generate_full_script(
                request, display.on_progress, progress=progress
            )
    except ScriptgenError as exc:
        _fail(str(exc))
        if stats:  # what ran before the failure, and the error, is what one wants to see
            _print_wide(Console(highlight=False), stats_table(generator.monitor.table()))
        return 1
    data = await render(script, fmt)
    try:
        await asyncio.to_thread(out.write_bytes, data)
    except OSError as exc:
        _fail(f"cannot write {out}: {exc.strerror}")
        return 1
    console = Console(highlight=False)
    console.print(summary_table(script, out))
    if stats:
        _print_wide(console, stats_table(generator.monitor.table()))
    return 0


def _print_wide(console: Console, table: Table) -> None:
    """Print ``table`` whole: a pipe or a log gets 80 columns from rich, which would squeeze a
    wide table's numbers into "…"; a terminal keeps its own width."""
    if not console.is_terminal:
        unbounded = console.options.update_width(1_000)
        needed = console.measure(table, options=unbounded).maximum
        console = Console(highlight=False, width=max(console.width, needed))
    console.print(table)


def _fail(message: str) -> None:
    """One line on stderr, never wrapped: scripts and people both read it."""
    print(f"scriptgen: error: {message}", file=sys.stderr)


def _first_error(exc: ValidationError) -> str:
    error = exc.errors()[0]
    field = ".".join(str(p) for p in error["loc"])
    name = {"premise": "the premise", "scene_count": "--scenes"}.get(field, f"--{field}")
    if error["type"] == "value_error":
        return str(error["msg"]).removeprefix("Value error, ")
    if error["type"] == "string_too_short":
        return f"{name} is empty: say what the episode is about"
    if error["type"] == "string_too_long":
        limit = (error.get("ctx") or {}).get("max_length")
        return f"{name} is too long ({len(str(error['input']))} characters; the limit is {limit})"
    return f"{name}: {error['msg']}"
