"""Fuzzing the Slack adapter in HTTP mode (issue 11): Hypothesis-generated requests posted to
adapters/slack/http.py's server on 127.0.0.1, in front of the real slack-bolt app, a real core
on SQLite with a manual clock, and the fake Slack (tests/fakes/slack.py) behind it.

Each case is one HTTP request: a slash command (text built from the grammar, hostile Unicode,
huge values; fields missing, renamed or of the wrong type), a reaction event (the bot's emoji
and others, by several people, on cards, messages and nothing), a button press (known and
unknown action ids, odd values, unknown messages), a message shortcut, a submitted pledge-drive
form, an App Home visit, a URL check, or a body that is no payload at all (malformed JSON,
deep nesting, bytes, over 1 MiB); signed correctly, or not at all, with the wrong secret, too
old, or with garbage headers. After each: the answer is 200, 400, 401, 404 (Bolt: nothing
here handles it) or 413, never 500, and 401 for anything not signed; nothing is logged at
ERROR; the apology is never sent; the store keeps its rules (tests.fuzz_support.check_store);
a refused request changes nothing and is answered by nobody; the sender gets at most one
private answer, and a well-formed /coop command changes the store or gets one. Each example
ends with a plain `/coop help`, which must still be answered.

COOPBOT_FUZZ_CASES sets how many requests in all (default 2,000, CI's run, the same each time); by
hand, with new ones, COOPBOT_FUZZ_RANDOM=1 as well, e.g.
`COOPBOT_FUZZ_RANDOM=1 COOPBOT_FUZZ_CASES=20000 python -m pytest tests/test_fuzz_slack.py`.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.slack.blocks import DEADLINE, GOAL, SEALED, UNIT, drive_form
from bot.clock import ManualClock
from bot.config import Settings, SlackSettings
from bot.refs import ChannelRef, MessageRef
from bot.wiring import build_core
from tests.fakes.slack import (
    FakeSlack,
    block_actions_payload,
    event_callback_payload,
    message_shortcut_payload,
    reaction_event,
    slash_command_payload,
    view_submission_payload,
)
from tests.fuzz_support import (
    MARKUP,
    SETUP,
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
    quick,
    read_store,
    reader,
    task_text,
    template_database,
    weighted,
)
from tests.harness import START
from tests.slack_support import SIGNING_SECRET, TEAM, HttpDriver, add_people, started

REQUESTS = 25  # requests per example: one bot, twenty-five cases
USERS = ["UA", "UB", "UC", "UD", "UE", "UF"]  # UF is an admin
ODD_USERS = ["", "U" + "9" * 300, "W1", "UBOT", "B1", "u a", "U\x00", "<@UA>", "ü"]
CHANNELS = ["C1", "C2"]
ODD_CHANNELS = ["", "D1", "G1", "C" + "1" * 300, "#general", "C\u200b", "DUA"]
REACTIONS = ["pushpin", "raised_hand", "white_check_mark", "raised_hand::skin-tone-3"]
REACTIONS += ["white_check_mark::skin-tone-6", "thumbsup", "+1", "hand", "pushpin::skin-tone-2"]
BUTTONS = ["join", "leave", "done", "maybe", "snooze_15m", "snooze_1h", "snooze_tomorrow"]
BUTTONS += ["confirm", "confirm_no", "handoff_yes", "handoff_no"]
BUTTONS += ["checkin_done", "checkin_not", "pledge_did", "pledge_didnt"]
ACTION_IDS = [f"coop_{b}" for b in BUTTONS] * 3 + ["coop_frob", "join", "", "coop_join "]
VALUES = ["1", "2", "3", "0", "-1", "²", "①", "٣", "1.5", "", "9" * 40, "99999999999", " 1"]
VALUES += ["9223372036854775807", "9223372036854775808", "18446744073709551616"]  # 64 bits
FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
MAX_BODY = 1024 * 1024
ALLOWED = {200, 400, 401, 404, 413}


@dataclass
class Request:
    """One HTTP request and what it is, to know what to expect of it."""

    kind: str
    body: bytes
    content_type: str
    signing: str = "good"  # good, none (unsigned), wrong (secret), stale, junk (headers)
    user: str | None = None  # who would be answered
    well_formed: bool = False  # a /coop command Slack could send as it is


@contextmanager
def fake_slack() -> Iterator[FakeSlack]:
    """A fake Slack of its own for each example (it starts in milliseconds), so that what
    one example posted is not there in the next."""
    with FakeSlack() as fake:
        add_people(fake)
        fake.set_user("UF", name="frank", real_name="Frank", is_admin=True)
        yield fake


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return template_database(tmp_path_factory.mktemp("fuzz-slack"))


# --- what Slack (or anyone) might post -------------------------------------------------------


TS = st.one_of(
    st.sampled_from(["1700000000.000100", "1.1", "", "abc", "9" * 30, "-1", "1e9"]),
    hostile_text(20),
)
SOMEWHERE = st.tuples(st.sampled_from(CHANNELS), TS)
WRONG = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.just([]),
    st.just({}),
    st.just([1, {"a": None}]),
    any_text(20),
)
RENAMED = hostile_text(10)
SLASH_TEXT = weighted(
    (6, command_text()),
    (1, st.sampled_from(MARKUP).map(lambda m: f"task {m}")),
    (1, any_text(60).map(lambda t: t.replace("&", "&amp;").replace("<", "&lt;"))),
)
REACTION = st.one_of(st.sampled_from(REACTIONS), hostile_text(12))
ACTION = st.one_of(st.sampled_from(ACTION_IDS), hostile_text(12))
VALUE = st.one_of(st.sampled_from(VALUES), st.integers().map(str), hostile_text(8))
MESSAGE_TEXT = st.one_of(st.sampled_from(WORDS), any_text(80))
GOALS = st.one_of(st.sampled_from(["3", "1", "0", "-2", "1e3", ""]), any_text(8))
UNITS = st.one_of(st.sampled_from(["", "hours", "x" * 41]), hostile_text(10))
METADATA = st.one_of(st.sampled_from(["", "{", "[]", "null", '{"ts": 1}']), any_text(20))
FORM_ID = st.integers(0, 10**6)
RAW = st.one_of(
    st.sampled_from(
        [
            b"",
            b"{",
            b"null",
            b'"text"',
            b"[1,2]",
            b"{}",
            b'{"type": "event_callback"}',
            b'{"type": "event_callback", "event": "x"}',
            b'{"type": "event_callback", "event": {"type": "reaction_added"}}',
            b'{"type": "block_actions"}',
            b"payload=",
            b"payload=%7B%7D",
            b"payload=%5B%5D",
            b"payload=null",
            b"payload=%7B%22type%22%3A%22block_actions%22%7D",
            b"command=%2Fcoop",
            b"command=%2Fcoop&text=help",
            b"ssl_check=1",
            b"\xff\xfe\x00",
            b"[" * 100_000,
            b'{"a":' * 50_000,
            b"payload=" + b"%5B" * 50_000,
        ]
    ),
    st.binary(max_size=200),
    any_text(80).map(lambda t: t.encode("utf-8", "surrogatepass")),
)
CONTENT_TYPES = [FORM, JSON, "text/plain", "", "multipart/form"]
SIGNINGS = ["good"] * 12 + ["none", "wrong", "stale", "junk"]
KINDS = ["command"] * 8 + ["reaction"] * 4 + ["button"] * 3 + ["shortcut", "form", "other"]


def pick(data: st.DataObject, items: list[Any], fallback: st.SearchStrategy[Any]) -> Any:
    """One of `items` (things the bot made this example), or now and then anything."""
    if items and not one_in(data, 4):
        return choose(data, items)
    return data.draw(fallback)


def user(data: st.DataObject) -> str:
    return choose(data, ODD_USERS) if one_in(data, 5) else choose(data, USERS)


def channel(data: st.DataObject) -> str:
    return choose(data, ODD_CHANNELS) if one_in(data, 5) else choose(data, CHANNELS)


def mutate(data: st.DataObject, payload: dict[str, Any], depth: int = 0) -> dict[str, Any]:
    """`payload` with some fields gone, renamed or of the wrong type, inside nested objects
    too."""
    out = dict(payload)
    for key in list(out):
        roll = choose(data, range(20))
        if roll == 0:
            del out[key]
        elif roll == 1:
            out[key] = data.draw(WRONG)
        elif roll == 2:
            out[data.draw(RENAMED)] = out.pop(key)
        elif isinstance(out[key], dict) and depth < 3 and roll < 8:
            out[key] = mutate(data, out[key], depth + 1)
        elif isinstance(out[key], list) and out[key] and isinstance(out[key][0], dict):
            out[key] = [mutate(data, out[key][0], depth + 1), *out[key][1:]]
    return out


def mutated(data: st.DataObject, payload: dict[str, Any]) -> dict[str, Any] | None:
    """`payload` mutated one time in four, else None."""
    return mutate(data, payload) if one_in(data, 4) else None


def form_body(fields: dict[str, Any]) -> bytes:
    return urlencode({k: v if isinstance(v, str) else json.dumps(v) for k, v in fields.items()})


def interactive(payload: Any) -> bytes:
    return urlencode({"payload": json.dumps(payload)}).encode()


def slash_request(data: st.DataObject, rig_url: str) -> Request:
    who = user(data)
    text = data.draw(SLASH_TEXT, label="text")
    payload: dict[str, Any] = slash_command_payload(
        text, who, channel(data), response_url=rig_url, channel_name="general"
    )
    well_formed = who in USERS and payload["channel_id"] in CHANNELS
    if (changed := mutated(data, payload)) is not None:
        return Request("command", form_body(changed).encode(), FORM)
    if one_in(data, 16):
        payload["command"] = choose(data, ["/other", "/COOP", "", "/coop "])
        well_formed = False
    body = form_body(payload).encode()
    return Request("command", body, FORM, user=who, well_formed=well_formed)


def reaction_request(data: st.DataObject, items: list[tuple[str, str]]) -> Request:
    who = user(data)
    where, ts = pick(data, items, SOMEWHERE)
    name = data.draw(REACTION, label="reaction")
    kind = "reaction_removed" if one_in(data, 4) else "reaction_added"
    body = event_callback_payload(reaction_event(kind, who, name, where, ts))
    if (changed := mutated(data, body)) is not None:
        return Request("reaction", json.dumps(changed).encode(), JSON)
    return Request("reaction", json.dumps(body).encode(), JSON, user=who)


def button_request(data: st.DataObject, items: list[tuple[str, str]], rig_url: str) -> Request:
    who = user(data)
    where, ts = pick(data, items, SOMEWHERE)
    action, value = data.draw(ACTION, label="action_id"), data.draw(VALUE, label="value")
    payload = block_actions_payload(who, where, ts, action, value, response_url=rig_url)
    if (changed := mutated(data, payload)) is not None:
        return Request("button", interactive(changed), FORM)
    return Request("button", interactive(payload), FORM, user=who)


def shortcut_request(data: st.DataObject, items: list[tuple[str, str]], rig_url: str) -> Request:
    who = user(data)
    where, ts = pick(data, items, SOMEWHERE)
    callback = choose(data, ["coop_track"] * 3 + ["coop_pledge_drive", "other"])
    text = data.draw(MESSAGE_TEXT, label="message text")
    author = choose(data, [*USERS, "UBOT", ""])
    payload = message_shortcut_payload(callback, who, where, ts, text, author, response_url=rig_url)
    if (changed := mutated(data, payload)) is not None:
        return Request("shortcut", interactive(changed), FORM)
    return Request("shortcut", interactive(payload), FORM, user=who)


def form_request(data: st.DataObject, items: list[tuple[str, str]]) -> Request:
    """The "Start a pledge drive" form submitted, as views.open would have shown it."""
    who = user(data)
    where, ts = pick(data, items, SOMEWHERE)
    text = data.draw(MESSAGE_TEXT, label="message text")
    view = drive_form(MessageRef(ChannelRef(TEAM, where), ts), text)
    view["id"] = f"V{data.draw(FORM_ID)}"
    typed = {
        GOAL: data.draw(GOALS, label="goal"),
        DEADLINE: choose(data, ["friday 5pm", "in 3 days", "yesterday", "", "x"]),
        UNIT: data.draw(UNITS, label="unit"),
        SEALED: [SEALED] if one_in(data, 2) else [],
    }
    payload = view_submission_payload(who, view, typed)
    if one_in(data, 5):
        payload["view"]["private_metadata"] = data.draw(METADATA, label="private_metadata")
    if (changed := mutated(data, payload)) is not None:
        return Request("form", interactive(changed), FORM)
    return Request("form", interactive(payload), FORM, user=who)


def other_request(data: st.DataObject) -> Request:
    kind = choose(data, ["home", "url", "raw", "raw", "huge"])
    if kind == "home":
        who = user(data)
        event = {"type": "app_home_opened", "user": who, "channel": "D" + who, "tab": "home"}
        body = event_callback_payload(mutate(data, event))
        return Request(kind, json.dumps(body).encode(), JSON)
    if kind == "url":
        body = {"type": "url_verification", "challenge": data.draw(WRONG), "token": "t"}
        return Request(kind, json.dumps(body).encode(), JSON)
    if kind == "huge":
        return Request(kind, b"text=" + b"x" * (MAX_BODY + 1), FORM)
    return Request(kind, data.draw(RAW, label="body"), choose(data, CONTENT_TYPES))


def setup_request(data: st.DataObject, rig_url: str) -> Request:
    """A task as someone means one, for the requests that follow."""
    who, where = choose(data, USERS), choose(data, CHANNELS)
    payload = slash_command_payload(data.draw(task_text()), who, where, response_url=rig_url)
    return Request("command", form_body(payload).encode(), FORM, user=who, well_formed=True)


def slack_request(data: st.DataObject, items: list[tuple[str, str]], rig_url: str) -> Request:
    kind = choose(data, KINDS)
    request = {
        "command": lambda: slash_request(data, rig_url),
        "reaction": lambda: reaction_request(data, items),
        "button": lambda: button_request(data, items, rig_url),
        "shortcut": lambda: shortcut_request(data, items, rig_url),
        "form": lambda: form_request(data, items),
        "other": lambda: other_request(data),
    }[kind]()
    request.signing = choose(data, SIGNINGS)
    return request


def headers(request: Request) -> dict[str, str]:
    """Content type and signature as `request.signing` says; the body's bytes are signed
    (tests.fakes.slack.sign takes text, and some bodies are not)."""
    sent = {"Content-Type": request.content_type} if request.content_type else {}
    if request.signing == "none":
        return sent
    if request.signing == "junk":
        return sent | {"X-Slack-Signature": "v0=zz", "X-Slack-Request-Timestamp": "1e9"}
    secret = "not-the-secret" if request.signing == "wrong" else SIGNING_SECRET
    timestamp = int(time.time()) - (6 * 60 if request.signing == "stale" else 0)
    base = f"v0:{timestamp}:".encode() + request.body
    digest = hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()
    return sent | {"X-Slack-Signature": f"v0={digest}", "X-Slack-Request-Timestamp": str(timestamp)}


def posted(slack: FakeSlack) -> list[tuple[str, str]]:
    """(channel, ts) of every message the bot posted: cards, DMs with buttons, and the
    people's messages seeded in the fake."""
    found = [
        (str(c.response["channel"]), str(c.response["ts"]))
        for c in slack.calls_to("chat.postMessage")
        if c.status == 200 and isinstance(c.response, dict) and c.response.get("ok")
    ]
    return found + [(ch, m["ts"]) for ch in CHANNELS for m in slack.messages(ch)]


@given(data=st.data())
@fuzz_settings(REQUESTS)
def test_no_slack_request_breaks_the_bot_or_the_store(
    template: Path,
    tmp_path_factory: pytest.TempPathFactory,
    data: st.DataObject,
) -> None:
    """REQUESTS (25) requests per example, each one case: CASES (2,000) requests in all."""
    with fake_slack() as slack:
        run_example(slack, template, tmp_path_factory.mktemp("example", numbered=True), data)


def run_example(slack: FakeSlack, template: Path, directory: Path, data: st.DataObject) -> None:
    url = f"sqlite:///{fresh_copy(template, directory)}"
    settings = Settings(
        database_url=url,
        slack=SlackSettings(
            mode="http", api_base_url=slack.base_url, http_host="127.0.0.1", http_port=0
        ),
    )
    core = build_core(settings, clock=ManualClock(START), migrate=False)
    quick(core.engine)
    store = reader(url)
    seeded = 0

    async def scenario() -> None:
        nonlocal seeded
        async with started(slack, core, "http") as rig:
            assert isinstance(rig.send, HttpDriver)
            answers = Answers(rig.bot.adapter.chat)
            before = read_store(store)
            with error_log() as errors:
                for n in range(1, REQUESTS + 1):
                    if one_in(data, 6):  # someone posts a message
                        seeded += 1
                        text = data.draw(MESSAGE_TEXT, label="message text")
                        ts = f"1700000{seeded:03d}.000100"
                        slack.add_message(choose(data, CHANNELS), ts, text, "UA")
                    url = slack.response_url(f"r{n}")
                    if n <= SETUP:
                        request = setup_request(data, url)
                    else:
                        request = slack_request(data, posted(slack), url)
                    heard = len(answers.sent)
                    async with rig.send.session.post(
                        rig.send.url, data=request.body, headers=headers(request)
                    ) as answer:
                        status = answer.status
                    await rig.idle()
                    what = (
                        f"request {n} ({request.kind}, {request.signing}): {status} for "
                        f"{request.content_type} {request.body[:600]!r}"
                    )
                    errors.check(what)
                    assert status in ALLOWED, what
                    if request.signing != "good":
                        assert status in (401, 413), what
                    if request.kind == "huge":
                        assert status == 413, what
                    if request.well_formed and request.signing == "good":
                        assert status == 200, what
                    after = read_store(store)
                    check_store(after, core.clock.now())
                    changed, before = after != before, after
                    said = answers.since(heard)
                    if status != 200:
                        assert not changed and not said, what
                        continue
                    check_outcome(what, changed, said, request.user, request.well_formed)
                # And the bot still serves a plain request.
                heard = len(answers.sent)
                ack = await rig.send.command("UA", "help", response_url=slack.response_url())
                await rig.idle()
                assert ack.status == 200 and [to for to, _ in answers.since(heard)] == ["UA"]
                errors.check("a plain /coop help after the fuzzed requests")

    try:
        asyncio.run(scenario())
    finally:
        core.engine.dispose()
        store.dispose()
