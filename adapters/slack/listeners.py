"""The bolt listeners: record the request, then acknowledge it.

The app runs with `process_before_response`, so bolt answers Slack only when a listener
returns, events included: nothing is acknowledged before it is recorded. Listeners only
record (bounded by `delivery.ack_wait_seconds`); everything else happens afterwards.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp
from slack_bolt.context.async_context import AsyncBoltContext
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore

from adapters.slack.app import SlackAdapter, workspace_of
from adapters.slack.directory import Workspace
from adapters.slack.surface import (
    BOT_EVENTS,
    BUTTON_ACTION,
    CARD_MENU,
    COMMAND,
    DRIVE_FORM,
    DRIVE_SHORTCUT,
    EDIT_FORM,
    JOIN_AS,
    OAUTH_EVENTS,
    TRACK_SHORTCUT,
)

Handler = Callable[[dict[str, Any], Workspace], Coroutine[Any, Any, None]]


def register(
    app: AsyncApp, adapter: SlackAdapter, installations: AsyncInstallationStore | None = None
) -> None:
    """Register coopbot's listeners on `app`; with OAuth, `installations` is the store."""

    @app.command(COMMAND)
    async def on_command(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        await adapter.on_command(body, workspace_of(context))
        await ack()

    @app.action(BUTTON_ACTION)
    @app.action(JOIN_AS)  # a role picked in "Join as…": the join button, with its choice
    async def on_button(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        await adapter.on_button(body, workspace_of(context))
        await ack()

    @app.action(CARD_MENU)
    async def on_card_menu(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        # The Edit form opens after the acknowledgement, as the drive form does.
        await adapter.on_card_menu(body, workspace_of(context))
        await ack()

    @app.shortcut(TRACK_SHORTCUT.callback_id)
    async def on_shortcut(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        await adapter.on_shortcut(body, workspace_of(context))
        await ack()

    @app.shortcut(DRIVE_SHORTCUT.callback_id)
    async def on_drive_shortcut(
        ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        # The form opens after the acknowledgement: a slow views.open cannot delay it.
        await adapter.on_drive_shortcut(body, workspace_of(context))
        await ack()

    @app.view(DRIVE_FORM)
    async def on_drive_form(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        await adapter.on_drive_form(body, workspace_of(context))
        await ack()  # closes the form; the core answers privately in the message's channel

    @app.view(EDIT_FORM)
    async def on_edit_form(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        await adapter.on_edit_form(body, workspace_of(context))
        await ack()  # closes the form; the core answers privately in the card's channel

    # Bolt acknowledges events itself once these return.
    handlers = {
        "reaction_added": adapter.on_reaction,
        "reaction_removed": adapter.on_reaction,
        "app_home_opened": adapter.on_home_opened,
    }
    assert set(handlers) == set(BOT_EVENTS), "surface.BOT_EVENTS lists what the manifest declares"
    for name, handle in handlers.items():
        app.event(name)(_event_listener(adapter, handle))

    if installations is not None:
        _forget_removed_workspaces(app, adapter, installations)


def _event_listener(
    adapter: SlackAdapter, handle: Handler
) -> Callable[[dict[str, Any], AsyncBoltContext], Coroutine[Any, Any, None]]:
    # Bolt passes arguments by parameter name, so the listener takes only body and context.
    async def on_event(body: dict[str, Any], context: AsyncBoltContext) -> None:
        await handle(body, workspace_of(context))

    return on_event


def _forget_removed_workspaces(
    app: AsyncApp, adapter: SlackAdapter, installations: AsyncInstallationStore
) -> None:
    """Drop a workspace's bot token when it removes the app or revokes the token."""

    async def forget(context: AsyncBoltContext) -> None:
        await installations.async_delete_bot(
            enterprise_id=context.enterprise_id, team_id=context.team_id
        )

    async def on_app_uninstalled(body: dict[str, Any], context: AsyncBoltContext) -> None:
        adapter.spawn(forget(context))

    async def on_tokens_revoked(body: dict[str, Any], context: AsyncBoltContext) -> None:
        # Only bot tokens are kept, so revoked user tokens need nothing.
        if (body["event"].get("tokens") or {}).get("bot"):
            adapter.spawn(forget(context))

    listeners = {"app_uninstalled": on_app_uninstalled, "tokens_revoked": on_tokens_revoked}
    assert set(listeners) == set(OAUTH_EVENTS), "surface.OAUTH_EVENTS is what the manifest declares"
    for name, listener in listeners.items():
        app.event(name)(listener)
