"""The comedy pass and the refinements: the draft in their shared (cached) context, and a
refinement told only what changed in its scene since the draft."""

from __future__ import annotations

from scriptgen.comedy import apply_edits
from scriptgen.models import Dialogue, EpisodeRequest, LineEdit, Outline, Scene, SceneOutline
from scriptgen.prompts import comedy_step, refine_step, render_draft

REQUEST = EpisodeRequest(premise="A ghost haunts a tax office", scene_count=2)
OUTLINE = Outline(
    title="Spirit of Audit",
    logline="A ghost fears the auditor.",
    scenes=[
        SceneOutline(
            heading=f"INT. OFFICE {n} - DAY",
            location="Office",
            time="DAY",
            characters=["MAVIS", "GHOST"],
            beat="The ghost hides.",
            comic_goal="Fear of paperwork.",
        )
        for n in (1, 2)
    ],
)
DRAFT = [
    Scene(
        heading=f"INT. OFFICE {n} - DAY",
        elements=[
            Dialogue(character="MAVIS", line=f"Scene {n}, line one."),
            Dialogue(character="GHOST", line=f"Scene {n}, line two."),
            Dialogue(character="MAVIS", line=f"Scene {n}, line three."),
        ],
    )
    for n in (1, 2)
]


def test_the_comedy_pass_has_the_draft_as_its_last_shared_block_not_in_its_prompt() -> None:
    step = comedy_step(REQUEST, OUTLINE, DRAFT)

    assert step.shared_context[-1] == render_draft(DRAFT)
    assert "  2. GHOST: Scene 2, line two." in step.shared_context[-1]
    assert "Scene 1, line one." not in step.prompt


def test_a_refinement_shares_the_comedy_pass_context_and_is_told_only_its_changes() -> None:
    punched = apply_edits(DRAFT, [LineEdit(scene=2, line=3, new_text="Audit me, coward.")])
    refine = refine_step(REQUEST, OUTLINE, DRAFT, punched.scenes, 1, 1)

    assert refine.shared_context == comedy_step(REQUEST, OUTLINE, DRAFT).shared_context
    assert refine.prompt.startswith("Scene 2 scored lowest")
    assert "  3. MAVIS: Audit me, coward." in refine.prompt
    assert "line one" not in refine.prompt and "line two" not in refine.prompt
    assert refine.facts.scenes == tuple(punched.scenes)


def test_a_later_round_is_told_every_change_since_the_draft() -> None:
    once = apply_edits(DRAFT, [LineEdit(scene=1, line=1, new_text="First punch.")]).scenes
    twice = apply_edits(once, [LineEdit(scene=1, line=2, new_text="Second punch.")]).scenes

    prompt = refine_step(REQUEST, OUTLINE, DRAFT, twice, 0, 2, ["refine:1:scene:1"]).prompt

    assert "  1. MAVIS: First punch." in prompt and "  2. GHOST: Second punch." in prompt
    assert "line three" not in prompt


def test_a_refinement_of_an_untouched_scene_says_so() -> None:
    prompt = refine_step(REQUEST, OUTLINE, DRAFT, DRAFT, 0, 1).prompt

    assert "No line of it has changed since the draft above." in prompt
