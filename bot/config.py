"""Settings: defaults, then a YAML file, then COOPBOT_* environment variables; secrets from env."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    SettingsError,
)

from bot import timeparse
from bot.emoji_names import canonical, is_known
from bot.errors import CoopError
from bot.timeparse import zone

DEFAULT_CONFIG = Path("coopbot.yaml")
AdapterName = Literal["console", "slack", "discord"]


class ConfigError(Exception):
    """A bad setting; the message is one line naming it."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _listed(value: Any) -> Any:
    """A list from the environment: JSON (`["slack", "discord"]`) or comma-separated
    (`slack,discord`); YAML lists pass through."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return [value]
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.startswith("["):
        try:
            return json.loads(text)
        except ValueError:
            raise ValueError(f'{text!r} is not a JSON list; write a, b or ["a", "b"]') from None
    return [part.strip() for part in text.split(",") if part.strip()]


class EmojiSettings(_Section):
    track: str = "pushpin"
    commit: str = "raised_hand"
    done: str = "white_check_mark"

    @field_validator("track", "commit", "done")
    @classmethod
    def _known(cls, value: str) -> str:
        if not is_known(value):
            raise ValueError(f"{value!r} is not an emoji short name or emoji character")
        return value

    def canonical(self) -> tuple[str, str, str]:
        return canonical(self.track), canonical(self.commit), canonical(self.done)


class ConsoleSettings(_Section):
    channel: str = "general"
    admins: Annotated[list[str], NoDecode] = []

    _lists = field_validator("admins", mode="before")(_listed)


class SlackSettings(_Section):
    """Slack adapter settings; tokens come from SLACK_* environment variables."""

    mode: Literal["socket", "http"] = "socket"
    http_host: str = "0.0.0.0"
    http_port: int = 3000
    api_base_url: str | None = None
    # The HTTPS address Slack reaches in http mode; the manifest's request URLs are built on it.
    public_url: str | None = None
    # With SLACK_CLIENT_SECRET, http mode serves the OAuth install flow for many workspaces.
    client_id: str | None = None
    app_name: str = "coopbot"

    @field_validator("http_port")
    @classmethod
    def _port(cls, value: int) -> int:
        if not 0 <= value <= 65535:
            raise ValueError("must be a TCP port from 1 to 65535 (0: any free port)")
        return value

    @field_validator("public_url")
    @classmethod
    def _public(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value.strip())
        if parts.scheme != "https" or not parts.hostname:
            raise ValueError(
                f"{value!r} must be the https:// address Slack reaches coopbot at, such as "
                "https://coop.example.org (Slack sends requests to HTTPS addresses only)"
            )
        return value.strip()

    @field_validator("app_name")
    @classmethod
    def _app_name(cls, value: str) -> str:
        if not 0 < len(value.strip()) <= 35:
            raise ValueError("must be 1 to 35 characters (Slack's limit for an app name)")
        return value.strip()


class DiscordSettings(_Section):
    """Discord adapter settings; the token comes from DISCORD_BOT_TOKEN."""

    application_id: int | None = None
    api_base_url: str | None = None
    gateway_url: str | None = None
    guild_ids: Annotated[list[int], NoDecode] = []
    # Privileged: only when switched on in the Developer Portal (else Discord closes with 4014).
    message_content_intent: bool = False
    shard_count: int = 1
    shard_ids: Annotated[list[int], NoDecode] = []

    _lists = field_validator("guild_ids", "shard_ids", mode="before")(_listed)

    @field_validator("shard_count")
    @classmethod
    def _shard_count(cls, value: int) -> int:
        if value < 1:
            raise ValueError("must be 1 or more")
        return value

    @field_validator("shard_ids")
    @classmethod
    def _shard_ids(cls, value: list[int], info: Any) -> list[int]:
        count = info.data.get("shard_count", 1)
        if any(not 0 <= i < count for i in value) or len(set(value)) != len(value):
            raise ValueError(f"must be distinct shard numbers from 0 to {count - 1}")
        return value


class DeliverySettings(_Section):
    """How inbound events and outgoing messages are handled; the defaults suit most setups."""

    # On SIGTERM or SIGINT: how long to finish applying what was received and to send what is
    # due before exiting; what is left goes out on the next start.
    stop_seconds: float = 10.0
    # How long a process holds an event or a message it is working on before another process
    # (or this one, restarted) may take it over; renewed while the work goes on.
    lease_seconds: float = 10.0
    # How long an acknowledgement waits for its event to be recorded before it goes anyway.
    ack_wait_seconds: float = 1.5
    # How often to look for work another process left (or that was paced for later).
    poll_seconds: float = 1.0
    # How long handled events and sent messages are kept (to drop a platform's retries of an
    # event already handled); older ones are pruned. Slack retries for minutes, not hours.
    keep_hours: float = 24.0

    @field_validator(
        "stop_seconds", "lease_seconds", "ack_wait_seconds", "poll_seconds", "keep_hours"
    )
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be a number of seconds greater than 0")
        return value

    @field_validator("ack_wait_seconds")
    @classmethod
    def _within_deadline(cls, value: float) -> float:
        if value > 2.5:
            raise ValueError("must be at most 2.5: Slack and Discord give up after 3 seconds")
        return value


class ReminderSettings(_Section):
    """Reminders, nudges and digests."""

    # Before a task's due time, who is in gets a DM this long before (per task: remind:).
    task_reminders: str = "24h,1h"
    # A task still short of people this many hours before it is due gets one nudge in its
    # channel (0: never).
    short_nudge_hours: float = 24.0
    # This many hours after a task was due, who is in and not done is asked "did it happen?"
    # (0: never).
    checkin_hours: float = 2.0
    # This many days after a tipped pledge drive's task is due (or after it tipped, when it
    # has no due time), its group is asked "did you do it?" (0: never).
    drive_checkin_days: float = 3.0
    # After downtime, a reminder up to this many hours late is still sent (marked late);
    # older ones are recorded as missed and shown in /coop reminders.
    grace_hours: float = 24.0
    # Active reminders one person may have made.
    max_per_person: int = 25
    # How often to look for due reminders besides the alarm (another process may add some).
    sweep_seconds: float = 60.0
    # This many hours before a task is due, while it still has open places, each "maybe" is
    # asked once by DM whether they're in (0: never).
    maybe_ask_hours: float = 12.0
    # Someone moved off a waitlist into a place this many hours or less before the due time
    # must confirm within confirm_within_hours, or the place passes to the next person
    # (0: never ask). A /coop handoff offer lapses after confirm_within_hours too.
    confirm_window_hours: float = 24.0
    confirm_within_hours: float = 2.0

    @field_validator("task_reminders")
    @classmethod
    def _offsets(cls, value: str) -> str:
        from bot.reminders import parse_offsets

        try:
            parse_offsets(value)
        except CoopError as err:
            raise ValueError(err.message.removeprefix("remind: ")) from None
        return value

    @field_validator(
        "short_nudge_hours",
        "checkin_hours",
        "drive_checkin_days",
        "maybe_ask_hours",
        "confirm_window_hours",
    )
    @classmethod
    def _hours(cls, value: float) -> float:
        if value < 0:
            raise ValueError("must be 0 (off) or a number of hours")
        return value

    @field_validator("grace_hours", "sweep_seconds", "confirm_within_hours")
    @classmethod
    def _positive(cls, value: float) -> float:
        if value <= 0:
            raise ValueError("must be greater than 0")
        return value

    @field_validator("max_per_person")
    @classmethod
    def _count(cls, value: int) -> int:
        if not 1 <= value <= 10_000:
            raise ValueError("must be from 1 to 10000")
        return value


class OpsSettings(_Section):
    """The operator's HTTP listener: /healthz, /readyz and /metrics."""

    # "host:port"; "off"; or "auto": off for the console alone, else 127.0.0.1:9464 (in
    # Slack HTTP mode, the Slack server's own port serves them instead).
    listen: str = "auto"
    # The address people's calendar apps reach this listener at (https://coop.example.org),
    # for the links /coop calendar hands out; else http://<listen address>.
    public_url: str | None = None

    @field_validator("public_url")
    @classmethod
    def _public(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(
                f"{value!r} must be the http(s):// address calendar apps reach coopbot at, "
                "such as https://coop.example.org"
            )
        return value.strip().rstrip("/")

    @field_validator("listen")
    @classmethod
    def _listen(cls, value: str) -> str:
        value = value.strip()
        if value.lower() in ("auto", "off"):
            return value.lower()
        host, _, port = value.rpartition(":")
        if not host or not port.isdigit() or not 0 <= int(port) <= 65535:
            raise ValueError(
                f"{value!r}: use host:port (such as 127.0.0.1:9464 or 0.0.0.0:9464), auto or off"
            )
        return value

    def address(self, console_only: bool, slack_http: bool) -> tuple[str, int] | None:
        """Where to listen of our own (None: nowhere, or on the Slack server's port)."""
        if self.listen == "off" or (self.listen == "auto" and (console_only or slack_http)):
            return None
        host, _, port = (DEFAULT_OPS if self.listen == "auto" else self.listen).rpartition(":")
        return host.strip("[]"), int(port)


DEFAULT_OPS = "127.0.0.1:9464"


class Settings(BaseSettings):
    """Every setting; `config.example.yaml` documents each one."""

    model_config = SettingsConfigDict(
        env_prefix="COOPBOT_", env_nested_delimiter="__", extra="forbid"
    )

    database_url: str = "sqlite:///coopbot.db"
    default_timezone: str = "UTC"
    # Due dates, deadlines and reminders at most this many years ahead (further is a typo).
    horizon_years: int = 10
    # Languages times are typed in ("vendredi 17h" with fr); each adds a pass over any time
    # the others cannot read.
    time_languages: Annotated[list[str], NoDecode] = ["en"]
    adapters: Annotated[list[AdapterName], NoDecode] = []
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    # text: one readable line per record; json: one JSON object per line, for log shippers.
    log_format: Literal["text", "json"] = "text"
    emoji: EmojiSettings = EmojiSettings()
    console: ConsoleSettings = ConsoleSettings()
    slack: SlackSettings = SlackSettings()
    discord: DiscordSettings = DiscordSettings()
    delivery: DeliverySettings = DeliverySettings()
    reminders: ReminderSettings = ReminderSettings()
    ops: OpsSettings = OpsSettings()

    _lists = field_validator("time_languages", "adapters", mode="before")(_listed)

    @field_validator("default_timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        try:
            zone(value)
        except CoopError:
            raise ValueError(f"{value!r} is not an IANA time zone such as Europe/Berlin") from None
        return value

    @field_validator("time_languages")
    @classmethod
    def _languages(cls, value: list[str]) -> list[str]:
        known = timeparse.languages()
        wrong = [code for code in value if code not in known]
        if wrong or not value:
            raise ValueError(
                f"{', '.join(wrong) or 'an empty list'}: use language codes such as en, de, fr"
            )
        return value

    @field_validator("horizon_years")
    @classmethod
    def _years(cls, value: int) -> int:
        if not 1 <= value <= 100:
            raise ValueError("must be from 1 to 100")
        return value

    @field_validator("database_url")
    @classmethod
    def _url(cls, value: str) -> str:
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            make_url(value)
        except ArgumentError:
            raise ValueError(f"{value!r} is not an SQLAlchemy database URL") from None
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The YAML file arrives as init values; the environment overrides it.
        return env_settings, init_settings


# Every secret coopbot reads, all from the environment (the README and config.example.yaml
# list each; a test holds them to it).
SECRET_NAMES = (
    "SLACK_BOT_TOKEN",
    "SLACK_APP_TOKEN",
    "SLACK_SIGNING_SECRET",
    "SLACK_CLIENT_SECRET",
    "DISCORD_BOT_TOKEN",
    "COOPBOT_TOKEN_KEYS",
)


@dataclass(frozen=True)
class Secrets:
    """Credentials, only ever from the environment, named as the platforms' docs name them."""

    slack_bot_token: str | None
    slack_app_token: str | None
    slack_signing_secret: str | None
    discord_bot_token: str | None
    slack_client_secret: str | None = None
    # Keys the stored Slack bot tokens are encrypted with (many workspaces), newest first.
    token_keys: str | None = None

    @classmethod
    def from_env(cls) -> Secrets:
        def get(name: str) -> str | None:
            return os.environ.get(name) or None

        return cls(
            get("SLACK_BOT_TOKEN"),
            get("SLACK_APP_TOKEN"),
            get("SLACK_SIGNING_SECRET"),
            get("DISCORD_BOT_TOKEN"),
            slack_client_secret=get("SLACK_CLIENT_SECRET"),
            token_keys=get("COOPBOT_TOKEN_KEYS"),
        )


def _describe(err: ValidationError) -> str:
    first = err.errors()[0]
    # A list's item is named by its field (`adapters`, not `adapters.0`).
    where = ".".join(str(p) for p in first["loc"] if not isinstance(p, int)) or "settings"
    if first["type"] == "extra_forbidden":
        return f"setting {where}: unknown setting (see config.example.yaml)"
    if first["type"] == "list_type":
        return f"setting {where}: must be a list (in the environment: a, b or JSON [a, b])"
    message = first["msg"].removeprefix("Value error, ")
    value = first.get("input")
    if first["type"] == "literal_error" and isinstance(value, str):
        message = f"{value!r}: {message.lower()}"
    return f"setting {where}: {message}"


def _env_name(err: SettingsError) -> str:
    """The setting a value from the environment could not be read for (pydantic-settings
    names it only in its message)."""
    field = str(err).split('"')[1] if str(err).count('"') >= 2 else "settings"
    return f"COOPBOT_{field.upper()}"


def load_settings(path: Path | None = None) -> Settings:
    """Settings from `path` (else ./coopbot.yaml when present) and the environment."""
    if path is None and DEFAULT_CONFIG.exists():
        path = DEFAULT_CONFIG
    data: dict[str, Any] = {}
    if path is not None:
        try:
            loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise ConfigError(f"config file {path}: {exc.strerror or exc}") from None
        except yaml.YAMLError as exc:
            raise ConfigError(
                f"config file {path}: not valid YAML ({exc})".splitlines()[0]
            ) from None
        if loaded is not None and not isinstance(loaded, dict):
            raise ConfigError(f"config file {path}: expected a mapping of settings")
        data = loaded or {}
    try:
        return Settings(**data)
    except ValidationError as err:
        raise ConfigError(_describe(err)) from None
    except SettingsError as err:
        raise ConfigError(
            f"setting {_env_name(err)}: cannot be read; a section is written as JSON, e.g. "
            f'COOPBOT_SLACK=\'{{"mode": "http"}}\', or one setting at a time, e.g. '
            "COOPBOT_SLACK__MODE=http"
        ) from None
