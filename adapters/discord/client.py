"""The discord.py bot: intents, shards, endpoints, start-up (cog, persistent buttons, command
sync) and the hook that gives each reaction its gateway position."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import discord
import discord.gateway
import discord.http
import yarl
from discord import app_commands
from discord.ext import commands

from adapters.discord.chat import DiscordChat
from adapters.discord.cog import CoopCog
from adapters.discord.reactions import Position, ReactionGate
from adapters.discord.refs import PLATFORM
from adapters.discord.views import ChoiceSelect, CoopButton, EditButton, TitleButton
from bot import pacing
from bot.config import DiscordSettings
from bot.core import Core
from bot.shaping import PALETTE

log = logging.getLogger(__name__)

# Errors of a command as Discord sent it, not of coopbot: answered, not logged as failures.
STALE = (
    app_commands.CommandNotFound,
    app_commands.CommandSignatureMismatch,
    app_commands.TransformerError,
)
STALE_ANSWER = (
    "That command isn't one I have any more (your Discord app may have loaded it before it "
    "changed). Type /coop again and pick it from the list."
)

REACTION_EVENTS = ("raw_reaction_add", "raw_reaction_remove")


def intents(settings: DiscordSettings) -> discord.Intents:
    """Only what the bot uses: guilds (channels, roles, permissions) and reactions."""
    wanted = discord.Intents.none()
    wanted.guilds = True
    wanted.guild_reactions = True
    wanted.message_content = settings.message_content_intent
    return wanted


@contextlib.contextmanager
def endpoints(settings: DiscordSettings) -> Iterator[None]:
    """Point discord.py at the configured REST and gateway URLs (proxies, tests) meanwhile.

    discord.py keeps both as class attributes, so they hold for the whole process.
    """
    route, socket = discord.http.Route, discord.gateway.DiscordWebSocket
    old_base, old_gateway = route.BASE, socket.DEFAULT_GATEWAY
    if settings.api_base_url:
        route.BASE = settings.api_base_url.rstrip("/")
    if settings.gateway_url:
        socket.DEFAULT_GATEWAY = yarl.URL(settings.gateway_url)
    try:
        yield
    finally:
        route.BASE, socket.DEFAULT_GATEWAY = old_base, old_gateway


class CoopBot(commands.AutoShardedBot):
    """coopbot on Discord; runs the shards in `shard_ids` of `shard_count` (all by default)."""

    def __init__(self, core: Core, **options: Any) -> None:
        settings = core.settings.discord
        if settings.shard_ids:
            options["shard_ids"] = settings.shard_ids
        super().__init__(
            command_prefix=commands.when_mentioned,
            help_command=None,
            intents=intents(settings),
            shard_count=settings.shard_count,
            allowed_mentions=discord.AllowedMentions.none(),
            chunk_guilds_at_startup=False,
            **options,
        )
        self.core = core
        self.settings = settings
        prefs = core.coop.prefs
        configured = (prefs.track_emoji, prefs.commit_emoji, prefs.done_emoji)
        self.gate = ReactionGate(configured, roles=PALETTE)
        self.chat = DiscordChat(
            self, prefs.commit_emoji, settings.message_content_intent, self.gate.learn
        )
        core.attach(PLATFORM, self.chat, pacing.DISCORD)

    async def setup_hook(self) -> None:
        self.tree.on_error = self._command_failed  # type: ignore[method-assign]
        # Buttons are matched by custom_id pattern, so cards from before a restart work.
        self.add_dynamic_items(CoopButton, ChoiceSelect, EditButton, TitleButton)
        # Before the gateway connects: reactions with the roles' emoji of cards drawn before
        # a restart pass the gate from the first event (see Coop.role_emoji).
        self.gate.learn(await self.core.coop.role_emoji(PLATFORM))
        await self.add_cog(CoopCog(self, self.core, self.chat))
        # With shards split across processes, the one running shard 0 registers the commands.
        if 0 in (self.settings.shard_ids or [0]):
            await sync_commands(self.tree, self.settings.guild_ids)

    async def _command_failed(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        """A command Discord sent that is not the one registered (an app that loaded it before
        it changed, a renamed command, options of the wrong type): say so, privately."""
        if not isinstance(error, STALE):
            log.error("a command failed: %s", type(error).__name__, exc_info=error)
            return
        log.info("interaction %s: %s", interaction.id, type(error).__name__)
        if not interaction.response.is_done():
            with contextlib.suppress(discord.HTTPException):
                await interaction.response.send_message(STALE_ANSWER, ephemeral=True)

    def dispatch(self, event_name: str, /, *args: Any, **kwargs: Any) -> None:
        super().dispatch(event_name, *args, **kwargs)
        # Called while the gateway message is being parsed, so the shard's sequence number is
        # still this event's; the cog's listener runs later, when it may have moved on.
        if event_name in REACTION_EVENTS:
            payload: discord.RawReactionActionEvent = args[0]
            bot_id = self.user.id if self.user else None
            admitted = self.gate.admit(payload, bot_id, self._position(payload.guild_id))
            if admitted is not None:
                super().dispatch("coop_reaction", admitted)

    def _position(self, guild_id: int | None) -> Position | None:
        """The gateway position of the event being parsed on the guild's shard."""
        if guild_id is None:
            return None
        try:
            socket = self._get_websocket(guild_id)  # discord.py's own shard lookup
        except (KeyError, AttributeError):
            return None
        if socket.session_id is None or socket.sequence is None:
            return None
        return Position(socket.session_id, socket.sequence)

    async def stop_intake(self) -> None:
        """Leave the gateway (no more events), keeping the REST client for the last sends."""
        for shard in self.shards.values():
            await shard.disconnect()

    async def close(self) -> None:
        await self.chat.close()
        await super().close()


async def sync_commands(tree: discord.app_commands.CommandTree[Any], guild_ids: list[int]) -> None:
    """Register the commands: in the listed guilds (instant), else globally (can take a while).

    A failure is logged with its likely fix; the bot still serves reactions and buttons.
    """
    try:
        if not guild_ids:
            await tree.sync()
        for guild_id in guild_ids:
            guild = discord.Object(guild_id)
            tree.copy_global_to(guild=guild)
            await tree.sync(guild=guild)
    except discord.HTTPException as exc:
        log.error(
            "could not register /coop (%s). Is the bot in every guild in discord.guild_ids, "
            "invited with the applications.commands scope (coopbot discord invite-url)?",
            exc,
        )
