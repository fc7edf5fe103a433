"""The fake Discord against the real, unmodified discord.py.

Only the two URLs a bot is allowed to change are touched
(``Route.BASE`` and ``DiscordWebSocket.DEFAULT_GATEWAY``); the
``_discord_urls`` fixture puts them back after every test.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.gateway import DiscordWebSocket
from discord.http import Route

from tests.fake_discord import (
    CALLBACK_ROUTE,
    MANAGE_MESSAGES,
    FakeChannel,
    FakeDiscord,
    FakeGuild,
    FakeUpload,
    FakeUser,
)

EDIT_ORIGINAL = "PATCH /webhooks/{webhook_id}/{webhook_token}/messages/@original"
EDIT_CHANNEL_MESSAGE = "PATCH /channels/{channel_id}/messages/{message_id}"
SYNC_GUILD = "PUT /applications/{application_id}/guilds/{guild_id}/commands"
CDN = "GET /attachments/{channel_id}/{attachment_id}/{filename}"
CAST = ["Adam", "Adele", "Bea", "Carl"]
CHARACTER_FIELDS = ["bio", "voice", "quirks", "arc", "notes"]


def prefill(key: str, size: int = 4000) -> str:
    """A prefilled modal value of exactly ``size`` characters."""
    return (f"{key} " * size)[:size]


@dataclass
class Seen:
    """What the bot observed, for the tests to assert on."""

    clicked_by: list[int] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    messages: asyncio.Queue[str] = field(default_factory=asyncio.Queue)
    late_errors: asyncio.Queue[discord.HTTPException] = field(default_factory=asyncio.Queue)
    proceed: asyncio.Event = field(default_factory=asyncio.Event)
    modal_sources: list[int | None] = field(default_factory=list)
    imports: list[tuple[str, str | None, int, bytes]] = field(default_factory=list)
    edits: list[dict[str, str]] = field(default_factory=list)
    refusals: list[discord.HTTPException] = field(default_factory=list)


class NotesModal(discord.ui.Modal, title="Notes"):
    """A one-field modal, opened from the episode message."""

    note: discord.ui.TextInput[NotesModal] = discord.ui.TextInput(label="Note", custom_id="note")

    def __init__(self, seen: Seen) -> None:
        super().__init__()
        self.seen = seen

    async def on_submit(self, interaction: discord.Interaction) -> None:
        self.seen.notes.append(self.note.value)
        self.seen.modal_sources.append(interaction.message.id if interaction.message else None)
        await interaction.response.send_message(f"noted: {self.note.value}", ephemeral=True)


class CharacterModal(discord.ui.Modal):
    """Five prefilled paragraphs: three bare text inputs (sent in action rows),
    two wrapped in ``discord.ui.Label`` (component type 18)."""

    def __init__(self, seen: Seen, values: dict[str, str]) -> None:
        super().__init__(title="Edit character", custom_id="character")
        self.seen = seen
        self.inputs: dict[str, discord.ui.TextInput[CharacterModal]] = {}
        for n, (key, value) in enumerate(values.items()):
            labelled = n >= 3
            text_input: discord.ui.TextInput[CharacterModal] = discord.ui.TextInput(
                label=None if labelled else key.title(),
                custom_id=key,
                default=value,
                style=discord.TextStyle.paragraph,
                max_length=4000,
            )
            self.inputs[key] = text_input
            if labelled:
                self.add_item(discord.ui.Label(text=key.title(), component=text_input))
            else:
                self.add_item(text_input)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        self.seen.edits.append({key: item.value for key, item in self.inputs.items()})
        await interaction.response.send_message(f"saved {len(self.inputs)} fields", ephemeral=True)


class EpisodeView(discord.ui.View):
    """Approve (rewrites the message) and Notes (opens a modal)."""

    def __init__(self, seen: Seen) -> None:
        super().__init__(timeout=30)
        self.seen = seen

    @discord.ui.button(label="Approve", custom_id="approve", style=discord.ButtonStyle.green)
    async def approve(
        self, interaction: discord.Interaction, button: discord.ui.Button[EpisodeView]
    ) -> None:
        self.seen.clicked_by.append(interaction.user.id)
        await interaction.response.edit_message(content="approved", view=None)

    @discord.ui.button(label="Notes", custom_id="notes")
    async def notes(
        self, interaction: discord.Interaction, button: discord.ui.Button[EpisodeView]
    ) -> None:
        await interaction.response.send_modal(NotesModal(self.seen))


class TinyBot(discord.Client):
    """The smallest bot that exercises what Showrunner needs from Discord."""

    def __init__(self, guild_id: int) -> None:
        super().__init__(
            intents=discord.Intents.default(),
            allowed_mentions=discord.AllowedMentions.none(),
            guild_ready_timeout=0.05,  # on_ready waits this long after the last GUILD_CREATE
        )
        self.guild_object = discord.Object(id=guild_id)
        self.tree = app_commands.CommandTree(self)
        self.ready_event = asyncio.Event()
        self.seen = Seen()
        self._add_commands()

    def _add_commands(self) -> None:
        seen = self.seen

        @app_commands.command(name="episode", description="Write an episode")
        async def episode(interaction: discord.Interaction, premise: str, scenes: int = 3) -> None:
            await interaction.response.defer(thinking=True)
            script = f"{premise} in {scenes} scenes".encode()
            await interaction.edit_original_response(
                content=f"Draft: {premise}",
                attachments=[discord.File(io.BytesIO(script), filename="episode.txt")],
                view=EpisodeView(seen),
            )

        @app_commands.command(name="hello", description="Replies at once, then follows up")
        async def hello(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("hi", view=EpisodeView(seen))
            file = discord.File(io.BytesIO(b"more"), filename="more.txt")
            await interaction.followup.send("more", file=file, wait=True)

        @app_commands.command(name="slow", description="Defers, then edits when told to")
        async def slow(interaction: discord.Interaction) -> None:
            await interaction.response.defer()
            await seen.proceed.wait()
            try:
                await interaction.edit_original_response(content="finally")
            except discord.HTTPException as exc:
                seen.late_errors.put_nowait(exc)

        @app_commands.command(name="secret", description="Ephemeral reply and follow-ups")
        async def secret(interaction: discord.Interaction) -> None:
            cast = discord.File(io.BytesIO(b"Adam\nBea\n"), filename="cast.txt")
            embed = discord.Embed(title="Cast", description="Adam, Bea")
            await interaction.response.send_message(
                "only you", embed=embed, file=cast, ephemeral=True
            )
            arc = discord.File(io.BytesIO(b"act one"), filename="arc.txt")
            await interaction.followup.send(
                "also only you", embeds=[discord.Embed(title="Arc")], file=arc, ephemeral=True
            )
            await interaction.followup.send("everyone")

        @app_commands.command(name="whisper", description="Ephemeral deferral, then follow-ups")
        async def whisper(interaction: discord.Interaction) -> None:
            await interaction.response.defer(ephemeral=True, thinking=True)
            notes = discord.File(io.BytesIO(b"notes"), filename="notes.txt")
            embed = discord.Embed(title="Notes")
            await interaction.followup.send("done", embed=embed, file=notes, ephemeral=True)
            await interaction.followup.send("p.s.", ephemeral=True)

        room = app_commands.Group(name="room", description="The writers' room")

        @room.command(name="import", description="Import a series bible")
        async def room_import(interaction: discord.Interaction, file: discord.Attachment) -> None:
            data = await file.read()
            seen.imports.append((file.filename, file.content_type, file.size, data))
            await interaction.response.send_message(
                f"imported {file.filename} ({file.content_type}, {file.size} bytes): "
                + data.decode(),
                ephemeral=True,
            )

        character = app_commands.Group(name="character", description="The cast")

        @character.command(name="edit", description="Edit a character")
        async def character_edit(interaction: discord.Interaction, name: str) -> None:
            size = 4001 if name == "Verbose" else 4000
            values = {key: prefill(key, size) for key in CHARACTER_FIELDS}
            try:
                await interaction.response.send_modal(CharacterModal(seen, values))
            except discord.HTTPException as exc:
                seen.refusals.append(exc)

        @character_edit.autocomplete("name")
        async def character_names(
            interaction: discord.Interaction, current: str
        ) -> list[app_commands.Choice[str]]:
            if current == "*":  # more than the 25 choices Discord accepts
                return [app_commands.Choice(name=f"extra {n}", value=str(n)) for n in range(30)]
            return [app_commands.Choice(name=n, value=n) for n in CAST if n.startswith(current)]

        commands: list[app_commands.Command[Any, Any, None]] = [
            episode,
            hello,
            slow,
            secret,
            whisper,
        ]
        for command in commands:
            self.tree.add_command(command, guild=self.guild_object)
        for group in (room, character):
            self.tree.add_command(group, guild=self.guild_object)

    async def before_identify_hook(self, shard_id: int | None, *, initial: bool = False) -> None:
        """No pause: discord.py's default sleeps 5 s before every re-IDENTIFY."""

    async def on_ready(self) -> None:
        self.ready_event.set()

    async def on_message(self, message: discord.Message) -> None:
        if self.user is not None and message.author.id != self.user.id:
            self.seen.messages.put_nowait(message.content)


@dataclass
class World:
    """A running fake with one guild, one channel, two humans and a connected bot."""

    fake: FakeDiscord
    guild: FakeGuild
    channel: FakeChannel
    alice: FakeUser
    bob: FakeUser
    bot: TinyBot

    async def sync(self) -> None:
        """The bot syncs its guild commands (as Showrunner does at start-up)."""
        await self.bot.tree.sync(guild=self.bot.guild_object)

    def text_channel(self) -> discord.TextChannel:
        """The bot's view of the test channel."""
        channel = self.bot.get_channel(self.channel.id)
        assert isinstance(channel, discord.TextChannel)
        return channel


@pytest.fixture
def _discord_urls() -> Iterator[None]:
    """Restores discord.py's class-level URLs whatever the test did to them."""
    old_base, old_gateway = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    yield
    Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = old_base, old_gateway


@pytest.fixture
async def fake(_discord_urls: None) -> AsyncIterator[FakeDiscord]:
    """A fake Discord with discord.py pointed at it."""
    async with FakeDiscord(bot_token="test-token", heartbeat_interval_ms=500) as server:
        Route.BASE = server.rest_base
        DiscordWebSocket.DEFAULT_GATEWAY = server.gateway_url
        yield server


@pytest.fixture
async def world(fake: FakeDiscord) -> AsyncIterator[World]:
    """The fake populated, and TinyBot connected and ready."""
    guild = fake.add_guild("Writers' Room")
    channel = guild.add_text_channel("episodes")
    alice = guild.add_member("alice")
    bob = guild.add_member("bob", permissions=MANAGE_MESSAGES)
    bot = TinyBot(guild.id)
    task = asyncio.create_task(bot.start(fake.config.bot_token))
    try:
        await fake.wait_until_ready()
        await asyncio.wait_for(bot.ready_event.wait(), 5)
        yield World(fake, guild, channel, alice, bob, bot)
    finally:
        await bot.close()
        with contextlib.suppress(asyncio.CancelledError, TimeoutError):
            await asyncio.wait_for(task, 5)


async def test_bot_connects_and_sees_guild_and_channel(world: World) -> None:
    bot, fake = world.bot, world.fake
    guild = bot.get_guild(world.guild.id)
    assert guild is not None
    assert guild.name == "Writers' Room"
    channel = world.text_channel()
    assert channel.name == "episodes"
    assert bot.user is not None
    assert bot.user.id == fake.bot_user.id
    assert bot.application_id == fake.application_id
    assert guild.me is not None
    assert channel.permissions_for(guild.me).send_messages
    assert [h.op for h in fake.handshakes] == ["IDENTIFY"]
    assert fake.gateway_connections[0].startswith("/?v=10&encoding=json&compress=zlib-stream")
    assert fake.unknown_route_requests() == []


async def test_tree_sync_stores_guild_commands(world: World) -> None:
    await world.sync()
    stored = {c["name"]: c for c in world.fake.commands(world.guild)}
    assert set(stored) == {"episode", "hello", "slow", "secret", "whisper", "room", "character"}
    options = {o["name"]: o["type"] for o in stored["episode"]["options"]}
    assert options == {"premise": 3, "scenes": 4}
    assert [r.status for r in world.fake.requests.filter(route=SYNC_GUILD)] == [200]


async def test_slash_command_defers_then_edits_with_file_and_view(world: World) -> None:
    fake = world.fake
    await world.sync()
    inter = await fake.invoke_slash_command(
        world.guild, world.channel, world.alice, "episode", {"premise": "Pilot", "scenes": 2}
    )
    episode = next(c for c in fake.commands(world.guild) if c["name"] == "episode")
    assert inter.payload["data"]["id"] == episode["id"]
    callback = await inter.wait_for_callback(timeout=3)
    assert callback.type == 5
    assert callback.delay < 2.0
    assert inter.requests[0].route == CALLBACK_ROUTE
    original = await inter.wait_for_original_edit(lambda m: bool(m.attachments), timeout=3)
    assert original.content == "Draft: Pilot"
    assert original.attachment("episode.txt").data == b"Pilot in 2 scenes"
    assert original.custom_ids() == ["approve", "notes"]
    assert not original.loading
    edit = fake.requests.filter(route=EDIT_ORIGINAL, interaction=inter)[0]
    assert edit.files[0].filename == "episode.txt"
    fetched = await world.text_channel().fetch_message(original.id)
    assert await fetched.attachments[0].read() == b"Pilot in 2 scenes"  # served by the fake
    assert fake.mention_violations() == []
    assert fake.invalid_request_count == 0
    assert fake.unknown_route_requests() == []


async def test_button_click_reaches_view_with_the_clicking_user(world: World) -> None:
    fake = world.fake
    await world.sync()
    inter = await fake.invoke_slash_command(
        world.guild, world.channel, world.alice, "episode", {"premise": "Pilot"}
    )
    original = await inter.wait_for_original_edit(lambda m: bool(m.components), timeout=3)
    click = await fake.click_button(original, "approve", world.bob)
    callback = await click.wait_for_callback(timeout=3)
    assert callback.type == 7
    assert world.bot.seen.clicked_by == [world.bob.id]
    assert original.content == "approved"
    assert original.components == []
    with pytest.raises(ValueError, match="no component"):
        await fake.click_button(original, "approve", world.bob)


async def test_immediate_reply_view_and_followup(world: World) -> None:
    fake = world.fake
    await world.sync()
    inter = await fake.invoke_slash_command(world.guild, world.channel, world.alice, "hello")
    followup = await inter.wait_for_followup(timeout=3)
    assert inter.callbacks[0].type == 4
    assert inter.original is not None
    assert inter.original.content == "hi"
    assert followup.attachment("more.txt").data == b"more"
    assert [m.content for m in fake.messages(world.channel)] == ["hi", "more"]
    # The view was stored under the response_message_id of the with_response answer.
    click = await fake.click_button(inter.original, "approve", world.alice)
    assert (await click.wait_for_callback(timeout=3)).type == 7
    assert fake.mention_violations() == []


async def test_modal_roundtrip(world: World) -> None:
    fake = world.fake
    await world.sync()
    inter = await fake.invoke_slash_command(
        world.guild, world.channel, world.alice, "episode", {"premise": "Pilot"}
    )
    original = await inter.wait_for_original_edit(lambda m: bool(m.components), timeout=3)
    opener = await fake.click_button(original, "notes", world.alice)
    assert (await opener.wait_for_callback(timeout=3)).type == 9
    assert opener.modal_custom_id == opener.callbacks[0].data["custom_id"]
    submit = await fake.submit_modal(opener, {"note": "funnier"})
    reply = await submit.wait_for_original(timeout=3)
    assert world.bot.seen.notes == ["funnier"]
    assert reply.ephemeral
    assert reply.content == "noted: funnier"
    # A modal opened from a button carries that button's message back.
    assert submit.payload["message"]["id"] == str(original.id)
    assert world.bot.seen.modal_sources == [original.id]
    with pytest.raises(ValueError, match="required"):
        await fake.submit_modal(opener, {})
    with pytest.raises(ValueError, match="no field"):
        await fake.submit_modal(opener, {"note": "x", "other": "y"})


async def test_429_on_message_edit_is_retried_after_retry_after(world: World) -> None:
    fake = world.fake
    message = await world.text_channel().send("first")
    fake.rate_limit(EDIT_CHANNEL_MESSAGE, times=1, retry_after=0.3)
    await message.edit(content="second")
    patches = fake.requests.filter(route=EDIT_CHANNEL_MESSAGE)
    assert [p.status for p in patches] == [429, 200]
    assert patches[1].timestamp - patches[0].timestamp >= 0.3
    assert patches[0].response["retry_after"] == 0.3
    assert fake.message(message.id).content == "second"
    assert fake.invalid_request_count == 1


async def test_bucket_emulation_refuses_unpaced_edits(world: World) -> None:
    fake = world.fake
    message = await world.text_channel().send("v0")
    fake.emulate_bucket(EDIT_CHANNEL_MESSAGE, limit=2, per=0.5)
    for n in range(1, 4):
        await message.edit(content=f"v{n}")
    statuses = [p.status for p in fake.requests.filter(route=EDIT_CHANNEL_MESSAGE)]
    assert statuses == [200, 200, 429, 200]
    assert fake.message(message.id).edit_count == 3


@pytest.mark.parametrize("code", [4000, 1006])
async def test_gateway_drop_resumes_and_interaction_still_arrives(world: World, code: int) -> None:
    fake = world.fake
    await world.sync()
    await fake.drop_gateway(code)
    inter = await fake.invoke_slash_command(world.guild, world.channel, world.alice, "slow")
    shake = await fake.wait_for_identify_or_resume()
    assert shake.op == "RESUME"
    assert shake.accepted
    assert shake.path == "/resume"  # READY's resume_gateway_url, not DEFAULT_GATEWAY
    assert shake.replayed >= 1 or (inter.delivered_at or 0) >= shake.at
    assert (await inter.wait_for_callback(timeout=5)).type == 5
    assert fake.gateway_connects == 2
    world.bot.seen.proceed.set()
    await inter.wait_for_original_edit(timeout=3)


async def test_refused_resume_leads_to_a_fresh_identify(world: World) -> None:
    fake = world.fake
    await world.sync()
    await fake.drop_gateway(4000, invalidate=True)
    refused = await fake.wait_for_identify_or_resume()
    assert refused.op == "RESUME"
    assert not refused.accepted
    await fake.wait_for_identify_or_resume(op="IDENTIFY")
    await fake.wait_until_ready()
    inter = await fake.invoke_slash_command(world.guild, world.channel, world.alice, "hello")
    assert (await inter.wait_for_callback(timeout=5)).type == 4


async def test_expired_interaction_token_raises_50027(world: World) -> None:
    fake = world.fake
    await world.sync()
    fake.config.token_lifetime = 0.2
    inter = await fake.invoke_slash_command(world.guild, world.channel, world.alice, "slow")
    await inter.wait_for_callback(timeout=3)
    await asyncio.sleep(0.25)
    world.bot.seen.proceed.set()
    refused = await fake.wait_for(lambda r: r.route == EDIT_ORIGINAL, timeout=3)
    assert refused.status == 401
    assert refused.response == {"message": "Invalid Webhook Token", "code": 50027}
    error = await asyncio.wait_for(world.bot.seen.late_errors.get(), 3)
    assert isinstance(error, discord.HTTPException)
    assert error.code == 50027
    assert error.status == 401


async def test_channel_message_nonce_is_deduplicated(world: World) -> None:
    channel = world.text_channel()
    first = await channel.send("once", nonce=424242)
    second = await channel.send("once", nonce=424242)
    assert first.id == second.id
    assert [m.content for m in world.fake.messages(world.channel)] == ["once"]
    assert [m.id async for m in channel.history(limit=10)] == [first.id]
    creates = world.fake.requests.filter("POST", "/channels/{channel_id}/messages")
    assert [c.payload["enforce_nonce"] for c in creates] == [True, True]


async def test_user_messages_follow_the_message_content_intent(world: World) -> None:
    fake, seen = world.fake, world.bot.seen
    fake.send_user_message(world.channel, world.alice, "no intent, no content")
    fake.send_user_message(world.channel, world.alice, f"{fake.bot_user.mention} hi")
    assert await asyncio.wait_for(seen.messages.get(), 3) == ""
    assert await asyncio.wait_for(seen.messages.get(), 3) == f"{fake.bot_user.mention} hi"


async def test_wrong_token_and_unknown_route(fake: FakeDiscord) -> None:
    client = discord.Client(intents=discord.Intents.default())
    with pytest.raises(discord.LoginFailure):
        await client.login("not-the-token")
    await client.close()
    async with aiohttp.ClientSession() as session, session.get(f"{fake.rest_base}/nope") as resp:
        assert resp.status == 404
        assert resp.headers["Content-Type"] == "application/json"
    assert [r.path for r in fake.unknown_route_requests()] == ["/nope"]
    assert fake.invalid_request_count == 1


async def test_attachment_option_is_resolved_and_downloadable(world: World) -> None:
    fake = world.fake
    await world.sync()
    bible = b"title: Pilot\ncast: [Adam, Bea]\n"
    upload = FakeUpload("bible.yaml", bible, content_type="text/yaml")
    inter = await fake.invoke_slash_command(
        world.guild, world.channel, world.alice, "room import", {"file": upload}
    )
    data = inter.payload["data"]
    (sub,) = data["options"]
    assert (sub["name"], sub["type"]) == ("import", 1)
    (option,) = sub["options"]
    assert (option["name"], option["type"]) == ("file", 11)
    resolved = data["resolved"]["attachments"][option["value"]]
    assert resolved["id"] == option["value"]
    assert resolved["filename"] == "bible.yaml"
    assert resolved["size"] == len(bible)
    assert resolved["content_type"] == "text/yaml"
    assert resolved["ephemeral"] is True
    assert resolved["url"].startswith(f"http://127.0.0.1:{fake.port}/attachments/")
    assert resolved["proxy_url"] == resolved["url"]
    reply = await inter.wait_for_original(timeout=3)
    assert (
        reply.content == f"imported bible.yaml (text/yaml, {len(bible)} bytes): " + bible.decode()
    )
    assert reply.ephemeral
    assert world.bot.seen.imports == [("bible.yaml", "text/yaml", len(bible), bible)]
    downloads = fake.requests.filter(route=CDN)
    assert [(d.path_params["attachment_id"], d.status) for d in downloads] == [
        (option["value"], 200)
    ]
    # What the client would refuse: a file over the size limit, a file for a text option.
    fake.config.attachment_size_limit = 10
    with pytest.raises(ValueError, match="upload limit"):
        await fake.invoke_slash_command(
            world.guild, world.channel, world.alice, "room import", {"file": upload}
        )
    with pytest.raises(ValueError, match="file option"):
        await fake.invoke_slash_command(
            world.guild, world.channel, world.alice, "episode", {"premise": upload}
        )
    assert FakeUpload("notes.txt", b"").mime_type == "text/plain"


async def test_autocomplete_sends_focused_option_and_records_choices(world: World) -> None:
    fake = world.fake
    await world.sync()
    inter = await fake.autocomplete(
        world.guild, world.channel, world.alice, "character edit", {"name": "Ad"}, focused="name"
    )
    assert inter.payload["type"] == 4
    (sub,) = inter.payload["data"]["options"]
    assert sub["name"] == "edit"
    assert sub["options"] == [{"name": "name", "type": 3, "value": "Ad", "focused": True}]
    callback = await inter.wait_for_callback(timeout=3)
    assert callback.type == 8
    assert callback.data["choices"] == [
        {"name": "Adam", "value": "Adam"},
        {"name": "Adele", "value": "Adele"},
    ]
    assert inter.choices == callback.data["choices"]
    assert inter.original is None
    # Only an option registered with autocomplete asks the bot.
    with pytest.raises(ValueError, match="autocomplete"):
        await fake.autocomplete(
            world.guild, world.channel, world.alice, "episode", {"premise": "P"}, focused="premise"
        )
    with pytest.raises(ValueError, match="focused"):
        await fake.autocomplete(
            world.guild, world.channel, world.alice, "character edit", {}, focused="name"
        )


async def test_autocomplete_with_too_many_choices_is_refused(world: World) -> None:
    fake = world.fake
    await world.sync()
    inter = await fake.autocomplete(
        world.guild, world.channel, world.alice, "character edit", {"name": "*"}, focused="name"
    )
    refused = await fake.wait_for(lambda r: r.route == CALLBACK_ROUTE and r.status == 400)
    assert refused.interaction_id == inter.id
    assert refused.payload["type"] == 8
    assert len(refused.payload["data"]["choices"]) == 30
    assert refused.response["code"] == 50035
    assert "choices" in refused.response["errors"]["data"]
    assert inter.callbacks == []


async def test_five_field_modal_with_labels_and_long_prefills(world: World) -> None:
    fake = world.fake
    await world.sync()
    inter = await fake.invoke_slash_command(
        world.guild, world.channel, world.alice, "character edit", {"name": "Adam"}
    )
    callback = await inter.wait_for_callback(timeout=3)
    assert callback.type == 9
    modal = callback.data
    assert modal["title"] == "Edit character"
    assert [c["type"] for c in modal["components"]] == [1, 1, 1, 18, 18]
    bare = [row["components"][0] for row in modal["components"][:3]]
    labelled = [label["component"] for label in modal["components"][3:]]
    assert [c["custom_id"] for c in bare + labelled] == CHARACTER_FIELDS
    assert [c["value"] for c in bare + labelled] == [prefill(k) for k in CHARACTER_FIELDS]
    assert {len(c["value"]) for c in bare + labelled} == {4000}
    assert [label["label"] for label in modal["components"][3:]] == ["Arc", "Notes"]
    submit = await fake.submit_modal(inter, {"bio": "A new bio", "notes": "n" * 4000})
    reply = await submit.wait_for_original(timeout=3)
    assert reply.content == "saved 5 fields"
    assert reply.ephemeral
    expected = {key: prefill(key) for key in CHARACTER_FIELDS}
    expected.update(bio="A new bio", notes="n" * 4000)
    assert world.bot.seen.edits == [expected]
    sent = submit.payload["data"]["components"]
    assert [c["type"] for c in sent] == [1, 1, 1, 18, 18]
    assert sent[3]["component"] == {"type": 4, "custom_id": "arc", "value": prefill("arc")}
    with pytest.raises(ValueError, match="4000"):
        await fake.submit_modal(inter, {"bio": "b" * 4001})


async def test_modal_over_discord_limits_is_refused(world: World) -> None:
    fake = world.fake
    await world.sync()
    inter = await fake.invoke_slash_command(
        world.guild, world.channel, world.alice, "character edit", {"name": "Verbose"}
    )
    refused = await fake.wait_for(lambda r: r.route == CALLBACK_ROUTE and r.status == 400)
    assert refused.interaction_id == inter.id
    assert inter.callbacks == []
    components = refused.response["errors"]["data"]["components"]
    assert set(components) == {"0", "1", "2", "3", "4"}
    assert "value" in components["0"]["components"]["0"]
    assert "value" in components["3"]["component"]
    await fake.state.signal.wait_until(lambda: world.bot.seen.refusals or None, 3)
    assert [e.code for e in world.bot.seen.refusals] == [50035]


async def test_ephemeral_reply_and_followups_keep_flags_embeds_and_files(world: World) -> None:
    fake = world.fake
    await world.sync()
    inter = await fake.invoke_slash_command(world.guild, world.channel, world.alice, "secret")
    public = await inter.wait_for_followup(lambda m: m.content == "everyone", timeout=3)
    callback = inter.callbacks[0]
    assert callback.type == 4
    assert callback.data["flags"] & 64
    assert [f.filename for f in callback.request.files] == ["cast.txt"]
    original = inter.original
    assert original is not None
    assert original.ephemeral
    assert original.flags == 64
    assert original.content == "only you"
    assert original.embeds[0]["title"] == "Cast"
    assert original.embeds[0]["description"] == "Adam, Bea"
    assert original.attachment("cast.txt").data == b"Adam\nBea\n"
    assert original.revisions[0].flags == 64
    hidden, shown = inter.followups
    assert shown is public
    assert hidden.ephemeral
    assert hidden.content == "also only you"
    assert hidden.embeds[0]["title"] == "Arc"
    assert hidden.attachment("arc.txt").data == b"act one"
    assert not public.ephemeral
    assert public.flags == 0
    # Ephemeral messages are not in the channel (for anyone but the invoker).
    assert [m.content for m in fake.messages(world.channel)] == ["everyone"]
    assert fake.mention_violations() == []


async def test_ephemeral_deferral_becomes_the_first_followup(world: World) -> None:
    fake = world.fake
    await world.sync()
    inter = await fake.invoke_slash_command(world.guild, world.channel, world.alice, "whisper")
    second = await inter.wait_for_followup(lambda m: m.content == "p.s.", timeout=3)
    assert inter.callbacks[0].type == 5
    assert inter.callbacks[0].data == {"flags": 64}
    first, _ = inter.followups
    assert first is inter.original
    assert first.ephemeral
    assert not first.loading
    assert first.content == "done"
    assert first.embeds[0]["title"] == "Notes"
    assert first.attachment("notes.txt").data == b"notes"
    assert second is not first
    assert second.ephemeral
    assert fake.messages(world.channel) == []
