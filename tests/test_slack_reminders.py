"""Reminders, a task's schedule and digests end to end through the real Slack adapter: typed
as slash commands, fired by the scheduler on the bot's manual clock, delivered to the fake
Slack, and their buttons pressed back from the DM they arrived in."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.export import schedule_record
from bot.ports import DeliveryRecord, ScheduleRecord
from bot.refs import MemberRef
from storage.uow import SqlUnitOfWork
from tests.fakes.slack import Call, FakeSlack
from tests.harness import START
from tests.slack_support import (
    TEAM,
    Mode,
    Rig,
    add_people,
    advance,
    advance_to,
    answers,
    buttons,
    make_core,
    of,
    press,
    say,
    started,
)

MINUTE = timedelta(minutes=1)
SNOOZE_IDS = ["coop_snooze_15m", "coop_snooze_1h", "coop_snooze_tomorrow"]


def snooze_buttons(occurrence: int) -> list[tuple[str, str, str]]:
    labels = ["Snooze 15 min", "Snooze 1 hour", "Tomorrow"]
    return [(a, str(occurrence), label) for a, label in zip(SNOOZE_IDS, labels, strict=True)]


def metadata_key(call: Call) -> str:
    metadata = call.json_field("metadata")
    assert metadata["event_type"] == "coopbot_delivery"
    return str(metadata["event_payload"]["key"])


# --- the database ---------------------------------------------------------------------------


def schedules(rig: Rig) -> list[ScheduleRecord]:
    with SqlUnitOfWork(rig.core.engine) as uow:
        return list(uow.schedules.records())


def reminder(rig: Rig, label: str) -> dict[str, Any]:
    """The reminder `label` (R1) as `coopbot export` writes it."""
    found = [schedule_record(r) for r in schedules(rig) if r.schedule.number is not None]
    return next(r for r in found if r["reminder"] == label)


def of_kind(rig: Rig, kind: str) -> dict[str, Any]:
    (found,) = [schedule_record(r) for r in schedules(rig) if r.schedule.kind.value == kind]
    return found


def deliveries(rig: Rig) -> list[DeliveryRecord]:
    with SqlUnitOfWork(rig.core.engine) as uow:
        return list(uow.outbox.records())


def sent_for(rig: Rig, occurrence: int) -> list[DeliveryRecord]:
    """The deliveries that sent the reminder occurrence `occurrence`."""
    return [d for d in deliveries(rig) if d.occurrence_id == occurrence]


def iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- 1. /coop remind me, then snoozed from the DM ------------------------------------------


@pytest.mark.parametrize("mode", ["socket", "http"])
def test_remind_me_arrives_as_a_dm_at_the_hour_and_snoozing_brings_it_back_once(
    tmp_path: Path, mode: Mode
) -> None:
    with FakeSlack() as slack:
        add_people(slack)  # Europe/London: UTC+0 in November
        core = make_core(tmp_path, slack, mode)

        async def scenario() -> None:
            async with started(slack, core, mode) as rig:
                said = await say(rig, "UA", 'remind me "Stretch" when:"in 1 hour"')
                (answer,) = answers(said, "UA")
                assert of(said, "chat.postEphemeral")[0].params["channel"] == "C1"
                assert answer.startswith(
                    "Okay, I'll remind you “Stretch” on Fri 27 Nov 2026 11:00 (Europe/London)."
                )
                assert "That's R1" in answer
                assert not of(said, "chat.postMessage")
                r1 = reminder(rig, "R1")
                assert (r1["kind"], r1["state"], r1["target"], r1["to"], r1["text"]) == (
                    "remind",
                    "active",
                    "member",
                    "UA",
                    "Stretch",
                )
                assert r1["next_at"] == iso(START + timedelta(hours=1))

                # Nothing before the hour.
                early = await advance(rig, timedelta(hours=1) - MINUTE)
                assert not of(early, "chat.postMessage") and not of(early, "conversations.open")
                assert reminder(rig, "R1")["occurrences"] == []

                # At the hour: one DM, in the channel conversations.open gave.
                at_hour = await advance(rig, MINUTE)
                (opened,) = of(at_hour, "conversations.open")
                assert opened.params["users"] == "UA"
                dm_channel = opened.response["channel"]["id"]
                (dm,) = of(at_hour, "chat.postMessage")
                assert dm.params["channel"] == dm_channel == "DUA"
                assert dm.params["text"] == "Reminder: Stretch"
                section = dm.json_field("blocks")[0]
                assert section["text"]["text"] == "Reminder: Stretch"
                (fired,) = reminder(rig, "R1")["occurrences"]
                assert (fired["state"], fired["due"]) == ("sent", r1["next_at"])
                assert buttons(dm) == snooze_buttons(fired["id"])
                (record,) = sent_for(rig, fired["id"])
                assert (record.kind, record.recipient, record.state) == ("dm", "UA", "sent")
                assert record.message_id == dm.response["ts"]
                assert metadata_key(dm) == f"coop-{record.id}"
                assert reminder(rig, "R1")["state"] == "done"

                # "Snooze 15 min", pressed in the DM.
                pressed = await press(rig, "UA", dm, "snooze_15m", fired["id"])
                (snoozed,) = answers(pressed, "UA")
                assert of(pressed, "chat.postEphemeral")[0].params["channel"] == "DUA"
                assert snoozed == "Snoozed until Fri 27 Nov 2026 11:15 (Europe/London) (R2)."
                assert not of(pressed, "chat.postMessage")
                r2 = reminder(rig, "R2")
                assert (r2["to"], r2["text"], r2["next_at"]) == (
                    "UA",
                    "Stretch",
                    iso(START + timedelta(hours=1, minutes=15)),
                )
                snooze = next(r.schedule for r in schedules(rig) if r.schedule.number == 2)
                assert snooze.snooze_of == fired["id"]

                assert not of(await advance(rig, 15 * MINUTE - MINUTE), "chat.postMessage")
                again = of(await advance(rig, MINUTE), "chat.postMessage")
                assert [(c.params["channel"], c.params["text"]) for c in again] == [
                    ("DUA", "Reminder: Stretch")
                ]
                (refired,) = reminder(rig, "R2")["occurrences"]
                assert buttons(again[0]) == snooze_buttons(refired["id"])
                assert refired["id"] != fired["id"]

                # Once: a day later nothing else has come.
                assert not of(await advance(rig, timedelta(days=1)), "chat.postMessage")
                assert [reminder(rig, r)["state"] for r in ("R1", "R2")] == ["done", "done"]

        asyncio.run(scenario())


# --- 2. someone else's reminder, in their zone; someone Slack doesn't know -----------------


def test_a_reminder_for_someone_else_is_read_in_their_slack_time_zone(tmp_path: Path) -> None:
    with FakeSlack(invent_users=False) as slack:
        slack.set_user("UA", name="alice", tz="America/New_York")
        slack.set_user("U2", name="bob", tz="Asia/Tokyo")
        core = make_core(tmp_path, slack)
        # Fri 27 Nov 10:00 UTC is 19:00 in Tokyo: tomorrow 09:00 there is 00:00 UTC Saturday;
        # in the actor's New York it would be 14:00 UTC.
        tokyo_nine = datetime(2026, 11, 28, 0, 0, tzinfo=UTC)
        new_york_nine = datetime(2026, 11, 28, 14, 0, tzinfo=UTC)

        async def scenario() -> None:
            async with started(slack, core) as rig:
                # Slack escapes the mention (should_escape in the manifest).
                said = await say(
                    rig, "UA", 'remind <@U2|bob> "Bring the ladder" when:"tomorrow 9am"'
                )
                (answer,) = answers(said, "UA")
                assert answer.startswith("Okay, I'll remind bob “Bring the ladder” on ")
                assert "on Sat 28 Nov 2026 09:00 (Asia/Tokyo)." in answer
                assert "U2" in [c.params["user"] for c in of(said, "users.info")]
                r1 = reminder(rig, "R1")
                assert (r1["to"], r1["creator"], r1["tz"]) == ("U2", "UA", "Asia/Tokyo")
                assert r1["next_at"] == iso(tokyo_nine)

                assert not of(await advance_to(rig, tokyo_nine - MINUTE), "chat.postMessage")
                due = await advance_to(rig, tokyo_nine)
                assert [c.params["users"] for c in of(due, "conversations.open")] == ["U2"]
                (dm,) = of(due, "chat.postMessage")
                assert dm.params["channel"] == "DU2"
                assert dm.params["text"] == "Reminder (from alice): Bring the ladder"
                (fired,) = reminder(rig, "R1")["occurrences"]
                assert buttons(dm) == snooze_buttons(fired["id"])
                # Not again at 09:00 in the actor's zone.
                assert not of(await advance_to(rig, new_york_nine), "chat.postMessage")

        asyncio.run(scenario())


@pytest.mark.parametrize(
    ("mention", "who"),
    [
        ("<@U9|ghost>", "U9"),  # users.info: user_not_found
        ("<@UX|guest>", "UX"),  # a Slack Connect guest from another company
    ],
)
def test_a_reminder_for_someone_not_in_the_workspace_is_refused_and_stores_nothing(
    tmp_path: Path, mention: str, who: str
) -> None:
    with FakeSlack(invent_users=False) as slack:
        slack.set_user("UA", name="alice")
        slack.set_user("UX", name="guest", team_id="T2")
        core = make_core(tmp_path, slack)

        async def scenario() -> None:
            async with started(slack, core) as rig:
                said = await say(rig, "UA", f'remind {mention} "Hi" when:"in 1 hour"')
                (answer,) = answers(said, "UA")
                assert answer.startswith(f"I can't find {who} here.")
                assert [c.params["user"] for c in of(said, "users.info")] == ["UA", who]
                assert schedules(rig) == []
                with SqlUnitOfWork(core.engine) as uow:
                    assert uow.known_member(MemberRef(TEAM, who)) is None
                later = await advance(rig, timedelta(days=1))
                assert not of(later, "chat.postMessage") and not of(later, "conversations.open")

        asyncio.run(scenario())


# --- 3. a task's reminder, due time and check-in -------------------------------------------


def test_a_task_reminds_who_is_in_turns_overdue_and_asks_if_it_happened(tmp_path: Path) -> None:
    with FakeSlack() as slack:
        add_people(slack)
        core = make_core(tmp_path, slack)
        due = START + timedelta(hours=3)

        async def scenario() -> None:
            async with started(slack, core) as rig:
                await say(rig, "UA", 'task "Paint the fence" due:"in 3 hours" need:2')
                await say(rig, "UB", "join #1")
                await say(rig, "UC", "join #1")
                await say(rig, "UC", "leave #1")
                card = rig.card_ts(1)
                assert rig.statuses(1) == {"UB": "committed", "UC": "withdrawn"}
                assert rig.actions()[1]["due"] == iso(due)

                # One hour before: only the person who is in, with snooze buttons.
                assert not of(
                    await advance_to(rig, due - timedelta(hours=1) - MINUTE), "chat.postMessage"
                )
                before = await advance_to(rig, due - timedelta(hours=1))
                assert [c.params["users"] for c in of(before, "conversations.open")] == ["UB"]
                (dm,) = of(before, "chat.postMessage")
                assert dm.params["channel"] == "DUB"
                assert dm.params["text"] == (
                    "Reminder: #1 “Paint the fence” is due in 1 h, "
                    "Fri 27 Nov 2026 13:00 (Europe/London). You're in."
                )
                # The 24-hour reminder would have been before the task existed: only this one.
                (reminded,) = of_kind(rig, "task")["occurrences"]
                assert reminded["due"] == iso(due - timedelta(hours=1))
                assert buttons(dm) == snooze_buttons(reminded["id"])
                assert not of(before, "chat.update")

                # At the due time the card shows it overdue; nobody gets a message.
                assert not of(await advance_to(rig, due - MINUTE), "chat.update")
                at_due = await advance_to(rig, due)
                (overdue,) = of(at_due, "chat.update", "C1")
                assert overdue.params["ts"] == card
                assert "Overdue" in str(overdue.params["blocks"])
                assert not of(at_due, "chat.postMessage")
                assert [o["state"] for o in of_kind(rig, "due")["occurrences"]] == ["sent"]

                # Two hours after: "did it happen?" to who is in.
                checkin_at = due + timedelta(hours=2)
                assert not of(await advance_to(rig, checkin_at - MINUTE), "chat.postMessage")
                asked = of(await advance_to(rig, checkin_at), "chat.postMessage")
                assert [c.params["channel"] for c in asked] == ["DUB"]
                assert (
                    asked[0]
                    .params["text"]
                    .startswith("Did #1 “Paint the fence” happen? It was due Fri 27 Nov 2026 13:00")
                )
                assert buttons(asked[0]) == [
                    ("coop_checkin_done", "1", "It's done"),
                    ("coop_checkin_not", "1", "Not done"),
                ]

                # "It's done", pressed in the DM: their part is done and the card shows it.
                pressed = await press(rig, "UB", asked[0], "checkin_done", 1)
                assert rig.statuses(1) == {"UB": "done", "UC": "withdrawn"}
                (edit,) = of(pressed, "chat.update", "C1")
                assert edit.params["ts"] == card
                shown = str(edit.params["blocks"])
                assert "*Done:* <@UB>" in shown and "Overdue" in shown
                assert answers(pressed, "UB") == [
                    "Marked your part of #1 “Paint the fence” done. Thank you!"
                ]
                assert not of(pressed, "chat.postMessage")
                assert not of(await advance(rig, timedelta(days=2)), "chat.postMessage")

        asyncio.run(scenario())


def test_those_done_or_waiting_get_neither_the_reminder_nor_the_check_in(tmp_path: Path) -> None:
    with FakeSlack() as slack:
        add_people(slack)
        core = make_core(tmp_path, slack)
        due = START + timedelta(hours=3)

        async def scenario() -> None:
            async with started(slack, core) as rig:
                await say(rig, "UA", 'task "Carry chairs" due:"in 3 hours" need:2')
                for user, command in (("UB", "join"), ("UC", "join"), ("UC", "done")):
                    await say(rig, user, f"{command} #1")
                await say(rig, "UD", "join #1")  # full: waitlisted
                assert rig.statuses(1) == {"UB": "committed", "UC": "done", "UD": "waitlisted"}

                reminded = await advance_to(rig, due - timedelta(hours=1))
                assert [c.params["channel"] for c in of(reminded, "chat.postMessage")] == ["DUB"]
                asked = await advance_to(rig, due + timedelta(hours=2))
                assert [c.params["channel"] for c in of(asked, "chat.postMessage")] == ["DUB"]
                assert [c.params["users"] for c in of(reminded + asked, "conversations.open")] == [
                    "UB"
                ]

        asyncio.run(scenario())


def test_a_snoozed_task_reminder_is_not_sent_once_the_task_is_cancelled(tmp_path: Path) -> None:
    with FakeSlack() as slack:
        add_people(slack)
        core = make_core(tmp_path, slack)

        async def scenario() -> None:
            async with started(slack, core) as rig:
                await say(rig, "UA", 'task "Paint the fence" due:"in 3 hours" need:2')
                await say(rig, "UB", "join #1")
                (dm,) = of(await advance(rig, timedelta(hours=2)), "chat.postMessage")
                (reminded,) = of_kind(rig, "task")["occurrences"]
                await press(rig, "UB", dm, "snooze_15m", reminded["id"])
                cancelled = await say(rig, "UA", "cancel #1")
                told = of(cancelled, "chat.postMessage", "DUB")
                assert [c.params["text"] for c in told] == [
                    "#1 “Paint the fence” was cancelled by alice."
                ]
                later = of(await advance(rig, 15 * MINUTE), "chat.postMessage")
                assert [(c.params["channel"], c.params["text"]) for c in later] == []

        asyncio.run(scenario())


# --- 4. a channel reminder, and a daily digest ---------------------------------------------


def test_a_channel_reminder_is_posted_once_at_the_hour_with_its_delivery_key(
    tmp_path: Path,
) -> None:
    with FakeSlack() as slack:
        add_people(slack)
        core = make_core(tmp_path, slack)

        async def scenario() -> None:
            async with started(slack, core) as rig:
                said = await say(rig, "UA", 'remind <#C2|ops> "Stand-up" when:"in 1 hour"')
                (answer,) = answers(said, "UA")
                assert answer.startswith("Okay, I'll remind <#C2> “Stand-up” on ")
                r1 = reminder(rig, "R1")
                assert (r1["target"], r1["to"]) == ("channel", "C2")

                assert not of(await advance(rig, timedelta(hours=1) - MINUTE), "chat.postMessage")
                at_hour = await advance(rig, MINUTE)
                (post,) = of(at_hour, "chat.postMessage")
                assert post.params["channel"] == "C2"
                assert post.params["text"] == "Reminder: Stand-up"
                assert "blocks" not in post.params
                assert not of(at_hour, "conversations.open")
                (fired,) = reminder(rig, "R1")["occurrences"]
                (record,) = sent_for(rig, fired["id"])
                assert (record.kind, record.recipient, record.state) == ("post", "C2", "sent")
                assert metadata_key(post) == f"coop-{record.id}"
                assert record.message_id == post.response["ts"]
                assert [m["text"] for m in slack.messages("C2")] == ["Reminder: Stand-up"]

                assert not of(await advance(rig, timedelta(days=2)), "chat.postMessage")

        asyncio.run(scenario())


def test_a_daily_digest_summarises_the_channels_open_actions_at_nine_utc(tmp_path: Path) -> None:
    with FakeSlack() as slack:
        add_people(slack, tz="Asia/Tokyo")
        slack.set_user("UN", name="nozone", tz=None)  # Slack knows no zone for them
        core = make_core(tmp_path, slack)
        # START is Friday 10:00 UTC: the next 09:00 UTC is Saturday's.
        nine = datetime(2026, 11, 28, 9, 0, tzinfo=UTC)

        async def scenario() -> None:
            async with started(slack, core) as rig:
                await say(rig, "UA", 'task "Needs hands" need:3')
                await say(rig, "UA", 'task "Sweep the hall"')
                await say(rig, "UA", 'task "Elsewhere"', channel="C2")
                await say(rig, "UA", 'task "Already done"')
                await say(rig, "UA", "close #4")
                said = await say(rig, "UN", 'digest daily at:"9am"')
                (answer,) = answers(said, "UN")
                assert "(UTC). The first one: Sat 28 Nov 2026 09:00 (UTC)." in answer
                digest = of_kind(rig, "digest")
                assert (digest["to"], digest["tz"], digest["next_at"]) == ("C1", "UTC", iso(nine))

                assert not of(await advance_to(rig, nine - MINUTE), "chat.postMessage")
                posted = of(await advance_to(rig, nine), "chat.postMessage")
                assert [c.params["channel"] for c in posted] == ["C1"]
                assert "blocks" not in posted[0].params
                assert posted[0].params["text"] == (
                    "Summary: 2 open actions here.\n"
                    "Needs people:\n"
                    "  #1 Needs hands — 0/3 in\n"
                    "Also open:\n"
                    "  #2 Sweep the hall — 0 in"
                )
                (fired,) = of_kind(rig, "digest")["occurrences"]
                (record,) = sent_for(rig, fired["id"])
                assert metadata_key(posted[0]) == f"coop-{record.id}"
                # Daily: the next one is Sunday's, not sooner.
                assert of_kind(rig, "digest")["next_at"] == iso(nine + timedelta(days=1))
                assert not of(await advance(rig, timedelta(days=1) - MINUTE), "chat.postMessage")

        asyncio.run(scenario())
