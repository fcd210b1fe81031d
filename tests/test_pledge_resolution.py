"""Properties of pledge resolution (Hypothesis): every condition holds in the result, no
larger such group exists (brute force on small inputs), and the pledging order is irrelevant."""

from __future__ import annotations

from collections.abc import Hashable
from itertools import combinations

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.pledges import Pledge, reached, resolve

PEOPLE = ["ana", "ben", "cat", "dan", "eve", "fay", "gus"]


@st.composite
def drives(draw: st.DrawFn) -> list[Pledge]:
    """Up to seven pledgers, each with a random condition on a count and on named others."""
    people = draw(st.lists(st.sampled_from(PEOPLE), unique=True, max_size=len(PEOPLE)))
    anyone = PEOPLE + ["zoe"]  # zoe never pledges: needing her can never hold
    return [
        Pledge(
            who,
            amount=draw(st.integers(1, 5)),
            others=draw(st.integers(0, len(PEOPLE))),
            needs=frozenset(
                draw(st.sets(st.sampled_from([p for p in anyone if p != who]), max_size=2))
            ),
        )  # fmt: skip
        for who in people
    ]


def valid(pledges: list[Pledge], group: frozenset[Hashable]) -> bool:
    by_who = {p.who: p for p in pledges}
    return all(by_who[who].holds_in(group) for who in group)


@settings(max_examples=400)
@given(drives())
def test_every_condition_holds_in_the_result_and_no_larger_group_exists(
    pledges: list[Pledge],
) -> None:
    group = resolve(pledges)
    assert valid(pledges, group)
    everyone = [p.who for p in pledges]
    larger = [
        frozenset(c)
        for size in range(len(group) + 1, len(everyone) + 1)
        for c in combinations(everyone, size)
        if valid(pledges, frozenset(c))
    ]
    assert larger == []
    # And it is the only valid group of its size: every valid group lies inside it.
    for size in range(1, len(group) + 1):
        for c in combinations(everyone, size):
            if valid(pledges, frozenset(c)):
                assert frozenset(c) <= group


@given(drives(), st.randoms(use_true_random=False))
def test_the_order_people_pledged_in_does_not_matter(pledges: list[Pledge], rnd) -> None:  # type: ignore[no-untyped-def]
    shuffled = list(pledges)
    rnd.shuffle(shuffled)
    assert resolve(shuffled) == resolve(pledges)


def test_the_issue_s_console_scenario_tips_at_carols_pledge_with_everyone() -> None:
    # goal:3 — ana unconditional, ben "if:2", dan "if:@carol"; carol pledges last.
    so_far = [Pledge("ana"), Pledge("ben", others=2), Pledge("dan", needs=frozenset({"carol"}))]
    # Before carol: dan's condition fails, so ben has only one other and drops out too.
    assert resolve(so_far) == {"ana"}
    everyone = [*so_far, Pledge("carol")]
    assert resolve(everyone) == {"ana", "ben", "carol", "dan"}
    assert reached(everyone, resolve(everyone)) == 4


def test_an_amount_drive_counts_the_sum_of_the_group() -> None:
    pledges = [Pledge("ana", 5), Pledge("ben", 3, others=1), Pledge("cat", 10, others=3)]
    group = resolve(pledges)
    assert group == {"ana", "ben"} and reached(pledges, group) == 8
