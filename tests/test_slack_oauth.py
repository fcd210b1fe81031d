"""HTTP mode with OAuth: one process installed in many workspaces, each with its own data."""

from __future__ import annotations

import asyncio
import html
import re
from base64 import b64decode
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlparse

import aiohttp

from adapters.slack.surface import bot_scopes
from bot.config import Secrets
from bot.export import action_record
from storage.uow import SqlUnitOfWork
from tests.fakes.slack import Call, FakeSlack, event_callback_payload, slash_command_payload
from tests.slack_support import SIGNING_SECRET, HttpDriver, Rig, add_people, make_core, started

KEY = "zr0mgJ3NOTZnOTW0g3OAALBlpNJhSZxULBrHcFOu0U4="  # a Fernet key, for tests only
SECRETS = Secrets(
    None, None, SIGNING_SECRET, None, slack_client_secret="client-secret", token_keys=KEY
)


def token_exchange(call: Call) -> dict[str, Any]:
    """What oauth.v2.access answers for the code `code-<team>`."""
    team = str(call.params["code"]).removeprefix("code-")
    return {
        "ok": True,
        "app_id": "A1",
        "access_token": f"xoxb-{team}",
        "token_type": "bot",
        "scope": ",".join(bot_scopes()),
        "bot_user_id": "UBOT",
        "team": {"id": team, "name": f"Team {team}"},
        "enterprise": None,
        "is_enterprise_install": False,
        "authed_user": {"id": "UA"},
    }


async def install(session: aiohttp.ClientSession, base: str, team: str) -> int:
    """Go through /slack/install and back to /slack/oauth_redirect as a browser would."""
    async with session.get(base + "/slack/install") as page:
        assert page.status == 200
        found = re.search(r'href="([^"]+oauth/v2/authorize[^"]+)"', await page.text())
        assert found is not None, "no link to Slack's authorize page"
        link = html.unescape(found[1])
        cookie = page.headers["Set-Cookie"].split(";")[0]
    query = parse_qs(urlparse(link).query)
    assert query["client_id"] == ["111.222"]
    assert set(query["scope"][0].split(",")) == set(bot_scopes())
    callback = f"{base}/slack/oauth_redirect?code=code-{team}&state={query['state'][0]}"
    async with session.get(callback, headers={"Cookie": cookie}) as done:
        return done.status


def exported(rig: Rig) -> list[tuple[str, int, str, list[str]]]:
    with SqlUnitOfWork(rig.core.engine) as uow:
        records = [action_record(r) for r in uow.export()]
    return sorted(
        (r["community"], r["id"], r["title"], [c["member"] for c in r["commitments"]])
        for r in records
    )


def test_install_in_two_workspaces_then_serve_both_apart(tmp_path: Path, database_url: str) -> None:
    with FakeSlack() as slack:
        add_people(slack)
        slack.set_response("oauth.v2.access", token_exchange)
        core = make_core(tmp_path, slack, "http", database_url, client_id="111.222")

        async def scenario() -> None:
            async with started(slack, core, "http", secrets=SECRETS) as rig:
                assert isinstance(rig.send, HttpDriver)
                base = f"http://127.0.0.1:{rig.bot.http_port}"
                assert await install(rig.send.session, base, "T2") == 200
                assert await install(rig.send.session, base, "T3") == 200
                # A callback whose state this server never issued is refused.
                forged = f"{base}/slack/oauth_redirect?code=code-T4&state=made-up"
                cookie = {"Cookie": "slack-app-oauth-state=made-up"}
                async with rig.send.session.get(forged, headers=cookie) as refused:
                    assert refused.status == 401

                for team, title in (("T2", "Plant trees"), ("T3", "Paint walls")):
                    payload = slash_command_payload(f"task {title}", "UA", "C1", team_id=team)
                    await rig.send.send("slash_commands", payload)
                    await rig.idle()
                card = next(
                    c.response["ts"]
                    for c in slack.calls_to("chat.postMessage")
                    if c.token == "xoxb-T2"
                )
                reaction = {
                    "type": "reaction_added",
                    "user": "UB",
                    "reaction": "raised_hand",
                    "item": {"type": "message", "channel": "C1", "ts": card},
                }
                await rig.send.send("events_api", event_callback_payload(reaction, team_id="T2"))
                await rig.idle()
                assert exported(rig) == [
                    ("slack:T2", 1, "Plant trees", ["UB"]),
                    ("slack:T3", 1, "Paint walls", []),
                ]

                # A workspace that never installed the app gets an explanation, not service.
                stranger = slash_command_payload(
                    "task Sneak in", "UA", "C1", team_id="T9", response_url=slack.response_url()
                )
                await rig.send.send("slash_commands", stranger)
                # Uninstalling forgets the workspace's token at once.
                goodbye = event_callback_payload({"type": "app_uninstalled"}, team_id="T2")
                assert (await rig.send.send("events_api", goodbye)).status == 200
                await rig.idle()
                again = slash_command_payload(
                    "task Again", "UA", "C1", team_id="T2", response_url=slack.response_url()
                )
                await rig.send.send("slash_commands", again)
                await rig.idle()
                assert len(exported(rig)) == 2

        asyncio.run(scenario())
        tokens = {c.token for c in slack.calls if c.method != "oauth.v2.access"}
        assert {"xoxb-T2", "xoxb-T3"} <= tokens
        exchange = slack.calls_to("oauth.v2.access")[0]
        assert exchange.params["code"] == "code-T2"
        credentials = b64decode(exchange.headers["Authorization"].removeprefix("Basic "))
        assert credentials == b"111.222:client-secret"
        assert len(slack.calls_to("response_url")) == 2  # T9, and T2 after uninstalling
