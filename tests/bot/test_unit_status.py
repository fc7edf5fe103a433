"""The status message as a pure function of an episode's state: content, escaping, embed limits."""

from __future__ import annotations

import discord
import pytest

from bot.status import Outcome, StatusCard, duration, plain, progress_bar, render_status
from scriptgen.models import (
    CallUsage,
    ComedyReport,
    EpisodeRequest,
    Outline,
    Scene,
    SceneOutline,
    Script,
)
from scriptgen.progress import EpisodeProgress, SceneState, Stage

PREMISE = "A barista discovers the espresso machine is haunted"
# Discord's embed limits (https://discord.com/developers/docs/resources/message#embed-object).
TITLE_MAX, DESCRIPTION_MAX, FIELD_VALUE_MAX, FOOTER_MAX, EMBED_MAX = 256, 4096, 1024, 2048, 6000


def running_progress() -> EpisodeProgress:
    """Three scenes: one done, one writing dialogue, one waiting without a heading yet."""
    progress = EpisodeProgress(3, stage=Stage.SCENES, title="The Haunted Espresso")
    progress.status = "Scene 2/3: writing dialogue"
    progress.current = 3
    progress.scenes[0].heading = "INT. COFFEE SHOP - DAY"
    progress.scenes[0].state = SceneState.DONE
    progress.scenes[1].heading = "INT. BACK ROOM - NIGHT"
    progress.scenes[1].state = SceneState.DIALOGUE
    return progress


def card(
    progress: EpisodeProgress | None = None,
    outcome: Outcome = Outcome.RUNNING,
    *,
    premise: str = PREMISE,
    detail: str | None = None,
    script: Script | None = None,
    elapsed: float = 75.0,
    author: str = "ada",
) -> StatusCard:
    return StatusCard(
        episode_id="ep-7",
        author=author,
        premise=premise,
        progress=progress or running_progress(),
        elapsed=elapsed,
        outcome=outcome,
        detail=detail,
        script=script,
    )


def make_script(
    scenes: int = 3,
    *,
    provider: str = "demo",
    model: str = "showrunner-demo",
    logline: str = "A barista and a ghost fight over the morning rush.",
) -> Script:
    outline = Outline(
        title="The Haunted Espresso",
        logline=logline,
        scenes=[
            SceneOutline(
                heading=f"INT. PLACE {n} - DAY",
                location=f"Place {n}",
                time="DAY",
                characters=["MAYA", "DEV"],
                beat="Things happen.",
                comic_goal="Escalate.",
            )
            for n in range(1, scenes + 1)
        ],
    )
    usage = [
        CallUsage(
            step="outline",
            model=model,
            input_tokens=1000,
            output_tokens=500,
            cache_write_tokens=2000,
            cache_read_tokens=0,
        ),
        CallUsage(step="comedy", model=model, cache_read_tokens=3000),
    ]
    return Script(
        request=EpisodeRequest(premise=PREMISE, scene_count=scenes),
        outline=outline,
        scenes=[Scene(heading=s.heading, elements=[]) for s in outline.scenes],
        comedy=ComedyReport(analyzed_jokes=[], edits=[]),
        usage=usage,
        provider=provider,
        model=model,
        wall_seconds=95.0,
    )


def field_values(embed: discord.Embed) -> dict[str, str]:
    return {str(f.name): str(f.value) for f in embed.fields}


def assert_within_limits(embed: discord.Embed) -> None:
    assert embed.title is not None and len(embed.title) <= TITLE_MAX, len(embed.title or "")
    assert embed.description is not None and len(embed.description) <= DESCRIPTION_MAX
    for f in embed.fields:
        assert len(str(f.name)) <= 256
        assert len(str(f.value)) <= FIELD_VALUE_MAX, len(str(f.value))
    assert embed.footer.text is not None and len(embed.footer.text) <= FOOTER_MAX
    assert len(embed) <= EMBED_MAX


# -- helpers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "total", "expected"),
    [
        (0, 9, "`▱▱▱▱▱▱▱▱▱▱▱▱▱▱▱▱` 0%"),
        (3, 9, "`▰▰▰▰▰▱▱▱▱▱▱▱▱▱▱▱` 33%"),
        (1, 2, "`▰▰▰▰▰▰▰▰▱▱▱▱▱▱▱▱` 50%"),
        (9, 9, "`▰▰▰▰▰▰▰▰▰▰▰▰▰▰▰▰` 100%"),
        (0, 0, "`▱▱▱▱▱▱▱▱▱▱▱▱▱▱▱▱` 0%"),
    ],
)
def test_progress_bar_fills_in_proportion(current: int, total: int, expected: str) -> None:
    """Sixteen cells filled in proportion with a percentage; a zero total is an empty bar."""
    assert progress_bar(current, total) == expected


@pytest.mark.parametrize(
    ("seconds", "expected"),
    [(0, "0s"), (-3, "0s"), (59.4, "59s"), (59.6, "1m 00s"), (75, "1m 15s"), (3600, "60m 00s")],
)
def test_duration_is_short_and_rounded(seconds: float, expected: str) -> None:
    """Seconds alone under a minute, then minutes and two-digit seconds; never negative."""
    assert duration(seconds) == expected


def test_plain_escapes_markdown_so_text_displays_as_written() -> None:
    """Bold, underline, code and backslashes are escaped; the words are unchanged."""
    assert plain(r"**x** __y__ `z` a\b", 100) == r"\*\*x\*\* \_\_y\_\_ \`z\` a\\b"


def test_plain_collapses_whitespace() -> None:
    """Newlines and runs of spaces become single spaces (one line in the embed)."""
    assert plain("  a\n\n  b\tc  ", 100) == "a b c"


def test_plain_cuts_long_text_with_an_ellipsis_at_the_limit() -> None:
    """Text longer than the limit is cut to ``limit`` characters, the last being '…'."""
    assert plain("a" * 30, 21) == "a" * 20 + "…"
    assert plain("a" * 21, 21) == "a" * 21


def test_plain_does_not_leave_a_space_before_the_ellipsis() -> None:
    """A cut that lands after a space trims it, so the text ends '…' right after a word."""
    assert plain("word " * 100, 21) == "word word word word…"


def test_plain_does_not_cut_an_escape_in_half() -> None:
    """The limit counts escaped characters, and a cut never splits an escape from its mark."""
    assert plain("aaa" + "*" * 10, 6) == r"aaa\*…"
    assert plain("aaa" + "*" * 10, 5) == "aaa…"


# -- running ------------------------------------------------------------------------------------


def test_running_status_shows_stage_status_bar_and_time() -> None:
    """The headline names the stage and status; the bar and elapsed time follow."""
    embed = render_status(card())
    assert embed.title == "The Haunted Espresso"
    assert embed.colour == discord.Colour.blurple()
    lines = (embed.description or "").split("\n")
    assert lines[0] == f"> {PREMISE}"
    assert "**Scenes** · Scene 2/3: writing dialogue" in lines
    assert f"{progress_bar(3, 9)} · 1m 15s" in lines
    assert embed.footer.text == "Episode ep-7 · started by ada"


def test_running_status_lists_each_scene_with_heading_and_state_icon() -> None:
    """Done, writing and waiting scenes each get their icon; a scene without a heading shows '…'."""
    embed = render_status(card())
    assert field_values(embed)["Scenes"].split("\n") == [
        "✅ 1. INT. COFFEE SHOP - DAY",
        "✍️ 2. INT. BACK ROOM - NIGHT · writing dialogue",
        "⏳ 3. …",
    ]


def test_scene_states_have_distinct_icons() -> None:
    """Stage directions and punch-up have their own icon and say what is happening."""
    progress = running_progress()
    progress.scenes[1].state = SceneState.DIRECTIONS
    progress.scenes[2].heading = "EXT. ROOFTOP - LATER"
    progress.scenes[2].state = SceneState.PUNCH_UP
    lines = field_values(render_status(card(progress)))["Scenes"].split("\n")
    assert lines[1] == "🎬 2. INT. BACK ROOM - NIGHT · adding stage directions"
    assert lines[2] == "🥁 3. EXT. ROOFTOP - LATER · punching up"


def test_comedy_stage_is_shown_under_the_scenes() -> None:
    """During the comedy pass the scenes field ends with a line naming it."""
    progress = running_progress()
    progress.stage = Stage.COMEDY
    for scene in progress.scenes:
        scene.state = SceneState.DONE
    assert field_values(render_status(card(progress)))["Scenes"].endswith("\n🥁 comedy pass")


def test_untitled_episode_has_a_placeholder_title() -> None:
    """Before the outline exists the title says a new episode is being written."""
    assert render_status(card(EpisodeProgress(2))).title == "Writing a new episode"


# -- done ---------------------------------------------------------------------------------------


def test_done_status_shows_the_summary_and_no_scenes_field() -> None:
    """Logline, scene count, time, calls, tokens with cache reads and cost; no scene list."""
    embed = render_status(card(outcome=Outcome.DONE, script=make_script(3)))
    assert embed.colour == discord.Colour.green()
    assert embed.fields == []
    lines = (embed.description or "").split("\n")
    assert "*A barista and a ghost fight over the morning rush.*" in lines
    assert "**3 scenes** · written in 1m 35s · 2 calls" in lines
    assert "6,000 tokens in (3,000 from cache), 500 out · about $0.000" in lines


def test_done_status_of_the_demo_says_it_is_the_demo() -> None:
    """A demo episode says it was not written by Claude."""
    embed = render_status(card(outcome=Outcome.DONE, script=make_script()))
    assert "*Written by the offline demo provider, not by Claude.*" in (embed.description or "")


def test_done_status_prices_a_known_model_and_omits_the_demo_note() -> None:
    """A Claude episode shows its estimated cost (cache reads at a tenth of input)."""
    script = make_script(provider="anthropic", model="claude-sonnet-4-5-20250929")
    description = render_status(card(outcome=Outcome.DONE, script=script)).description or ""
    # (1000 * 3 + 2000 * 3 * 1.25 + 3000 * 0.3 + 500 * 15) / 1e6 = 0.0189
    assert "500 out · about $0.019" in description
    assert "demo" not in description


def test_done_status_of_an_unpriced_model_says_cost_unknown() -> None:
    """A model without a price shows 'cost unknown' rather than a wrong figure."""
    script = make_script(provider="anthropic", model="some-future-model")
    description = render_status(card(outcome=Outcome.DONE, script=script)).description or ""
    assert "500 out · cost unknown" in description


# -- failed, cancelled, paused ------------------------------------------------------------------


def test_failed_status_gives_the_retry_hint_and_the_reason() -> None:
    """A failure says finished steps are kept and how to retry, then what failed."""
    embed = render_status(card(outcome=Outcome.FAILED, detail="Scene 2's dialogue failed: 529"))
    assert embed.colour == discord.Colour.red()
    description = embed.description or ""
    assert (
        "**Failed.** Every finished step is kept: `/episode-retry` picks up from here."
        in description
    )
    assert description.endswith("\n\nScene 2's dialogue failed: 529")


def test_cancelled_status_has_its_headline_and_who_cancelled() -> None:
    """'Cancelled.' in bold, and the detail line saying who cancelled."""
    embed = render_status(card(outcome=Outcome.CANCELLED, detail="Cancelled by bo_the_mod"))
    assert embed.colour == discord.Colour.dark_grey()
    assert "**Cancelled.**" in (embed.description or "")
    assert (embed.description or "").endswith(r"Cancelled by bo\_the\_mod")


def test_paused_status_says_it_resumes() -> None:
    """A paused episode says it will resume on its own."""
    embed = render_status(card(outcome=Outcome.PAUSED))
    assert embed.colour == discord.Colour.orange()
    assert "**Paused for a restart**, resumes automatically." in (embed.description or "")


# -- hostile and huge text ----------------------------------------------------------------------


def test_model_markdown_in_title_status_and_heading_is_escaped() -> None:
    """Model text with Markdown shows literally in the title, the headline and the scenes."""
    progress = running_progress()
    progress.title = "The **Big** __Day__"
    progress.status = "Scene 1/3: `rm -rf` *again*"
    progress.scenes[0].heading = "INT. *SECRET* LAB - DAY"
    embed = render_status(card(progress))
    assert embed.title == r"The \*\*Big\*\* \_\_Day\_\_"
    assert r"Scene 1/3: \`rm -rf\` \*again\*" in (embed.description or "")
    assert field_values(embed)["Scenes"].startswith(r"✅ 1. INT. \*SECRET\* LAB - DAY")


def test_premise_with_everyone_and_markdown_displays_as_written() -> None:
    """'@everyone' stays readable text in the embed (embeds never ping); Markdown is escaped."""
    embed = render_status(card(premise="@everyone the **boss** is a `ghost`"))
    first = (embed.description or "").split("\n")[0]
    assert first == r"> @everyone the \*\*boss\*\* is a \`ghost\`"


def test_long_headings_are_cut_with_an_ellipsis() -> None:
    """A 120-character heading shows its start, cut short with '…'."""
    progress = running_progress()
    progress.scenes[0].heading = "INT. " + "VERY LONG PLACE " * 8
    line = field_values(render_status(card(progress)))["Scenes"].split("\n")[0]
    assert line.startswith("✅ 1. INT. VERY LONG PLACE") and line.endswith("…")
    assert len(line) < 60


def huge_progress(heading_unit: str, title: str, stage: Stage = Stage.SCENES) -> EpisodeProgress:
    progress = EpisodeProgress(12, stage=stage, title=title)
    progress.status = heading_unit * 400
    progress.current = 20
    for scene in progress.scenes:
        scene.heading = (heading_unit * 120)[:120]
        scene.state = SceneState.DIRECTIONS
    return progress


@pytest.mark.parametrize("outcome", list(Outcome))
@pytest.mark.parametrize("unit", ["A", "*_", "@everyone "], ids=["letters", "markdown", "mentions"])
def test_embed_limits_hold_for_twelve_long_scenes(outcome: Outcome, unit: str) -> None:
    """Title, description, field, footer and total stay within Discord's limits, whatever text."""
    title = (unit * 120)[:120]  # outline and request titles are capped at 120 characters
    script = make_script(12, logline=(unit * 500)[:500]) if outcome is Outcome.DONE else None
    embed = render_status(
        card(
            huge_progress(unit, title),
            outcome,
            premise=(unit * 2000)[:2000],
            detail=unit * 2000,
            script=script,
            author="x" * 300,
        )
    )
    assert_within_limits(embed)


def test_twelve_plain_scenes_with_long_headings_are_all_listed() -> None:
    """Twelve 120-character headings fit: every scene keeps its line and its state."""
    embed = render_status(card(huge_progress("A", "T")))
    lines = field_values(embed)["Scenes"].split("\n")
    assert [line.split(" ")[1] for line in lines] == [f"{n}." for n in range(1, 13)]
    assert all(line.endswith("… · adding stage directions") for line in lines)


def test_twelve_markdown_heavy_scenes_are_all_listed() -> None:
    """Headings dense with Markdown still leave a whole line for each of the twelve scenes."""
    embed = render_status(card(huge_progress("*_", "T")))
    value = field_values(embed)["Scenes"]
    lines = value.split("\n")
    assert len(lines) == 12
    assert all(line.endswith(" · adding stage directions") for line in lines)
