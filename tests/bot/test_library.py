"""/episodes, /episode-get, the PDF button, upload limits, /episode-retry, guild isolation."""

from __future__ import annotations

import io

from pypdf import PdfReader
from screenplain.parsers import fountain
from screenplain.types import Slug

from scriptgen.errors import InvalidOutputError
from tests.bot.harness import POST_MESSAGE, Room, RoomFactory, delivered, description, start_episode
from tests.fake_discord import FakeMessage
from tests.scripted_provider import ScriptedProvider

EPHEMERAL = 1 << 6


async def finished_episode(room: object, **kwargs: object) -> str:

    assert isinstance(room, Room)
    inter = await start_episode(room, **kwargs)  # type: ignore[arg-type]
    await delivered(room)
    await inter.wait_for_original_edit(lambda m: "Script posted" in description(m), 10)
    [record] = await room.bot.episodes.list_recent(room.guild.id)
    return record.public_id


async def test_episodes_lists_this_guild_only(make_room: RoomFactory) -> None:
    """/episodes shows the guild's episodes; another guild sees none of them."""
    room = await make_room()
    public_id = await finished_episode(room)
    listing = await room.fake.invoke_slash_command(room.guild, room.channel, room.other, "episodes")
    message = await listing.wait_for_original(lambda m: bool(m.embeds), 5)
    assert message.ephemeral
    assert public_id in description(message) and "ada" in description(message)
    other_guild = room.fake.add_guild("Rival Room")
    other_channel = other_guild.add_text_channel("general")
    stranger = other_guild.add_member("zed")
    elsewhere = await room.fake.invoke_slash_command(
        other_guild, other_channel, stranger, "episodes"
    )
    empty = await elsewhere.wait_for_original(lambda m: bool(m.content), 5)
    assert "No episodes here yet" in empty.content
    get = await room.fake.invoke_slash_command(
        other_guild, other_channel, stranger, "episode-get", {"episode": public_id}
    )
    refusal = await get.wait_for_followup(lambda m: bool(m.content), 5)
    assert refusal.ephemeral and "not found in this server" in refusal.content


async def test_episode_get_reposts_the_script(make_room: RoomFactory) -> None:
    """/episode-get posts the finished script again, as the same Fountain file."""
    room = await make_room()
    public_id = await finished_episode(room)
    again = await room.fake.invoke_slash_command(
        room.guild, room.channel, room.other, "episode-get", {"episode": public_id.upper()}
    )
    message = await again.wait_for_original(lambda m: bool(m.attachments), 10)
    [attachment] = message.attachments
    screenplay = fountain.parse(io.StringIO(attachment.data.decode()))
    assert sum(isinstance(p, Slug) for p in screenplay.paragraphs) == 2
    bad = await room.fake.invoke_slash_command(
        room.guild, room.channel, room.other, "episode-get", {"episode": "../../etc"}
    )
    callback = await bad.wait_for_callback(timeout=3)
    assert callback.data["flags"] & EPHEMERAL and "not an episode id" in callback.data["content"]


async def test_pdf_button_attaches_a_pdf(make_room: RoomFactory) -> None:
    """The delivery's PDF button posts the screenplay as a PDF with the title in it."""
    room = await make_room()
    await finished_episode(room)
    [record] = await room.bot.episodes.list_recent(room.guild.id)
    assert record.delivered_message_id is not None and record.script is not None
    delivery = room.fake.message(record.delivered_message_id)
    assert isinstance(delivery, FakeMessage)
    [pdf_id] = [c for c in delivery.custom_ids() if c.startswith("showrunner:pdf:")]
    click = await room.fake.click_button(delivery, pdf_id, room.other)
    reply = await room.fake.wait_for(lambda r: r.interaction_id == click.id and bool(r.files), 20)
    [upload] = reply.files
    assert upload.filename.endswith(".pdf")
    assert upload.data.startswith(b"%PDF")
    text = "".join(page.extract_text() for page in PdfReader(io.BytesIO(upload.data)).pages)
    assert (
        record.script.title.upper().split()
        == text.upper().split()[: len(record.script.title.split())]
    )


async def test_script_over_the_upload_limit_is_split_into_parts(make_room: RoomFactory) -> None:
    """A script larger than the interaction's upload limit arrives as numbered parts."""
    room = await make_room()
    room.fake.config.attachment_size_limit = 4000
    inter = await start_episode(room, scenes=3)
    await inter.wait_for_original_edit(lambda m: "Script posted" in description(m), 20)
    posts = [r for r in room.fake.requests.filter("POST", POST_MESSAGE) if r.files]
    uploads = [f for r in posts for f in r.files]
    assert all(sum(len(f.data) for f in r.files) <= 4000 for r in posts)
    names = [f.filename for f in uploads]
    assert len(names) >= 2 and all(f"of {len(names)}).fountain" in n for n in names)

    headings = sum(
        isinstance(p, Slug)
        for f in uploads
        for p in fountain.parse(io.StringIO(f.data.decode())).paragraphs
    )
    assert headings == 3


async def test_retry_resumes_a_failed_episode_without_rewriting(make_room: RoomFactory) -> None:
    """/episode-retry by the author re-asks only the steps that had not finished."""
    invalid = InvalidOutputError("scene:2:directions: the answer did not validate twice")
    provider = ScriptedProvider(failures={"scene:2:directions": invalid})
    room = await make_room(provider)
    inter = await start_episode(room)
    await inter.wait_for_original_edit(lambda m: "Failed" in description(m), 10)
    [record] = await room.bot.episodes.list_recent(room.guild.id)
    asked_before = {r.key for r in provider.history if not r.cancelled}
    provider.failures.clear()
    stranger = await room.fake.invoke_slash_command(
        room.guild, room.channel, room.other, "episode-retry", {"episode": record.public_id}
    )
    refusal = await stranger.wait_for_followup(lambda m: bool(m.content), 5)
    assert refusal.ephemeral and "Only ada" in refusal.content
    provider.history.clear()
    retry = await room.fake.invoke_slash_command(
        room.guild, room.channel, room.author, "episode-retry", {"episode": record.public_id}
    )
    await delivered(room)
    await retry.wait_for_original_edit(lambda m: "Script posted" in description(m), 10)
    asked_again = {r.key for r in provider.history}
    assert "scene:2:directions" in asked_again
    assert not asked_again & (asked_before - {"scene:2:directions"})
