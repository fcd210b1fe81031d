"""Workspaces that installed the app (OAuth), and OAuth states, in our own database.

slack_sdk ships SQLAlchemy stores, but importing them needs SQLAlchemy's asyncio extension
(greenlet), which coopbot does not otherwise need; these small stores keep the same data
on our synchronous engine and run their queries in worker threads. Only bot tokens are
kept (coopbot asks for no user scopes), and only encrypted: with the first key of
COOPBOT_TOKEN_KEYS, readable with any of them, so keys can be rotated.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from logging import Logger
from typing import Any, Literal
from uuid import uuid4

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from slack_sdk.oauth.installation_store import Bot, Installation
from slack_sdk.oauth.installation_store.async_installation_store import AsyncInstallationStore
from slack_sdk.oauth.state_store.async_state_store import AsyncOAuthStateStore
from sqlalchemy import Engine, RowMapping, delete, select, update

from adapters.slack.directory import TtlCache
from bot.config import ConfigError
from storage.tables import slack_bots as bots
from storage.tables import slack_oauth_states as oauth_states

log = logging.getLogger(__name__)

OAUTH_STATE_SECONDS = 600
TOKEN_KEYS = "COOPBOT_TOKEN_KEYS"
MAKE_KEY = (
    'python -c "from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())"'
)
# Every Slack token starts so and no Fernet token does: such a value was stored by a version
# of coopbot that kept tokens in plain text.
_PLAIN_PREFIX = "xox"


def _utc_now() -> datetime:
    # Stored naive in UTC: the same on SQLite and PostgreSQL.
    return datetime.now(UTC).replace(tzinfo=None)


def _execute(engine: Engine, *statements: Any) -> None:
    with engine.begin() as conn:
        for statement in statements:
            conn.execute(statement)


class UnreadableToken(Exception):
    """A stored token that no key opens; the message names the workspace, never the token."""


class TokenCipher:
    """Tokens at rest: encrypted with the newest key, opened with any of the keys."""

    def __init__(self, keys: list[str]) -> None:
        self._fernet = MultiFernet([Fernet(key) for key in keys])

    def seal(self, token: str) -> str:
        return self._fernet.encrypt(token.encode()).decode()

    def open(self, stored: str, workspace: str) -> str:
        """The token; one stored in plain text by an earlier version is taken as it is."""
        if stored.startswith(_PLAIN_PREFIX):
            return stored
        try:
            return self._fernet.decrypt(stored.encode()).decode()
        except InvalidToken:
            raise UnreadableToken(unreadable([workspace])) from None

    def reseal(self, stored: str, workspace: str) -> str:
        """`stored` encrypted with the newest key (the token itself is unchanged)."""
        if stored.startswith(_PLAIN_PREFIX):
            return self.seal(stored)
        try:
            return self._fernet.rotate(stored.encode()).decode()
        except InvalidToken:
            raise UnreadableToken(unreadable([workspace])) from None


def unreadable(workspaces: Sequence[str]) -> str:
    """What to say of stored tokens no key opens: whose they are, never what they hold."""
    return (
        f"Slack: no key in {TOKEN_KEYS} opens the stored bot token of {', '.join(workspaces)}: "
        "put back the key it was encrypted with, or install the app there again"
    )


def token_cipher(value: str | None) -> TokenCipher:
    """The cipher for COOPBOT_TOKEN_KEYS (comma-separated, newest first); a ConfigError
    says how to make a key, without repeating what was given."""
    keys = [key.strip() for key in (value or "").split(",") if key.strip()]
    if not keys:
        raise ConfigError(
            f"Slack: many workspaces need {TOKEN_KEYS}, the key their bot tokens are "
            f"encrypted with; make one with: {MAKE_KEY}"
        )
    for number, key in enumerate(keys, 1):
        try:
            Fernet(key)
        except ValueError:
            raise ConfigError(
                f"Slack: {TOKEN_KEYS}: key {number} of {len(keys)} is not a Fernet key "
                f"(32 url-safe base64-encoded bytes); make one with: {MAKE_KEY}"
            ) from None
    return TokenCipher(keys)


def _workspace(row: RowMapping) -> str:
    """How a message names an installation's workspace (or organisation)."""
    if row["team_id"] is None:
        where = f"organisation {row['enterprise_id']}"
        name = row["enterprise_name"]
    else:
        where = f"workspace {row['team_id']}"
        name = row["team_name"]
    return f"{where} ({name})" if name else where


@dataclass(frozen=True)
class Resealed:
    """What `reseal` did: tokens written encrypted (`plain` of them found in plain text), and
    workspaces whose token no key opens (kept, or with "forget" deleted)."""

    written: int
    plain: int
    unreadable: tuple[str, ...]


def reseal(
    engine: Engine,
    cipher: TokenCipher,
    *,
    every: bool,
    on_unreadable: Literal["keep", "forget", "refuse"],
) -> Resealed:
    """Encrypt the tokens still stored in plain text and, with `every`, re-encrypt all of
    them with the newest key, in one transaction; a token no key opens is kept, deleted
    ("forget"), or makes it change nothing ("refuse": an UnreadableToken naming each)."""
    written = plain = 0
    lost: list[str] = []
    with engine.begin() as conn:
        rows = conn.execute(select(bots).order_by(bots.c.id).with_for_update()).mappings().all()
        for row in rows:
            stored, workspace = row["bot_token"], _workspace(row)
            is_plain = stored.startswith(_PLAIN_PREFIX)
            try:
                if not (every or is_plain):
                    cipher.open(stored, workspace)
                    continue
                sealed = cipher.reseal(stored, workspace)
            except UnreadableToken:
                lost.append(workspace)
                if on_unreadable == "forget":
                    conn.execute(delete(bots).where(bots.c.id == row["id"]))
                continue
            conn.execute(update(bots).where(bots.c.id == row["id"]).values(bot_token=sealed))
            written += 1
            plain += is_plain
        if lost and on_unreadable == "refuse":
            raise UnreadableToken(
                f"{unreadable(lost)} (nothing was changed; --forget-unreadable deletes it)"
            )
    if plain:
        _scrub(engine)
    return Resealed(written, plain, tuple(lost))


def _scrub(engine: Engine) -> None:
    """Rewrite the database so that no copy of a plain-text token outlives its row: SQLite
    keeps overwritten and deleted rows in free pages and in its WAL, PostgreSQL in dead
    tuples. Only after tokens were found in plain text, so once."""
    try:
        if engine.dialect.name == "sqlite":
            # Outside any transaction, which the engine would begin with BEGIN IMMEDIATE.
            raw = engine.raw_connection()
            try:
                cursor = raw.cursor()
                cursor.execute("VACUUM")
                cursor.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                cursor.close()
            finally:
                raw.close()
        else:
            with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
                conn.exec_driver_sql(f"VACUUM FULL {bots.name}")
    except Exception as err:  # the tokens are encrypted all the same
        log.warning(
            "Slack: the database could not be compacted (%s): copies of the tokens it kept "
            "in plain text may stay in its free space until it is vacuumed",
            str(err).splitlines()[0],
        )


class SqlInstallationStore(AsyncInstallationStore):
    """The bot of each installed workspace, its token encrypted with `cipher`; lookups are
    cached for `ttl` seconds."""

    def __init__(
        self, engine: Engine, client_id: str, cipher: TokenCipher, ttl: float = 60.0
    ) -> None:
        self.engine = engine
        self.client_id = client_id
        self.cipher = cipher
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
            "bot_token": self.cipher.seal(bot.bot_token),
            "bot_id": bot.bot_id,
            "bot_user_id": bot.bot_user_id,
            "bot_scopes": ",".join(bot.bot_scopes),
            "is_enterprise_install": bool(bot.is_enterprise_install),
            "installed_at": _utc_now(),
        }
        # The workspace's earlier token is superseded: keeping it would only keep a secret.
        earlier = delete(bots).where(*self._where(bot.enterprise_id, bot.team_id))
        await asyncio.to_thread(_execute, self.engine, earlier, bots.insert().values(**row))
        self._forget(bot.enterprise_id, bot.team_id)

    async def async_find_bot(
        self,
        *,
        enterprise_id: str | None,
        team_id: str | None,
        is_enterprise_install: bool | None = False,
    ) -> Bot | None:
        """The workspace's bot; UnreadableToken when no key opens its stored token."""
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
            .where(*self._where(enterprise_id, team_id))
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
            bot_token=self.cipher.open(row["bot_token"], _workspace(row)),
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
        where = self._where(enterprise_id, team_id)
        await asyncio.to_thread(_execute, self.engine, delete(bots).where(*where))
        self._forget(enterprise_id, team_id)

    async def async_delete_installation(
        self, *, enterprise_id: str | None, team_id: str | None, user_id: str | None = None
    ) -> None:
        """Nothing to do: no user tokens are kept."""

    async def async_delete_all(self, *, enterprise_id: str | None, team_id: str | None) -> None:
        await self.async_delete_bot(enterprise_id=enterprise_id, team_id=team_id)

    def _where(self, enterprise_id: str | None, team_id: str | None) -> tuple[Any, ...]:
        return (
            bots.c.client_id == self.client_id,
            bots.c.enterprise_id == enterprise_id,
            bots.c.team_id == team_id,
        )

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
