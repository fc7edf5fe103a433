"""Rendering: whatever the model wrote, an independent Fountain parser reads it back as written.

The Fountain checks parse our output with screenplain and compare element by element with what
the script says, after the normalisation the renderer documents (restated here, independently):
text is split on any line break; C0/C1 controls (not tabs), surrogates, U+FFFE/U+FFFF, U+2060
and U+E700-U+E7FF are dropped; tabs expand to 4 columns; lines are stripped; leading and trailing
blank lines go. Headings, cues, parentheticals and transitions are one line (joined with spaces)
and upper case (cues and headings by our choice, and screenplain upper-cases headings and
transitions itself); a blank line splits action into paragraphs and is an empty line inside
dialogue; blank elements are omitted.

screenplain lacks the spec's ``\\_`` escape, so the parse goes through a two-line shim (``\\_``
to a private-use sentinel before, back to ``_`` after) - the same thing the exporters do. The
renderer's invisible WORD JOINERs are removed from parsed text before comparing.
"""

from __future__ import annotations

import asyncio
import importlib
import io
import itertools
import re
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from markdown_it import MarkdownIt
from screenplain.parsers import fountain as screenplain_fountain
from screenplain.richstring import parse_emphasis
from screenplain.types import Action as SpAction
from screenplain.types import Dialog, Slug
from screenplain.types import Transition as SpTransition

from scriptgen.models import (
    Action,
    ComedyReport,
    Dialogue,
    EpisodeRequest,
    Outline,
    Scene,
    SceneElement,
    SceneOutline,
    Script,
    Transition,
)
from scriptgen.render import FORMATS, filename_for, render, render_sync, to_fountain, to_markdown

WJ = "\u2060"
SENTINEL = "\ue7ff"
DRAFT = date(2025, 1, 2)
DROP = re.compile("[\x00-\x08\x0a-\x1f\x7f-\x9f\u2060\ue700-\ue7ff\ud800-\udfff\ufffe\uffff]")

# -- building scripts ---------------------------------------------------------------------------


def make_script(
    scenes: list[Scene],
    *,
    title: str = "The Haunted Espresso Machine",
    logline: str = "A barista learns the espresso machine is haunted.",
    provider: str = "demo",
    model: str = "demo",
) -> Script:
    outline_scene = SceneOutline(
        heading="INT. CAFE - DAY",
        location="cafe",
        time="DAY",
        characters=["MAYA"],
        beat="The machine hisses.",
        comic_goal="Escalation.",
    )
    return Script(
        request=EpisodeRequest(premise="A haunted espresso machine"),
        outline=Outline(title=title, logline=logline, scenes=[outline_scene]),
        scenes=scenes,
        comedy=ComedyReport(analyzed_jokes=[], edits=[]),
        provider=provider,
        model=model,
    )


def one_scene(*elements: SceneElement, heading: str = "INT. CAFE - DAY") -> Script:
    return make_script([Scene(heading=heading, elements=list(elements))])


# -- what the script says, normalised as documented ---------------------------------------------


def norm_lines(text: str) -> list[str]:
    out = [DROP.sub("", raw).expandtabs(4).strip() for raw in text.splitlines()]
    while out and not out[-1]:
        out.pop()
    while out and not out[0]:
        out.pop(0)
    return out


def one(text: str) -> str:
    return " ".join(line for line in norm_lines(text) if line)


def action_paragraphs(text: str) -> list[str]:
    return [p for p in re.split(r"\n(?:\n)+", "\n".join(norm_lines(text))) if p]


def expected_parenthetical(text: str | None) -> str | None:
    inner = one(text or "").removeprefix("(").removesuffix(")").strip()
    return f"({inner})" if inner else None


def expected(script: Script) -> list[tuple[Any, ...]]:
    out: list[tuple[Any, ...]] = []
    for number, scene in enumerate(script.scenes, start=1):
        heading = one(scene.heading).upper().strip()
        if heading:
            out.append(("heading", heading, str(number)))
        for element in scene.elements:
            if isinstance(element, Action):
                out.extend(("action", para) for para in action_paragraphs(element.text))
            elif isinstance(element, Dialogue):
                paren = expected_parenthetical(element.parenthetical)
                speech = norm_lines(element.line)
                if paren is not None or speech:
                    cue = one(element.character).upper().strip() or "UNNAMED"
                    out.append(("dialogue", cue, paren, "\n".join(speech)))
            elif transition := one(element.text).upper().strip():
                out.append(("transition", transition))
    return out


# -- what screenplain reads ---------------------------------------------------------------------


def parse(fountain: str) -> Any:
    return screenplain_fountain.parse(io.StringIO(fountain.replace("\\_", SENTINEL)))


def text(rich: Any, styled: list[str]) -> str:
    styled.extend(repr(seg) for seg in rich.segments if seg.styles)
    return str(rich).replace(SENTINEL, "_").replace(WJ, "")


def parsed(screenplay: Any) -> tuple[list[tuple[Any, ...]], list[str]]:
    """The elements as (kind, text...) tuples, and any segment that came out styled."""
    styled: list[str] = []
    out: list[tuple[Any, ...]] = []
    for para in screenplay.paragraphs:
        if isinstance(para, Slug):
            number = text(para.scene_number, styled) if para.scene_number else None
            out.append(("heading", text(para.line, styled), number))
        elif isinstance(para, SpAction):
            kind = "centered" if para.centered else "action"
            out.append((kind, "\n".join(text(line, styled) for line in para.lines)))
        elif isinstance(para, Dialog):
            blocks = list(para.blocks)
            paren = text(blocks.pop(0)[1], styled) if blocks and blocks[0][0] else None
            if any(is_paren for is_paren, _ in blocks):
                out.append(("stray parenthetical", repr(blocks)))
            speech = "\n".join(text(line, styled) for _, line in blocks)
            out.append(("dialogue", text(para.character, styled), paren, speech))
        elif isinstance(para, SpTransition):
            out.append(("transition", text(para.line, styled)))
        else:
            out.append((type(para).__name__, repr(vars(para))))
    return out, styled


def assert_round_trip(script: Script) -> Any:
    screenplay = parse(to_fountain(script, draft_date=DRAFT))
    elements, styled = parsed(screenplay)
    assert elements == expected(script)
    assert styled == []
    return screenplay


def fdx_paragraphs(data: bytes) -> list[tuple[str | None, str]]:
    root = ET.fromstring(data)
    return [
        (p.get("Type"), "".join(t.text or "" for t in p.iter("Text")))
        for p in root.iter("Paragraph")
    ]


def expected_fdx(script: Script) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for kind, *rest in expected(script):
        if kind == "heading":
            out.append(("Scene Heading", rest[0]))
        elif kind == "action":
            out.append(("Action", rest[0]))
        elif kind == "transition":
            out.append(("Transition", rest[0]))
        else:
            cue, paren, speech = rest
            out.append(("Character", cue))
            if paren is not None:
                out.append(("Parenthetical", paren))
            out.extend(("Dialogue", line) for line in speech.split("\n") if speech)
    return out


MD = MarkdownIt("commonmark").enable(["table", "strikethrough"])
BLOCK_TOKENS = {
    "heading_open",
    "heading_close",
    "paragraph_open",
    "paragraph_close",
    "inline",
    "blockquote_open",
    "blockquote_close",
}
INLINE_TOKENS = {"text", "hardbreak", "strong_open", "strong_close", "em_open", "em_close"}


def md_blocks(markdown: str) -> list[tuple[str, str]]:
    """(block kind, plain text) for each heading and paragraph, after checking no structure leaked.

    Hard breaks become newlines; the emphasis we put in stays out of the text.
    """
    tokens = MD.parse(markdown)
    assert {t.type for t in tokens} <= BLOCK_TOKENS
    out: list[tuple[str, str]] = []
    for opening, inline in itertools.pairwise(tokens):
        if inline.type != "inline":
            continue
        children = inline.children or []
        assert {c.type for c in children} <= INLINE_TOKENS, [c.type for c in children]
        plain = "".join("\n" if c.type == "hardbreak" else c.content for c in children)
        out.append((opening.tag, plain))
    return out


def expected_md(script: Script) -> list[tuple[str, str]]:
    out = [("h1", one(script.title) or "Untitled")]
    if one(script.outline.logline):
        out.append(("p", one(script.outline.logline)))
    out.append(("p", f"Written by Showrunner ({one(script.model) or 'unknown model'})"))
    if script.provider == "demo":
        note = "Demo draft: written by the offline demo provider, not a language model"
        out.append(("p", f"Note: {note}"))
    for number, scene in enumerate(script.scenes, start=1):
        out.append(("h2", f"{number}. {one(scene.heading).upper().strip()}".rstrip()))
        for element in scene.elements:
            if isinstance(element, Action):
                out.extend(("p", para) for para in action_paragraphs(element.text))
            elif isinstance(element, Dialogue):
                paren = expected_parenthetical(element.parenthetical)
                speech = action_paragraphs(element.line)
                if paren is None and not speech:
                    continue
                cue = one(element.character).upper().strip() or "UNNAMED"
                first, *rest = speech or [""]
                head = "\n".join([cue, *([paren] if paren else []), *([first] if first else [])])
                out.append(("p", head))
                out.extend(("p", para) for para in rest)
            elif transition := one(element.text).upper().strip():
                out.append(("p", transition))
    return out


# -- hand-picked nasty text ---------------------------------------------------------------------

NASTY_TEXT = {
    "heading": "INT. KITCHEN - DAY",
    "heading-lower": "int. kitchen - day",
    "heading-number": "INT. KITCHEN - DAY #12A#",
    "transition": "CUT TO:",
    "transition-lower": "smash cut to:",
    "centered": "> THE END <",
    "forced-transition": ">FADE OUT.",
    "md-heading": "# hi",
    "md-section": "## Act Two",
    "md-bold-heading": "**INT.** KITCHEN",
    "md-bold": "I am *so* **very** tired",
    "md-under": "_under_ and snake_case_name",
    "md-cue": "JERRY: what's the deal?",
    "md-link": "[x](y) and ![img](src)",
    "html": "<script>alert(1)</script> &amp;",
    "bang": "!Bang! goes the machine",
    "at": "@everyone look",
    "tilde": "~la la la~",
    "dot": ".hidden heading",
    "ellipsis": "...and then",
    "equals": "= a synopsis",
    "page-break": "===",
    "note": "[[a note]] stays [[[nested]]]",
    "boneyard": "/* not a comment */ really",
    "boneyard-open": "/* never closed",
    "caret": "^",
    "paren-start": "(laughs) no way",
    "paren-only": "(beat)",
    "paren-end": "no way (laughs)",
    "backslash": "C:\\_dir and \\* and \\\\_",
    "multi-line": "first\nsecond\nthird",
    "blank-inside": "first\n\nsecond\n\n\n\nthird",
    "blank-continue": "first\n\nJERRY\nsecond",
    "crlf": "one\r\ntwo\rthree\u2028four\x0bfive",
    "whitespace": "  \t padded  \t ",
    "tabs": "a\tb\t\tc",
    "lines-with-syntax": "ok\n!bang\n~lyric\n> centered <\n(paren)\n@at\n#hash\n=eq\n.dot",
    "controls": "bell\x07 nul\x00 del\x7f wj\u2060 magic\ue700\ue706 ffff\uffff",
    "unicode": "Ñandú says ¿qué? 黒澤 🎬 ß ﬁ",
    "looks-like-cue": "JERRY\nHello there",
    "colon": "TO:",
}

NASTY_NAMES = {
    "lower": "jerry",
    "mixed": "McClane",
    "mr-t": "Mr. T",
    "r2": "R2-D2",
    "fan": "#1 FAN",
    "nandu": "Ñandú",
    "kanji": "黒澤",
    "digits": "33",
    "extension": "jerry (v.o.)",
    "caret": "BOB ^",
    "at": "@bob",
    "bang": "!BANG",
    "stars": "*STAR*",
    "under": "_UNDER_ SCORE_",
    "heading": "INT. BOB",
    "transition": "CUT TO:",
    "centered": "> X <",
    "hash": "# BOB",
    "equals": "===",
    "note": "[[BOB]]",
    "newline": "Jer\nry",
    "padded": "   Jerry\t ",
    "blank": " \t ",
    "two-spaces": "BOB  ",
    "paren": "(BOB)",
}

PARENTHETICALS = {
    "bare": "beat",
    "wrapped": "(beat)",
    "double": "((beat))",
    "open-only": "(beat",
    "close-only": "beat)",
    "blank": "  ",
    "empty-parens": "()",
    "multi-line": "quietly\nthen loud",
    "markup": "*bold* _under_ [[note]]",
}

HEADINGS = {
    "moon": "The Moon",
    "int": "INT. KITCHEN - DAY",
    "number": "INT. KITCHEN - DAY #1#",
    "apartment": "INT. APT #4B - DAY",
    "only-number": "#3#",
    "hash-end": "ROOM #",
    "ellipsis": "...LATER",
    "dot": ".dot",
    "bang": "!bang",
    "centered": "> x <",
    "blank": "",
    "spaces": "   ",
    "bold": "INT. **BOLD** - *DAY*",
    "note": "[[note]] EXT. PARK",
    "multi-line": "EXT. PARK\n- NIGHT",
    "underscores": "a_b_c",
    "equals": "===",
    "section": "# ACT ONE",
}


def _cases() -> list[Any]:
    cases: list[Any] = []
    for key, value in NASTY_TEXT.items():
        cases.append(pytest.param([Dialogue(character="Jerry", line=value)], id=f"line-{key}"))
        cases.append(pytest.param([Action(text=value)], id=f"action-{key}"))
        cases.append(pytest.param([Transition(text=value)], id=f"transition-{key}"))
        cases.append(pytest.param([Scene(heading=value, elements=[])], id=f"heading-{key}"))
    for key, value in NASTY_NAMES.items():
        cases.append(pytest.param([Dialogue(character=value, line="Hello.")], id=f"cue-{key}"))
    for key, value in PARENTHETICALS.items():
        element = Dialogue(character="KRAMER", parenthetical=value, line="Hey.")
        cases.append(pytest.param([element], id=f"parenthetical-{key}"))
    for key, value in HEADINGS.items():
        cases.append(pytest.param([Scene(heading=value, elements=[])], id=f"slug-{key}"))
    empty = [Action(text=" "), Dialogue(character="A", line="\t"), Transition(text="\n")]
    cases.append(pytest.param(empty, id="empty-ish"))
    with_paren = Dialogue(character="A", parenthetical="shrugs", line=" \n ")
    cases.append(pytest.param([with_paren], id="empty-line-with-parenthetical"))
    return cases


def _scenes_around(items: list[Scene | SceneElement]) -> list[Scene]:
    """Put the nasty item between ordinary dialogue, so nothing can swallow its neighbours."""
    before = Dialogue(character="ELAINE", line="Get out!")
    after = Action(text="The machine hisses.")
    scenes = [Scene(heading="INT. CAFE - DAY", elements=[before])]
    for item in items:
        if isinstance(item, Scene):
            scenes.append(item)
        else:
            scenes[-1].elements.append(item)
    scenes.append(Scene(heading="EXT. STREET - NIGHT", elements=[before, after]))
    return scenes


@pytest.mark.parametrize("items", _cases())
def test_nasty_text_round_trips_through_screenplain(items: list[Scene | SceneElement]) -> None:
    script = make_script(_scenes_around(items))
    assert_round_trip(script)
    assert fdx_paragraphs(render_sync(script, "fdx")) == expected_fdx(script)


def test_element_kinds_survive_even_without_the_underscore_shim() -> None:
    """Plain screenplain (no ``\\_`` support) still reads every element as the right kind."""
    items: list[Scene | SceneElement] = []
    for case in _cases():
        items.extend(case.values[0])
    script = make_script(_scenes_around(items))
    plain = screenplain_fountain.parse(io.StringIO(to_fountain(script)))
    kinds, _ = parsed(plain)
    assert [k[0] for k in kinds] == [k[0] for k in expected(script)]


@pytest.mark.parametrize(
    ("element", "want"),
    [
        (
            Dialogue(character="Mr. T", line="INT. KITCHEN - DAY"),
            ("dialogue", "MR. T", None, "INT. KITCHEN - DAY"),
        ),
        (
            Dialogue(character="r2-d2", parenthetical="beeps", line="CUT TO:"),
            ("dialogue", "R2-D2", "(beeps)", "CUT TO:"),
        ),
        (
            Dialogue(character="Ñandú", line="> x <\n\n*bold* _u_"),
            ("dialogue", "ÑANDÚ", None, "> x <\n\n*bold* _u_"),
        ),
        (
            Dialogue(character="#1 fan", line="(laughs) [[hi]] /* x */"),
            ("dialogue", "#1 FAN", None, "(laughs) [[hi]] /* x */"),
        ),
        (Action(text="!JERRY\nHello\n\n  INT. HOUSE"), ("action", "!JERRY\nHello")),
        (Transition(text="> fade <"), ("transition", "> FADE <")),
    ],
    ids=["heading-line", "transition-line", "centered-markup", "paren-note", "action", "centered"],
)
def test_literal_expectations(element: SceneElement, want: tuple[Any, ...]) -> None:
    """A few outcomes spelt out, not derived: the normaliser above could share a mistake."""
    elements, _ = parsed(parse(to_fountain(one_scene(element, heading="the moon"))))
    assert elements[0] == ("heading", "THE MOON", "1")
    assert elements[1] == want


def test_dual_dialogue_caret_is_not_dual_dialogue() -> None:
    script = one_scene(Dialogue(character="A", line="Hi."), Dialogue(character="B ^", line="Yo."))
    elements, _ = parsed(parse(to_fountain(script)))
    assert elements[1:] == [("dialogue", "A", None, "Hi."), ("dialogue", "B ^", None, "Yo.")]


# -- the title page -----------------------------------------------------------------------------


def title_page(script: Script) -> dict[str, list[str]]:
    screenplay = parse(to_fountain(script, draft_date=DRAFT))
    styled: list[str] = []
    page = {
        key: [text(parse_emphasis(value), styled) for value in values]
        for key, values in screenplay.title_page.items()
    }
    assert styled == []
    return page


def test_title_page_fields() -> None:
    script = make_script([], title="My_Big_Fat *Title*", logline="A [[note]] and _x_.\nTwo lines.")
    assert title_page(script) == {
        "Title": ["My_Big_Fat *Title*"],
        "Credit": ["Written by"],
        "Author": [
            "Showrunner (demo)",
            "Demo draft: written by the offline demo provider, not a language model",
        ],
        "Draft date": ["2025-01-02"],
        "Notes": ["A [[note]] and _x_. Two lines."],
    }


def test_title_page_names_the_model_and_has_no_demo_note_for_a_real_provider() -> None:
    script = make_script([], provider="anthropic", model="claude-sonnet-4-5")
    assert title_page(script)["Author"] == ["Showrunner (claude-sonnet-4-5)"]
    assert "demo" not in to_fountain(script).lower()


# -- generated text -----------------------------------------------------------------------------

SPECIALS = [
    *"*_\\[]#><!@~.=^():aZéÑß",  # single characters that start or end Fountain or Markdown syntax
    *("**", "[[", "]]", "/*", "*/", "##", "..", "===", "TO:", "CUT TO:", "@A", "ǆ", "ﬁ"),
    *("INT. ", "EXT ", "I/E ", "\n", "\n\n", "\r", "\r\n", "\t", " ", "  ", "\u2028", "\x85"),
    *("\u2060", "\x00", "\x0b", "\ufeff", "\ue701", "\ue706", "\ue7ff", "\uffff"),
]
CHARS = st.characters(codec="utf-8")  # any code point a str from JSON can hold: no surrogates
PIECES = st.one_of(st.sampled_from(SPECIALS), CHARS, st.text(CHARS, min_size=1, max_size=4))
TEXT = st.lists(PIECES, min_size=1, max_size=25).map("".join)
SHORT = st.lists(PIECES, min_size=1, max_size=6).map("".join)

ELEMENT = st.one_of(
    st.builds(Action, text=TEXT),
    st.builds(Dialogue, character=SHORT, parenthetical=st.none() | SHORT, line=TEXT),
    st.builds(Transition, text=SHORT),
)
SCENE = st.builds(Scene, heading=st.just("") | SHORT, elements=st.lists(ELEMENT, max_size=6))
SCRIPT = st.builds(
    lambda scenes, title, logline: make_script(scenes, title=title, logline=logline),
    st.lists(SCENE, min_size=1, max_size=3),
    SHORT.map(lambda s: s[:120]),
    TEXT.map(lambda s: s[:500]),
)
PROPERTY = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@PROPERTY
@given(SCRIPT)
def test_generated_scripts_round_trip_through_screenplain(script: Script) -> None:
    """Fountain (through screenplain), its title page, the FDX and the Markdown all say it."""
    screenplay = assert_round_trip(script)
    styled: list[str] = []
    assert text(parse_emphasis(screenplay.title_page["Title"][0]), styled) == (
        one(script.title) or "Untitled"
    )
    notes = [text(parse_emphasis(v), styled) for v in screenplay.title_page.get("Notes", [])]
    assert notes == ([one(script.outline.logline)] if one(script.outline.logline) else [])
    assert styled == []
    assert fdx_paragraphs(render_sync(script, "fdx")) == expected_fdx(script)
    assert md_blocks(to_markdown(script)) == expected_md(script)


@settings(max_examples=10, deadline=None)
@given(SCRIPT)
def test_generated_scripts_make_a_pdf(script: Script) -> None:
    assert render_sync(script, "pdf").startswith(b"%PDF")


# -- PDF and FDX --------------------------------------------------------------------------------


def long_script(scenes: int = 12) -> Script:
    line = "What is the deal with haunted espresso machines? They never even froth. " * 3
    return make_script(
        [
            Scene(
                heading=f"INT. CAFE {n} - DAY",
                elements=[
                    Action(text="The machine hisses. Maya backs away."),
                    *(
                        Dialogue(character="MAYA", parenthetical="whispering", line=line)
                        for _ in range(15)
                    ),
                    Transition(text="CUT TO:"),
                ],
            )
            for n in range(1, scenes + 1)
        ]
    )


def pdf_text(data: bytes) -> str | None:
    """The PDF's text via pypdf or pdftotext, whichever is installed; None if neither is."""
    try:
        pypdf = importlib.import_module("pypdf")
    except ImportError:
        pdftotext = shutil.which("pdftotext")
        if pdftotext is None:
            return None
        done = subprocess.run([pdftotext, "-", "-"], input=data, capture_output=True, check=True)
        return done.stdout.decode("utf-8", "replace")
    return "\n".join(page.extract_text() for page in pypdf.PdfReader(io.BytesIO(data)).pages)


def test_pdf_is_a_pdf_titled_like_the_script() -> None:
    data = render_sync(one_scene(Dialogue(character="Maya", line="It *moved*.")), "pdf")
    assert data.startswith(b"%PDF")
    assert b"/Title (The Haunted Espresso Machine)" in data  # the document metadata


def test_pdf_pages_show_the_title() -> None:
    extracted = pdf_text(render_sync(one_scene(Action(text="Steam.")), "pdf"))
    if extracted is None:
        pytest.skip("neither pypdf nor pdftotext is installed")
    # Title pages centre the title in a narrow column: it may wrap onto two lines.
    assert "The Haunted Espresso Machine" in " ".join(extracted.split())


def test_fdx_is_xml_with_every_line_in_a_dialogue_paragraph() -> None:
    lines = ["INT. KITCHEN - DAY", "<b>&amp;</b>", "_x_ *y*", "(laughs) ok", "Ñandú 🎬"]
    script = one_scene(*(Dialogue(character=f"char {i}", line=s) for i, s in enumerate(lines)))
    paragraphs = fdx_paragraphs(render_sync(script, "fdx"))
    assert [t for kind, t in paragraphs if kind == "Dialogue"] == lines
    assert [t for kind, t in paragraphs if kind == "Character"] == [
        f"CHAR {i}" for i in range(len(lines))
    ]


# -- Markdown -----------------------------------------------------------------------------------

MD_NASTY = [
    "# hi",
    "## hi ##",
    "<script>alert(1)</script>",
    "<div>\nblock\n</div>",
    "[x](y)",
    "![img](http://e.vil/x.png)",
    "<http://e.vil>",
    "[ref]: http://e.vil",
    "- item",
    "+ item",
    "* item",
    "1. item",
    "2) item",
    "> quote",
    "```\ncode\n```",
    "`code`",
    "    indented code",
    "| a | b |\n|---|---|",
    "~~strike~~",
    "$x^2$",
    "&amp; &#60; &lt;",
    "***",
    "---",
    "___",
    "Title\n===",
    "Title\n---",
    "**bold** _em_ *em*",
    "line one  \nline two",
    "back\\slash\\",
    "trailing \\",
    "[^1]",
    "- [ ] task",
    "<!-- comment -->",
    "\\# escaped already",
]


@pytest.mark.parametrize("line", MD_NASTY)
def test_markdown_dialogue_cannot_make_structure(line: str) -> None:
    script = one_scene(Dialogue(character="Jerry", parenthetical="[x](y)", line=line))
    blocks = md_blocks(to_markdown(script))
    assert [kind for kind, _ in blocks].count("h2") == 1
    assert blocks == expected_md(script)


# -- the API ------------------------------------------------------------------------------------


async def test_pdf_render_runs_off_the_event_loop() -> None:
    """A ticker keeps ticking while a 12-scene PDF is laid out."""
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.005)
            ticks += 1

    task = asyncio.create_task(ticker())
    await asyncio.sleep(0)
    started = time.perf_counter()
    data = await render(long_script(), "pdf")
    elapsed = time.perf_counter() - started
    task.cancel()
    assert data.startswith(b"%PDF")
    assert elapsed > 0.1, "the PDF rendered too fast for this test to mean anything"
    assert ticks >= 10, (ticks, elapsed)


async def test_render_matches_render_sync_for_every_format() -> None:
    script = one_scene(Dialogue(character="Maya", line="It hissed."))
    for fmt in ("fountain", "md", "fdx"):
        assert await render(script, fmt) == render_sync(script, fmt)
    assert (await render(script, "pdf")).startswith(b"%PDF")
    assert set(FORMATS) == {"fountain", "pdf", "fdx", "md"}


async def test_concurrent_pdfs_all_succeed() -> None:
    results = await asyncio.gather(*(render(long_script(2), "pdf") for _ in range(3)))
    assert all(r.startswith(b"%PDF") for r in results)


async def test_unknown_format_is_refused() -> None:
    script = one_scene()
    with pytest.raises(ValueError, match="unknown format"):
        await render(script, "docx")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unknown format"):
        filename_for(script, "exe")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("title", "want"),
    [
        ("The Haunted Espresso Machine", "The Haunted Espresso Machine.fountain"),
        ("../../etc/passwd", "etc passwd.fountain"),
        ("..\\..\\windows\\system32", "windows system32.fountain"),
        ('Who?: A <Mystery> | "Part" *1*', "Who A Mystery Part 1.fountain"),
        ("   .hidden", "hidden.fountain"),
        ("-rf --no-preserve-root", "rf --no-preserve-root.fountain"),
        ("...", "Untitled.fountain"),
        ("\u202egnp.exe", "gnp.exe.fountain"),
        ("line\nbreak\ttab\x00nul", "line break tab nul.fountain"),
        ("CON", "CON (script).fountain"),
        ("nul.txt", "nul.txt (script).fountain"),
        ("Ñandú\u00a0y\u2028el 🎬", "Ñandú y el 🎬.fountain"),
        ("Trailing dots...", "Trailing dots.fountain"),
    ],
)
def test_filename_for_hostile_titles(title: str, want: str) -> None:
    assert filename_for(make_script([], title=title), "fountain") == want


@settings(max_examples=100, deadline=None)
@given(st.text(CHARS, min_size=1, max_size=120))
def test_filename_for_any_title_is_safe(title: str) -> None:
    for fmt in FORMATS:
        name = filename_for(make_script([], title=title), fmt)
        stem = name.removesuffix(f".{fmt}")
        assert name.endswith(f".{fmt}")
        assert stem
        assert not re.search(r'[\\/:*?"<>|\x00-\x1f\x7f-\x9f]', name)
        assert not stem.startswith((".", "-", " "))
        assert not stem.endswith((".", " "))
        assert len(name.encode("utf-8")) <= 110
