"""Outline review over the wire: the outline waits for Write it, can be edited or redone."""

from __future__ import annotations

import asyncio

from tests.bot.harness import RoomFactory, description
from tests.bot.rooms_harness import command, refusal, script_post
from tests.fake_discord import FakeInteraction, FakeMessage
from tests.scripted_provider import ScriptedProvider


async def _review(room_inter: FakeInteraction) -> FakeMessage:
    return await room_inter.wait_for_original_edit(
        lambda m: "Outline ready for review" in description(m), 10
    )


def _button(message: FakeMessage, action: str) -> str:
    return next(i for i in message.custom_ids() if i.startswith(f"showrunner:{action}:"))


async def test_an_edited_outline_is_what_gets_written(make_room: RoomFactory) -> None:
    """No scene starts before Write it; the writer's edit (title, a beat, one scene fewer)
    is parsed back and written; a second Write it starts nothing more."""
    provider = ScriptedProvider()
    room = await make_room(provider)
    inter = await command(
        room,
        room.author,
        "episode",
        {"premise": "The café's cat runs for mayor", "scenes": 3, "review": True},
    )
    card = await _review(inter)
    assert [c.kind for c in provider.history] == ["outline"]
    assert len(card.custom_ids()) == 4
    await asyncio.sleep(0.2)
    assert [c.kind for c in provider.history] == ["outline"]

    opened = await room.fake.click_button(card, _button(card, "edit"), room.author)
    modal = await opened.wait_for_callback()
    assert modal.type == 9
    # discord.py registers the modal once Discord has answered its callback: a person takes
    # longer than that to type.
    await asyncio.sleep(0.2)
    inputs = {
        c["custom_id"]: c.get("value", "")
        for row in modal.data["components"]
        for c in ([row["component"]] if "component" in row else row["components"])
    }
    scenes = inputs["scenes-1"]
    assert scenes.startswith("1. ")
    blocks = scenes.split("\n\n")
    assert len(blocks) == 3
    bad = await room.fake.submit_modal(opened, {"scenes-1": "1. somewhere\nBeat: nothing"})
    assert "The outline was not changed" in await refusal(bad)

    edited_first = blocks[0].replace(
        blocks[0].split("Beat: ")[1].split("\n")[0], "The cat files its papers in triplicate"
    )
    reopened = await room.fake.click_button(card, _button(card, "edit"), room.author)
    assert (await reopened.wait_for_callback()).type == 9
    await asyncio.sleep(0.2)
    submitted = await room.fake.submit_modal(
        reopened,
        {"title": "Purr Tenure", "scenes-1": "\n\n".join([edited_first, blocks[1]])},
    )
    assert (await submitted.wait_for_callback()).type == 7
    assert "Purr Tenure" in str(card.embeds[0]["title"])
    assert "2. " in description(card) and "3. " not in description(card)

    write = await room.fake.click_button(card, _button(card, "write"), room.author)
    twice = await room.fake.click_button(card, _button(card, "write"), room.author)
    assert (await write.wait_for_callback()).type == 6
    second = await refusal(twice)
    assert "no longer waiting" in second or "just now" in second
    posted = await script_post(room)
    text = posted.files[0].data.decode()
    assert posted.files[0].filename == "Purr Tenure.fountain"
    [record] = await room.bot.episodes.list_recent(room.guild.id)
    assert record.script is not None
    assert record.script.outline.scenes[0].beat == "The cat files its papers in triplicate"
    assert len(record.script.scenes) == 2 and "Purr Tenure" in text
    kinds = [c.kind for c in provider.history]
    assert kinds.count("outline") == 1 and kinds.count("dialogue") == 2


async def test_new_outline_asks_again_and_strangers_are_refused(make_room: RoomFactory) -> None:
    """New outline replaces the outline; someone else's press is refused by name."""
    provider = ScriptedProvider()
    room = await make_room(provider)
    inter = await command(
        room, room.author, "episode", {"premise": "A lease renewal", "scenes": 2, "review": True}
    )
    card = await _review(inter)
    stranger = await room.fake.click_button(card, _button(card, "write"), room.other)
    assert "Only ada, who asked for this episode" in await refusal(stranger)
    again = await room.fake.click_button(card, _button(card, "reoutline"), room.author)
    assert (await again.wait_for_callback()).type == 6
    for _ in range(100):
        if [c.kind for c in provider.history].count("outline") == 2 and "Outline ready" in (
            description(card)
        ):
            break
        await asyncio.sleep(0.05)
    assert [c.kind for c in provider.history].count("outline") == 2
    [record] = await room.bot.episodes.list_recent(room.guild.id)
    assert record.status == "queued"


async def test_an_outline_left_waiting_is_cancelled_with_a_message(
    make_room: RoomFactory,
) -> None:
    """Past the review time the episode is cancelled, its card says why, the writer is free."""
    room = await make_room(review_timeout=1, review_sweep_interval=0.1)
    inter = await command(
        room, room.author, "episode", {"premise": "A long lunch", "scenes": 2, "review": True}
    )
    card = await _review(inter)
    for _ in range(100):
        if "waited" in description(card):
            break
        await asyncio.sleep(0.05)
    assert "without a Write it" in description(card)
    assert card.custom_ids() == []
    [record] = await room.bot.episodes.list_recent(room.guild.id)
    assert record.status == "cancelled"
    nxt = await command(room, room.author, "episode", {"premise": "A short lunch", "scenes": 1})
    assert (await nxt.wait_for_callback()).type == 5


async def test_review_buttons_work_after_a_restart(make_room: RoomFactory) -> None:
    """The outline waits in storage: after a restart its Write it still starts the episode,
    from the outline it showed (no second outline call)."""
    provider = ScriptedProvider()
    room = await make_room(provider)
    inter = await command(
        room, room.author, "episode", {"premise": "A fire drill", "scenes": 2, "review": True}
    )
    card = await _review(inter)
    await asyncio.sleep(0.2)  # the outline's checkpoint lands behind the pipeline
    await room.bot.close()

    again = ScriptedProvider()
    restarted = await make_room(again)
    write = await restarted.fake.click_button(card, _button(card, "write"), room.author)
    assert (await write.wait_for_callback()).type == 6
    await script_post(restarted)
    assert [c.kind for c in again.history].count("outline") == 0
    [record] = await restarted.bot.episodes.list_recent(room.guild.id)
    assert record.status == "done"
