"""`coopbot doctor` for Discord: the token, the privileged intent if asked for, and the bot's
permissions in each server it serves, read over REST without joining the gateway."""

from __future__ import annotations

import json
from typing import Any

import aiohttp
import discord
import discord.http

from adapters.discord.permissions import BOT_PERMISSIONS, describe
from bot.config import DiscordSettings, Secrets, Settings
from bot.doctor import TIMEOUT, Check

# The application flags that allow the Message Content intent (verified, or under 100 servers).
MESSAGE_CONTENT_FLAGS = (1 << 18) | (1 << 19)
GUILDS_PAGE = 200  # the most GET /users/@me/guilds returns at once
INVITE = "add the bot with the link `coopbot discord invite-url` prints"
RESET = "copy it again from the Developer Portal (Bot, Reset Token)"


class _Failed(Exception):
    """A request that got no useful answer; the message says why, in one line."""


class _Api:
    """GET requests to Discord's REST API as the bot."""

    def __init__(self, session: aiohttp.ClientSession, base: str) -> None:
        self.session = session
        self.base = base.rstrip("/")

    async def get(self, path: str, **params: str) -> Any:
        try:
            async with self.session.get(self.base + path, params=params) as response:
                status, text = response.status, await response.text()
        except (aiohttp.ClientError, TimeoutError, OSError) as err:
            raise _Failed(f"cannot reach {self.base} ({str(err) or type(err).__name__})") from None
        try:
            body = json.loads(text)
        except ValueError:
            body = None
        if status == 401:
            raise _Failed(f"Discord refused DISCORD_BOT_TOKEN (401 Unauthorized); {RESET}")
        if status == 429:
            wait = body.get("retry_after") if isinstance(body, dict) else None
            raise _Failed(f"Discord is rate limiting the bot; try again in {wait or 'a few'} s")
        if status >= 400:
            message = body.get("message") if isinstance(body, dict) else None
            raise _Failed(f"GET {path} answered {status} ({message or 'no message'})")
        if body is None:
            raise _Failed(f"GET {path} answered {status}, not in JSON (is it Discord?)")
        return body


async def examine(settings: Settings, secrets: Secrets) -> list[Check]:
    """The token first: without it nothing else can be read."""
    if not secrets.discord_bot_token:
        return [Check("Discord token", False, f"DISCORD_BOT_TOKEN is not set; {RESET}")]
    headers = {
        "Authorization": f"Bot {secrets.discord_bot_token}",
        # Discord wants this shape; the bot itself sends discord.py's.
        "User-Agent": f"DiscordBot (https://github.com/Rapptz/discord.py {discord.__version__})",
    }
    timeout = aiohttp.ClientTimeout(total=TIMEOUT)
    base = settings.discord.api_base_url or discord.http.Route.BASE
    async with aiohttp.ClientSession(headers=headers, timeout=timeout) as session:
        api = _Api(session, base)
        try:
            me = await api.get("/users/@me")
        except _Failed as err:
            return [Check("Discord token", False, str(err))]
        checks = [Check("Discord token", True, f"bot {me.get('username')} ({me.get('id')})")]
        checks.append(await _intents(api, settings.discord))
        checks += await _permissions(api, settings.discord)
    return checks


async def _intents(api: _Api, settings: DiscordSettings) -> Check:
    if not settings.message_content_intent:
        return Check("Discord intents", True, "guilds and guild reactions, none privileged")
    try:
        flags = int((await api.get("/applications/@me")).get("flags") or 0)
    except _Failed as err:
        return Check("Discord intents", False, str(err))
    if flags & MESSAGE_CONTENT_FLAGS:
        return Check("Discord intents", True, "Message Content is switched on, as asked")
    return Check(
        "Discord intents",
        False,
        "discord.message_content_intent is true, but the Message Content intent is off in "
        "the Developer Portal (Bot, Privileged Gateway Intents); switch it on there or set "
        "this to false",
    )


async def _permissions(api: _Api, settings: DiscordSettings) -> list[Check]:
    """In each configured server (else each the bot is in), what it lacks of what it uses."""
    try:
        guilds = {int(g["id"]): g for g in await _guilds(api)}
    except _Failed as err:
        return [Check("Discord servers", False, str(err))]
    wanted = settings.guild_ids or sorted(guilds)
    if not wanted:
        return [Check("Discord servers", False, f"the bot is in none yet; {INVITE}")]
    checks = []
    for guild_id in wanted:
        guild = guilds.get(guild_id)
        if guild is None:
            detail = f"in discord.guild_ids, but the bot is not in it; {INVITE}"
            checks.append(Check(f"Discord server {guild_id}", False, detail))
            continue
        name = f"Discord permissions in {guild.get('name')} ({guild_id})"
        missing = lacking(discord.Permissions(int(guild.get("permissions") or 0)))
        if missing:
            detail = (
                f"missing {describe(missing)}: grant them to the bot's role (Server Settings, "
                f"Roles), or {INVITE}"
            )
            checks.append(Check(name, False, detail))
        else:
            checks.append(Check(name, True, f"has all {len(needed())} it uses"))
    return checks


async def _guilds(api: _Api) -> list[dict[str, Any]]:
    """Every server the bot is in, page by page."""
    found: list[dict[str, Any]] = []
    while True:
        params = {"limit": str(GUILDS_PAGE)}
        if found:
            params["after"] = str(found[-1]["id"])
        page = await api.get("/users/@me/guilds", **params)
        if not isinstance(page, list):
            raise _Failed("GET /users/@me/guilds answered something other than a list")
        found += page
        if len(page) < GUILDS_PAGE:
            return found


def needed() -> list[str]:
    """The permissions coopbot uses, by the names Discord's settings show (View Channel, not
    discord.py's older alias Read Messages)."""
    names = [name for name, granted in BOT_PERMISSIONS if granted]
    return ["view_channel" if name == "read_messages" else name for name in names]


def lacking(have: discord.Permissions) -> list[str]:
    """What of `needed()` the server-wide permissions `have` leave out (an administrator has
    everything)."""
    if have.administrator:
        return []
    return [name for name in needed() if not getattr(have, name)]
