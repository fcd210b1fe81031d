"""Pledge drives' resolution: who is in, given each pledger's own condition.

A pledge may say "only if at least N others are in" and "only if these people are in". The
group that counts toward the goal is the largest one in which every member's condition
holds. Conditions only ever ask for more people, so a condition that holds in a group holds
in any larger one: the valid groups are closed under union, the largest is unique, and
removing whoever's condition fails until nobody's does reaches it from any starting order.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Pledge:
    """Someone's pledge: `amount` toward an amount goal (1 for a people goal), and their
    condition: at least `others` other people in, and every one of `needs` in."""

    who: Hashable
    amount: int = 1
    others: int = 0
    needs: frozenset[Hashable] = field(default_factory=frozenset)

    def holds_in(self, group: frozenset[Hashable]) -> bool:
        # Not `needs <= group - {who}`: that copies the group for every pledge checked.
        if len(group) - 1 < self.others:
            return False
        return all(n in group and n != self.who for n in self.needs)


def resolve(pledges: Iterable[Pledge]) -> frozenset[Hashable]:
    """Who is in: the largest group of pledgers whose conditions all hold there."""
    by_who = {p.who: p for p in pledges}
    group = frozenset(by_who)
    while True:
        failing = {who for who in group if not by_who[who].holds_in(group)}
        if not failing:
            return group
        group = group - failing


def reached(pledges: Iterable[Pledge], group: frozenset[Hashable]) -> int:
    """What `group` brings toward the goal: the sum of its members' amounts."""
    return sum(p.amount for p in pledges if p.who in group)
