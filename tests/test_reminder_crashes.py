"""Reminders fired by real `coopbot run` processes, over Slack HTTP mode against the fake Slack:
after downtime, after SIGKILL at each dangerous point, from two processes at once and into
Slack's per-channel rate limit, every reminder arrives exactly once and has one occurrence.

Reminders are seeded as rows (as /coop remind would leave them) on the real clock; each kill
point is reached with a failpoint (bot/failpoints.py) that the process logs before it holds.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from storage.db import make_engine
from tests.fakes.slack import Call, FakeSlack
from tests.process_support import (
    Due,
    accepted_posts,
    bot_process,
    occurrences,
    posted_once,
    seed_reminders,
    slack_http_env,
    wait_until_delivered,
)

HOLDING = r"failpoint {} reached"
SERVING = r"serving /slack/events on port \d+"
ARRIVED = r"had arrived in \S+ already"


def database(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'coop.db'}"


def now() -> datetime:
    return datetime.now(UTC)


def dms_to(recipients: list[str], text: str, at: datetime) -> list[Due]:
    return [Due(f"{text} {person}", at, to=person) for person in recipients]


def people(prefix: str, count: int) -> list[str]:
    return [f"{prefix}{i:04d}" for i in range(count)]


def assert_each_once(posts: list[Call], reminders: list[Due]) -> None:
    """Every reminder reached Slack exactly once: by delivery key, and by where and what."""
    keys, where = posted_once(posts)
    assert set(keys.values()) == {1}, [k for k, n in keys.items() if n > 1]
    assert set(where.values()) == {1}, [w for w, n in where.items() if n > 1]
    assert len(posts) == len(reminders)
    said = {(channel, text.split("\n")[0]) for channel, text in where}
    assert said == {
        (f"D{r.to}" if r.to else str(r.channel), f"Reminder: {r.text}") for r in reminders
    }


def assert_one_occurrence_each(url: str, ids: list[int]) -> list[Any]:
    rows = occurrences(url)
    assert Counter(r.schedule_id for r in rows) == Counter(ids)
    return rows


@pytest.fixture
def slack() -> Any:
    with FakeSlack() as fake:
        yield fake


# --- 1. after downtime -----------------------------------------------------------------------


def test_reminders_that_fell_due_while_the_bot_was_down_are_sent_once_late_or_missed(
    tmp_path: Path, slack: FakeSlack
) -> None:
    url = database(tmp_path)
    late = dms_to(people("UL", 3), "Water the plants", now() - timedelta(hours=3))
    recent = dms_to(people("UR", 3), "Feed the cat", now() - timedelta(seconds=5))
    missed = dms_to(people("UM", 2), "Call the plumber", now() - timedelta(days=2))
    ids = seed_reminders(url, late + recent + missed)
    with bot_process(tmp_path, slack_http_env(slack, url)) as bot:
        bot.start()
        wait_until_delivered(url, slack, [bot], fired=8, posts=6)
    posts = accepted_posts(slack)
    assert_each_once(posts, late + recent)
    said = {str(c.params["channel"]): str(c.params["text"]) for c in posts}
    for r in late:
        assert "(Late by 3 h: I was offline at " in said[f"D{r.to}"], said[f"D{r.to}"]
    for r in recent:
        assert "Late by" not in said[f"D{r.to}"]
    assert not any("Call the plumber" in t for t in said.values())  # two days: past the grace
    states = {r.schedule_id: r.state for r in assert_one_occurrence_each(url, ids)}
    assert [states[i] for i in ids] == ["late"] * 3 + ["sent"] * 3 + ["missed"] * 2


# --- 2. killed with SIGKILL, then started again ----------------------------------------------


def test_killed_with_due_reminders_claimed_but_not_committed(
    tmp_path: Path, slack: FakeSlack
) -> None:
    url = database(tmp_path)
    reminders = dms_to(people("UK", 5), "Lock the shed", now() - timedelta(seconds=2))
    ids = seed_reminders(url, reminders)
    with bot_process(tmp_path, slack_http_env(slack, url)) as bot:
        bot.start(COOPBOT_FAILPOINTS="schedule.before_commit")
        bot.wait_for_log(HOLDING.format("schedule.before_commit"))
        bot.kill()
        assert accepted_posts(slack) == [] and occurrences(url) == []

        bot.start()
        wait_until_delivered(url, slack, [bot], fired=5, posts=5)
    assert_each_once(accepted_posts(slack), reminders)
    assert_one_occurrence_each(url, ids)


def test_killed_after_slack_accepted_reminder_dms_before_they_were_recorded(
    tmp_path: Path, slack: FakeSlack
) -> None:
    url = database(tmp_path)
    reminders = dms_to(people("UK", 5), "Bring the ladder", now() - timedelta(seconds=2))
    ids = seed_reminders(url, reminders)
    with bot_process(tmp_path, slack_http_env(slack, url)) as bot:
        bot.start(COOPBOT_FAILPOINTS="outbox.after_send:dm")
        bot.wait_for_log(HOLDING.format("outbox.after_send"), count=5)
        bot.kill()
        assert len(accepted_posts(slack)) == 5  # Slack has them all; the database does not know

        bot.start()
        wait_until_delivered(url, slack, [bot], fired=5, posts=5)
        looked_up = re.findall(ARRIVED, bot.log())
    assert_each_once(accepted_posts(slack), reminders)
    assert_one_occurrence_each(url, ids)
    assert len(looked_up) == 5  # each was found at Slack by its key, not sent again


def test_killed_in_the_middle_of_a_burst_of_200_reminders(tmp_path: Path, slack: FakeSlack) -> None:
    url = database(tmp_path)
    reminders = dms_to(people("UB", 200), "Stack the chairs", now() - timedelta(seconds=2))
    ids = seed_reminders(url, reminders)
    # Slack answers slowly, so that some posts it has are still unanswered at the kill.
    slack.delay("chat.postMessage", 0.1)
    with bot_process(tmp_path, slack_http_env(slack, url)) as bot:
        bot.start()
        slack.wait_for_call("chat.postMessage", count=40, timeout=60)
        bot.kill()
        assert 40 <= len(accepted_posts(slack)) < 200

        slack.delay("chat.postMessage", 0)
        bot.start()
        wait_until_delivered(url, slack, [bot], fired=200, posts=200)
        looked_up = re.findall(ARRIVED, bot.log())
    assert_each_once(accepted_posts(slack), reminders)
    assert_one_occurrence_each(url, ids)
    assert looked_up  # the kill did cut sends off after Slack had them


# --- 3. two processes on one PostgreSQL database ---------------------------------------------


def test_two_processes_share_a_thousand_reminders_due_at_once_each_sent_once(
    tmp_path: Path, postgres_url: str, slack: FakeSlack
) -> None:
    # Not due for a long while yet; once both serve, all fall due a few seconds ahead.
    reminders = dms_to(people("UP", 1000), "Fold the flyers", now() + timedelta(days=30))
    ids = seed_reminders(postgres_url, reminders)
    slack.delay("chat.postMessage", 0.02)  # a Slack that takes its time, as the real one
    env = slack_http_env(slack, postgres_url, COOPBOT_REMINDERS__SWEEP_SECONDS="1")
    with bot_process(tmp_path, env, "one") as one, bot_process(tmp_path, env, "two") as two:
        one.start()
        two.start()
        one.wait_for_log(SERVING)
        two.wait_for_log(SERVING)
        due = now() + timedelta(seconds=4)
        engine = make_engine(postgres_url)
        with engine.begin() as conn:
            conn.execute(text("update schedule set next_at = :at"), {"at": due})
        engine.dispose()
        wait_until_delivered(postgres_url, slack, [one, two], fired=1000, posts=1000)
    assert_each_once(accepted_posts(slack), reminders)
    rows = assert_one_occurrence_each(postgres_url, ids)
    fired_by = Counter(r.fired_by for r in rows)
    assert {name.split(":")[1] for name in fired_by} == {str(one.pid), str(two.pid)}, fired_by
    assert all(r.late_seconds <= 120 and r.state == "sent" for r in rows)


# --- 4. into Slack's rate limit ----------------------------------------------------------------


def accepted_by_channel(posts: list[Call]) -> dict[str, list[float]]:
    times: dict[str, list[float]] = defaultdict(list)
    for c in posts:
        times[str(c.params["channel"])].append(c.time)
    return times


def test_a_burst_of_channel_reminders_held_to_one_post_a_second_per_channel(
    tmp_path: Path, slack: FakeSlack
) -> None:
    url = database(tmp_path)
    channels = ["C1", "C2", "C3"]
    at = now() - timedelta(seconds=2)
    reminders = [Due(f"Sweep the floor {i}", at, channel=channels[i % 3]) for i in range(30)]
    ids = seed_reminders(url, reminders)
    slack.limit_posts_per_channel(interval=1.0)
    with bot_process(tmp_path, slack_http_env(slack, url)) as bot:
        bot.start()
        wait_until_delivered(url, slack, [bot], fired=30, posts=30)
    posts = accepted_posts(slack)
    assert_each_once(posts, reminders)
    assert_one_occurrence_each(url, ids)
    for channel, times in accepted_by_channel(posts).items():
        assert len(times) == 10, channel
        assert all(b - a >= 1.0 for a, b in zip(times, times[1:], strict=False)), channel


def test_channel_reminders_wait_out_a_slack_stricter_than_the_bots_pace(
    tmp_path: Path, slack: FakeSlack
) -> None:
    """Slack publishes its limit only roughly: where it holds a channel to less than the
    bot's one post a second, each post it refuses with 429 goes again after Retry-After."""
    url = database(tmp_path)
    channels = ["C1", "C2", "C3"]
    at = now() - timedelta(seconds=2)
    reminders = [Due(f"Wipe the tables {i}", at, channel=channels[i % 3]) for i in range(12)]
    ids = seed_reminders(url, reminders)
    slack.limit_posts_per_channel(interval=1.5)
    with bot_process(tmp_path, slack_http_env(slack, url)) as bot:
        bot.start()
        wait_until_delivered(url, slack, [bot], fired=12, posts=12)
    posts = accepted_posts(slack)
    assert_each_once(posts, reminders)
    assert_one_occurrence_each(url, ids)
    limited = [c for c in slack.calls_to("chat.postMessage") if c.status == 429]
    assert len(limited) >= 3 and all(c.response["error"] == "ratelimited" for c in limited)
    for channel, times in accepted_by_channel(posts).items():
        assert len(times) == 4, channel
        assert all(b - a >= 1.5 for a, b in zip(times, times[1:], strict=False)), channel
