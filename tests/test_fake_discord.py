"""Self-test of tests.fakes.discord: the real discord.py client against the fake."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands

from tests.fakes.discord import (
    APPLICATION_ID,
    FakeDiscord,
    component_interaction,
    make_user,
    message_command_interaction,
    reaction_add,
    running_client,
    slash_command_interaction,
)

GUILD_ID = 1300000000000000001
CHANNEL_ID = 1300000000000000002
OTHER_CHANNEL_ID = 1300000000000000003
ALICE = make_user(1300000000000000010, "alice")
TOKEN = "fake-bot-token"
# on_ready fires guild_ready_timeout seconds after the last GUILD_CREATE (default 2 s).
READY_TIMEOUT = 0.1


@pytest.fixture
def fake() -> Iterator[FakeDiscord]:
    guilds = [
        {
            "guild_id": GUILD_ID,
            "name": "Coop HQ",
            "channels": [
                {"id": CHANNEL_ID, "name": "general"},
                {"id": OTHER_CHANNEL_ID, "name": "plans", "topic": "what next"},
            ],
            "members": [ALICE],
        }
    ]
    with FakeDiscord(guilds=guilds, token=TOKEN) as fake, fake.point_discord_here():
        yield fake
        assert fake.errors == []  # no exception inside the fake's handlers


def stored(fake: FakeDiscord, channel_id: int, message_id: int) -> dict[str, Any]:
    message = fake.get_message(channel_id, message_id)
    assert message is not None, f"message {message_id} not in the fake's store"
    return message


def new_client() -> discord.Client:
    return discord.Client(intents=discord.Intents.default(), guild_ready_timeout=READY_TIMEOUT)


def run(scenario: Callable[[], Awaitable[None]], timeout: float = 10.0) -> None:
    async def bounded() -> None:
        await asyncio.wait_for(scenario(), timeout)

    asyncio.run(bounded())


def test_point_discord_here_restores_originals() -> None:
    base = discord.http.Route.BASE
    gateway = discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
    with FakeDiscord(guilds=[]) as fake:
        with fake.point_discord_here():
            assert fake.rest_base == discord.http.Route.BASE
            assert fake.gateway_url == discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY
            assert fake.rest_base.startswith("http://127.0.0.1:")
        assert base == discord.http.Route.BASE
        assert gateway == discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY


def test_unknown_route_is_recorded_404_and_wait_for_times_out(fake: FakeDiscord) -> None:
    request = urllib.request.Request(
        fake.rest_base + "/nope/123?x=1",
        data=json.dumps({"a": 1}).encode(),
        method="POST",
        headers={"Content-Type": "application/json", "Authorization": f"Bot {TOKEN}"},
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(request, timeout=5)
    assert info.value.code == 404
    assert info.value.headers["Content-Type"] == "application/json"
    assert json.loads(info.value.read()) == {"message": "404: Not Found", "code": 0}
    [call] = fake.wait_for("POST", r"/nope/\d+")
    assert (call.status, call.json, call.query) == (404, {"a": 1}, {"x": "1"})
    with pytest.raises(AssertionError, match=r"POST /nope/123 -> 404"):
        fake.wait_for("GET", r"/never", timeout=0.1)


def test_login_ready_send_and_raw_reaction(fake: FakeDiscord) -> None:
    async def scenario() -> None:
        client = new_client()
        reactions: asyncio.Queue[discord.RawReactionActionEvent] = asyncio.Queue()

        @client.event
        async def on_raw_reaction_add(payload: discord.RawReactionActionEvent) -> None:
            reactions.put_nowait(payload)

        async with running_client(client, TOKEN):
            identify = await fake.wait_for_identify_async()
            assert identify["token"] == TOKEN
            assert identify["intents"] == discord.Intents.default().value
            assert client.user is not None and client.user.id == APPLICATION_ID
            assert client.application_id == APPLICATION_ID
            # GUILD_CREATE was parsed: guild, channels, members and roles are cached.
            guild = client.get_guild(GUILD_ID)
            assert guild is not None and guild.name == "Coop HQ" and not guild.unavailable
            plans = guild.get_channel(OTHER_CHANNEL_ID)
            assert isinstance(plans, discord.TextChannel) and plans.topic == "what next"
            # without the members intent discord.py caches only the bot's own member
            assert guild.member_count == 2 and guild.get_member(int(ALICE["id"])) is None
            assert guild.me.guild_permissions.send_messages

            channel = guild.get_channel(CHANNEL_ID)
            assert isinstance(channel, discord.TextChannel)
            sent = await channel.send("hello coop")
            [call] = await fake.await_for("POST", rf"/channels/{CHANNEL_ID}/messages")
            assert call.json["content"] == "hello coop"
            assert call.headers["Authorization"] == f"Bot {TOKEN}"
            assert call.response["id"] == str(sent.id)
            assert sent.author.id == APPLICATION_ID and sent.content == "hello coop"
            assert stored(fake, CHANNEL_ID, sent.id)["content"] == "hello coop"

            event = reaction_add(int(ALICE["id"]), CHANNEL_ID, sent.id, GUILD_ID, "✋")
            seq = await fake.dispatch_async("MESSAGE_REACTION_ADD", event)
            got = await asyncio.wait_for(reactions.get(), 5)
            assert got.emoji.name == "✋" and got.emoji.id is None
            assert (got.message_id, got.channel_id, got.user_id) == (
                sent.id,
                CHANNEL_ID,
                int(ALICE["id"]),
            )
            assert got.member is not None and got.member.id == int(ALICE["id"])
            assert seq == fake.last_seq and seq > 1 + 1  # READY + GUILD_CREATE came first
            assert client.ws is not None and client.ws.sequence == seq

            await sent.add_reaction("✅")
            await fake.await_for(
                "PUT", rf"/channels/{CHANNEL_ID}/messages/{sent.id}/reactions/✅/@me"
            )
            names = {r["emoji"]["name"] for r in stored(fake, CHANNEL_ID, sent.id)["reactions"]}
            assert names == {"✋", "✅"}

    run(scenario)


def test_slash_subcommand_ephemeral_reply_and_followup(fake: FakeDiscord) -> None:
    seen: dict[str, Any] = {}

    async def scenario() -> None:
        client = new_client()
        tree = app_commands.CommandTree(client)
        coop = app_commands.Group(name="coop", description="Cooperative actions")

        @coop.command(name="add", description="Add a task")
        async def add(interaction: discord.Interaction, title: str, count: int) -> None:
            seen.update(title=title, count=count, user=interaction.user.id)
            await interaction.response.send_message(f"Added {title} x{count}", ephemeral=True)
            await interaction.followup.send("and a follow-up", wait=True)

        tree.add_command(coop)

        async with running_client(client, TOKEN):
            synced = await tree.sync()
            assert [c.name for c in synced] == ["coop"]
            [stored] = fake.commands()
            assert stored["options"][0]["name"] == "add" and stored["options"][0]["type"] == 1

            payload = slash_command_interaction(
                GUILD_ID, CHANNEL_ID, ALICE, "coop", "add", {"title": "Lunch", "count": 3}
            )
            await fake.dispatch_async("INTERACTION_CREATE", payload)
            callback = rf"/interactions/{payload['id']}/{payload['token']}/callback"
            [call] = await fake.await_for("POST", callback)
            assert call.json["type"] == 4
            assert call.json["data"]["flags"] == 64
            assert call.json["data"]["content"] == "Added Lunch x3"
            assert call.status == 200
            followup = rf"/webhooks/{APPLICATION_ID}/{payload['token']}"
            [post] = await fake.await_for("POST", followup)
            assert post.status == 200 and post.json["content"] == "and a follow-up"
            original = fake.original_response(payload["token"])
            assert original is not None and original["flags"] == 64
            # ephemeral replies are not channel messages; the follow-up is
            channel_texts = [m["content"] for m in fake.messages(CHANNEL_ID)]
            assert channel_texts == ["and a follow-up"]

    run(scenario)
    assert seen == {"title": "Lunch", "count": 3, "user": int(ALICE["id"])}
    assert isinstance(seen["count"], int)


def test_late_interaction_response_is_unknown_interaction(fake: FakeDiscord) -> None:
    outcome: asyncio.Queue[BaseException | None] = asyncio.Queue()

    async def scenario() -> None:
        client = new_client()
        tree = app_commands.CommandTree(client)

        @tree.command(name="slow", description="Answers too late")
        async def slow(interaction: discord.Interaction) -> None:
            try:
                await interaction.response.send_message("finally")
            except discord.NotFound as exc:
                outcome.put_nowait(exc)
            else:
                outcome.put_nowait(None)

        fake.interaction_deadline = 0.0  # every answer is "too late"
        async with running_client(client, TOKEN):
            payload = slash_command_interaction(GUILD_ID, CHANNEL_ID, ALICE, "slow")
            await fake.dispatch_async("INTERACTION_CREATE", payload)
            error = await asyncio.wait_for(outcome.get(), 5)
            assert isinstance(error, discord.NotFound) and error.code == 10062
            [call] = fake.calls_to("POST", rf"/interactions/{payload['id']}/.+/callback")
            assert call.status == 404

    run(scenario)


def test_context_menu_defer_edit_and_double_ack(fake: FakeDiscord) -> None:
    async def scenario() -> None:
        client = new_client()
        tree = app_commands.CommandTree(client)

        @tree.context_menu(name="Track this")
        async def track(interaction: discord.Interaction, message: discord.Message) -> None:
            await interaction.response.defer(ephemeral=True)
            await interaction.edit_original_response(content=f"tracking {message.content}")

        async with running_client(client, TOKEN):
            mid = fake.add_message(CHANNEL_ID, "buy milk", int(ALICE["id"]))
            target = stored(fake, CHANNEL_ID, mid)
            payload = message_command_interaction(GUILD_ID, CHANNEL_ID, ALICE, "Track this", target)
            await fake.dispatch_async("INTERACTION_CREATE", payload)
            token = payload["token"]
            [defer] = await fake.await_for("POST", rf"/interactions/\d+/{token}/callback")
            assert defer.json == {"type": 5, "data": {"flags": 64}}
            await fake.await_for("PATCH", rf"/webhooks/{APPLICATION_ID}/{token}/messages/@original")
            original = fake.original_response(token)
            assert original is not None and original["content"] == "tracking buy milk"
            assert original["flags"] == 64  # still ephemeral, no longer loading (128)

            # Discord refuses a second initial response (discord.py guards this itself, so
            # post it directly).
            url = f"{fake.rest_base}/interactions/{payload['id']}/{token}/callback"
            again = {"type": 4, "data": {"content": "again"}}
            async with aiohttp.ClientSession() as http, http.post(url, json=again) as resp:
                assert resp.status == 400
                assert (await resp.json())["code"] == 40060

    run(scenario)


def test_button_click_updates_message(fake: FakeDiscord) -> None:
    async def scenario() -> None:
        client = new_client()
        clicked: asyncio.Queue[int] = asyncio.Queue()

        class Join(discord.ui.View):
            def __init__(self) -> None:
                super().__init__(timeout=None)

            @discord.ui.button(label="Join", custom_id="coop:join")
            async def join(
                self, interaction: discord.Interaction, _b: discord.ui.Button[Join]
            ) -> None:
                await interaction.response.edit_message(content="Joined: alice", view=None)
                clicked.put_nowait(interaction.user.id)

        async with running_client(client, TOKEN):
            channel = client.get_channel(CHANNEL_ID)
            assert isinstance(channel, discord.TextChannel)
            sent = await channel.send("Who's in?", view=Join())
            message = stored(fake, CHANNEL_ID, sent.id)
            assert message["components"][0]["components"][0]["custom_id"] == "coop:join"

            click = component_interaction(GUILD_ID, CHANNEL_ID, ALICE, "coop:join", message)
            await fake.dispatch_async("INTERACTION_CREATE", click)
            assert await asyncio.wait_for(clicked.get(), 5) == int(ALICE["id"])
            [call] = await fake.await_for("POST", rf"/interactions/\d+/{click['token']}/callback")
            assert call.json["type"] == 7
            updated = stored(fake, CHANNEL_ID, sent.id)
            assert updated["content"] == "Joined: alice" and updated["components"] == []

    run(scenario)


def test_rate_limited_edit_is_retried(fake: FakeDiscord) -> None:
    async def scenario() -> None:
        client = new_client()
        async with running_client(client, TOKEN):
            mid = fake.add_message(CHANNEL_ID, "draft", APPLICATION_ID)
            channel = client.get_channel(CHANNEL_ID)
            assert isinstance(channel, discord.TextChannel)
            message = await channel.fetch_message(mid)
            assert message.content == "draft" and message.author.id == APPLICATION_ID

            path = rf"/channels/{CHANNEL_ID}/messages/{mid}"
            fake.rate_limit_next("PATCH", path, retry_after=0.3)
            edited = await message.edit(content="final")
            assert edited.content == "final" and edited.edited_at is not None

            calls = fake.calls_to("PATCH", path)
            assert [c.status for c in calls] == [429, 200]
            assert calls[0].response["retry_after"] == 0.3
            assert calls[1].time - calls[0].time >= 0.29  # discord.py honoured retry_after
            assert [c.json["content"] for c in calls] == ["final", "final"]
            assert stored(fake, CHANNEL_ID, mid)["content"] == "final"

            # editing someone else's message is refused, as on Discord
            other = fake.add_message(CHANNEL_ID, "alice's", int(ALICE["id"]))
            with pytest.raises(discord.Forbidden):
                await channel.get_partial_message(other).edit(content="hijack")

    run(scenario)


def test_gateway_close_leads_to_resume(fake: FakeDiscord) -> None:
    async def scenario() -> None:
        client = new_client()
        resumed = asyncio.Event()
        reactions: asyncio.Queue[discord.RawReactionActionEvent] = asyncio.Queue()

        @client.event
        async def on_resumed() -> None:
            resumed.set()

        @client.event
        async def on_raw_reaction_add(payload: discord.RawReactionActionEvent) -> None:
            reactions.put_nowait(payload)

        async with running_client(client, TOKEN):
            session, seq = fake.session_id, fake.last_seq
            await fake.close_gateway_async(4000)
            resume = await fake.wait_for_resume_async()
            assert resume == {"token": TOKEN, "session_id": session, "seq": seq}
            await asyncio.wait_for(resumed.wait(), 5)
            assert len(fake.identifies) == 1  # resumed, did not re-identify
            assert fake.gateway_connections[-1]["path"] == "/gateway/resume"
            first = fake.gateway_connections[0]
            assert (first["close_code"], first["closed_by"]) == (4000, "fake")

            event = reaction_add(int(ALICE["id"]), CHANNEL_ID, 42, GUILD_ID, "thumbsup", 77)
            await fake.dispatch_async("MESSAGE_REACTION_ADD", event)
            got = await asyncio.wait_for(reactions.get(), 5)
            assert (got.emoji.name, got.emoji.id, got.message_id) == ("thumbsup", 77, 42)

    run(scenario)


def subcommand(name: str, *options: dict[str, Any]) -> dict[str, Any]:
    return {"type": 1, "name": name, "description": f"{name} it", "options": list(options)}


def text_option(name: str, required: bool, description: str = "some text") -> dict[str, Any]:
    return {"type": 3, "name": name, "description": description, "required": required}


def choices(count: int) -> dict[str, Any]:
    return {"choices": [{"name": f"c{i}", "value": f"c{i}"} for i in range(count)]}


# The rule each breaks (as the fake names it) -> the subcommands of /coop breaking it.
BROKEN_COMMANDS: dict[str, list[dict[str, Any]]] = {
    "1-100 character description": [subcommand("add", text_option("t", True, "x" * 101))],
    "required options must be placed before optional ones": [
        subcommand("add", text_option("a", False), text_option("b", True))
    ],
    "more than 25 options": [subcommand(f"s{i}") for i in range(26)],
    "bad option name": [subcommand("add", text_option("Title", True))],
    "subcommands cannot sit beside other options": [subcommand("add"), text_option("t", True)],
    "a subcommand none": [subcommand("add", subcommand("more"))],
    "option names must be unique": [
        subcommand("add", text_option("t", True), text_option("t", False))
    ],
    "more than 25 choices": [subcommand("add", text_option("t", True) | choices(26))],
    "autocomplete cannot have choices": [
        subcommand("add", text_option("t", True) | choices(2) | {"autocomplete": True})
    ],
}


@pytest.mark.parametrize("rule", list(BROKEN_COMMANDS))
def test_commands_breaking_discords_rules_are_refused(fake: FakeDiscord, rule: str) -> None:
    def command(options: list[dict[str, Any]]) -> dict[str, Any]:
        return {"type": 1, "name": "coop", "description": "Cooperative actions", "options": options}

    async def scenario() -> None:
        client = new_client()
        async with running_client(client, TOKEN):
            # Right at the limits: 25 subcommands, each with required before optional options.
            fine = [subcommand(f"s{i}", text_option("a", True), text_option("b", False))
                    for i in range(25)]  # fmt: skip
            await client.http.bulk_upsert_guild_commands(APPLICATION_ID, GUILD_ID, [command(fine)])
            with pytest.raises(discord.HTTPException) as refused:
                await client.http.bulk_upsert_guild_commands(
                    APPLICATION_ID, GUILD_ID, [command(BROKEN_COMMANDS[rule])]
                )
            assert (refused.value.status, refused.value.code) == (400, 50035)
            assert rule in refused.value.text

    run(scenario)
    [kept] = fake.commands(GUILD_ID)  # the valid one stays registered
    assert len(kept["options"]) == 25


def test_a_button_pressed_in_a_dm_arrives_as_discord_sends_it(fake: FakeDiscord) -> None:
    async def scenario() -> None:
        client = new_client()
        pressed: asyncio.Queue[discord.Interaction] = asyncio.Queue()

        @client.event
        async def on_interaction(interaction: discord.Interaction) -> None:
            await interaction.response.defer()
            pressed.put_nowait(interaction)

        async with running_client(client, TOKEN):
            user = await client.fetch_user(int(ALICE["id"]))
            view = discord.ui.View(timeout=None)
            view.add_item(discord.ui.Button(label="Snooze", custom_id="snooze:1"))
            sent = await user.send("Water the plants", view=view)
            dm = fake.dm_channel_id(int(ALICE["id"]))
            assert dm == sent.channel.id
            message = stored(fake, dm, sent.id)
            click = component_interaction(None, dm, ALICE, "snooze:1", message)
            await fake.dispatch_async("INTERACTION_CREATE", click)
            interaction = await asyncio.wait_for(pressed.get(), 5)
            assert interaction.guild_id is None and interaction.guild is None
            assert isinstance(interaction.channel, discord.DMChannel)
            assert interaction.channel.id == dm and interaction.user.id == int(ALICE["id"])
            assert interaction.message is not None and interaction.message.id == sent.id
            assert interaction.data == {"custom_id": "snooze:1", "component_type": 2}
            [ack] = await fake.await_for("POST", rf"/interactions/{click['id']}/.+/callback")
            assert ack.json["type"] == 6 and ack.status == 200

    run(scenario)


def test_a_nonce_or_custom_id_over_discords_limits_is_refused(fake: FakeDiscord) -> None:
    async def scenario() -> None:
        client = new_client()
        async with running_client(client, TOKEN):
            channel = client.get_partial_messageable(CHANNEL_ID)

            def button(custom_id: str) -> discord.ui.View:
                view = discord.ui.View()
                view.add_item(discord.ui.Button(label="Go", custom_id=custom_id))
                return view

            for nonce, custom_id in (("n" * 26, "c"), ("n", "c" * 101)):
                with pytest.raises(discord.HTTPException) as refused:
                    await channel.send("hello", nonce=nonce, view=button(custom_id))
                assert (refused.value.status, refused.value.code) == (400, 50035)
            await channel.send("hello", nonce="n" * 25, view=button("c" * 100))  # at the limits

    run(scenario)
    assert [m["content"] for m in fake.messages(CHANNEL_ID)] == ["hello"]
