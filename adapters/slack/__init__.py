"""Slack: Socket Mode, or HTTP for one workspace or many (OAuth), in the bot's event loop."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass

import aiohttp
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_bolt.logger.messages import (
    warning_client_prioritized_and_token_skipped,
    warning_token_skipped,
)
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from adapters.slack import http
from adapters.slack.app import SlackAdapter
from adapters.slack.auth import InstallationAuthorize, single_workspace
from adapters.slack.chat import PLATFORM, Messages, SlackChat
from adapters.slack.directory import Directory
from adapters.slack.installations import (
    OAUTH_STATE_SECONDS,
    SqlInstallationStore,
    SqlOAuthStateStore,
    TokenCipher,
    reseal,
    token_cipher,
    unreadable,
)
from adapters.slack.listeners import register
from adapters.slack.modes import Plan, plan
from adapters.slack.surface import bot_scopes
from adapters.slack.workspaces import Workspaces, reading_client
from bot import pacing
from bot.config import ConfigError, Secrets
from bot.core import Core

log = logging.getLogger(__name__)


@dataclass
class RunningSlack:
    """A started Slack adapter; `http_port` is where HTTP mode listens."""

    adapter: SlackAdapter
    app: AsyncApp
    closing: Callable[[], Awaitable[None]]
    http_port: int | None = None
    # Socket Mode: whether the websocket is up (HTTP mode: serving is being connected).
    socket: Callable[[], Awaitable[bool]] | None = None

    async def stop_intake(self) -> None:
        """Close the socket, or stop listening: Slack redelivers or retries what follows."""
        await self.closing()

    async def idle(self) -> None:
        await self.adapter.idle()

    async def connected(self) -> bool:
        return True if self.socket is None else await self.socket()

    async def wait(self) -> None:
        """Slack is served until the process is told to stop."""
        await asyncio.Event().wait()


@asynccontextmanager
async def running(
    core: Core,
    secrets: Secrets,
    *,
    post_interval: float = pacing.SLACK.post_interval,
    edit_interval: float = pacing.SLACK.edit_interval,
    client_retries: int = 2,
) -> AsyncIterator[RunningSlack]:
    """Connect as configured; `stop_intake` stops taking requests, leaving the clients open
    for the last deliveries until the block ends.

    `post_interval` spaces new messages in a channel and `edit_interval` the edits of one card;
    `client_retries` is how often a rate-limited read is retried by the Web API client itself.
    """
    how = plan(core.settings.slack, secrets)
    async with aiohttp.ClientSession() as session:
        client = reading_client(how.api_base_url, session, client_retries)
        app, installations = await _bolt_app(core, how, client, secrets.token_keys)
        workspaces = Workspaces(
            how.api_base_url, session, client_retries, how.bot_token, installations
        )
        chat = SlackChat(workspaces, Directory(), Messages())
        chat.role_emoji.update(await core.coop.role_emoji(PLATFORM))
        core.attach(PLATFORM, chat, pacing.Pacing(post_interval, edit_interval))
        adapter = SlackAdapter(core, chat)
        register(app, adapter, installations)
        try:
            if how.mode == "socket":
                handler = AsyncSocketModeHandler(app, how.app_token, web_client=client)
                await handler.connect_async()
                log.info("Slack: connected in Socket Mode")
                closing = _once(handler.close_async)
                try:
                    yield RunningSlack(adapter, app, closing, socket=handler.client.is_connected)
                finally:
                    await closing()
            else:
                settings = core.settings.slack
                runner, port = await http.start(
                    app,
                    settings.http_host,
                    settings.http_port,
                    how.signing_secret or "",
                    extra=core.http_routes,
                )
                log.info("Slack: serving %s on port %d", http.EVENTS_PATH, port)
                for bound in core.http_bound:
                    bound(port)
                closing = _once(runner.cleanup)
                try:
                    yield RunningSlack(adapter, app, closing, port)
                finally:
                    await closing()
        finally:
            await adapter.close()


def _once(close: Callable[[], Awaitable[None]]) -> Callable[[], Awaitable[None]]:
    """`close`, made safe to call again (stopping intake, then leaving the block)."""
    done: list[bool] = []

    async def once() -> None:
        if not done:
            done.append(True)
            await close()

    return once


async def _bolt_app(
    core: Core, how: Plan, client: AsyncWebClient, token_keys: str | None
) -> tuple[AsyncApp, SqlInstallationStore | None]:
    """The bolt app, and with OAuth the store of installed workspaces (their tokens
    encrypted with `token_keys`)."""
    if not how.oauth:
        assert how.bot_token is not None
        try:
            authorize = await single_workspace(client, how.bot_token)
        except SlackApiError as err:
            raise ConfigError(
                f"Slack: SLACK_BOT_TOKEN was refused ({err.response.get('error')})"
            ) from None
        with _quiet_token_notices():
            app = AsyncApp(
                name="coopbot",
                client=client,
                signing_secret=how.signing_secret or "",
                authorize=authorize,
                process_before_response=True,
            )
        return app, None
    assert how.client_id is not None and how.client_secret is not None
    installations = SqlInstallationStore(
        core.engine, how.client_id, await _token_cipher(core, token_keys)
    )
    public_url = core.settings.slack.public_url
    oauth = AsyncOAuthSettings(
        client_id=how.client_id,
        client_secret=how.client_secret,
        scopes=bot_scopes(),
        user_scopes=[],
        redirect_uri=public_url.rstrip("/") + http.REDIRECT_PATH if public_url else None,
        install_path=http.INSTALL_PATH,
        redirect_uri_path=http.REDIRECT_PATH,
        installation_store=installations,
        state_store=SqlOAuthStateStore(core.engine),
        state_expiration_seconds=OAUTH_STATE_SECONDS,
    )
    with _quiet_token_notices():
        app = AsyncApp(
            name="coopbot",
            client=client,
            signing_secret=how.signing_secret or "",
            installation_store=installations,
            # Bolt takes an AsyncAuthorize object here (a plain function would clash with OAuth);
            # its type hint only mentions functions.
            authorize=InstallationAuthorize(installations),  # type: ignore[arg-type]
            oauth_settings=oauth,
            process_before_response=True,
        )
    return app, installations


async def _token_cipher(core: Core, token_keys: str | None) -> TokenCipher:
    """The cipher of the stored bot tokens, once those an earlier version stored in plain
    text are encrypted; a missing or malformed key stops start-up (a ConfigError)."""
    cipher = token_cipher(token_keys)
    done = await asyncio.to_thread(reseal, core.engine, cipher, every=False, on_unreadable="keep")
    if done.plain:
        log.info("Slack: encrypted %d bot tokens stored in plain text", done.plain)
    if done.unreadable:
        log.error("%s", unreadable(done.unreadable))
    return cipher


@contextmanager
def _quiet_token_notices() -> Iterator[None]:
    """Hide bolt's notice, while it starts, that SLACK_BOT_TOKEN will be unused.

    Bolt reads SLACK_BOT_TOKEN itself; here the token reaches it through `authorize`
    instead, so the notice would only make people think their token is ignored.
    """
    notices = {warning_client_prioritized_and_token_skipped(), warning_token_skipped()}

    def keep(record: logging.LogRecord) -> bool:
        return record.getMessage() not in notices

    logger = logging.getLogger("slack_bolt.AsyncApp")
    logger.addFilter(keep)
    try:
        yield
    finally:
        logger.removeFilter(keep)
