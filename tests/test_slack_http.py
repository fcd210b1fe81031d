"""HTTP mode: signed requests only, Events API retries deduplicated, own events ignored."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from adapters.slack import http
from tests.fakes.slack import (
    FakeSlack,
    event_callback_payload,
    reaction_event,
    sign,
    slash_command_payload,
)
from tests.slack_support import (
    SIGNING_SECRET,
    TEAM,
    HttpDriver,
    add_people,
    http_body,
    make_core,
    started,
)


def test_bad_signatures_and_stale_timestamps_get_401_and_change_nothing(tmp_path: Path) -> None:
    with FakeSlack() as slack:
        add_people(slack)
        core = make_core(tmp_path, slack, "http")

        async def scenario() -> None:
            async with started(slack, core, "http") as rig:
                assert isinstance(rig.send, HttpDriver)
                body, ctype = http_body(
                    "slash_commands", slash_command_payload("task Forged", "UA", "C1")
                )
                forged = {**sign("not-the-secret", body), "Content-Type": ctype}
                stale = {
                    **sign(SIGNING_SECRET, body, int(time.time()) - 6 * 60),
                    "Content-Type": ctype,
                }
                tampered = {**sign(SIGNING_SECRET, body), "Content-Type": ctype}
                unsigned = {"Content-Type": ctype}
                for headers, sent in [
                    (forged, body),
                    (stale, body),
                    (tampered, body.replace("Forged", "Tampered")),
                    (unsigned, body),
                ]:
                    assert (await rig.send.post(sent, headers)).status == 401
                event = reaction_event("reaction_added", "UA", "pushpin", "C1", "1.1")
                body, ctype = http_body("events_api", event_callback_payload(event))
                stale = {
                    **sign(SIGNING_SECRET, body, int(time.time()) - 6 * 60),
                    "Content-Type": ctype,
                }
                assert (await rig.send.post(body, stale)).status == 401
                await rig.idle()
                assert rig.actions() == {}
                assert {c.method for c in slack.calls} == {"auth.test"}

                # The same command, signed properly and four minutes old, is accepted.
                body, ctype = http_body(
                    "slash_commands", slash_command_payload("task Real", "UA", "C1")
                )
                fresh = {
                    **sign(SIGNING_SECRET, body, int(time.time()) - 4 * 60),
                    "Content-Type": ctype,
                }
                assert (await rig.send.post(body, fresh)).status == 200
                await rig.idle()
                assert [a["title"] for a in rig.actions().values()] == ["Real"]

        asyncio.run(scenario())


def test_one_event_delivered_three_times_commits_once(tmp_path: Path) -> None:
    with FakeSlack() as slack:
        add_people(slack)
        core = make_core(tmp_path, slack, "http")

        async def scenario() -> None:
            async with started(slack, core, "http") as rig:
                await rig.send.command("UA", "task Paint the fence need:3")
                await rig.idle()
                card = rig.card_ts(1)
                # Slack retries with X-Slack-Retry-Num when it did not hear back in time; the
                # retries can overlap the first delivery.
                deliveries = await asyncio.gather(
                    *(
                        rig.send.react("UB", "raised_hand", "C1", card, event_id="Ev0DUP", retry=n)
                        for n in range(3)
                    )
                )
                assert [d.status for d in deliveries] == [200, 200, 200]
                await rig.idle()
                assert rig.statuses(1) == {"UB": "committed"}
                assert len(slack.calls_to("chat.update")) == 1
                with core.uow() as uow:
                    log = uow.audit_log(uow.community(TEAM).id)
                assert [e.kind for e in log].count("commitment.committed") == 1
                # Handling a repeat would have answered "You're already in" privately.
                assert slack.calls_to("chat.postEphemeral") == []

                # A new event id is a new reaction: handled, though it changes nothing.
                await rig.send.react("UB", "raised_hand", "C1", card, event_id="Ev0NEW")
                await rig.idle()
                assert rig.statuses(1) == {"UB": "committed"}
                (reply,) = slack.calls_to("chat.postEphemeral")
                assert reply.params["text"].startswith("You're already in on #1")

        asyncio.run(scenario())


def test_the_bots_own_reactions_are_ignored(tmp_path: Path) -> None:
    with FakeSlack() as slack:
        add_people(slack)
        core = make_core(tmp_path, slack, "http")

        async def scenario() -> None:
            async with started(slack, core, "http") as rig:
                slack.add_message("C1", "1710000000.000100", "Who brings cake?", "UA")
                delivery = await rig.send.react("UBOT", "pushpin", "C1", "1710000000.000100")
                assert delivery.status == 200
                await rig.idle()
                assert rig.actions() == {}
                assert not slack.calls_to("conversations.history")
                assert not slack.calls_to("users.info")

                # Anyone else's pushpin on the same message tracks it.
                await rig.send.react("UA", "pushpin", "C1", "1710000000.000100")
                await rig.idle()
                assert [a["title"] for a in rig.actions().values()] == ["Who brings cake?"]

        asyncio.run(scenario())


def test_slacks_url_check_is_answered(tmp_path: Path) -> None:
    with FakeSlack() as slack:
        core = make_core(tmp_path, slack, "http")

        async def scenario() -> None:
            async with started(slack, core, "http") as rig:
                assert isinstance(rig.send, HttpDriver)
                # Sent once when a request URL is saved in the app's settings.
                body = json.dumps({"type": "url_verification", "challenge": "c4f3", "token": "t"})
                headers = {**sign(SIGNING_SECRET, body), "Content-Type": "application/json"}
                answer = await rig.send.post(body, headers)
                assert (answer.status, json.loads(answer.body)) == (200, {"challenge": "c4f3"})

        asyncio.run(scenario())


def signed_bytes(body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """Slack's signing headers for a body that need not be text."""
    import hashlib
    import hmac

    ts = int(time.time()) if timestamp is None else timestamp
    base = f"v0:{ts}:".encode() + body
    digest = hmac.new(SIGNING_SECRET.encode(), base, hashlib.sha256).hexdigest()
    return {"X-Slack-Signature": f"v0={digest}", "X-Slack-Request-Timestamp": str(ts)}


def test_malformed_requests_get_401_400_or_413_never_500_and_change_nothing(
    tmp_path: Path,
) -> None:
    form = "application/x-www-form-urlencoded"
    with FakeSlack() as slack:
        add_people(slack)
        core = make_core(tmp_path, slack, "http")

        async def scenario() -> None:
            async with started(slack, core, "http") as rig:
                assert isinstance(rig.send, HttpDriver)
                body, ctype = http_body(
                    "slash_commands", slash_command_payload("task Forged", "UA", "C1")
                )
                good = sign(SIGNING_SECRET, body)
                # Not signed, however the headers are malformed: 401.
                for timestamp in ("abc", "", " 12", "1e9", "-5", "١٢٣", "9" * 40, "12.5"):
                    headers = {
                        **good,
                        "X-Slack-Request-Timestamp": timestamp,
                        "Content-Type": ctype,
                    }
                    assert (await rig.send.post(body, headers)).status == 401, timestamp
                for signature in ("", "v0=", "v0=zz", "garbage", "v0=" + "0" * 64):
                    headers = {**good, "X-Slack-Signature": signature, "Content-Type": ctype}
                    assert (await rig.send.post(body, headers)).status == 401, signature
                # Signed, but not a body anyone can read: 400.
                unreadable: list[tuple[bytes, str]] = [
                    (b"payload=not-json", form),
                    (b"payload=%5B1%2C2%5D", form),  # a list, not an object
                    (b"{not json", "application/json"),
                    (b"[1, 2, 3]", "application/json"),
                    (b"", "application/json"),
                    (b"\xff\xfe\xfa", "application/json"),
                ]
                for raw, content_type in unreadable:
                    headers = {**signed_bytes(raw), "Content-Type": content_type}
                    async with rig.send.session.post(
                        rig.send.url, data=raw, headers=headers
                    ) as answer:
                        assert answer.status == 400, raw
                # Too large, signed or not: 413.
                huge = b"text=" + b"x" * (2 * 1024 * 1024)
                headers = {**signed_bytes(huge), "Content-Type": form}
                async with rig.send.session.post(rig.send.url, data=huge, headers=headers) as a:
                    assert a.status == 413
                await rig.idle()
                assert rig.actions() == {}
                # And the bot still serves a proper request.
                real, ctype = http_body(
                    "slash_commands", slash_command_payload("task Real", "UA", "C1")
                )
                fresh = {**sign(SIGNING_SECRET, real), "Content-Type": ctype}
                assert (await rig.send.post(real, fresh)).status == 200
                await rig.idle()
                assert [a["title"] for a in rig.actions().values()] == ["Real"]

        asyncio.run(scenario())


@pytest.mark.parametrize(
    "body",
    [
        {"type": "event_callback", "event": None},
        {"type": "event_callback", "event": {"user": "U1"}},
        {"type": "event_callback"},
        {"type": "block_actions", "actions": []},
        {"type": "block_actions", "actions": "x"},
        {"type": "block_actions", "actions": [{"value": "1"}]},
        {"type": "view_submission", "view": {"callback_id": "coop_pledge_drive_form"}},
        {"type": "view_submission", "view": {"type": "modal"}},
        {"type": "message_action"},
        {"command": "/coop", "text": 3},
    ],
)
def test_shapes_slack_never_sends_are_unreadable(body: dict[str, object]) -> None:
    """Bolt's own matchers read these without asking (a 500); the fuzz suite found each."""
    assert not http.well_formed(body)


def test_what_slack_sends_is_readable() -> None:
    view = {"type": "modal", "callback_id": "coop_pledge_drive_form", "private_metadata": "{}"}
    assert http.well_formed({"type": "view_submission", "view": view, "user": {"id": "U1"}})
    assert http.well_formed({"type": "event_callback", "event": {"type": "reaction_added"}})
    assert http.well_formed({"command": "/coop", "text": "help", "user_id": "U1"})
