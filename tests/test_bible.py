"""The series bible as a file writers edit: parsing, every problem by path, limits, round trip."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scriptgen.bible import (
    MAX_BIBLE_FILE_BYTES,
    MAX_BIBLE_TOKENS,
    BibleError,
    bible_markdown,
    bible_tokens,
    check_bible,
    dump_bible,
    parse_bible,
)
from scriptgen.errors import ScriptgenError
from scriptgen.models import Character, SeriesBible
from scriptgen.prompts import render_bible
from scriptgen.tokens import estimate_tokens

YAML = b"""\
name: Grounds for Dismissal
logline: Two siblings run a failing coffee shop.
tone: Warm, fast, character-driven.
setting: |
  The Daily Grind, Leeds.
  And the flat above.
characters:
  - name: Ada
    description: The older sister; runs the till.
    voice: Clipped lists and sighs.
  - name: Bo
    voice: Long borrowed metaphors.
running_gags:
  - The espresso machine only works when nobody looks at it.
"""

BIBLE = SeriesBible(
    show_title="Grounds for Dismissal",
    logline="Two siblings run a failing coffee shop.",
    tone="Warm, fast, character-driven.",
    setting="The Daily Grind, Leeds.\nAnd the flat above.",
    characters=[
        Character(
            name="Ada",
            description="The older sister; runs the till.",
            voice="Clipped lists and sighs.",
        ),
        Character(name="Bo", voice="Long borrowed metaphors."),
    ],
    running_gags=["The espresso machine only works when nobody looks at it."],
)


def problems(data: str | bytes, filename: str = "bible.yaml") -> list[str]:
    raw = data.encode() if isinstance(data, str) else data
    with pytest.raises(BibleError) as caught:
        parse_bible(raw, filename)
    return caught.value.problems


# -- reading ------------------------------------------------------------------------------------


def test_a_yaml_bible_is_read_whole() -> None:
    """Every field of a YAML bible lands in the SeriesBible."""
    assert parse_bible(YAML, "bible.yaml") == BIBLE


def test_a_json_bible_is_read_as_json() -> None:
    """A .json file is JSON, with the same keys."""
    document = {
        "name": BIBLE.show_title,
        "logline": BIBLE.logline,
        "tone": BIBLE.tone,
        "setting": BIBLE.setting,
        "characters": [
            {"name": c.name, "description": c.description, "voice": c.voice}
            for c in BIBLE.characters
        ],
        "running_gags": BIBLE.running_gags,
    }
    assert parse_bible(json.dumps(document).encode(), "Bible.JSON") == BIBLE


def test_only_a_name_is_required() -> None:
    """A bible with just a name is valid; missing lists are empty."""
    assert parse_bible(b"name: Solo\n", "b.yml") == SeriesBible(show_title="Solo")


def test_text_is_stripped_and_numbers_are_text() -> None:
    """Surrounding spaces go; a YAML number in a text field reads as text."""
    bible = parse_bible(b"name: '  1984  '\ntone: 42\n", "b.yaml")
    assert (bible.show_title, bible.tone) == ("1984", "42")


# -- problems -----------------------------------------------------------------------------------


def test_every_problem_is_reported_by_its_path() -> None:
    """Problems name the field (1-based indexes), all of them in one error."""
    text = (
        "name: Show\ncolour: blue\ncharacters:\n"
        "  - name: Ada\n"
        f"  - name: Bo\n    voice: {'x' * 301}\n"
        "  - description: nameless\n"
        "  - name: ada\n    hat: yes\n"
    )
    assert problems(text) == [
        "colour: unknown field",
        "characters[2].voice: too long (max 300)",
        "characters[3].name: required",
        "characters[4].hat: unknown field",
        'characters[4].name: "ada" appears twice',
    ]


def test_the_error_lists_its_problems_one_a_line() -> None:
    """str(BibleError) is the problems, one per line; it is a ScriptgenError."""
    error = BibleError(["a: one", "b: two"])
    assert str(error) == "a: one\nb: two"
    assert isinstance(error, ScriptgenError)


def test_a_missing_name_is_required() -> None:
    """The show's name is the one field a bible must have."""
    assert problems("logline: Nameless\n") == ["name: required"]


def test_gags_must_be_distinct_short_text() -> None:
    """A running gag is a line of text, not too long, and appears once."""
    text = (
        "name: Show\nrunning_gags:\n  - Four pounds\n  - ['a list']\n"
        f"  - {'y' * 301}\n  - four  POUNDS\n  - ''\n"
    )
    assert problems(text) == [
        "running_gags[2]: must be text (put it in quotes)",
        "running_gags[3]: too long (max 300)",
        'running_gags[4]: "four  POUNDS" appears twice',
        "running_gags[5]: required",
    ]


def test_too_many_characters_and_gags_are_refused() -> None:
    """More than 20 characters or 20 gags is over the limit."""
    characters = "".join(f"  - name: C{n}\n" for n in range(21))
    gags = "".join(f"  - Gag {n}\n" for n in range(21))
    found = problems(f"name: Show\ncharacters:\n{characters}running_gags:\n{gags}")
    assert found == [
        "characters: 21 characters; the limit is 20",
        "running_gags: 21 gags; the limit is 20",
    ]


def test_a_bible_over_the_token_budget_is_refused() -> None:
    """Fields each within their limits can still make a bible past its token budget."""
    characters = "".join(
        f"  - name: C{n}\n    description: {'d' * 300}\n    voice: {'v' * 300}\n" for n in range(20)
    )
    gags = "".join(f"  - {n:02} {'g' * 290}\n" for n in range(20))
    text = f"name: Show\nsetting: {'s' * 1000}\ncharacters:\n{characters}running_gags:\n{gags}"
    [found] = problems(text)
    tokens = bible_tokens(
        SeriesBible(
            show_title="Show",
            setting="s" * 1000,
            characters=[
                Character(name=f"C{n}", description="d" * 300, voice="v" * 300) for n in range(20)
            ],
            running_gags=[f"{n:02} {'g' * 290}" for n in range(20)],
        )
    )
    assert found == f"the bible is about {tokens:,} tokens; the limit is 4,000"


def test_a_file_that_is_not_utf8_is_refused() -> None:
    """Bytes that are not UTF-8 say so, with where."""
    assert problems(b"name: Caf\xe9\n") == [
        "the file is not UTF-8 text (byte 10): save it as UTF-8"
    ]


def test_a_file_that_is_too_big_is_refused() -> None:
    """Files over 256 KB are refused before being read."""
    assert problems(b"#" * (MAX_BIBLE_FILE_BYTES + 1)) == [
        "the file is 256 KB; the limit is 256 KB"
    ]


def test_a_yaml_syntax_error_names_its_line() -> None:
    """A YAML syntax error says on which line."""
    [found] = problems("name: Show\ncharacters:\n  - name: [Ada\n")
    assert found.startswith("YAML syntax error at line 4")


def test_a_json_syntax_error_names_its_line() -> None:
    """A JSON syntax error says on which line and column."""
    assert problems('{\n"name": "Show",\n}', "bible.json") == [
        "JSON syntax error at line 3, column 1: Expecting property name enclosed in double quotes"
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("- Ada\n- Bo\n", "the bible must be a mapping of name, logline, tone, setting, "),
        ("", "the file is empty"),
        ("name: Show\ncharacters: Ada\n", "characters: must be a list of characters"),
        ("name: Show\ncharacters:\n  - Ada\n", "characters[1]: must be a mapping"),
        ("name: yes\n", "name: must be text (put it in quotes)"),
    ],
)
def test_a_badly_shaped_bible_says_what_shape_it_needs(text: str, problem: str) -> None:
    """The wrong shape is named with the shape that was expected."""
    [found] = problems(text)
    assert found.startswith(problem)


# -- limits, tokens, writing --------------------------------------------------------------------


def test_bible_tokens_is_the_estimate_of_the_rendered_bible() -> None:
    """bible_tokens measures what the prompts send."""
    assert bible_tokens(BIBLE) == estimate_tokens(render_bible(BIBLE))


def test_check_bible_refuses_a_bible_past_the_budget() -> None:
    """check_bible (before saving an edit) raises past the token limit and passes under it."""
    check_bible(BIBLE)
    big = BIBLE.model_copy(update={"setting": "s" * 1000, "running_gags": ["g" * 300] * 20})
    characters = [
        Character(name=f"C{n}", description="d" * 300, voice="v" * 300) for n in range(20)
    ]
    big = big.model_copy(update={"characters": characters})
    assert bible_tokens(big) > MAX_BIBLE_TOKENS
    with pytest.raises(BibleError, match="the bible is about"):
        check_bible(big)


def test_render_bible_shows_descriptions_and_voices() -> None:
    """A character's description and voice both reach the prompt."""
    rendered = render_bible(BIBLE)
    assert "- Ada: The older sister; runs the till. Voice: Clipped lists and sighs." in rendered
    assert "- Bo: Long borrowed metaphors." in rendered


def test_dump_bible_reads_back_equal() -> None:
    """dump_bible writes YAML that parse_bible reads back to the same bible."""
    text = dump_bible(BIBLE)
    assert text.startswith("# The series bible.")
    assert "setting: |" in text
    assert parse_bible(text.encode(), "bible.yaml") == BIBLE


_char = st.characters(codec="utf-8", exclude_categories=["Cs"])
_text = st.text(_char, max_size=40).map(str.strip)


@settings(max_examples=60, deadline=None)
@given(
    name=_text.filter(bool),
    logline=_text,
    characters=st.lists(
        st.tuples(_text.filter(bool), _text, _text),
        max_size=5,
        unique_by=lambda c: c[0].casefold(),
    ),
    gags=st.lists(
        _text.filter(bool), max_size=5, unique_by=lambda g: " ".join(g.split()).casefold()
    ),
)
def test_any_bible_round_trips(
    name: str, logline: str, characters: list[tuple[str, str, str]], gags: list[str]
) -> None:
    """Whatever the text (quotes, colons, unicode, 'yes', numbers), dump then parse is equal."""
    bible = SeriesBible(
        show_title=name,
        logline=logline,
        characters=[Character(name=n, description=d, voice=v) for n, d, v in characters],
        running_gags=gags,
    )
    assert parse_bible(dump_bible(bible).encode(), "b.yaml") == bible


def test_bible_markdown_shows_the_whole_bible() -> None:
    """The Markdown has the title, logline, tone, characters and gags, markup escaped."""
    bible = BIBLE.model_copy(update={"running_gags": ["Marcus owes *everyone* £4"]})
    text = bible_markdown(bible)
    assert text.startswith("# Grounds for Dismissal\n\n*Two siblings run a failing coffee shop.*")
    assert "**Tone:** Warm, fast, character-driven." in text
    assert (
        "- **Ada**: The older sister; runs the till.\n  *Voice:* Clipped lists and sighs." in text
    )
    assert "## Running gags\n- Marcus owes \\*everyone\\* £4" in text
