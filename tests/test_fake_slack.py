"""Self-test of tests.fakes.slack, driven by the real slack_sdk and slack_bolt clients."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator, Sequence
from typing import Any
from urllib.parse import parse_qs, urlparse

import pytest
from slack_bolt import Ack, App, BoltRequest, Respond, Say
from slack_bolt.adapter.socket_mode import SocketModeHandler
from slack_bolt.adapter.socket_mode.aiohttp import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.signature import SignatureVerifier
from slack_sdk.web.async_client import AsyncWebClient

from tests.fakes.slack import (
    FakeSlack,
    block_actions_body,
    block_actions_payload,
    event_callback_body,
    event_callback_payload,
    message_shortcut_body,
    message_shortcut_payload,
    reaction_event,
    sign,
    slash_command_body,
    slash_command_payload,
    view_submission_payload,
)

SECRET = "test-signing-secret"


@pytest.fixture
def slack() -> Iterator[FakeSlack]:
    with FakeSlack() as fake:
        yield fake


def client_for(slack: FakeSlack, **kwargs: Any) -> WebClient:
    return WebClient(token="xoxb-test", base_url=slack.base_url, **kwargs)


def test_listens_on_loopback_only(slack: FakeSlack) -> None:
    url = urlparse(slack.base_url)
    assert url.hostname == "127.0.0.1" and url.port and url.path == "/api/"
    with pytest.raises(SlackApiError, match="not_allowed_token_type"):
        client_for(slack).apps_connections_open(app_token="xoxb-test")  # a bot token
    opened = WebClient(token="xapp-1", base_url=slack.base_url).apps_connections_open(
        app_token="xapp-1"
    )
    assert opened["url"] == f"ws://127.0.0.1:{url.port}/socket-mode"


def test_post_message_is_recorded_and_readable_back(slack: FakeSlack) -> None:
    client = client_for(slack)
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*hi*"}}]
    metadata = {"event_type": "coop_task", "event_payload": {"id": 7}}
    first = client.chat_postMessage(channel="C1", text="hi", blocks=blocks, metadata=metadata)
    second = client.chat_postMessage(channel="C1", text="second")

    assert first["ok"] and first["channel"] == "C1"
    assert abs(float(first["ts"]) - time.time()) < 5  # like Slack's: when it was posted
    assert float(second["ts"]) > float(first["ts"])
    assert first["message"]["blocks"] == blocks
    assert first["message"]["user"] == slack.bot_user_id

    call = slack.wait_for_call("chat.postMessage", count=2)[0]
    assert call.params["channel"] == "C1" and call.params["text"] == "hi"
    assert call.json_field("blocks") == blocks
    assert call.json_field("metadata") == metadata
    assert call.token == "xoxb-test"
    assert call.headers["content-type"].startswith("application/json")

    # Reading back as a reaction handler would: latest=ts, inclusive, limit=1.
    hist = client.conversations_history(channel="C1", latest=first["ts"], inclusive=True, limit=1)
    assert [m["text"] for m in hist["messages"]] == ["hi"]
    assert "metadata" not in hist["messages"][0]
    excl = client.conversations_history(channel="C1", latest=second["ts"], inclusive=False)
    assert [m["text"] for m in excl["messages"]] == ["hi"]
    full = client.conversations_history(channel="C1", include_all_metadata=True)
    assert [m["text"] for m in full["messages"]] == ["second", "hi"]  # newest first
    assert full["messages"][1]["metadata"] == metadata


def test_replies_users_and_unknown_methods(slack: FakeSlack) -> None:
    client = client_for(slack)
    slack.add_message("C2", "1710000000.000100", "parent", "U1")
    slack.add_message("C2", "1710000001.000100", "reply", "U2", thread_ts="1710000000.000100")
    hist = client.conversations_history(channel="C2")
    assert [m["text"] for m in hist["messages"]] == ["parent"]
    assert hist["messages"][0]["reply_count"] == 1
    replies = client.conversations_replies(channel="C2", ts="1710000000.000100")
    assert [m["text"] for m in replies["messages"]] == ["parent", "reply"]
    # A posted message is newer than the seeded history.
    posted = client.chat_postMessage(channel="C2", text="new")
    assert float(posted["ts"]) > 1710000001.0001

    slack.set_user("U2", name="bo", tz="America/New_York", is_admin=True)
    user = client.users_info(user="U2")["user"]
    assert (user["name"], user["tz"], user["is_admin"]) == ("bo", "America/New_York", True)
    assert user["tz_offset"] in (-5 * 3600, -4 * 3600)
    assert client.users_info(user="U9")["user"]["tz"] == "Europe/London"
    assert slack.calls_to("users.info")[0].params["user"] == "U2"  # form-encoded POST

    assert client.conversations_open(users="U2")["channel"]["id"] == "DU2"
    with pytest.raises(SlackApiError) as err:
        client.api_call("reactions.frobnicate", json={"x": 1})
    assert err.value.response["error"] == "unknown_method"
    assert slack.calls_to("reactions.frobnicate")[0].params == {"x": 1}

    slack.fail_next("chat.postMessage", error="not_in_channel")
    with pytest.raises(SlackApiError) as err:
        client.chat_postMessage(channel="C2", text="x")
    assert err.value.response["error"] == "not_in_channel"
    assert client.chat_postMessage(channel="C2", text="x")["ok"]  # only once


def test_a_modal_opens_with_an_id_and_comes_back_submitted(slack: FakeSlack) -> None:
    client = client_for(slack)
    view = {
        "type": "modal",
        "callback_id": "form",
        "private_metadata": "about",
        "title": {"type": "plain_text", "text": "Form"},
        "blocks": [
            {
                "type": "input",
                "block_id": "name",
                "label": {"type": "plain_text", "text": "Name"},
                "element": {"type": "plain_text_input", "action_id": "typed"},
            },
            {
                "type": "input",
                "block_id": "box",
                "optional": True,
                "label": {"type": "plain_text", "text": "Box"},
                "element": {
                    "type": "checkboxes",
                    "action_id": "ticked",
                    "options": [{"text": {"type": "plain_text", "text": "Yes"}, "value": "yes"}],
                },
            },
        ],
    }
    opened = client.views_open(trigger_id="1.2.3", view=view)["view"]
    assert opened["id"].startswith("V") and opened["private_metadata"] == "about"
    assert opened["state"] == {"values": {}}
    with pytest.raises(SlackApiError) as err:
        client.views_open(trigger_id="", view=view)
    assert err.value.response["error"] == "invalid_trigger_id"

    submitted = view_submission_payload("U1", opened, {"name": "Ana"})
    assert submitted["type"] == "view_submission" and submitted["user"]["id"] == "U1"
    assert submitted["view"]["id"] == opened["id"]
    assert submitted["view"]["state"]["values"] == {
        "name": {"typed": {"type": "plain_text_input", "value": "Ana"}},
        "box": {"ticked": {"type": "checkboxes", "selected_options": []}},
    }
    ticked = view_submission_payload("U1", opened, {"box": ["yes"]})["view"]["state"]["values"]
    assert ticked["name"]["typed"]["value"] is None
    assert [o["value"] for o in ticked["box"]["ticked"]["selected_options"]] == ["yes"]


def test_rate_limited_update_is_retried(slack: FakeSlack) -> None:
    posted = client_for(slack).chat_postMessage(channel="C1", text="v1")

    slack.rate_limit_next("chat.update", retry_after=1)
    with pytest.raises(SlackApiError) as err:  # default handlers do not retry 429
        client_for(slack).chat_update(channel="C1", ts=posted["ts"], text="v2")
    assert err.value.response.status_code == 429
    assert err.value.response.headers["Retry-After"] == "1"
    assert err.value.response["error"] == "ratelimited"

    slack.clear_calls()
    slack.rate_limit_next("chat.update", retry_after=1)
    client = client_for(slack, retry_handlers=[RateLimitErrorRetryHandler(max_retry_count=1)])
    resp = client.chat_update(channel="C1", ts=posted["ts"], text="v2")
    assert resp["ok"] and resp["ts"] == posted["ts"] and resp["text"] == "v2"
    first, second = slack.calls_to("chat.update")
    assert (first.status, second.status) == (429, 200)
    assert second.time - first.time >= 1.0  # the client honoured Retry-After
    assert slack.messages("C1")[0]["text"] == "v2"


def test_bolt_socket_mode_round_trip(slack: FakeSlack) -> None:
    app = App(client=client_for(slack), signing_secret=SECRET)  # verifies token via auth.test
    assert slack.calls_to("auth.test")

    @app.command("/coop")
    def on_coop(ack: Ack, command: dict[str, Any], say: Say) -> None:
        ack(f"got {command['text']}")
        say(f"working on {command['text']}")

    @app.action("claim")
    def on_claim(ack: Ack, body: dict[str, Any], say: Say) -> None:
        ack()
        say(f"claimed {body['actions'][0]['value']} by {body['user']['id']}")

    @app.shortcut("make_task")
    def on_shortcut(ack: Ack, shortcut: dict[str, Any], say: Say) -> None:
        ack()
        say(f"task from: {shortcut['message']['text']}")

    @app.event("reaction_added")
    def on_reaction(event: dict[str, Any], say: Say) -> None:
        say(f"{event['reaction']} on {event['item']['ts']}")

    handler = SocketModeHandler(app, app_token="xapp-test")
    try:
        handler.connect()
        slack.wait_for_socket_client()
        assert slack.calls_to("apps.connections.open")[0].token == "xapp-test"

        ack = slack.send_envelope("slash_commands", slash_command_payload("hello", "U1", "C1"))
        assert ack["payload"] == {"text": "got hello"}
        assert ack["_latency"] < 3.0
        assert slack.acks[0].envelope_id == ack["envelope_id"]
        post = slack.wait_for_call("chat.postMessage")[0]
        assert (post.params["channel"], post.params["text"]) == ("C1", "working on hello")

        slack.send_envelope("interactive", block_actions_payload("U2", "C1", "1.2", "claim", "t7"))
        slack.send_envelope(
            "interactive",
            message_shortcut_payload("make_task", "U3", "C1", "1.3", "fix the tap", "U4"),
        )
        event = reaction_event("reaction_added", "U5", "raised_hand", "C1", "1.4", "U4")
        ack = slack.send_envelope("events_api", event_callback_payload(event))
        assert "payload" not in ack
        texts = {c.params["text"] for c in slack.wait_for_call("chat.postMessage", count=4)}
        assert texts == {
            "working on hello",
            "claimed t7 by U2",
            "task from: fix the tap",
            "raised_hand on 1.4",
        }

        # Bolt does not ack a command nobody handles: the fake must not invent one.
        with pytest.raises(AssertionError, match="no ack"):
            slack.send_envelope(
                "slash_commands",
                slash_command_payload("x", "U1", "C1", command="/nope"),
                timeout=0.3,
            )

        # A disconnect message makes the client open a new connection and keep working.
        assert slack.disconnect_socket() == 1
        slack.wait_for_socket_client(count=2)
        ack = slack.send_envelope("slash_commands", slash_command_payload("again", "U1", "C1"))
        assert ack["payload"] == {"text": "got again"}
        assert len(slack.calls_to("apps.connections.open")) == 2
    finally:
        slack.close_sockets()  # lets the builtin client's close() skip its 3 s receive timeout
        handler.close()


def test_async_clients_and_waits() -> None:
    async def scenario(slack: FakeSlack) -> None:
        client = AsyncWebClient(token="xoxb-test", base_url=slack.base_url)
        slack.delay("chat.postMessage", 0.3)
        post = asyncio.create_task(client.chat_postMessage(channel="C1", text="slow"))
        calls = await slack.await_call("chat.postMessage")  # loop stays free meanwhile
        assert calls[0].params["text"] == "slow"
        assert not post.done()  # recorded on arrival, answered after the delay
        assert (await post)["ok"]

        slack.add_message("C1", "1690000000.000100", "old", "U1")
        hist = await client.conversations_history(
            channel="C1", latest="1690000000.000100", inclusive=True, limit=1
        )  # sent as GET
        assert [m["text"] for m in hist["messages"]] == ["old"]
        call = slack.calls_to("conversations.history")[0]
        assert call.http_method == "GET" and call.params["latest"] == "1690000000.000100"
        assert call.params["inclusive"] == "1"

        app = AsyncApp(client=client, signing_secret=SECRET)

        @app.command("/coop")
        async def on_coop(ack: AsyncAck, command: dict[str, Any]) -> None:
            await ack(f"async {command['text']}")

        handler = AsyncSocketModeHandler(app, app_token="xapp-test")
        await handler.connect_async()
        try:
            ack = await slack.asend_envelope(
                "slash_commands", slash_command_payload("hi", "U1", "C1")
            )
            assert ack["payload"] == {"text": "async hi"}
        finally:
            await handler.close_async()

    with FakeSlack() as slack:
        asyncio.run(scenario(slack))


def test_signed_http_bodies_verify_and_route(slack: FakeSlack) -> None:
    body, content_type = slash_command_body("lunch <@U2|bo>", "U1", "C1", user_name="al")
    assert content_type == "application/x-www-form-urlencoded"
    fields = {k: v[0] for k, v in parse_qs(body).items()}
    assert (fields["command"], fields["text"], fields["user_id"]) == (
        "/coop",
        "lunch <@U2|bo>",
        "U1",
    )

    headers = sign(SECRET, body)
    verifier = SignatureVerifier(SECRET)
    assert verifier.is_valid_request(body, headers)
    assert not SignatureVerifier("other-secret").is_valid_request(body, headers)
    assert not verifier.is_valid_request(body + "x", headers)
    ts = 1_700_000_000
    expected = verifier.generate_signature(timestamp=str(ts), body=body)
    assert sign(SECRET, body, ts)["X-Slack-Signature"] == expected

    # A bolt app in HTTP mode (request verification on) routes each signed body.
    app = App(client=client_for(slack), signing_secret=SECRET, process_before_response=True)
    seen: list[str] = []

    @app.command("/coop")
    def on_coop(ack: Ack, command: dict[str, Any]) -> None:
        seen.append(command["text"])
        ack()

    @app.action("claim")
    def on_claim(ack: Ack, action: dict[str, Any], respond: Respond) -> None:
        seen.append(action["value"])
        ack()
        respond("claimed")

    @app.shortcut("make_task")
    def on_shortcut(ack: Ack, shortcut: dict[str, Any]) -> None:
        seen.append(shortcut["message"]["text"])
        ack()

    @app.event("reaction_removed")
    def on_reaction(event: dict[str, Any]) -> None:
        seen.append(event["reaction"])

    bodies = [
        (body, content_type),
        block_actions_body("U1", "C1", "1.2", "claim", "t9", response_url=slack.response_url()),
        message_shortcut_body("make_task", "U1", "C1", "1.3", "buy milk", "U2"),
        event_callback_body(reaction_event("reaction_removed", "U1", "+1", "C1", "1.4"), "Ev1"),
    ]
    for raw, ctype in bodies:
        request_headers: dict[str, str | Sequence[str]] = {**sign(SECRET, raw)}
        request_headers["Content-Type"] = ctype
        assert app.dispatch(BoltRequest(body=raw, headers=request_headers)).status == 200
    assert seen == ["lunch <@U2|bo>", "t9", "buy milk", "+1"]
    assert slack.calls_to("response_url")[0].params["text"] == "claimed"
    assert json.loads(bodies[3][0])["event_id"] == "Ev1"

    stale: dict[str, str | Sequence[str]] = {**sign(SECRET, body, ts)}
    stale["Content-Type"] = content_type
    assert app.dispatch(BoltRequest(body=body, headers=stale)).status == 401
