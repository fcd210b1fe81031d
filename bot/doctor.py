"""`coopbot doctor`: settings, database, time-zone data and each chosen platform's credentials,
checked without changing anything, one line each."""

from __future__ import annotations

import asyncio
import sys
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from bot.config import DEFAULT_CONFIG, AdapterName, ConfigError, Secrets, Settings, load_settings
from storage.db import make_engine, reason
from storage.migrate import alembic_config, current_revision

TIMEOUT = 5.0  # seconds for any one connection or request: a doctor that hangs helps nobody
# Drivers on libpq, which takes connect_timeout from the URL.
UPGRADE = "run `coopbot db upgrade` (or `coopbot run`, which migrates at start)"


@dataclass(frozen=True)
class Check:
    """One line of the checklist."""

    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{'ok' if self.ok else 'FAIL':<6}{self.name}: {self.detail}"


def doctor(config: Path | None, out: TextIO | None = None) -> int:
    """Print each check as it is done (to standard output by default); 1 when any failed."""
    failed = False
    for check in _checks(config):
        print(check.line(), file=out or sys.stdout, flush=True)
        failed = failed or not check.ok
    return 1 if failed else 0


def _checks(config: Path | None) -> Iterator[Check]:
    path = config if config is not None or not DEFAULT_CONFIG.exists() else DEFAULT_CONFIG
    try:
        settings = load_settings(path)
    except ConfigError as err:
        yield Check("settings", False, str(err))
        return
    if path:
        yield Check("settings", True, f"{path}, overridden by COOPBOT_* variables")
    else:
        yield Check("settings", True, f"defaults and COOPBOT_* variables (no {DEFAULT_CONFIG})")
    yield database(settings.database_url)
    yield time_zones(settings.default_timezone)
    from bot.wiring import choose_adapters

    secrets = Secrets.from_env()
    adapters = choose_adapters(settings, secrets)
    if settings.adapters:
        why = "as settings.adapters says"
    elif adapters == ["console"]:
        why = "no Slack or Discord credentials are set"
    else:
        why = "for the credentials set"
    yield Check("adapters", True, f"{', '.join(adapters)} ({why})")
    yield from asyncio.run(_platforms(adapters, settings, secrets))


def database(url_text: str) -> Check:
    """Reachable, and at the newest migration, read without upgrading or creating anything."""
    url = make_url(url_text)
    shown = url.render_as_string(hide_password=True)
    if (
        url.drivername.startswith("sqlite")
        and url.database not in (None, "", ":memory:")
        and not Path(url.database).exists()
    ):
        return Check("database", False, f"{shown}: no such file yet; {UPGRADE}")
    try:
        # A probe: a connection of its own with a short timeout, creating nothing.
        engine = make_engine(url_text, read_only=True, probe=True)
    except (SQLAlchemyError, ImportError) as err:  # an unknown dialect, a driver not installed
        return Check("database", False, f"{shown}: cannot open ({reason(err, url_text)})")
    try:
        current = current_revision(engine)
    except SQLAlchemyError as err:
        return Check("database", False, f"{shown}: cannot connect ({reason(err, url_text)})")
    finally:
        engine.dispose()
    heads, known = _revisions(engine)
    head = ", ".join(heads)
    if current in heads:
        return Check("database", True, f"{shown}, migrations at head ({head})")
    if current is None:
        return Check("database", False, f"{shown}: not migrated (head is {head}); {UPGRADE}")
    if current in known:
        return Check("database", False, f"{shown}: at {current}, head is {head}; {UPGRADE}")
    return Check(
        "database",
        False,
        f"{shown}: at revision {current}, which this coopbot does not know (a newer version "
        "migrated it?)",
    )


def _revisions(engine: Engine) -> tuple[list[str], set[str]]:
    """The head revisions of storage/migrations, and every revision it has."""
    scripts = ScriptDirectory.from_config(alembic_config(engine))
    return sorted(scripts.get_heads()), {s.revision for s in scripts.walk_revisions()}


def time_zones(default: str) -> Check:
    """The IANA database is there, and the default zone loads from it."""
    names = zoneinfo.available_timezones()
    if not names:
        return Check(
            "time zones",
            False,
            "no IANA time-zone data: install the system's tzdata package, or `pip install tzdata`",
        )
    try:
        zoneinfo.ZoneInfo(default)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return Check("time zones", False, f"default_timezone {default} does not load")
    return Check("time zones", True, f"{len(names)} IANA zones, {default} loads ({_tz_source()})")


def _tz_source() -> str:
    for folder in zoneinfo.TZPATH:
        if (Path(folder) / "UTC").is_file():
            return folder
    return "the tzdata package"


async def _platforms(
    adapters: list[AdapterName], settings: Settings, secrets: Secrets
) -> list[Check]:
    """Each chosen platform's checks, side by side; only their libraries are loaded."""
    found = await asyncio.gather(*(_platform(name, settings, secrets) for name in adapters))
    return [check for checks in found for check in checks]


async def _platform(name: AdapterName, settings: Settings, secrets: Secrets) -> list[Check]:
    # Imported here, as bot.wiring does, so that only the chosen platforms' libraries load.
    if name == "slack":
        from adapters.slack import doctor as slack

        return await slack.examine(settings, secrets)
    if name == "discord":
        from adapters.discord import doctor as discord

        return await discord.examine(settings, secrets)
    return []  # the console has nothing of its own to check
