"""Fuzzing the Discord adapter (issue 11): Hypothesis-generated gateway events delivered by the
fake Discord (tests/fakes/discord.py) to the real discord.py client and the bot's cog, in front
of a real core on SQLite with a manual clock.

Each case is one INTERACTION_CREATE or reaction event: `/coop` subcommands with random options
(right and wrong option types, out-of-range numbers, huge and hostile strings, options that do
not exist), the "Track as task" menu on messages of any text, the pledge-drive form filled in
anyhow, buttons with known and unknown custom_ids on cards, messages and nothing, and
reactions (the bot's emoji and others, custom emoji) added and removed by members and
strangers in random order. Each example is a guild of its own (a fresh community: its own
numbers, its own store), joined over the gateway, on one long-running bot.

After each case, once the client and the core are quiet: nothing is logged at ERROR, the
apology is never sent, the store keeps its rules (tests.fuzz_support.check_store), the sender
got at most one private answer, an interaction was acknowledged at most once, and a well-formed
`/coop` command changed the store or was answered. Each example ends with a plain `/coop help`,
which must still be answered (the client has not crashed).

COOPBOT_FUZZ_CASES sets how many events in all (default 2,000, CI's run, the same each time); by
hand, with new ones, COOPBOT_FUZZ_RANDOM=1 as well, e.g.
`COOPBOT_FUZZ_RANDOM=1 COOPBOT_FUZZ_CASES=20000 python -m pytest tests/test_fuzz_discord.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import re
import threading
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.discord import CoopBot
from bot.grammar import GRAMMAR, Param, ParamKind
from tests.discord_support import (
    ID,
    USERS,
    modal_submit,
    new_core,
    new_fake,
    running_bot,
)
from tests.fakes.discord import (
    FakeDiscord,
    component_interaction,
    make_user,
    member_payload,
    message_command_interaction,
    message_payload,
    reaction_add,
    reaction_remove,
    slash_command_interaction,
    snowflake,
)
from tests.fuzz_support import (
    SETUP,
    WEIGHTS,
    WORDS,
    Answers,
    any_text,
    check_outcome,
    check_store,
    choose,
    command_text,
    error_log,
    fresh_copy,
    fuzz_settings,
    hostile_text,
    one_in,
    option_value,
    positional_value,
    quick,
    read_store,
    reader,
    template_database,
)

T = TypeVar("T")
EVENTS = 25  # events per example: one guild, twenty-five cases
NAMES = ["alice", "bob", "carol", "dave", "erin", "frank"]
ADMIN = str(1 << 5)  # Manage Server
BUTTONS = ["join", "leave", "done", "maybe", "snooze_15m", "snooze_1h", "snooze_tomorrow"]
BUTTONS += ["confirm", "confirm_no", "handoff_yes", "handoff_no", "checkin_done"]
BUTTONS += ["checkin_done", "checkin_not", "pledge_did", "pledge_didnt", "frob"]
EMOJI = ["📌", "✋", "✅", "✋🏽", "✅\ufe0f", "👍", "🙋", "raised_hand", "x", "📌📌"]
# Work the client does for an event, by task name (discord.py 2.x names them so).
HANDLERS = ("CommandTree-invoker", "discord-ui-", "discord.py: on_")
WEIGHTED = [s for s in GRAMMAR for _ in range(WEIGHTS.get(s.name, 1))]


class Background:
    """An event loop in a thread of its own, for a bot that outlives each example: the
    examples (and Hypothesis' drawing) run in the test's thread and hand it coroutines."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def run(self, work: Coroutine[Any, Any, T], timeout: float = 60.0) -> T:
        return asyncio.run_coroutine_threadsafe(work, self.loop).result(timeout)

    def close(self) -> None:
        """Stop the loop, once what is left on it (forms' 15-minute timeouts) is cancelled."""
        self.run(_cancel_the_rest())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


async def _cancel_the_rest() -> None:
    rest = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    for task in rest:
        task.cancel()
    await asyncio.gather(*rest, return_exceptions=True)


@dataclass
class Rig:
    fake: FakeDiscord
    bot: CoopBot
    core: Any
    store: Any
    answers: Answers
    run: Callable[..., Any]


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    directory = tmp_path_factory.mktemp("fuzz-discord")
    url = f"sqlite:///{fresh_copy(template_database(directory), directory / 'store')}"
    background = Background()
    # No 3-second deadline for answering: a loaded machine must not fail a test of input.
    with new_fake(interaction_deadline=None) as fake:
        core = new_core(url, fake)
        quick(core.engine)
        core.engine.dispose()  # the connection that migrated, made before `quick`
        store = reader(url)
        stack = contextlib.AsyncExitStack()
        bot = background.run(stack.enter_async_context(running_bot(core)))
        try:
            yield Rig(fake, bot, core, store, Answers(bot.chat), background.run)
        finally:
            background.run(stack.aclose())
            core.engine.dispose()
            store.dispose()
    background.close()


# --- a guild of its own ----------------------------------------------------------------------


@dataclass
class Guild:
    id: int
    channels: list[int]
    messages: list[dict[str, Any]] = field(default_factory=list)  # the bot's and people's


async def join_guild(rig: Rig) -> Guild:
    """A new guild with two channels and the six people, as it joins over the gateway."""
    guild = Guild(snowflake(), [snowflake(), snowflake()])
    rig.fake.add_guild(
        guild.id,
        "Fuzz Crew",
        channels=[
            {"id": guild.channels[0], "name": "general"},
            {"id": guild.channels[1], "name": "random"},
        ],
        members=list(USERS.values()),
        owner_id=ID["alice"],
    )
    joined = asyncio.ensure_future(
        rig.bot.wait_for("guild_join", check=lambda g: g.id == guild.id, timeout=10)
    )
    created = rig.fake.guild_create_payload(guild.id)
    del created["unavailable"]  # a guild joined, not one coming back
    await rig.fake.dispatch_async("GUILD_CREATE", created)
    await joined
    return guild


def refresh(rig: Rig, guild: Guild) -> None:
    """The bot's cards and the people's messages in this guild so far."""
    guild.messages = [m for channel in guild.channels for m in rig.fake.messages(channel)]


# --- events ----------------------------------------------------------------------------------


@dataclass
class Event:
    """One gateway dispatch and what to expect of it."""

    kind: str
    name: str  # INTERACTION_CREATE, MESSAGE_REACTION_ADD or MESSAGE_REACTION_REMOVE
    payload: dict[str, Any]
    actor: str
    well_formed: bool = False  # a /coop command Discord could send as it is

    @property
    def interaction(self) -> str | None:
        return str(self.payload["id"]) if self.name == "INTERACTION_CREATE" else None


STRANGER = st.integers(1, 2**63 - 1)
WRONG_TYPE = st.one_of(
    st.tuples(st.just(4), st.integers()),
    st.tuples(st.just(3), any_text(20)),
    st.tuples(st.just(10), st.floats(allow_nan=False, allow_infinity=False)),
    st.tuples(st.just(5), st.booleans()),
    st.tuples(st.sampled_from([6, 7, 8, 9]), st.integers(1, 2**63 - 1)),
)
SUBS = [s.name for s in GRAMMAR]
UNKNOWN_OPTION = hostile_text(10)
MESSAGE_TEXT = st.one_of(st.sampled_from(WORDS), any_text(60))
CUSTOM_EMOJI = 1400000000000000099


@functools.cache
def right_type(spec_name: str, param: Param) -> st.SearchStrategy[tuple[int, Any]]:
    """(type, value) of an option as the registered command has it."""
    if param.kind in (ParamKind.ACTION_ID, ParamKind.INTEGER):
        top = 999_999_999 if param.kind is ParamKind.ACTION_ID else (param.max_value or 10)
        low = 1 if param.kind is ParamKind.ACTION_ID else (param.min_value or 1)
        return st.tuples(
            st.just(4), st.one_of(st.integers(low, min(top, 5)), st.integers(low, top))
        )
    if param.kind is ParamKind.COMMAND:
        return st.tuples(st.just(3), st.sampled_from(SUBS))
    source = positional_value(spec_name, param) if param.required else option_value(param)
    return st.tuples(st.just(3), source)


def someone(data: st.DataObject) -> dict[str, Any]:
    if not one_in(data, 8):
        return USERS[choose(data, NAMES)]
    return make_user(data.draw(STRANGER), choose(data, ["x", "ü"]))


def typed(data: st.DataObject, spec_name: str, param: Param) -> tuple[tuple[int, Any], bool]:
    """An option's (type, value), and whether Discord would send it so."""
    if one_in(data, 8):
        return data.draw(WRONG_TYPE, label=f"{param.name} (wrong type)"), False
    kind, value = data.draw(right_type(spec_name, param), label=param.name)
    return (kind, value), kind == 4 or (value.strip() != "" and len(value) <= 6000)


def slash_event(data: st.DataObject, guild: Guild) -> Event:
    spec = choose(data, WEIGHTED)
    name, well_formed = spec.name, True
    if one_in(data, 20):  # a subcommand this version does not have
        name, well_formed = choose(data, ["frob", "Task", "", "x" * 40]), False
    options: dict[str, Any] = {}
    params = ([spec.positional] if spec.positional else []) + list(spec.options)
    for param in params:
        # Each option now and then (a join's amount: and if: are for drives only: seldom).
        if param.required or one_in(data, 6 if spec.name == "join" else 3):
            if not param.required or not one_in(data, 16):
                options[param.name], fits = typed(data, spec.name, param)
                well_formed = well_formed and fits
            else:
                well_formed = False
    if one_in(data, 10):  # an option this version does not have
        options[data.draw(UNKNOWN_OPTION)] = data.draw(command_text())
        well_formed = False
    who = someone(data)
    payload = slash_command_interaction(
        guild.id, choose(data, guild.channels), who, "coop", name, options
    )
    if who["id"] == str(ID["frank"]):
        payload["member"]["permissions"] = ADMIN
    if one_in(data, 25):
        payload["data"]["name"], well_formed = "coop-old", False  # a command since removed
    return Event("slash", "INTERACTION_CREATE", payload, who["id"], well_formed)


def message_of(data: st.DataObject, guild: Guild) -> dict[str, Any]:
    """A card or message of this guild, or one the bot never saw."""
    if guild.messages and not one_in(data, 4):
        return choose(data, guild.messages)
    text = data.draw(MESSAGE_TEXT, label="message text")
    return message_payload(choose(data, guild.channels), text, USERS["alice"], guild_id=guild.id)


def custom_ids(message: dict[str, Any]) -> list[str]:
    return [
        c["custom_id"]
        for row in message.get("components") or []
        for c in row.get("components") or []
        if "custom_id" in c
    ]


NUMBER = st.one_of(st.integers(1, 5), st.integers(0, 10**30))
MADE_UP = st.tuples(st.sampled_from(BUTTONS), NUMBER)
ODD_CUSTOM_ID = hostile_text(30).map(lambda t: t[:100] or "x")
FORM_VALUE = st.one_of(st.sampled_from(["3", "friday 5pm", "in 3 days", "", "yes"]), any_text(20))
# Discord sends an emoji's name; the fake reads "name:id" as a custom emoji.
EMOJI_NAME = st.one_of(
    st.sampled_from(EMOJI),
    st.sampled_from(EMOJI),
    hostile_text(8).map(lambda t: "".join(ch for ch in t if ch not in ":<>") or "x"),
)
KINDS = ["slash"] * 8 + ["reaction"] * 5 + ["button"] * 3 + ["menu"] * 2


def button_event(data: st.DataObject, guild: Guild) -> Event:
    """A press of one of a message's own buttons, mostly; else of a button with a made-up
    custom_id, put on the message (discord.py drops a press of a button the message does
    not have) or not."""
    message = message_of(data, guild)
    real = custom_ids(message)
    if real and not one_in(data, 3):
        custom_id = choose(data, real)
    else:
        where = choose(data, [guild.id] * 6 + [1, 10**25])
        roll = choose(data, range(4))
        if roll < 2:
            name, number = data.draw(MADE_UP, label="button")
            custom_id = f"coop:{name}:{where}:{number}"
        elif roll == 2:
            custom_id = f"coop:title:{guild.id}:{message['channel_id']}:{message['id']}"
        else:
            custom_id = data.draw(ODD_CUSTOM_ID)
        if not one_in(data, 4):
            button = {"type": 2, "style": 1, "label": "x", "custom_id": custom_id}
            message = {**message, "components": [{"type": 1, "components": [button]}]}
    who = someone(data)
    in_dm = one_in(data, 6)
    payload = component_interaction(
        None if in_dm else guild.id, int(message["channel_id"]), who, custom_id, message
    )
    return Event("button", "INTERACTION_CREATE", payload, who["id"])


def menu_event(data: st.DataObject, guild: Guild) -> Event:
    target = message_of(data, guild)
    who = someone(data)
    name = choose(data, ["Track as task"] * 3 + ["Start a pledge drive"])
    payload = message_command_interaction(
        guild.id, int(target["channel_id"]), who, name, {**target, "guild_id": str(guild.id)}
    )
    return Event("menu", "INTERACTION_CREATE", payload, who["id"])


def form_event(data: st.DataObject, guild: Guild, modal: dict[str, Any]) -> Event:
    """The form a "Start a pledge drive" menu opened, filled in anyhow, by anyone."""
    who = choose(data, NAMES)
    inputs = [c for row in modal["components"] for c in row.get("components", [row])]
    values = {
        c["label"]: data.draw(FORM_VALUE, label=c["label"]) for c in inputs if c.get("type") == 4
    }
    payload = modal_submit(who, guild.id, guild.channels[0], modal, values)
    return Event("form", "INTERACTION_CREATE", payload, str(ID[who]))


def reaction_event(data: st.DataObject, guild: Guild) -> Event:
    message = message_of(data, guild)
    who = someone(data)
    emoji = data.draw(EMOJI_NAME, label="emoji")
    custom = CUSTOM_EMOJI if one_in(data, 10) else None
    channel, mid = int(message["channel_id"]), int(message["id"])
    if not one_in(data, 4):
        member = member_payload(who)
        payload = reaction_add(int(who["id"]), channel, mid, guild.id, emoji, custom, member)
        return Event("reaction", "MESSAGE_REACTION_ADD", payload, who["id"])
    payload = reaction_remove(int(who["id"]), channel, mid, guild.id, emoji, custom)
    return Event("reaction", "MESSAGE_REACTION_REMOVE", payload, who["id"])


def setup_event(data: st.DataObject, guild: Guild) -> Event:
    """A task as someone means one, for the events that follow."""
    who = USERS[choose(data, NAMES)]
    options: dict[str, Any] = {"title": choose(data, WORDS)}
    if not one_in(data, 3):
        options["need"] = choose(data, [1, 2])
    channel = choose(data, guild.channels)
    payload = slash_command_interaction(guild.id, channel, who, "coop", "task", options)
    return Event("slash", "INTERACTION_CREATE", payload, who["id"], well_formed=True)


def draw_event(data: st.DataObject, guild: Guild, modals: list[dict[str, Any]]) -> Event:
    kind = choose(data, KINDS + (["form"] * 2 if modals else []))
    if kind == "slash":
        return slash_event(data, guild)
    if kind == "reaction":
        return reaction_event(data, guild)
    if kind == "button":
        return button_event(data, guild)
    if kind == "menu":
        return menu_event(data, guild)
    return form_event(data, guild, choose(data, modals))


# --- delivering and waiting ------------------------------------------------------------------


def parsed(event: Event) -> tuple[str, Callable[[Any], bool]]:
    """The client event its parsing raises, to know when discord.py has read it."""
    if event.name == "INTERACTION_CREATE":
        return "interaction", lambda i: str(i.id) == event.payload["id"]
    name = "raw_reaction_add" if event.name == "MESSAGE_REACTION_ADD" else "raw_reaction_remove"
    mid = int(event.payload["message_id"])
    return name, lambda r: r.message_id == mid and r.user_id == int(event.payload["user_id"])


async def quiet(core: Any) -> None:
    """Wait until the client's handlers for what came in are done, and the core has applied
    what they recorded and sent what that said."""
    me = asyncio.current_task()
    while True:
        busy = [
            t
            for t in asyncio.all_tasks()
            if t is not me and not t.done() and t.get_name().startswith(HANDLERS)
        ]
        if busy:
            await asyncio.wait(busy, timeout=10)
        await asyncio.wait_for(core.idle(), 10)
        if not any(t.get_name().startswith(HANDLERS) and not t.done() for t in asyncio.all_tasks()):
            return


async def deliver(rig: Rig, event: Event) -> None:
    name, check = parsed(event)
    read = asyncio.ensure_future(rig.bot.wait_for(name, check=check, timeout=10))
    await rig.fake.dispatch_async(event.name, event.payload)
    await read
    await quiet(rig.core)


def callbacks(calls: list[Any], interaction: str) -> list[Any]:
    """The answers to an interaction among `calls` (the fake's REST calls)."""
    path = re.compile(rf"/interactions/{interaction}/[^/]+/callback")
    return [c for c in calls if c.method == "POST" and path.fullmatch(c.path)]


def opened_modal(callbacks: list[Any]) -> dict[str, Any] | None:
    """The form an interaction was answered with (callback type 9), if it was."""
    for call in callbacks:
        body = call.json if isinstance(call.json, dict) else {}
        if body.get("type") == 9:
            return dict(body["data"])
    return None


@given(data=st.data())
@fuzz_settings(EVENTS)
def test_no_discord_event_breaks_the_bot_or_the_store(rig: Rig, data: st.DataObject) -> None:
    """EVENTS (25) events per example, each one case: CASES (2,000) events in all."""
    guild = rig.run(join_guild(rig))
    community = str(guild.id)
    modals: list[dict[str, Any]] = []
    before = read_store(rig.store, community)
    with error_log() as errors:
        for n in range(1, EVENTS + 1):
            if one_in(data, 6):  # someone posts a message
                text = data.draw(MESSAGE_TEXT, label="message text")
                rig.fake.add_message(choose(data, guild.channels), text, ID[choose(data, NAMES)])
            refresh(rig, guild)
            event = setup_event(data, guild) if n <= SETUP else draw_event(data, guild, modals)
            heard, calls = len(rig.answers.sent), len(rig.fake.calls)
            rig.run(deliver(rig, event))
            what = f"event {n} ({event.kind}): {event.payload.get('data', event.payload)!r}"
            errors.check(what)
            after = read_store(rig.store, community)
            check_store(after, rig.core.clock.now())
            changed, before = after != before, after
            said = rig.answers.since(heard)
            check_outcome(what, changed, said, event.actor, event.well_formed)
            if event.interaction is not None:
                answered = callbacks(rig.fake.calls[calls:], event.interaction)
                assert len(answered) <= 1, what
                if (modal := opened_modal(answered)) is not None:
                    modals.append(modal)
        help_me = slash_command_interaction(
            guild.id, guild.channels[0], USERS["alice"], "coop", "help", {}
        )
        heard = len(rig.answers.sent)
        rig.run(deliver(rig, Event("slash", "INTERACTION_CREATE", help_me, str(ID["alice"]))))
        assert not rig.bot.is_closed(), "the client stopped"
        said = [to for to, _ in rig.answers.since(heard)]
        assert said == [str(ID["alice"])], f"/coop help answered {said}"
        errors.check("a plain /coop help after the fuzzed events")
