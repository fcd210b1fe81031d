"""Two real `coopbot run` processes on one PostgreSQL database share the outbox: each message
goes out once, both do part of the work, and one paused past its lease cannot write."""

from __future__ import annotations

import signal
import time
from collections import Counter
from pathlib import Path

from sqlalchemy import text

from bot.cards import DirectMessage
from bot.outbox import deliveries
from bot.refs import CommunityRef, MemberRef
from storage.db import make_engine
from storage.migrate import upgrade
from storage.uow import SqlUnitOfWork
from tests.fakes.slack import FakeSlack
from tests.process_support import BotProcess, bot_process, slack_http_env

TEAM = CommunityRef("slack", "T1")


def enqueue_dms(url: str, count: int) -> None:
    engine = make_engine(url)
    upgrade(engine)
    people = [MemberRef(TEAM, f"U{i:04d}") for i in range(count)]
    with SqlUnitOfWork(engine) as uow:
        effects = [DirectMessage(p, f"Hello {p.id}") for p in people]
        uow.outbox.enqueue(deliveries(effects), time_now())
        uow.commit()
    engine.dispose()


def time_now():  # type: ignore[no-untyped-def]
    from bot.clock import SystemClock

    return SystemClock().now()


def owners_and_states(url: str) -> tuple[Counter[str], Counter[str]]:
    engine = make_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(text("select owner, state from outbox")).all()
    engine.dispose()
    return Counter(r.owner for r in rows), Counter(r.state for r in rows)


def keys_posted(slack: FakeSlack) -> Counter[str]:
    posts = [c for c in slack.calls_to("chat.postMessage") if c.status == 200]
    return Counter(c.json_field("metadata")["event_payload"]["key"] for c in posts)


def serving(bot: BotProcess) -> None:
    bot.wait_for_log(r"serving /slack/events on port \d+")


def wait_all_sent(url: str, count: int, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while owners_and_states(url)[1]["sent"] < count:
        assert time.monotonic() < deadline, owners_and_states(url)
        time.sleep(0.1)


def test_two_processes_drain_a_thousand_messages_each_sent_once(
    tmp_path: Path, postgres_url: str
) -> None:
    upgrade(make_engine(postgres_url))
    with FakeSlack() as slack:
        slack.delay("chat.postMessage", 0.02)  # a Slack that takes its time, as the real one
        env = slack_http_env(slack, postgres_url)
        with bot_process(tmp_path, env, "one") as one, bot_process(tmp_path, env, "two") as two:
            one.start()
            two.start()
            serving(one)
            serving(two)
            enqueue_dms(postgres_url, 1000)
            wait_all_sent(postgres_url, 1000)
            owners, states = owners_and_states(postgres_url)
        posted = keys_posted(slack)
    assert states == {"sent": 1000}
    assert len(posted) == 1000 and set(posted.values()) == {1}
    assert len(owners) == 2 and min(owners.values()) > 50, owners  # both did a fair part


def test_a_process_paused_past_its_lease_cannot_write_its_result(
    tmp_path: Path, postgres_url: str
) -> None:
    upgrade(make_engine(postgres_url))
    with FakeSlack() as slack:
        env = slack_http_env(slack, postgres_url)
        with (
            bot_process(tmp_path, env, "paused") as paused,
            bot_process(tmp_path, env, "taker") as taker,
        ):
            paused.start()
            serving(paused)
            slack.delay("chat.postMessage", 4.0)  # Slack has them; the answers are slow
            enqueue_dms(postgres_url, 5)
            slack.wait_for_call("chat.postMessage", count=5, timeout=30)
            paused.signal(signal.SIGSTOP)  # like a long GC pause, or a VM frozen
            taker.start()
            wait_all_sent(postgres_url, 5)
            owners, _ = owners_and_states(postgres_url)
            paused.signal(signal.SIGCONT)
            paused.wait_for_log("lost its lease", count=5, timeout=30)
            assert owners_and_states(postgres_url)[0] == owners
        posted = keys_posted(slack)
    assert set(posted.values()) == {1} and len(posted) == 5  # the taker looked, did not resend
    assert len(owners) == 1 and next(iter(owners)).split(":")[1] == str(taker.pid)
    assert taker.log().count("had arrived in") == 5
