"""`coopbot slack manifest`: valid YAML declaring exactly what the adapter handles."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import yaml

from adapters.slack.blocks import card_blocks, dm_blocks, edit_form
from adapters.slack.surface import (
    BUTTON_NAMES,
    CARD_MENU,
    JOIN_AS,
    METHOD_SCOPES,
    button_action_id,
)
from bot.cards import Button, Card, Person, RoleView
from bot.cli import main
from tests.fakes.slack import (
    FakeSlack,
    block_actions_payload,
    event_callback_payload,
    message_shortcut_payload,
    option_picked_payload,
    slash_command_payload,
    view_submission_payload,
)
from tests.slack_support import add_people, make_core, started


def printed_manifest(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path, **env: str
) -> tuple[str, dict[str, Any]]:
    monkeypatch.chdir(tmp_path)  # no ./coopbot.yaml
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    assert main(["slack", "manifest"]) == 0
    text = capsys.readouterr().out
    return text, yaml.safe_load(text)


def test_the_default_manifest_is_socket_mode_yaml(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    text, manifest = printed_manifest(capsys, monkeypatch, tmp_path)
    assert text.startswith("# Slack app manifest for coopbot.")
    settings = manifest["settings"]
    assert settings["socket_mode_enabled"] is True
    assert settings["interactivity"] == {"is_enabled": True}
    assert "request_url" not in settings["event_subscriptions"]
    assert set(settings["event_subscriptions"]["bot_events"]) == {
        "app_home_opened",
        "reaction_added",
        "reaction_removed",
    }
    (command,) = manifest["features"]["slash_commands"]
    assert command["command"] == "/coop" and command["should_escape"] is True
    assert "url" not in command
    shortcuts = [
        (s["type"], s["callback_id"], s["name"]) for s in manifest["features"]["shortcuts"]
    ]
    assert shortcuts == [
        ("message", "coop_track", "Track as task"),
        ("message", "coop_pledge_drive", "Start a pledge drive"),
    ]
    # Slack's limits for a shortcut's name and description.
    assert all(
        len(s["name"]) <= 24 and len(s["description"]) <= 80
        for s in manifest["features"]["shortcuts"]
    )
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert manifest["features"]["bot_user"]["display_name"] == "coopbot"
    assert manifest["oauth_config"]["scopes"]["bot"] == [
        "channels:history",
        "chat:write",
        "commands",
        "groups:history",
        "im:history",
        "im:write",
        "mpim:history",
        "reactions:read",
        "users:read",
    ]


def test_http_mode_points_slack_at_the_public_url(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _, manifest = printed_manifest(
        capsys,
        monkeypatch,
        tmp_path,
        COOPBOT_SLACK__MODE="http",
        COOPBOT_SLACK__PUBLIC_URL="https://coop.example.net/",
        COOPBOT_SLACK__CLIENT_ID="123.456",
        COOPBOT_SLACK__APP_NAME="Neighbours",
    )
    url = "https://coop.example.net/slack/events"
    settings = manifest["settings"]
    assert settings["socket_mode_enabled"] is False
    assert settings["event_subscriptions"]["request_url"] == url
    assert settings["interactivity"]["request_url"] == url
    assert manifest["features"]["slash_commands"][0]["url"] == url
    assert manifest["oauth_config"]["redirect_urls"] == [
        "https://coop.example.net/slack/oauth_redirect"
    ]
    # Installed in many workspaces, it must hear when one removes it.
    assert {"app_uninstalled", "tokens_revoked"} <= set(
        settings["event_subscriptions"]["bot_events"]
    )
    assert manifest["display_information"]["name"] == "Neighbours"


def test_http_mode_without_a_public_url_says_what_to_set(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    text, manifest = printed_manifest(capsys, monkeypatch, tmp_path, COOPBOT_SLACK__MODE="http")
    assert "set slack.public_url" in text
    assert "redirect_urls" not in manifest["oauth_config"]


def test_the_adapter_handles_what_the_manifest_declares_and_nothing_else(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _, manifest = printed_manifest(capsys, monkeypatch, tmp_path)
    on_cards = ("join", "maybe", "leave", "done")
    card_buttons = tuple(Button(name, name.title(), 1) for name in on_cards)
    card = Card(1, "task", "T", Person("UA", "a"), "open", None, None, (), (), (), card_buttons)
    buttons = [e["action_id"] for e in card_blocks(card)[-1]["elements"]]
    # With roles Join is a select, and an editable card has a menu (its Edit opens a form).
    shaped = replace(card, roles=(RoleView("cook", 2),), editable=True)
    picks = [(e["action_id"], e["type"]) for e in card_blocks(shaped)[-1]["elements"]]
    picks = [(a, t) for a, t in picks if t != "button"]
    assert picks == [(JOIN_AS, "static_select"), (CARD_MENU, "overflow")]
    on_dms = tuple(Button(name, name, 1) for name in BUTTON_NAMES if name not in on_cards)
    dm_buttons = [e["action_id"] for e in dm_blocks("Due soon", on_dms)[-1]["elements"]]
    assert set(buttons + dm_buttons) == {button_action_id(name) for name in BUTTON_NAMES}
    declared: list[tuple[str, dict[str, Any]]] = [
        ("slash_commands", slash_command_payload("help", "UA", "C1", command=c["command"]))
        for c in manifest["features"]["slash_commands"]
    ]
    declared += [
        ("interactive", message_shortcut_payload(s["callback_id"], "UA", "C1", "1.1", "x", "UB"))
        for s in manifest["features"]["shortcuts"]
    ]
    declared += [
        ("interactive", block_actions_payload("UA", "C1", "1.2", action_id, "1"))
        for action_id in buttons
    ]
    declared += [
        ("interactive", block_actions_payload("UA", "DUA", "1.3", action_id, "1"))
        for action_id in dm_buttons
    ]
    declared += [
        ("interactive", option_picked_payload("UA", "C1", "1.2", JOIN_AS, "1:cook")),
        ("interactive", option_picked_payload("UA", "C1", "1.2", CARD_MENU, "edit:1", "overflow")),
        ("interactive", view_submission_payload("UA", {**edit_form(card, "C1"), "id": "V1"}, {})),
    ]
    declared += [
        ("events_api", event_callback_payload({"type": name, "user": "UA", "reaction": "x"}))
        for name in manifest["settings"]["event_subscriptions"]["bot_events"]
    ]
    undeclared: list[tuple[str, dict[str, Any]]] = [
        ("slash_commands", slash_command_payload("help", "UA", "C1", command="/other")),
        ("interactive", message_shortcut_payload("other", "UA", "C1", "1.1", "x", "UB")),
        ("interactive", block_actions_payload("UA", "C1", "1.2", "other_join", "1")),
        ("events_api", event_callback_payload({"type": "message", "user": "UA", "text": "hi"})),
    ]

    with FakeSlack() as slack:
        add_people(slack)
        core = make_core(tmp_path, slack, "http")

        async def scenario() -> tuple[list[int], list[int]]:
            async with started(slack, core, "http") as rig:
                handled = [(await rig.send.send(k, p)).status for k, p in declared]
                unhandled = [(await rig.send.send(k, p)).status for k, p in undeclared]
                await rig.idle()
                return handled, unhandled

        handled, unhandled = asyncio.run(scenario())
    assert len(handled) == 1 + 2 + 4 + 11 + 3 + 3
    assert handled == [200] * len(handled)
    assert unhandled == [404] * len(unhandled)
    assert {c.method for c in slack.calls} <= set(METHOD_SCOPES)
