"""Workspaces that installed the app (OAuth), and OAuth states, in our own database.

slack_sdk ships SQLAlchemy stores, but importing them needs SQLAlchemy's asyncio extension
(greenlet), which coopbot does not otherwise need; these small stores keep the same data
on our synchronous engine and run their queries in worker threads. Only bot tokens are
kept: coopbot asks for no user scopes.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from logging import Logger
from typing import Any
from uuid import uuid4

from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from sqlalchemy import Engine, delete, select

from adapters.slack.directory import TtlCache
from storage.tables import slack_bots as bots
from storage.tables import slack_oauth_states as oauth_states

log = logging.getLogger(__name__)

OAUTH_STATE_SECONDS = 600


def _utc_now() -> datetime:
    # Stored naive in UTC: the same on SQLite and PostgreSQL.
    return datetime.now(UTC).replace(tzinfo=None)


def _execute(engine: Engine, statement: Any) -> None:
    with engine.begin() as conn:
        conn.execute(statement)


class SqlInstallationStore(AsyncInstallationStore):
    """The bot of each installed workspace; lookups are cached for `ttl` seconds."""

    def __init__(self, engine: Engine, client_id: str, ttl: float = 60.0) -> None:
        self.engine = engine
        self.client_id = client_id
        self._bots: TtlCache[Bot] = TtlCache(ttl, 10_000)

    @property
    def logger(self) -> Logger:
        return log

    async def async_save(self, installation: Installation) -> None:
        await self.async_save_bot(installation.to_bot())

    async def async_save_bot(self, bot: Bot) -> None:
        row = {
            "client_id": self.client_id,
            "app_id": bot.app_id,
            "enterprise_id": bot.enterprise_id,
            "enterprise_name": bot.enterprise_name,
            "team_id": bot.team_id,
            "team_name": bot.team_name,
            "bot_token": bot.bot_token,
            "bot_id": bot.bot_id,
            "bot_user_id": bot.bot_user_id,
            "bot_scopes": ",".join(bot.bot_scopes),
            "is_enterprise_install": bool(bot.is_enterprise_install),
            "installed_at": _utc_now(),
        }
        await asyncio.to_thread(_execute, self.engine, bots.insert().values(**row))
        self._forget(bot.enterprise_id, bot.team_id)

    async def async_find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        # An org-wide install serves every workspace of the organisation.
        team = None if is_enterprise_install else team_id
        cached = self._bots.get((enterprise_id, team))
        if cached is not None:
            return cached
        bot = await asyncio.to_thread(self._find_bot, enterprise_id, team)
        if bot is not None:
            self._bots.put((enterprise_id, team), bot)
        return bot

    def _find_bot(self, enterprise_id: str | None, team_id: str | None) -> Bot | None:
        query = (
            select(bots)
            .where(
                bots.c.client_id == self.client_id,
                bots.c.enterprise_id == enterprise_id,
                bots.c.team_id == team_id,
            )
            .order_by(bots.c.installed_at.desc(), bots.c.id.desc())
            .limit(1)
        )
        with self.engine.begin() as conn:
            row = conn.execute(query).mappings().first()
        if row is None:
            return None
        return Bot(
            app_id=row["app_id"],
            enterprise_id=row["enterprise_id"],
            enterprise_name=row["enterprise_name"],
            team_id=row["team_id"],
            team_name=row["team_name"],
            bot_token=row["bot_token"],
            bot_id=row["bot_id"],
            bot_user_id=row["bot_user_id"],
            bot_scopes=row["bot_scopes"] or "",
            is_enterprise_install=row["is_enterprise_install"],
            installed_at=row["installed_at"].replace(tzinfo=UTC),
        )

    async def async_find_installation(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        user_id: str | None = None,
        is_enterprise_install: bool | None = False,
    ) -> Installation | None:
        # Only bots are kept; bolt then falls back to async_find_bot.
        return None

    async def async_delete_bot(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        where = (
            bots.c.client_id == self.client_id,
            bots.c.enterprise_id == enterprise_id,
            bots.c.team_id == team_id,
        )
        await asyncio.to_thread(_execute, self.engine, delete(bots).where(*where))
        self._forget(enterprise_id, team_id)

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        """Nothing to do: no user tokens are kept."""

    async def async_delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self.async_delete_bot(enterprise_id=enterprise_id, team_id=team_id)

    def _forget(self, enterprise_id: str | None, team_id: str | None) -> None:
        self._bots.forget((enterprise_id, team_id))
        self._bots.forget((enterprise_id, None))


class SqlOAuthStateStore(AsyncOAuthStateStore):
    """One-time `state` values of the OAuth flow, valid for ten minutes."""

    def __init__(self, engine: Engine, expiration_seconds: int = OAUTH_STATE_SECONDS) -> None:
        self.engine = engine
        self.expiration = timedelta(seconds=expiration_seconds)

    @property
    def logger(self) -> Logger:
        return log

    async def async_issue(self, *args: Any, **kwargs: Any) -> str:
        state = str(uuid4())
        values = {"state": state, "expire_at": _utc_now() + self.expiration}
        await asyncio.to_thread(_execute, self.engine, oauth_states.insert().values(**values))
        return state

    async def async_consume(self, state: str) -> bool:
        return await asyncio.to_thread(self._consume, state)

    def _consume(self, state: str) -> bool:
        with self.engine.begin() as conn:
            found = conn.execute(
                select(oauth_states.c.id).where(
                    oauth_states.c.state == state, oauth_states.c.expire_at > _utc_now()
                )
            ).first()
            conn.execute(delete(oauth_states).where(oauth_states.c.state == state))
        return found is not None
