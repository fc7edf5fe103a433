"""The outline as text writers edit: format, lenient reading, problems by scene, round trip."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scriptgen.errors import ScriptgenError
from scriptgen.models import EpisodeRequest, Outline, SceneOutline
from scriptgen.outline_text import OutlineTextError, parse_outline, scene_blocks, scenes_text
from scriptgen.providers.base import StepFacts
from scriptgen.providers.demo_writer import outline as demo_outline

OUTLINE = Outline(
    title="The Haunted Espresso",
    logline="A barista's machine has opinions.",
    scenes=[
        SceneOutline(
            heading="INT. COFFEE SHOP - DAY",
            location="Coffee Shop",
            time="DAY",
            characters=["Ada", "Bo"],
            beat="Ada hears the machine sigh.",
            comic_goal="Deadpan denial.",
        ),
        SceneOutline(
            heading="EXT. ROOFTOP - NIGHT",
            location="Rooftop",
            time="NIGHT",
            characters=["Bo"],
            beat="Bo tries an exorcism with oat milk.",
            comic_goal="Escalation.",
        ),
    ],
)

TEXT = """\
1. INT. COFFEE SHOP - DAY
Characters: Ada, Bo
Beat: Ada hears the machine sigh.
Comic goal: Deadpan denial.

2. EXT. ROOFTOP - NIGHT
Characters: Bo
Beat: Bo tries an exorcism with oat milk.
Comic goal: Escalation."""


def problems(text: str, title: str = "T", logline: str = "L") -> list[str]:
    with pytest.raises(OutlineTextError) as caught:
        parse_outline(title, logline, text)
    return caught.value.problems


def test_scenes_text_is_numbered_blocks_separated_by_blank_lines() -> None:
    """The text has one labelled block a scene, a blank line between them."""
    assert scenes_text(OUTLINE) == TEXT


def test_scene_blocks_are_the_blocks_of_the_text() -> None:
    """One block a scene, the same blocks scenes_text joins."""
    blocks = scene_blocks(OUTLINE)
    assert len(blocks) == 2
    assert "\n\n".join(blocks) == TEXT


def test_the_text_reads_back_as_the_outline() -> None:
    """parse_outline of scenes_text is the outline."""
    assert parse_outline(OUTLINE.title, OUTLINE.logline, TEXT) == OUTLINE


def test_demo_outlines_round_trip() -> None:
    """The demo's outlines (headings like APARTMENT 4B) read back equal."""
    for seed in range(10):
        request = EpisodeRequest(premise="A parrot inherits the building", scene_count=12)
        outline = demo_outline(seed, StepFacts(request=request), "outline")
        assert parse_outline(outline.title, outline.logline, scenes_text(outline)) == outline


def test_labels_spacing_and_numbers_are_read_leniently() -> None:
    """Label case and spacing, odd numbers, a missing blank line: still the same outline."""
    text = (
        "7)   int.  coffee shop -  day\n"
        "  CHARACTERS :Ada ,  Bo\n"
        "beat: Ada hears\n  the machine sigh.\n"
        "COMIC GOAL:   Deadpan denial.\n"
        "3. Ext. Rooftop \u2013 night\n"
        "characters: Bo\nBeat:Bo tries an exorcism with oat milk.\ncomicgoal: Escalation.\n\n\n"
    )
    assert parse_outline(OUTLINE.title, OUTLINE.logline, text) == OUTLINE


def test_location_and_time_come_from_the_heading() -> None:
    """An edited heading moves the scene: location and time follow it."""
    text = TEXT.replace("INT. COFFEE SHOP - DAY", "INT./EXT. MCDONALD'S DRIVE-THRU - LATER")
    scene = parse_outline("T", "L", text).scenes[0]
    assert (scene.heading, scene.location, scene.time) == (
        "INT./EXT. MCDONALD'S DRIVE-THRU - LATER",
        "Mcdonald's Drive-Thru",
        "LATER",
    )


def test_scenes_can_be_added_and_removed() -> None:
    """Three blocks make a three-scene outline, numbered in order."""
    third = "\n\n9. INT. HALLWAY - NIGHT\nCharacters: Ada\nBeat: She leaves.\nComic goal: Button."
    outline = parse_outline("T", "L", TEXT + third)
    assert [s.heading for s in outline.scenes][2] == "INT. HALLWAY - NIGHT"
    assert len(parse_outline("T", "L", scene_blocks(OUTLINE)[1]).scenes) == 1


def test_every_problem_is_named_by_scene() -> None:
    """A missing label, a bad heading and a stray line are each reported with their scene."""
    text = TEXT.replace("Beat: Ada hears the machine sigh.\n", "").replace(
        "EXT. ROOFTOP - NIGHT", "The rooftop, at night\nWhere it rains"
    )
    assert problems(text) == [
        "scene 1: no 'Beat:' line",
        "scene 2: the heading must look like INT. PLACE - TIME",
        "scene 2: 'Where it rains' is not a 'Characters:', 'Beat:' or 'Comic goal:' line",
    ]


def test_too_many_scenes_are_refused() -> None:
    """13 scenes is more than an episode has."""
    block = "INT. ROOM - DAY\nCharacters: A\nBeat: B.\nComic goal: C."
    assert problems("\n\n".join([block] * 13)) == ["13 scenes; an episode has 1 to 12"]


def test_empty_fields_title_and_text_are_refused() -> None:
    """Empty values, an empty title and no scenes at all are each a problem."""
    assert problems("   \n", title=" ", logline="L") == [
        "the title is empty",
        "no scenes; an episode has 1 to 12",
    ]
    text = TEXT.replace("Characters: Bo", "Characters: , ,").replace("Escalation.", "")
    assert problems(text) == [
        "scene 2: the comic goal is empty",
        "scene 2: the characters are empty",
    ]


def test_a_repeated_label_and_long_values_are_refused() -> None:
    """Two Beat lines, a too-long beat, too many characters: each reported."""
    names = ", ".join(f"C{n}" for n in range(11))
    text = TEXT.replace("Characters: Bo", f"Characters: {names}\nBeat: again").replace(
        "Deadpan denial.", "x" * 501
    )
    assert problems(text) == [
        "scene 1: the comic goal is too long (max 500 characters)",
        "scene 2: two 'Beat:' lines",
        "scene 2: 11 characters; a scene has at most 10",
    ]


def test_the_error_lists_its_problems_one_a_line() -> None:
    """str(OutlineTextError) is its problems, one a line; it is a ScriptgenError."""
    error = OutlineTextError(["scene 1: a", "scene 2: b"])
    assert str(error) == "scene 1: a\nscene 2: b"
    assert isinstance(error, ScriptgenError)


_place = st.lists(
    st.text(st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"), min_size=1, max_size=8),
    min_size=1,
    max_size=4,
).map(" ".join)
_name = st.lists(
    st.text(st.sampled_from("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghij'.-"), min_size=1, max_size=8),
    min_size=1,
    max_size=3,
).map(" ".join)
_prose = st.text(
    st.characters(codec="utf-8", exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp")),
    min_size=1,
    max_size=20,
)
_sentence = st.lists(_prose, min_size=1, max_size=6).map(" ".join)


@st.composite
def outlines(draw: st.DrawFn) -> Outline:
    scenes = []
    for _ in range(draw(st.integers(1, 12))):
        prefix = draw(st.sampled_from(["INT.", "EXT.", "INT./EXT.", "I/E."]))
        place, time = draw(_place), draw(st.sampled_from(["DAY", "NIGHT", "LATER", "DUSK"]))
        characters = draw(st.lists(_name, min_size=1, max_size=10, unique=True))
        scenes.append(
            SceneOutline(
                heading=f"{prefix} {place} - {time}",
                location=place.title(),
                time=time,
                characters=characters,
                beat=draw(_sentence),
                comic_goal=draw(_sentence),
            )
        )
    return Outline(title=draw(_sentence), logline=draw(_sentence), scenes=scenes)


@settings(max_examples=80, deadline=None)
@given(outline=outlines())
def test_any_outline_in_the_standard_form_round_trips(outline: Outline) -> None:
    """parse_outline(title, logline, scenes_text(o)) == o when headings are INT. PLACE - TIME."""
    assert parse_outline(outline.title, outline.logline, scenes_text(outline)) == outline
