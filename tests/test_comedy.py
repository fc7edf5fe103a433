"""Weaving directions and applying punch-ups: numbers from the model are never trusted blindly."""

from __future__ import annotations

from scriptgen.comedy import apply_edits, current_jokes, mean_score, weakest_scenes, weave
from scriptgen.models import (
    Action,
    AnalyzedJoke,
    ComedyReport,
    Dialogue,
    DialogueLine,
    DirectionInsert,
    LineEdit,
    Scene,
    SceneDialogue,
    StageDirections,
    Transition,
)


def scene() -> Scene:
    return Scene(
        heading="INT. CAFE - DAY",
        elements=[
            Action(text="Steam."),
            Dialogue(character="MAYA", line="It moved."),
            Dialogue(character="DEV", line="Machines don't move."),
        ],
    )


def test_weave_places_directions_after_their_lines_and_clamps_numbers() -> None:
    """Inserts go after the line they name; 0 is before the first; too large is the end."""
    dialogue = SceneDialogue(
        lines=[DialogueLine(character="A", line="one"), DialogueLine(character="B", line="two")]
    )
    directions = StageDirections(
        inserts=[
            DirectionInsert(after_line=99, kind="transition", text="CUT TO:"),
            DirectionInsert(after_line=1, kind="action", text="A beat."),
            DirectionInsert(after_line=0, kind="action", text="Night."),
        ]
    )
    woven = weave("INT. X - DAY", dialogue, directions)
    assert [getattr(e, "text", getattr(e, "line", "")) for e in woven.elements] == [
        "Night.",
        "one",
        "A beat.",
        "two",
        "CUT TO:",
    ]
    assert isinstance(woven.elements[-1], Transition)


def test_edits_replace_only_the_named_element_and_skip_bad_numbers() -> None:
    """A valid edit replaces one line (minus a repeated cue); out-of-range edits are skipped."""
    original = [scene(), scene()]
    result = apply_edits(
        original,
        [
            LineEdit(scene=1, line=2, new_text="MAYA: It MOVED. Twice."),
            LineEdit(scene=2, line=1, new_text="Steam, menacingly."),
            LineEdit(scene=3, line=1, new_text="nowhere"),
            LineEdit(scene=1, line=9, new_text="nowhere"),
        ],
    )
    assert result.scenes[0].elements[1] == Dialogue(character="MAYA", line="It MOVED. Twice.")
    assert result.scenes[1].elements[0] == Action(text="Steam, menacingly.")
    assert len(result.applied) == 2
    assert len(result.skipped) == 2
    assert original == [scene(), scene()], "the input scenes are left untouched"


def test_refinement_scores_replace_their_scenes_scores() -> None:
    """The latest report covering a scene wins; the weakest scenes are found from it."""
    comedy = ComedyReport(
        analyzed_jokes=[
            AnalyzedJoke(scene=1, line=1, kind="one-liner", score=3),
            AnalyzedJoke(scene=2, line=1, kind="irony", score=8),
        ],
        edits=[],
    )
    refined = ComedyReport(
        analyzed_jokes=[AnalyzedJoke(scene=1, line=1, kind="one-liner", score=9)], edits=[]
    )
    assert mean_score(current_jokes(comedy, [])) == 5.5
    assert mean_score(current_jokes(comedy, [refined])) == 8.5
    assert weakest_scenes(current_jokes(comedy, []), 3, threshold=6.5, limit=3) == [2, 0]
