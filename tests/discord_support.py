"""Running the real Discord adapter against tests.fakes.discord: a guild of six people, a core
on a SQLite file with a manual clock, and helpers that wait for results instead of sleeping."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import replace
from typing import Any

from adapters.discord import CoopBot
from adapters.discord.client import endpoints
from adapters.discord.refs import PLATFORM
from bot import pacing
from bot.clock import ManualClock
from bot.config import DiscordSettings, Settings
from bot.core import Core
from bot.events import Event, Inbound
from bot.queues import InboxEntry
from bot.wiring import build_core
from storage.uow import SqlUnitOfWork
from tests.fakes.discord import (
    FakeDiscord,
    component_interaction,
    make_user,
    member_payload,
    message_command_interaction,
    reaction_add,
    reaction_remove,
    running_client,
    slash_command_interaction,
)
from tests.harness import START

TOKEN = "fake-discord-token"
GUILD_ID = 1400000000000000001
CHANNEL_ID = 1400000000000000002
OTHER_CHANNEL_ID = 1400000000000000003
NAMES = ("alice", "bob", "carol", "dave", "erin", "frank")
USERS = {name: make_user(1400000000000000010 + i, name) for i, name in enumerate(NAMES)}
ID = {name: int(user["id"]) for name, user in USERS.items()}
NAME = {str(uid): name for name, uid in ID.items()}


def new_fake(channel: dict[str, Any] | None = None, **options: Any) -> FakeDiscord:
    """The fake with one guild: #general (`channel` overrides its fields), #random and six
    people."""
    guild = {
        "guild_id": GUILD_ID,
        "name": "Meetup Crew",
        "channels": [
            {"id": CHANNEL_ID, "name": "general", **(channel or {})},
            {"id": OTHER_CHANNEL_ID, "name": "random"},
        ],
        "members": list(USERS.values()),
        "owner_id": ID["alice"],
    }
    return FakeDiscord(guilds=[guild], token=TOKEN, **options)


def new_core(database_url: str, fake: FakeDiscord, **discord: Any) -> Core:
    """A core whose Discord settings point at `fake` (the way an operator sets them)."""
    settings = Settings(
        database_url=database_url,
        discord=DiscordSettings(
            api_base_url=fake.rest_base,
            gateway_url=str(fake.gateway_url),
            **({"guild_ids": [GUILD_ID]} | discord),
        ),
    )
    return build_core(settings, clock=ManualClock(START))


class Handled:
    """Records each event the core applied, so tests can await them and what they said."""

    def __init__(self, core: Core) -> None:
        self.core = core
        self.events: list[Event] = []
        self._changed = asyncio.Condition()
        original = core.coop.apply

        async def apply(entry: InboxEntry, owner: str) -> bool:
            applied = await original(entry, owner)
            async with self._changed:
                self.events.append(entry.inbound.event)
                self._changed.notify_all()
            return applied

        core.coop.apply = apply  # type: ignore[method-assign]

    async def wait(self, count: int, timeout: float = 10.0) -> list[Event]:
        """Wait until `count` events in all were applied and everything they said was sent."""
        async with self._changed:
            await asyncio.wait_for(
                self._changed.wait_for(lambda: len(self.events) >= count), timeout
            )
        await asyncio.wait_for(self.core.idle(), timeout)
        return list(self.events)


class Received:
    """Keeps what the adapter hands to the core's inbox, instead of recording and applying it:
    for tests of the translation alone."""

    def __init__(self, core: Core) -> None:
        self.inbound: list[Inbound] = []

        async def receive(inbound: Inbound) -> None:
            self.inbound.append(inbound)

        core.inbox.receive = receive  # type: ignore[method-assign]

    @property
    def events(self) -> list[Event]:
        return [i.event for i in self.inbound]


@contextlib.asynccontextmanager
async def running_bot(core: Core, edit_interval: float = 0.0) -> AsyncIterator[CoopBot]:
    """The adapter's bot, started against the fake its settings name, ready on exit, with
    the core applying and delivering behind it. Card edits are not paced unless asked for."""
    with endpoints(core.settings.discord):
        bot = CoopBot(core, guild_ready_timeout=0.1)
        core.attach(PLATFORM, bot.chat, replace(pacing.DISCORD, edit_interval=edit_interval))
        async with running_client(bot, TOKEN), core.running():
            yield bot


def run(scenario: Callable[[], Awaitable[None]], timeout: float = 30.0) -> None:
    async def bounded() -> None:
        await asyncio.wait_for(scenario(), timeout)

    asyncio.run(bounded())


# --- payloads ------------------------------------------------------------------------------


def slash(who: str, subcommand: str, *, where: int = CHANNEL_ID, **options: Any) -> dict[str, Any]:
    """`/coop <subcommand>` typed by `who` in channel `where` (#general by default)."""
    return slash_command_interaction(
        GUILD_ID, where, USERS[who], "coop", subcommand, options, command_guild_id=GUILD_ID
    )


def as_admin(payload: dict[str, Any]) -> dict[str, Any]:
    """The same interaction from someone with the Manage Server permission."""
    payload["member"]["permissions"] = str(1 << 5)
    return payload


def menu(who: str, target: dict[str, Any], name: str = "Track as task") -> dict[str, Any]:
    """The message context menu `name` used by `who` on `target`."""
    return message_command_interaction(
        GUILD_ID, CHANNEL_ID, USERS[who], name, target, command_guild_id=GUILD_ID
    )


def modal_submit(
    who: str,
    guild_id: int | None,
    channel_id: int,
    modal: dict[str, Any],
    values: Mapping[str, str],
) -> dict[str, Any]:
    """The interaction Discord sends when `who` fills in a modal the bot opened (`modal` is the
    data of its callback), each text input given its value by label; the rest left empty."""
    inputs = [c for row in modal["components"] for c in row.get("components", [row])]
    fields = {c["label"]: c["custom_id"] for c in inputs if c.get("type") == 4}
    assert set(values) <= set(fields), f"the modal has {sorted(fields)}"
    payload = component_interaction(guild_id, channel_id, USERS[who], modal["custom_id"], {})
    payload["type"] = 5
    payload["data"] = {
        "custom_id": modal["custom_id"],
        "components": [
            {
                "type": 1,
                "components": [{"type": 4, "custom_id": custom_id, "value": values.get(label, "")}],
            }
            for label, custom_id in fields.items()
        ],
    }
    del payload["message"]
    return payload


def press(who: str, button: str, number: int, card: dict[str, Any]) -> dict[str, Any]:
    return component_interaction(
        GUILD_ID, CHANNEL_ID, USERS[who], f"coop:{button}:{GUILD_ID}:{number}", card
    )


def react(who: str, message_id: int, emoji: str) -> dict[str, Any]:
    member = member_payload(USERS[who])
    return reaction_add(ID[who], CHANNEL_ID, message_id, GUILD_ID, emoji, member=member)


def unreact(who: str, message_id: int, emoji: str) -> dict[str, Any]:
    return reaction_remove(ID[who], CHANNEL_ID, message_id, GUILD_ID, emoji)


async def interact(fake: FakeDiscord, payload: dict[str, Any]) -> None:
    """Dispatch an interaction and wait for its initial response."""
    await fake.dispatch_async("INTERACTION_CREATE", payload)
    await fake.await_for("POST", rf"/interactions/{payload['id']}/[^/]+/callback")


# --- reading the results -------------------------------------------------------------------


def statuses(core: Core, number: int) -> dict[str, str]:
    """name -> commitment status on action `number` of the test guild."""
    from adapters.discord.refs import community_ref

    with SqlUnitOfWork(core.engine) as uow:
        community = uow.community(community_ref(GUILD_ID))
        action = uow.get_action(community.id, number)
        assert action is not None, f"no action #{number}"
        uow.load_people([action], withdrawn=True)
        return {NAME[c.member.external_id]: c.status.value for c in action.commitments}


def action_of(core: Core, number: int) -> Any:
    from adapters.discord.refs import community_ref

    with SqlUnitOfWork(core.engine) as uow:
        community = uow.community(community_ref(GUILD_ID))
        action = uow.get_action(community.id, number)
        assert action is not None, f"no action #{number}"
        uow.load_people([action], withdrawn=True)
        return action


def card_messages(fake: FakeDiscord) -> list[dict[str, Any]]:
    """The bot's messages in the channel that carry an embed (task cards), by card number.

    By number, not by posting order: each card has a delivery lane of its own, so two cards
    made back to back may reach the channel in either order.
    """
    cards = [
        m
        for m in fake.messages(CHANNEL_ID)
        if m["author"]["id"] == str(fake.application_id) and m["embeds"]
    ]
    return sorted(cards, key=card_number)


def card_number(message: dict[str, Any]) -> int:
    """The action number in a card's embed title ("#12 Paint the shed" -> 12)."""
    found = re.match(r"#(\d+) ", message["embeds"][0].get("title") or "")
    return int(found.group(1)) if found else 0


def answer_path(payload: dict[str, Any]) -> str:
    """Where the first private answer to a command goes: it replaces the "thinking..."."""
    return rf"/webhooks/\d+/{payload['token']}/messages/@original"


def followup_texts(fake: FakeDiscord, payload: dict[str, Any]) -> list[str]:
    """What an interaction said privately: its original response and follow-ups."""
    original = fake.original_response(payload["token"])
    texts = [original["content"]] if original and original["content"] else []
    return texts + [m["content"] for m in fake.followups(payload["token"])]
