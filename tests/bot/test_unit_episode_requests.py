"""/episode's options, checked before the defer: what the writer is told for each problem."""

from __future__ import annotations

import pytest

from bot.cogs.episodes import request_problem
from scriptgen.models import MAX_PREMISE_CHARS, MAX_SCENES

PREMISE = "A barista discovers the espresso machine is haunted"


@pytest.mark.parametrize("premise", ["", "   ", "\n\t "])
def test_empty_premise_is_refused(premise: str) -> None:
    """An empty or blank premise asks what the episode is about."""
    assert request_problem(premise, 4, None, None) == (
        "The premise is empty: tell the room what the episode is about."
    )


def test_too_long_premise_is_refused_with_its_length_and_the_limit() -> None:
    """2,001 characters: the message gives both numbers, with thousands separators."""
    assert request_problem("x" * 2001, 4, None, None) == (
        "The premise is 2,001 characters; the limit is 2,000. Keep it to the heart of the story."
    )


def test_premise_at_the_limit_is_accepted() -> None:
    """Exactly MAX_PREMISE_CHARS characters is fine."""
    assert request_problem("x" * MAX_PREMISE_CHARS, 4, None, None) is None


@pytest.mark.parametrize(
    "premise", ["<@123> <@&456> @everyone !!", "<:party:4> <a:dance:5>", "@here <#3> ..."]
)
def test_mention_only_premise_is_refused(premise: str) -> None:
    """Mentions, emoji and punctuation alone: the writer is asked what happens."""
    assert request_problem(premise, 4, None, None) == (
        "The premise needs words, not only mentions or symbols: what happens?"
    )


@pytest.mark.parametrize("scenes", [0, MAX_SCENES + 1])
def test_scene_count_out_of_range_is_refused(scenes: int) -> None:
    """Fewer than one or more than twelve scenes gives the allowed range."""
    assert request_problem(PREMISE, scenes, None, None) == "An episode has 1 to 12 scenes."


@pytest.mark.parametrize("scenes", [1, 4, MAX_SCENES])
def test_valid_request_has_no_problem(scenes: int) -> None:
    """A premise with words and 1..12 scenes passes, with or without title and tone."""
    assert request_problem(PREMISE, scenes, None, None) is None
    assert request_problem(f"<@1> {PREMISE}", scenes, "Pilot", "deadpan") is None
