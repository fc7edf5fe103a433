"""A writers' room for ``bench/rooms.py``: its series bible, its continuity, and model answers
the size of a real model's.

The room is stored the way the bot stores it (``RoomStore``: room, cast, gags, one summary per
delivered episode) and its bible is read back the way ``/episode`` reads it, so the prompts carry
exactly what the bot's would. The answers are schema-filled (``EpisodeResponder``) and then
sized like what the prompts ask for, because the uncached part of each call (the step's prompt,
which carries the dialogue, the scene or the whole draft) is what the cache-read share depends on.
"""

from __future__ import annotations

from typing import Any

from scriptgen.continuity import PREVIOUSLY_BUDGET_TOKENS, previously
from scriptgen.models import Character, EpisodeRequest, EpisodeSummary, SeriesBible
from storage import Database, EpisodeStore, RoomRecord, RoomStore
from tests.episode_responder import EpisodeResponder
from tests.fake_anthropic import forced_tool

__all__ = [
    "AUTHOR",
    "CHANNEL",
    "GUILD",
    "RoomResponder",
    "open_room",
    "room_bible",
]

GUILD, CHANNEL, AUTHOR = 111_111_111_111_111_111, 333_333_333_333_333_333, 444_444_444_444_444_444

ROOM = {
    "name": "Grounds for Dismissal",
    "logline": "A café in Leeds staffed entirely by the overqualified, who are too proud to quit.",
    "tone": "Warm and fast; character comedy, no cruelty the episode does not pay for.",
    "setting": (
        "The Daily Grind, a narrow café under a railway arch in Leeds: six tables, one "
        "temperamental espresso machine, a back room that floods, and the flat upstairs "
        "where Mirela lives."
    ),
}
CAST = [
    Character(
        name="Mirela",
        description="The owner, a former opera diva who never got over her last curtain call and "
        "runs the café like a failing opera house.",
        voice="Sings her complaints; calls everyone 'darling' when she is furious.",
    ),
    Character(
        name="Theo",
        description="A barista with a PhD in philosophy who treats every order as an ethical "
        "dilemma.",
        voice="Answers questions with questions; quotes Kierkegaard at the milk steamer.",
    ),
    Character(
        name="Ada",
        description="The assistant manager, a former air-traffic controller who schedules the "
        "café to the second.",
        voice="Clipped radio talk: 'copy', 'negative', 'holding pattern'.",
    ),
    Character(
        name="Bo",
        description="The pastry chef, a retired stunt performer who makes every bake a risk.",
        voice="Narrates his own actions like a trailer voice-over.",
    ),
    Character(
        name="Mr. Okafor",
        description="The regular who has sat at table four every day for eleven years and "
        "considers it his office.",
        voice="Invents proverbs on the spot and attributes them to his grandmother.",
    ),
    Character(
        name="Priya",
        description="The landlord's daughter, a junior solicitor sent to collect the rent who "
        "keeps getting hired instead.",
        voice="Legal jargon used slightly wrong, with total confidence.",
    ),
]
GAGS = [
    "The espresso machine only works when nobody is looking at it.",
    "Mr. Okafor has been 'just about to leave' for eleven years.",
    "Theo's latte art is always a question mark.",
    "Ada logs every customer complaint in a flight recorder she keeps under the till.",
    "Bo's pastries are fine; the way he serves them is not.",
]
PREVIOUS = [
    EpisodeSummary(
        title="The Open Mic",
        logline="Mirela turns open-mic night into a one-woman revival of her farewell tour.",
        ending="The regulars stage a walk-out that becomes a standing ovation by accident.",
        characters=["Mirela", "Theo", "Mr. Okafor"],
        new_gags=["Mirela's encore is always longer than the show."],
    ),
    EpisodeSummary(
        title="Loyalty Card",
        logline="Ada's loyalty scheme tracks customers so precisely that they start to hide.",
        ending="Mr. Okafor wins a lifetime of free coffee and is devastated to have to leave.",
        characters=["Ada", "Mr. Okafor", "Priya"],
        new_gags=[],
    ),
    EpisodeSummary(
        title="Health and Safety",
        logline="An inspection lands on the day Bo tries to flambé a croissant.",
        ending="Priya argues the fire was a 'controlled demonstration' and the café passes.",
        characters=["Bo", "Priya", "Ada", "Theo"],
        new_gags=["Priya keeps a fire extinguisher in her briefcase now."],
    ),
]
"""Three delivered episodes: what the room's "previously" carries into the next one."""


async def open_room(db: Database) -> RoomRecord:
    """The room as ``/room create``, ``/character add`` and ``/gag add`` leave it, with three
    delivered episodes in its continuity."""
    rooms, episodes = RoomStore(db), EpisodeStore(db)
    room = await rooms.create(
        guild_id=GUILD,
        channel_id=CHANNEL,
        showrunner_id=AUTHOR,
        showrunner_name="mirela-fan",
        **ROOM,
    )
    for character in CAST:
        await rooms.add_character(room.id, character)
    for gag in GAGS:
        await rooms.add_gag(room.id, gag)
    for summary in PREVIOUS:
        earlier = await episodes.create(
            guild_id=GUILD,
            channel_id=CHANNEL,
            author_id=AUTHOR,
            author_name="mirela-fan",
            request=EpisodeRequest(premise=summary.logline, scene_count=4),
            provider="anthropic",
            model="earlier",
            room_id=room.id,
        )
        await rooms.add_summary(room.id, earlier.id, summary)
    return room


async def room_bible(db: Database, room: RoomRecord) -> tuple[SeriesBible, list[str]]:
    """The bible an episode of the room is written with, and the titles it recalls: what
    ``Episodes._bible`` (bot/cogs/episodes.py) builds for ``/episode``."""
    rooms = RoomStore(db)
    recent = [summary for _, summary in await rooms.recent_summaries(room.id)]
    recalled = previously(recent, PREVIOUSLY_BUDGET_TOKENS)
    bible = (await rooms.bible(room)).model_copy(
        update={"previous_episodes": [s.line() for s in recalled]}
    )
    return bible, [s.title for s in recalled]


SIZES: dict[str, dict[str, int]] = {
    "write_dialogue": {"lines": 20},  # the prompt asks for 12 to 30 lines
    "add_stage_directions": {"inserts": 8},
    "punch_up": {"analyzed_jokes": 15, "edits": 8},  # the prompt allows up to 12 edits
}
"""How many items an answer has, per forced tool: about what a model writes for these prompts
(the schema filler alone gives 0 to 4)."""
OUTLINE_BEAT_SENTENCES = 3


class RoomResponder(EpisodeResponder):
    """Valid answers to every step, as long as a model's: dialogue of 20 lines, 8 stage
    directions, 15 analysed jokes and 8 edits per punch-up, outline beats of 3 sentences."""

    def __init__(self, seed: int) -> None:
        super().__init__(seed, max_items=30)

    def __call__(self, body: Any) -> Any:
        value = super().__call__(body)
        tool = forced_tool(body)
        for field, count in SIZES.get(tool or "", {}).items():
            items = value[field] or [self._one(body, field)]
            value[field] = [items[i % len(items)] for i in range(count)]
        if tool == "write_outline":
            value["scenes"] = [dict(scene) for scene in value["scenes"]]  # may repeat one
            for n, scene in enumerate(value["scenes"]):
                others = value["scenes"][n + 1 :] + value["scenes"][:n]
                extra = [s["comic_goal"] for s in others][: OUTLINE_BEAT_SENTENCES - 1]
                scene["beat"] = " ".join([scene["beat"], *extra])[:1000]
        return value

    def _one(self, body: Any, field: str) -> Any:
        """An item for a list the filler left empty: from an answer with another seed."""
        for seed in range(1, 50):
            items = EpisodeResponder(self.seed + seed, max_items=30)(body)[field]
            if items:
                return items[0]
        raise AssertionError(f"no {field} could be filled")
