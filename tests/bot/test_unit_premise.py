"""A premise typed in Discord: mentions become names, and mentions alone are not a premise."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, cast

import discord
import pytest
from discord.state import ConnectionState

from bot.premise import MAX_LOOKUPS, has_words, plain_premise

if TYPE_CHECKING:
    import aiohttp

GUILD_ID = 10


@pytest.mark.parametrize(
    "text",
    [
        "A ghost runs the coffee shop",
        "<@1> loses the keys",
        "@everyone 42",
        "café",
        "<#3> floods",
    ],
)
def test_has_words_when_words_remain(text: str) -> None:
    """Letters or digits outside the mentions count as words."""
    assert has_words(text)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "   ",
        "!!! ??? ...",
        "<@1> <@!1> <@&2> <#3>",
        "<:emoji:4> <a:emoji:5>",
        "@everyone @here",
        "<@123> <@&456> @everyone !!",
        "🎉🎉🎉",
    ],
)
def test_has_no_words_for_mentions_emoji_and_punctuation(text: str) -> None:
    """Mentions, custom emoji (even their names), symbols and blanks are not words."""
    assert not has_words(text)


async def test_without_a_guild_mentions_read_as_plain_words() -> None:
    """Every mention form is replaced: people, roles and channels by 'someone'."""
    text = "<@1> and <@!1> meet <@&2> in <#3> <:party:4> <a:dance:5> @everyone @here"
    assert await plain_premise(text, None) == (
        "someone and someone meet someone in someone :party: :dance: everyone here"
    )


async def test_whitespace_is_collapsed() -> None:
    """Newlines and runs of spaces become single spaces, with no leading or trailing space."""
    assert await plain_premise("  A ghost\n\n  haunts <@1>  ", None) == "A ghost haunts someone"


async def test_text_that_only_looks_like_a_mention_is_kept() -> None:
    """Malformed mentions and e-mail-like text are story, not Discord syntax."""
    text = "<@abc> emails bob@example.com about <#channel>"
    assert await plain_premise(text, None) == text


# -- with a real discord.Guild ------------------------------------------------------------------


def member_data(user_id: int, username: str, nick: str | None = None) -> dict[str, Any]:
    return {
        "user": {
            "id": str(user_id),
            "username": username,
            "discriminator": "0",
            "global_name": None,
            "avatar": None,
        },
        "nick": nick,
        "roles": [],
        "joined_at": None,
        "deaf": False,
        "mute": False,
        "flags": 0,
    }


def role_data(role_id: int, name: str) -> dict[str, Any]:
    return {
        "id": str(role_id),
        "name": name,
        "permissions": "0",
        "position": 0,
        "color": 0,
        "hoist": False,
        "managed": False,
        "mentionable": True,
    }


@dataclass
class Response:
    status: int
    reason: str


class WritersRoom(discord.Guild):
    """A real guild built from gateway data; member fetches are answered locally and counted."""

    fetched: list[int]
    remote: dict[int, dict[str, Any]]
    state: ConnectionState[Any]

    async def fetch_member(self, member_id: int, /) -> discord.Member:
        self.fetched.append(member_id)
        data = self.remote.get(member_id)
        if data is None:
            response = cast("aiohttp.ClientResponse", Response(404, "Not Found"))
            raise discord.NotFound(response, {"code": 10007, "message": "Unknown Member"})
        return discord.Member(data=cast(Any, data), guild=self, state=self.state)


@pytest.fixture
async def guild() -> AsyncIterator[WritersRoom]:
    http = discord.http.HTTPClient(asyncio.get_running_loop())
    state: ConnectionState[Any] = ConnectionState(
        dispatch=lambda *_: None, handlers={}, hooks={}, http=http, intents=discord.Intents.all()
    )
    data: Any = {
        "id": str(GUILD_ID),
        "name": "Writers' Room",
        "roles": [role_data(GUILD_ID, "@everyone"), role_data(2, "Writers")],
        "channels": [{"id": "3", "type": 0, "name": "episodes", "position": 0}],
        "members": [member_data(1, "ada", nick="Ada the Showrunner")],
        "member_count": 1,
    }
    room = WritersRoom(data=data, state=state)
    room.fetched, room.remote, room.state = [], {}, state
    yield room
    await http.close()


async def test_guild_mentions_read_as_names(guild: WritersRoom) -> None:
    """A cached member reads as their display name, a role as its name, a channel as #name."""
    text = "<@1> and <@!1> ask <@&2> to move to <#3>"
    assert await plain_premise(text, guild) == (
        "Ada the Showrunner and Ada the Showrunner ask Writers to move to #episodes"
    )
    assert guild.fetched == []


async def test_everyone_role_mention_reads_without_the_at(guild: WritersRoom) -> None:
    """The @everyone role (the guild's id) reads as 'everyone', not '@everyone'."""
    assert await plain_premise(f"<@&{GUILD_ID}> panics", guild) == "everyone panics"


async def test_unknown_role_and_channel_read_generically(guild: WritersRoom) -> None:
    """A deleted role or channel reads as 'a role' or 'a channel'."""
    assert await plain_premise("<@&77> takes over <#88>", guild) == "a role takes over a channel"


async def test_uncached_member_is_fetched_once(guild: WritersRoom) -> None:
    """A member not in the cache is fetched over REST, once however often they are mentioned."""
    guild.remote[5] = member_data(5, "bo", nick="Bo")
    assert await plain_premise("<@5> and <@5> and <@5> argue", guild) == "Bo and Bo and Bo argue"
    assert guild.fetched == [5]


async def test_member_that_cannot_be_fetched_reads_as_someone(guild: WritersRoom) -> None:
    """A member who left (404 on fetch) reads as 'someone'; the premise still works."""
    assert await plain_premise("<@404> vanished", guild) == "someone vanished"
    assert guild.fetched == [404]


async def test_member_lookups_are_capped(guild: WritersRoom) -> None:
    """At most MAX_LOOKUPS members are fetched for one premise; the rest read 'someone'."""
    for user_id in range(100, 110):
        guild.remote[user_id] = member_data(user_id, f"user{user_id}", nick=f"N{user_id}")
    text = " ".join(f"<@{user_id}>" for user_id in range(100, 110))
    words = (await plain_premise(text, guild)).split()
    assert guild.fetched == list(range(100, 100 + MAX_LOOKUPS))
    assert words == [f"N{u}" for u in range(100, 105)] + ["someone"] * (10 - MAX_LOOKUPS)
