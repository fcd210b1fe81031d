"""Natural-language times ("friday 5pm", "in 2 hours") in the asker's time zone."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

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


def zone(name: str) -> ZoneInfo:
    """The IANA zone `name`, or a CoopError saying how to spell one."""
    try:
        if not name or name != name.strip() or name.startswith("/"):
            raise ValueError(name)
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise CoopError(
            f"I don't know the time zone “{name[:60]}”. Use an IANA name such as "
            "Europe/Berlin, America/New_York or Asia/Tokyo."
        ) from None


def _read(text: str, tz_name: str, tz: ZoneInfo, base: datetime) -> datetime | None:
    """`text` read relative to the local wall time `base`, as an aware time in `tz`."""
    parsed = dateparser.parse(
        text,
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


HORIZON = timedelta(days=3653)  # ten years: further ahead is a typo, not a plan


def parse_when(text: str, tz_name: str, now: datetime, horizon: timedelta = HORIZON) -> datetime:
    """A future moment as aware UTC, read in `tz_name`; refuses past and unreadable times,
    and those further ahead than `horizon`.

    A time of day alone that has passed today ("9am" at noon) means tomorrow's.
    """
    tz = zone(tz_name)
    local_now = now.astimezone(tz).replace(tzinfo=None)
    when = _read(text, tz_name, tz, local_now)
    if when is None:
        raise CoopError(f"I can't read “{text[:60]}” as a time. Try {EXAMPLES}.")
    if when.astimezone(UTC) <= now and when.date() == local_now.date():
        tomorrow = _read(text, tz_name, tz, local_now + timedelta(days=1))
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
