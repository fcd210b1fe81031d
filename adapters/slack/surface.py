"""What coopbot shows Slack: its command, shortcut, buttons and events, and the scopes they need.

The listeners register exactly these, and the manifest declares exactly these, so the two
cannot drift apart.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

COMMAND = "/coop"
COMMAND_DESCRIPTION = "Turn chat into things people do together"
COMMAND_USAGE_HINT = 'task "Title" need:3 due:"friday 5pm" | join #3 | leave #3 | list | help'


@dataclass(frozen=True)
class Shortcut:
    callback_id: str
    name: str
    description: str


TRACK_SHORTCUT = Shortcut(
    callback_id="coop_track",
    name="Track as task",
    description="Turn this message into a task people can join",
)
DRIVE_SHORTCUT = Shortcut(
    callback_id="coop_pledge_drive",
    name="Start a pledge drive",
    description="Turn this message into a pledge drive: it happens if enough people pledge",
)
SHORTCUTS = (TRACK_SHORTCUT, DRIVE_SHORTCUT)  # message shortcuts, in the manifest's order
# The form the drive shortcut opens; its submission comes back with this callback id.
DRIVE_FORM = "coop_pledge_drive_form"
# The form a card's Edit menu item opens (its submission: an EditRequested).
EDIT_FORM = "coop_edit_form"

BUTTON_PREFIX = "coop_"
# The buttons the core puts on messages, grouped by what the number in their value is.
BUTTON_NAMES = (
    # On cards: the action's number.
    "join",
    "maybe",
    "leave",
    "done",
    # On reminder DMs: the reminder occurrence's id.
    "snooze_15m",
    "snooze_1h",
    "snooze_tomorrow",
    # On "did it happen?" DMs: the action's number.
    "checkin_done",
    "checkin_not",
    # On "did you do it?" DMs after a tipped pledge drive: the drive's number.
    "pledge_did",
    "pledge_didnt",
    # On "are you still in?" DMs after a late promotion, and on hand-off offers: the action's.
    # (The maybe question's DM uses join and leave.)
    "confirm",
    "confirm_no",
    "handoff_yes",
    "handoff_no",
)
BUTTON_ACTION = re.compile(rf"^{BUTTON_PREFIX}({'|'.join(BUTTON_NAMES)})$")
# A task with roles shows Join as a select of its roles; each option's value is
# `<number>:<role>` and comes back as the join button with that role as its choice.
JOIN_AS = BUTTON_PREFIX + "join_as"
# A card's overflow menu (…), whose items' values are `<item>:<number>`.
CARD_MENU = BUTTON_PREFIX + "card_menu"
EDIT_ITEM = "edit"

# Events every install subscribes to; the OAuth ones let a multi-workspace install forget a
# workspace that removed the app.
BOT_EVENTS = ("app_home_opened", "reaction_added", "reaction_removed")
OAUTH_EVENTS = ("app_uninstalled", "tokens_revoked")

_HISTORY = ("channels:history", "groups:history", "im:history", "mpim:history")

# Every Web API method the adapter calls, with the bot scopes it needs. A test checks that
# every method called in the Slack tests is listed here.
METHOD_SCOPES: dict[str, tuple[str, ...]] = {
    "auth.test": (),
    "apps.connections.open": (),  # uses the app-level token (connections:write), not a bot scope
    "oauth.v2.access": (),
    "chat.postMessage": ("chat:write",),
    "chat.update": ("chat:write",),
    "chat.postEphemeral": ("chat:write",),
    "conversations.open": ("im:write",),
    # Reaction events carry no text: it is read back from the message the reaction is on.
    "conversations.history": _HISTORY,
    "conversations.replies": _HISTORY,
    "users.info": ("users:read",),
    "views.publish": (),
    "views.open": (),  # the pledge drive form and the Edit form
}
EVENT_SCOPES: dict[str, tuple[str, ...]] = {
    "app_home_opened": (),
    "reaction_added": ("reactions:read",),
    "reaction_removed": ("reactions:read",),
    "app_uninstalled": (),
    "tokens_revoked": (),
}
COMMAND_SCOPES = ("commands",)  # slash commands and shortcuts


def bot_scopes() -> list[str]:
    """Every bot scope the adapter needs, sorted."""
    needed = set(COMMAND_SCOPES)
    for scopes in (*METHOD_SCOPES.values(), *EVENT_SCOPES.values()):
        needed.update(scopes)
    return sorted(needed)


def button_action_id(name: str) -> str:
    return BUTTON_PREFIX + name
