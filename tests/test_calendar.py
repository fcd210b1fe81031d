"""Private calendar feeds: `/coop calendar` through the core, each feed fetched over real HTTP
from the ops listener and read by two independent parsers (icalendar and vobject)."""

from __future__ import annotations

import asyncio
import re
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import icalendar
import pytest
import vobject

from bot.config import OpsSettings, Settings, SlackSettings
from bot.ops import Ops, calendar_url
from bot.wiring import build_core
from tests.harness import TestBot

URL = re.compile(r"(https?://\S+/calendar/[A-Za-z0-9_-]+\.ics)")


@dataclass
class Listener:
    """The ops listener, serving in a thread of its own while the test drives the bot."""

    port: int

    def get(self, url: str) -> tuple[int, str, str]:
        """(status, content type, body) of a GET."""
        try:
            with urllib.request.urlopen(url, timeout=10) as answer:
                return answer.status, answer.headers["Content-Type"], answer.read().decode()
        except urllib.error.HTTPError as err:
            return err.code, err.headers.get("Content-Type", ""), err.read().decode()


@contextmanager
def listening(bot: TestBot, database_url: str) -> Iterator[Listener]:
    """The ops endpoints of a core on `bot`'s database, on a free port; `bot`'s links point
    at it."""
    core = build_core(Settings(database_url=database_url), clock=bot.clock, migrate=False)
    ops = Ops(core, [])
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    runner, port = asyncio.run_coroutine_threadsafe(ops.start("127.0.0.1", 0), loop).result()
    base = calendar_url(core.settings, ("127.0.0.1", port), slack_http=False)
    bot.coop.prefs = replace(bot.coop.prefs, calendar_url=base)
    try:
        yield Listener(port)
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()
        ops.close()
        core.engine.dispose()


def link(bot: TestBot, who: str, text: str = "calendar", channel: str = "general") -> str:
    answer = bot.say(who, f"/coop {text}", channel=channel)[-1].text
    found = URL.search(answer)
    assert found, answer
    return found.group(1)


def zone(body: str) -> str:
    return str(icalendar.Calendar.from_ical(body)["x-wr-timezone"])


def events(body: str) -> dict[str, dict[str, Any]]:
    """Each VEVENT by SUMMARY, read by icalendar and checked against vobject's reading."""
    cal = icalendar.Calendar.from_ical(body)
    by_icalendar = {}
    for e in cal.walk("VEVENT"):
        start = e.decoded("dtstart")
        by_icalendar[str(e["summary"])] = {
            "start": start.astimezone(UTC),
            "status": str(e["status"]),
            "uid": str(e["uid"]),
            "duration": e.decoded("duration"),
            "description": str(e["description"]),
        }
    assert not cal.walk("VTIMEZONE")  # times are in UTC, the zone named beside them
    parsed = vobject.readOne(body)
    by_vobject = {
        v.summary.value: (v.dtstart.value.astimezone(UTC), v.status.value, v.uid.value)
        for v in getattr(parsed, "vevent_list", [])
    }
    assert by_vobject == {
        name: (e["start"], e["status"], e["uid"]) for name, e in by_icalendar.items()
    }
    return by_icalendar


@pytest.fixture
def setup(sqlite_url: str) -> Iterator[tuple[TestBot, Listener]]:
    bot = TestBot(sqlite_url)
    bot.say("berta", "/coop tz Europe/Berlin")
    bot.say("nick", "/coop tz America/New_York")
    with listening(bot, sqlite_url) as listener:
        yield bot, listener


def test_a_members_feed_shows_their_tasks_at_the_right_instants_in_their_zone(
    setup: tuple[TestBot, Listener],
) -> None:
    bot, listener = setup
    # Read in the creator's zone (Berlin, UTC+1 in December): 09:00 UTC; the summer one
    # (UTC+2) 08:00 UTC.
    bot.say("berta", '/coop task "Winter clean-up" need:3 due:"2026-12-05 10:00"')
    bot.say("berta", '/coop task "Summer fair" due:"2027-07-04 10:00"')
    bot.say("nick", '/coop task "Nick\'s own" due:"2026-12-06 18:30"')  # 23:30 UTC
    bot.say("berta", '/coop task "No due time"')
    for number in (1, 2, 3, 4):
        bot.say("nick", f"/coop join #{number}")
    bot.say("berta", "/coop join #1")

    status, kind, body = listener.get(link(bot, "nick"))
    assert status == 200 and kind.startswith("text/calendar"), body
    seen = events(body)
    assert set(seen) == {"Winter clean-up", "Summer fair", "Nick's own"}
    assert seen["Winter clean-up"]["start"] == datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
    assert seen["Summer fair"]["start"] == datetime(2027, 7, 4, 8, 0, tzinfo=UTC)
    assert seen["Nick's own"]["start"] == datetime(2026, 12, 6, 23, 30, tzinfo=UTC)
    assert zone(body) == "America/New_York"
    winter = seen["Winter clean-up"]
    assert winter["status"] == "CONFIRMED" and winter["duration"] == timedelta(hours=1)
    assert "#1" in winter["description"] and "2/3 in" in winter["description"]
    assert "Sat 05 Dec 2026 04:00 (America/New_York)" in winter["description"]
    assert "Sun 04 Jul 2027 04:00 (America/New_York)" in seen["Summer fair"]["description"]

    body = listener.get(link(bot, "berta"))[2]
    berta = events(body)
    assert list(berta) == ["Winter clean-up"]
    assert zone(body) == "Europe/Berlin"
    assert "Sat 05 Dec 2026 10:00 (Europe/Berlin)" in berta["Winter clean-up"]["description"]
    assert berta["Winter clean-up"]["start"] == winter["start"]
    assert berta["Winter clean-up"]["uid"] == winter["uid"]  # the same task, the same UID


def test_leaving_waitlists_and_cancelling_show_in_the_feed(
    setup: tuple[TestBot, Listener],
) -> None:
    bot, listener = setup
    bot.say("berta", '/coop task "Full one" need:1 due:"2026-12-05 10:00"')
    bot.say("berta", '/coop task "Left one" due:"2026-12-05 11:00"')
    bot.say("berta", '/coop task "Called off" due:"2026-12-05 12:00"')
    bot.say("berta", "/coop join #1")
    for number in (1, 2, 3):
        bot.say("nick", f"/coop join #{number}")
    url = link(bot, "nick")
    assert set(events(listener.get(url)[2])) == {"Full one", "Left one", "Called off"}

    bot.say("nick", "/coop leave #2")
    bot.say("berta", "/coop cancel #3")
    seen = events(listener.get(url)[2])
    assert set(seen) == {"Full one", "Called off"}
    assert seen["Full one"]["status"] == "TENTATIVE"  # on the waitlist
    assert "waitlist" in seen["Full one"]["description"]
    assert seen["Called off"]["status"] == "CANCELLED"


def test_a_reset_link_replaces_the_old_one_which_answers_404(
    setup: tuple[TestBot, Listener],
) -> None:
    bot, listener = setup
    bot.say("nick", '/coop task "Mine" due:"2026-12-05 10:00"')
    bot.say("nick", "/coop join #1")
    old = link(bot, "nick")
    assert listener.get(old)[0] == 200
    again = bot.say("nick", "/coop calendar")[-1].text
    assert "can't show it again" in again and "/coop calendar reset" in again
    assert not URL.search(again)

    new = link(bot, "nick", "calendar reset")
    assert new != old
    assert listener.get(old)[:1] == (404,)
    assert "Mine" not in listener.get(old)[2]
    assert list(events(listener.get(new)[2])) == ["Mine"]
    # A made-up token and a malformed one say no more than that.
    fake = re.sub(r"/calendar/[^/]+\.ics", "/calendar/" + "A" * 43 + ".ics", new)
    assert listener.get(fake)[0] == 404
    assert listener.get(f"http://127.0.0.1:{listener.port}/calendar/x.ics")[0] == 404


def test_the_channel_feed_lists_its_open_tasks_with_a_due_time(
    setup: tuple[TestBot, Listener],
) -> None:
    bot, listener = setup
    bot.say("berta", '/coop task "Here" need:2 due:"2026-12-05 10:00"')
    bot.say("berta", '/coop task "Here, undated"')
    bot.say("berta", '/coop task "Elsewhere" due:"2026-12-05 10:00"', channel="ops")
    bot.say("berta", '/coop task "Here, closed" due:"2026-12-06 10:00"')
    bot.say("berta", "/coop close #4")
    url = link(bot, "nick", "calendar channel")
    body = listener.get(url)[2]
    seen = events(body)
    assert list(seen) == ["Here"]
    assert seen["Here"]["start"] == datetime(2026, 12, 5, 9, 0, tzinfo=UTC)
    assert zone(body) == "America/New_York"  # in the zone of who asked for it
    # The channel's link and the person's own are apart: resetting one leaves the other.
    own = link(bot, "nick")
    new = link(bot, "nick", "calendar channel reset")
    assert listener.get(url)[0] == 404
    assert listener.get(new)[0] == listener.get(own)[0] == 200


def test_without_a_listener_calendar_says_how_to_turn_it_on(bot: TestBot) -> None:
    answer = bot.say("alice", "/coop calendar")[-1].text
    assert "ops.listen" in answer and not URL.search(answer)
    before = bot.snapshot()
    wrong = bot.say("alice", "/coop calendar everything")[-1].text
    assert "/coop calendar channel" in wrong
    assert bot.snapshot() == before


def test_the_links_base_is_the_public_url_or_the_listeners_address(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("COOPBOT_OPS__LISTEN", raising=False)  # the tests' own (conftest)
    plain = Settings()
    assert calendar_url(plain, ("127.0.0.1", 9464), False) == "http://127.0.0.1:9464"
    assert calendar_url(plain, ("::1", 9464), False) == "http://[::1]:9464"
    assert calendar_url(plain, None, False) is None  # the console alone: no listener
    public = Settings(ops=OpsSettings(public_url="https://coop.example.org/"))
    assert calendar_url(public, ("0.0.0.0", 9464), False) == "https://coop.example.org"
    slack = Settings(slack=SlackSettings(mode="http", public_url="https://s.example.org"))
    assert calendar_url(slack, None, True) == "https://s.example.org"
    # Without a public URL, the Slack server's address: the port it bound (http_port 0).
    bound = Settings(slack=SlackSettings(mode="http", http_host="127.0.0.1", http_port=0))
    assert calendar_url(bound, None, True, 41234) == "http://127.0.0.1:41234"
    off = Settings(ops=OpsSettings(listen="off"), slack=SlackSettings(mode="http"))
    assert calendar_url(off, None, True) is None
