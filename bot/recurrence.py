"""Recurrence rules (`every:day`, `weekday`, `week` on some days, `month`, a cron expression)
and their next occurrence in a person's zone, at the same wall-clock time across
daylight-saving changes.

APScheduler's triggers do the calendar arithmetic. They are run on wall-clock time (local
time written as if it were UTC, where no hour is skipped or repeated), and each wall time is
then placed in the real zone: a time the change skips (02:30 on the spring-forward night)
happens when the clocks say 03:30, and a time it repeats happens once, the first time.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.calendarinterval import CalendarIntervalTrigger
from apscheduler.triggers.cron import CronTrigger

from bot.errors import CoopError

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_FULL_DAYS = {
    "monday": "mon",
    "tuesday": "tue",
    "wednesday": "wed",
    "thursday": "thu",
    "friday": "fri",
    "saturday": "sat",
    "sunday": "sun",
}
_DAY_NAMES = {abbreviation: name.title() for name, abbreviation in _FULL_DAYS.items()}
RULES = "day, weekday, week (with on:mon,thu), month, or a cron expression like “0 9 * * 1-5”"
# A rule may not fire more often than this: reminders are for people, not for polling.
MIN_INTERVAL = timedelta(minutes=5)
_STEPS = 10_000  # wall times looked at for one answer, at most (a guard, never reached)


def parse_days(text: str) -> tuple[str, ...]:
    """`mon,thu` (or full names, spaces allowed) as sorted day abbreviations."""
    days: set[str] = set()
    for raw in re.split(r"[,\s]+", text.strip().lower()):
        if not raw:
            continue
        day = _FULL_DAYS.get(raw, raw[:3] if raw[:3] in DAYS and raw in _prefixes(raw) else raw)
        if day not in DAYS:
            raise CoopError(f"on: “{raw[:20]}” isn't a day. Use mon, tue, wed, thu, fri, sat, sun.")
        days.add(day)
    if not days:
        raise CoopError("on: needs at least one day, like on:mon,thu.")
    return tuple(d for d in DAYS if d in days)


def _prefixes(raw: str) -> set[str]:
    full = next((f for f in _FULL_DAYS if f.startswith(raw[:3])), "")
    return {full[:n] for n in range(3, len(full) + 1)}


_KINDS = {
    "day": "day",
    "daily": "day",
    "weekday": "weekday",
    "weekdays": "weekday",
    "week": "week",
    "weekly": "week",
    "month": "month",
    "monthly": "month",
}
# Said between the days and the time ("saturday at 10am", "mon and thu 18:00").
_FILLERS = frozenset({"every", "and", "at", "on"})


def _day(word: str) -> str | None:
    """A day's abbreviation for `word` (saturday, sat, sats, saturdays), else None."""
    for w in (word, word[:-1]) if word.endswith("s") else (word,):
        if w in _FULL_DAYS:
            return _FULL_DAYS[w]
        if len(w) >= 3 and w[:3] in DAYS and w in _prefixes(w):
            return w[:3]
    return None


def read_every(text: str) -> tuple[str, str | None, str]:
    """A recurring task's `every:` as (rule kind for make_rule, its days, the time of day as
    typed): "saturday 10am" is ("week", "sat", "10am"), "mon,thu 18:00" ("week", "mon,thu",
    "18:00"), "weekday 9am" ("weekday", None, "9am"), "month" ("month", None, "")."""
    fields = text.lower().split()
    if len(fields) == 5 and fields[0][:1] in "0123456789*":
        return " ".join(fields), None, ""  # a cron expression says when by itself
    words = [w for w in re.split(r"[,\s]+", text.strip().lower()) if w]
    while words and words[0] in _FILLERS:
        words.pop(0)
    if words and words[0] in _KINDS:
        rest = words[1:]
        return _KINDS[words[0]], None, " ".join(w for w in rest if w != "at")
    days: list[str] = []
    while words and (words[0] in _FILLERS or _day(words[0])):
        day = _day(words.pop(0))
        if day is not None and day not in days:
            days.append(day)
    if not days:
        raise CoopError(
            f"every: “{text[:40]}” isn't a rule I know. Give the days and a time, like "
            'every:"saturday 10am" or every:"mon,thu 18:00", or day, weekday, week or month '
            "(at the time of due:)."
        )
    ordered = [d for d in DAYS if d in days]
    return "week", ",".join(ordered), " ".join(words)


def make_rule(every: str, first: datetime, tz_name: str, on: str | None = None) -> str:
    """The stored form of `every:` for a reminder first due at `first` (its wall-clock time
    and day set the time of day, the weekday and the day of month); CoopError if unreadable.

    Stored forms: `day 09:00`, `weekday 09:00`, `week mon,thu 09:00`,
    `month 2027-01-31 09:00`, `cron 0 9 * * 1-5`.
    """
    kind = " ".join(every.lower().split())
    local = first.astimezone(ZoneInfo(tz_name))
    clock = f"{local:%H:%M}"
    if on is not None and kind not in ("week", "weekly"):
        raise CoopError("on: goes with every:week, like every:week on:mon,thu.")
    if kind in ("day", "daily"):
        rule = f"day {clock}"
    elif kind in ("weekday", "weekdays"):
        rule = f"weekday {clock}"
    elif kind in ("week", "weekly"):
        days = parse_days(on) if on is not None else (DAYS[local.weekday()],)
        rule = f"week {','.join(days)} {clock}"
    elif kind in ("month", "monthly"):
        rule = f"month {local:%Y-%m-%d} {clock}"
    elif len(kind.split()) == 5:
        rule = f"cron {kind}"
    else:
        raise CoopError(f"every: “{every[:40]}” isn't a rule I know. Use {RULES}.")
    _check_interval(rule, tz_name, first)
    return rule


def _check_interval(rule: str, tz_name: str, first: datetime) -> None:
    try:
        a = next_after(rule, tz_name, first - timedelta(seconds=1))
    except (ValueError, TypeError) as err:
        raise CoopError(f"every: that cron expression isn't valid ({err}). Use {RULES}.") from None
    b = next_after(rule, tz_name, a) if a else None
    if a is None or b is None:
        raise CoopError(f"every: that rule never repeats. Use {RULES}.")
    if b - a < MIN_INTERVAL:
        raise CoopError("every: that would remind more often than every 5 minutes.")


def _trigger(rule: str) -> BaseTrigger:
    kind, _, rest = rule.partition(" ")
    if kind == "cron":
        minutes, hours, days, months, weekdays = rest.split(" ")
        return CronTrigger(
            minute=minutes,
            hour=hours,
            day=days,
            month=months,
            day_of_week=_cron_weekdays(weekdays),
            timezone=UTC,
        )
    *head, clock = rest.split(" ")
    hour, minute = (int(part) for part in clock.split(":"))
    if kind == "day":
        return CronTrigger(hour=hour, minute=minute, timezone=UTC)
    if kind == "weekday":
        return CronTrigger(day_of_week="mon-fri", hour=hour, minute=minute, timezone=UTC)
    if kind == "week":
        return CronTrigger(day_of_week=head[0], hour=hour, minute=minute, timezone=UTC)
    if kind == "month":
        start = date.fromisoformat(head[0])
        # Months without that day (the 31st in April) are skipped, as calendars do.
        return CalendarIntervalTrigger(
            months=1, hour=hour, minute=minute, start_date=start, timezone=UTC
        )
    raise ValueError(f"unknown rule {rule!r}")


_CRON_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")


def _cron_weekdays(field: str) -> str:
    """A crontab day-of-week field (0 or 7 is Sunday, names allowed) as APScheduler's day
    names: its own numbers start at Monday, so `1-5` would otherwise mean Tuesday-Saturday."""
    if field == "*":
        return "*"
    days: set[int] = set()
    for item in field.lower().split(","):
        part, _, step_text = item.partition("/")
        step = int(step_text) if step_text else 1
        if part == "*":
            low, high = 0, 6
        else:
            ends = [_cron_day(end) for end in part.split("-", 1)]
            low, high = ends[0], ends[-1]
            if len(ends) == 2 and high == 0:
                high = 7  # 5-0 or fri-sun: up to Sunday
        if step < 1 or low > high:
            raise ValueError(f"bad day-of-week {item!r}")
        days.update(d % 7 for d in range(low, high + 1, step))
    return ",".join(_CRON_DAYS[d] for d in sorted(days))


def _cron_day(text: str) -> int:
    if text.isdigit() and int(text) <= 7:
        return int(text)
    if text[:3] in _CRON_DAYS:
        return _CRON_DAYS.index(text[:3])
    raise ValueError(f"bad day-of-week {text!r}")


def _wall(when: datetime, tz: ZoneInfo) -> datetime:
    """`when`'s local wall-clock time, written as UTC."""
    return when.astimezone(tz).replace(tzinfo=UTC)


def _real(wall: datetime, tz: ZoneInfo) -> datetime:
    """The moment a wall-clock time happens in `tz` (fold 0: before a repeated hour; a
    skipped time is read with the offset before the change, so 02:30 is 03:30's moment)."""
    return wall.replace(tzinfo=tz, fold=0).astimezone(UTC)


def next_after(rule: str, tz_name: str, after: datetime) -> datetime | None:
    """The first occurrence of `rule` in `tz_name` strictly after `after`, as aware UTC."""
    tz = ZoneInfo(tz_name)
    trigger = _trigger(rule)
    probe = _wall(after, tz)
    for _ in range(_STEPS):
        wall = _next_wall(trigger, probe)
        if wall is None:
            return None
        when = _real(wall, tz)
        if when > after:
            return when
        # That wall time came before `after` in real time (a repeated hour): look further.
        probe = wall
    return None


def _next_wall(trigger: BaseTrigger, probe: datetime) -> datetime | None:
    """The trigger's first wall time after `probe`."""
    if not isinstance(trigger, CalendarIntervalTrigger):
        return trigger.get_next_fire_time(None, probe + timedelta(seconds=1))
    # This one counts from its start date, whatever `now` it is given: step from there.
    wall = trigger.get_next_fire_time(None, probe)
    for _ in range(_STEPS):
        if wall is None or wall > probe:
            return wall
        wall = trigger.get_next_fire_time(wall, probe)
    return None


def latest_by(rule: str, tz_name: str, first: datetime, now: datetime) -> datetime:
    """The last occurrence at or before `now`, starting from `first` (which is one)."""
    latest = first
    for _ in range(_STEPS):
        following = next_after(rule, tz_name, latest)
        if following is None or following > now:
            return latest
        latest = following
    return latest


def describe(rule: str) -> str:
    """The rule in words: "every weekday at 09:00"."""
    kind, _, rest = rule.partition(" ")
    if kind == "cron":
        return f"on the schedule “{rest}”"
    *head, clock = rest.split(" ")
    if kind == "day":
        return f"every day at {clock}"
    if kind == "weekday":
        return f"every weekday at {clock}"
    if kind == "week":
        days = ", ".join(_DAY_NAMES[d] for d in head[0].split(","))
        return f"every {days} at {clock}"
    day = int(head[0].rsplit("-", 1)[1])
    return f"every month on the {_ordinal(day)} at {clock}"


def _ordinal(n: int) -> str:
    suffix = "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"
