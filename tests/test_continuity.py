"""Continuity: a delivered episode's summary, and the "previously" block within its budget."""

from __future__ import annotations

from scriptgen.continuity import PREVIOUSLY_BUDGET_TOKENS, previously, summarize
from scriptgen.models import (
    Action,
    AnalyzedJoke,
    ComedyReport,
    Dialogue,
    EpisodeRequest,
    EpisodeSummary,
    Outline,
    Scene,
    SceneOutline,
    Script,
)
from scriptgen.tokens import estimate_tokens


def scene_outline(characters: list[str], beat: str) -> SceneOutline:
    return SceneOutline(
        heading="INT. SHOP - DAY",
        location="Shop",
        time="DAY",
        characters=characters,
        beat=beat,
        comic_goal="Laughs.",
    )


def script(jokes: list[AnalyzedJoke], refinements: list[ComedyReport] | None = None) -> Script:
    outline = Outline(
        title="The Parrot Clause",
        logline="A parrot inherits the shop.",
        scenes=[
            scene_outline(["ADA", "BO"], "Ada reads the will."),
            scene_outline(
                ["BO", "PIP THE PARROT", "ADA"], "Pip raises the rent; Bo pays in crackers."
            ),
        ],
    )
    scenes = [
        Scene(
            heading="INT. SHOP - DAY",
            elements=[
                Action(text="A parrot on the till."),
                Dialogue(character="BO", line="I owe you four pounds."),
            ],
        ),
        Scene(
            heading="INT. SHOP - DAY",
            elements=[Dialogue(character="ADA", line="Crackers are not legal tender.")],
        ),
    ]
    return Script(
        request=EpisodeRequest(premise="A parrot inherits the shop", scene_count=2),
        outline=outline,
        scenes=scenes,
        comedy=ComedyReport(analyzed_jokes=jokes, edits=[]),
        refinements=refinements or [],
        provider="demo",
        model="m",
    )


def joke(scene: int, line: int, kind: str, score: int) -> AnalyzedJoke:
    return AnalyzedJoke.model_validate({"scene": scene, "line": line, "kind": kind, "score": score})


def test_summarize_takes_title_logline_ending_and_cast() -> None:
    """The summary is the episode's title, logline, last beat and every character in order."""
    summary = summarize(script([]))
    assert summary == EpisodeSummary(
        title="The Parrot Clause",
        logline="A parrot inherits the shop.",
        ending="Pip raises the rent; Bo pays in crackers.",
        characters=["ADA", "BO", "PIP THE PARROT"],
        new_gags=[],
    )


def test_new_gags_are_the_running_gags_and_callbacks_that_landed() -> None:
    """Elements scored running-gag or callback at 7 or more are kept, by their text."""
    jokes = [
        joke(1, 2, "running-gag", 8),
        joke(1, 1, "callback", 6),
        joke(2, 1, "one-liner", 10),
        joke(2, 9, "callback", 9),
    ]
    assert summarize(script(jokes)).new_gags == ["I owe you four pounds."]


def test_a_refinement_rescoring_a_scene_wins() -> None:
    """A scene's jokes are taken as last scored (the refinement's)."""
    refined = ComedyReport(analyzed_jokes=[joke(2, 1, "callback", 7)], edits=[])
    summary = summarize(script([joke(2, 1, "callback", 3)], [refined]))
    assert summary.new_gags == ["Crackers are not legal tender."]


def test_long_texts_are_clipped_to_fit() -> None:
    """A long title or ending is clipped to the summary's limits, not refused."""
    long = script([])
    long.request.title = "T" * 120
    long.outline.scenes[-1].beat = "word " * 199
    summary = summarize(long)
    assert len(summary.ending) == 600 and summary.ending.endswith("…")
    assert summary.title == "T" * 120


def test_line_reads_as_one_line_of_previously() -> None:
    """line() is title, logline, ending and new gags in one line."""
    summary = EpisodeSummary(
        title="Pilot",
        logline="Ada buys a shop",
        ending="It burns down.",
        characters=["ADA"],
        new_gags=["four pounds", "the parrot"],
    )
    assert summary.line() == (
        "Pilot: Ada buys a shop. Ending: It burns down. New running gags: four pounds; the parrot."
    )
    assert EpisodeSummary(title="Pilot").line() == "Pilot:"


def summary(n: int, words: int = 40) -> EpisodeSummary:
    return EpisodeSummary(title=f"Episode {n}", logline=" ".join(["word"] * words))


def test_previously_keeps_the_most_recent_that_fit_oldest_first() -> None:
    """Given newest first, it returns the newest that fit the budget, oldest first."""
    newest_first = [summary(n) for n in range(10, 0, -1)]
    cost = estimate_tokens(f"- {newest_first[0].line()}\n")
    kept = previously(newest_first, budget_tokens=cost * 3 + cost // 2)
    assert [s.title for s in kept] == ["Episode 8", "Episode 9", "Episode 10"]


def test_previously_stops_at_the_first_that_does_not_fit() -> None:
    """An older short summary is not kept past a newer one that did not fit: no gaps."""
    newest_first = [summary(3, 5), summary(2, 90), summary(1, 5)]
    kept = previously(newest_first, budget_tokens=50)
    assert [s.title for s in kept] == ["Episode 3"]


def test_previously_fits_the_default_budget_and_a_bible() -> None:
    """With the default budget, many summaries give at most the bible's 20, within budget."""
    kept = previously([summary(n, 3) for n in range(40, 0, -1)], PREVIOUSLY_BUDGET_TOKENS)
    assert PREVIOUSLY_BUDGET_TOKENS == 1500
    assert len(kept) == 20 and kept[-1].title == "Episode 40"
    assert sum(estimate_tokens(f"- {s.line()}\n") for s in kept) <= PREVIOUSLY_BUDGET_TOKENS


def test_estimate_tokens_is_a_quarter_of_the_characters_at_least_one() -> None:
    """estimate_tokens is len // 4, never 0."""
    assert (estimate_tokens(""), estimate_tokens("abc"), estimate_tokens("a" * 41)) == (1, 1, 10)
