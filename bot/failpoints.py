"""Named places where a test can stop a running `coopbot run`, to kill it exactly there.

`COOPBOT_FAILPOINTS` lists them, comma-separated; `name:detail` matches only that detail (a
delivery kind, say `outbox.after_send:card_post`). A task reaching one logs it and waits
forever, while the rest of the process carries on, until the test kills the process. Unset,
which is always the case outside the crash tests, a check is one set lookup.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
from functools import cache

log = logging.getLogger(__name__)

INBOX_BEFORE_COMMIT = "inbox.before_commit"  # an event is acknowledged, its change not committed
OUTBOX_BEFORE_SEND = "outbox.before_send"  # a change is committed, its message not sent
OUTBOX_AFTER_SEND = "outbox.after_send"  # the platform accepted a message, not yet recorded
# Due reminders claimed (locked) and fired in a transaction not yet committed.
SCHEDULE_BEFORE_COMMIT = "schedule.before_commit"


@cache
def _armed() -> frozenset[str]:
    names = os.environ.get("COOPBOT_FAILPOINTS", "")
    return frozenset(n.strip() for n in names.split(",") if n.strip())


def _hit(name: str, detail: str) -> bool:
    armed = _armed()
    if not armed or (name not in armed and f"{name}:{detail}" not in armed):
        return False
    log.warning("failpoint %s reached (%s); holding here", name, detail)
    return True


def hold(name: str, detail: str = "") -> None:
    """In a worker thread: block forever if `name` is armed."""
    if _hit(name, detail):
        threading.Event().wait()


async def reached(name: str, detail: str = "") -> None:
    """In a task: wait forever if `name` is armed."""
    if _hit(name, detail):
        await asyncio.Event().wait()
