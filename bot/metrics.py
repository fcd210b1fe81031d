"""What an operator watches: counters and histograms in Prometheus's format.

One registry per core (not prometheus_client's global one), so that several cores in one
process (tests) each count only their own. Labels are platforms, kinds and routes, never
anything people typed.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from bot.events import ButtonPressed, CommandInvoked, Event, ReactionAdded, ReactionRemoved

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
# Applying takes milliseconds, unless the database is busy or a platform slow to answer.
_APPLY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# A reminder is on time within a second of its due time; after downtime, hours late.
_LAG_BUCKETS = (0.1, 0.5, 1.0, 2.5, 5.0, 15.0, 60.0, 300.0, 1800.0, 3600.0, 6 * 3600.0)


@dataclass(frozen=True)
class Backlog:
    """The outbox as it stands: undelivered rows per platform, and the oldest one's age."""

    platform: str
    depth: int
    oldest_age: float


def kind(event: Event) -> str:
    return type(event).__name__


def verb(event: Event) -> str:
    """What the event asks for, in one word that carries no one's text: the subcommand, the
    button, or the reaction's emoji short name."""
    if isinstance(event, CommandInvoked):
        from bot.grammar import SUBCOMMANDS

        word = (event.text.split(maxsplit=1) or ["help"])[0].lower()
        return word if word in SUBCOMMANDS else "other"
    if isinstance(event, ButtonPressed):
        return event.button.split(":")[0][:30]
    if isinstance(event, ReactionAdded | ReactionRemoved):
        from bot.emoji_names import canonical, is_known

        return canonical(event.emoji) if is_known(event.emoji) else "other"
    return kind(event)


class Metrics:
    """The counters the core, the inbox, the outbox and the alarm clock move."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        by_event = ["platform", "kind"]
        self.received = Counter(
            "coopbot_events_received", "Events an adapter handed over", by_event, registry=r
        )
        self.acked = Counter(
            "coopbot_events_acked",
            "Events acknowledged to their platform (recorded first, or after ack_wait_seconds)",
            by_event,
            registry=r,
        )
        self.applied = Counter(
            "coopbot_events_applied", "Events applied to the store", by_event, registry=r
        )
        self.deduplicated = Counter(
            "coopbot_events_deduplicated",
            "Repeated deliveries of events already recorded, dropped",
            by_event,
            registry=r,
        )
        self.apply_seconds = Histogram(
            "coopbot_apply_seconds",
            "From an event's arrival to its change being written",
            ["platform"],
            buckets=_APPLY_BUCKETS,
            registry=r,
        )
        self.deliveries = Counter(
            "coopbot_deliveries",
            "Messages, edits and answers the platforms accepted",
            ["platform", "kind"],
            registry=r,
        )
        self.delivery_failures = Counter(
            "coopbot_delivery_failures",
            "Sends that failed: refused for good, failed for now (tried again), or expired",
            ["platform", "kind", "reason"],
            registry=r,
        )
        self.rate_limited = Counter(
            "coopbot_rate_limited",
            "Answers of HTTP 429 from a platform, by API route",
            ["platform", "route"],
            registry=r,
        )
        self.reminder_lag = Histogram(
            "coopbot_reminder_lag_seconds",
            "How late a reminder, nudge, digest or deadline fired after its due time",
            buckets=_LAG_BUCKETS,
            registry=r,
        )

    def event(self, counter: Counter, event: Event) -> None:
        counter.labels(event.actor.community.platform, kind(event)).inc()

    def backlog(self, read: Callable[[], list[Backlog]]) -> None:
        """Report the outbox's depth and oldest age from `read`, called at each scrape."""
        self.registry.register(_BacklogCollector(read))

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


class _BacklogCollector(Collector):
    def __init__(self, read: Callable[[], list[Backlog]]) -> None:
        self.read = read

    def collect(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily(
            "coopbot_outbox_depth", "Deliveries not yet made", labels=["platform"]
        )
        age = GaugeMetricFamily(
            "coopbot_outbox_oldest_age_seconds",
            "Age of the oldest delivery not yet made (0: none)",
            labels=["platform"],
        )
        for row in self.read():
            depth.add_metric([row.platform], row.depth)
            age.add_metric([row.platform], row.oldest_age)
        yield depth
        yield age

    def describe(self) -> Iterator[Metric]:
        # Without this, registering would call collect() (a database read) at once.
        return iter(())


def age(now: datetime, since: datetime | None) -> float:
    return max(0.0, (now - since).total_seconds()) if since is not None else 0.0
