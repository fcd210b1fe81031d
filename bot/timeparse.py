"""Natural-language times ("friday 5pm", "in 2 hours") in the asker's time zone."""

from __future__ import annotations

import difflib
import functools
import re
import zoneinfo
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import dateparser

from bot.errors import CoopError

EXAMPLES = '"friday 5pm", "in 2 hours" or "2026-12-24 18:00"'
_DURATION = re.compile(r"(\d{1,5})(w|d|h|m|s)")
_UNITS = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes", "s": "seconds"}


def parse_duration(text: str) -> timedelta | None:
    """`2h`, `1h30m`, `3d` (w, d, h, m, s); None when the text is not a duration."""
    compact = text.replace(" ", "").lower()
    parts = _DURATION.findall(compact)
    if not parts or "".join(n + u for n, u in parts) != compact:
        return None
    return sum((timedelta(**{_UNITS[u]: int(n)}) for n, u in parts), timedelta())


@functools.cache
def _zones() -> dict[str, str]:
    """Every IANA zone name, by its lower-case spelling."""
    # Files of the zone database that are not zones.
    names = zoneinfo.available_timezones() - {"localtime", "posixrules", "Factory"} | {"UTC"}
    return {name.lower(): name for name in names}


def zone_name(name: str) -> str:
    """The IANA zone `name` as the database spells it (any case accepted), or a CoopError
    with the likeliest zones meant: a near miss, the cities of a region, a city's zone."""
    zones = _zones()
    key = name.strip().lower()
    if key in zones and len(name) <= 64:
        return zones[key]
    shown = name if len(name) <= 60 else name[:59] + "…"
    region = [z for k, z in zones.items() if k.startswith(key + "/")] if key else []
    city = [z for k, z in zones.items() if key and k.endswith("/" + key.replace(" ", "_"))]
    near = difflib.get_close_matches(key, list(zones), n=3, cutoff=0.75) if len(key) < 64 else []
    if region:
        picks = sorted(region, key=lambda z: (z not in _COMMON, z))[:3]
        hint = f"“{shown}” is a region; pick the zone of a city in it, such as {', '.join(picks)}."
    elif city or near:
        meant = city[:1] or [zones[k] for k in near]
        hint = f"Did you mean {' or '.join(filter(None, [', '.join(meant[:-1]), meant[-1]]))}?"
    else:
        hint = "Use an IANA name such as Europe/Berlin, America/New_York or Asia/Tokyo."
    raise CoopError(f"I don't know the time zone “{shown}”. {hint}")


# Shown first when a region has many zones.
_COMMON = frozenset(
    {
        "Europe/London",
        "Europe/Berlin",
        "Europe/Paris",
        "America/New_York",
        "America/Chicago",
        "America/Los_Angeles",
        "America/Sao_Paulo",
        "Asia/Tokyo",
        "Asia/Kolkata",
        "Asia/Shanghai",
        "Africa/Lagos",
        "Africa/Nairobi",
        "Australia/Sydney",
        "Pacific/Auckland",
    }
)


def known(name: str | None) -> str | None:
    """`name` if it is an IANA zone (a platform may report one the zone data lacks)."""
    return name if name and _zones().get(name.lower()) == name else None


def zone(name: str) -> ZoneInfo:
    """The IANA zone `name`, or a CoopError saying how to spell one."""
    return ZoneInfo(zone_name(name))


def _read(
    text: str, tz_name: str, tz: ZoneInfo, base: datetime, languages: tuple[str, ...]
) -> datetime | None:
    """`text` read relative to the local wall time `base`, as an aware time in `tz`."""
    parsed = dateparser.parse(
        text,
        languages=list(languages),
        settings={
            "TIMEZONE": tz_name,
            "RETURN_AS_TIMEZONE_AWARE": True,
            "RELATIVE_BASE": base,
            "PREFER_DATES_FROM": "future",
        },
    )
    if parsed is None:
        return None
    # dateparser applies a fixed offset; re-read the wall time in the real zone so DST is right.
    return parsed.replace(tzinfo=None).replace(tzinfo=tz) if parsed.tzinfo else parsed


# The languages times are read in. Each one more is tried on text the others cannot read, so
# an unreadable time costs a pass per language (all 200 of dateparser's: up to 2 s).
LANGUAGES = ("en",)
HORIZON = timedelta(days=3653)  # ten years: further ahead is a typo, not a plan


@functools.cache
def languages() -> frozenset[str]:
    """The language codes times can be read in."""
    from dateparser.data import language_order

    return frozenset(language_order)


def parse_when(
    text: str,
    tz_name: str,
    now: datetime,
    horizon: timedelta = HORIZON,
    languages: tuple[str, ...] = LANGUAGES,
) -> datetime:
    """A future moment as aware UTC, read in `tz_name`; refuses past and unreadable times,
    and those further ahead than `horizon`.

    A time of day alone that has passed today ("9am" at noon) means tomorrow's.
    """
    tz = zone(tz_name)
    local_now = now.astimezone(tz).replace(tzinfo=None)
    when = _read(text, tz_name, tz, local_now, languages)
    if when is None:
        raise CoopError(f"I can't read “{text[:60]}” as a time. Try {EXAMPLES}.")
    if when.astimezone(UTC) <= now and when.date() == local_now.date():
        tomorrow = _read(text, tz_name, tz, local_now + timedelta(days=1), languages)
        # Read from tomorrow it moved by exactly a day: it named a time of day, not a date.
        if tomorrow is not None and tomorrow.replace(tzinfo=None) - when.replace(
            tzinfo=None
        ) == timedelta(days=1):
            when = tomorrow
    when_utc = when.astimezone(UTC)
    if when_utc <= now:
        shown = when.strftime("%a %d %b %Y %H:%M")
        raise CoopError(f"“{text[:60]}” is {shown} ({tz_name}), which has passed. Try {EXAMPLES}.")
    if when_utc - now > horizon:
        years = round(horizon.days / 365.25)
        raise CoopError(
            f"“{text[:60]}” is more than {years} years away. Try a date before "
            f"{format_local(now + horizon, tz_name)}."
        )
    return when_utc


def format_local(when: datetime, tz_name: str) -> str:
    """`when` as a short wall-clock time in `tz_name`, e.g. "Fri 04 Dec 17:00 (Europe/London)".

    A time so far ahead that the zone would push it past the calendar's end (year 9999, from
    before times were bounded) is shown in UTC instead of failing for that reader.
    """
    try:
        local = when.astimezone(ZoneInfo(tz_name))
    except (OverflowError, ValueError):
        return when.astimezone(UTC).strftime("%a %d %b %Y %H:%M") + " (UTC)"
    return local.strftime("%a %d %b %Y %H:%M") + f" ({tz_name})"
