"""core/placement.py: the `auto` rule, one clause at a time, without ROS."""

from __future__ import annotations

import pytest

from neucodex_ros.core.placement import ComputedOn, Placer
from neucodex_ros.core.smoothed import Smoothed

EDGE, SPLIT = ComputedOn.EDGE, ComputedOn.SPLIT


def measured(rule: Placer, place: ComputedOn, seconds: float, joules: float | None = None,
             times: int = 40) -> None:
    """A place's samples: by default many alike, a steady latency (no deviation left)."""
    for _ in range(times):
        rule.measured(place, seconds, joules)


def test_without_a_cloud_samples_run_on_the_edge_and_return_when_it_answers() -> None:
    rule = Placer()
    measured(rule, EDGE, 0.1)
    measured(rule, SPLIT, 2.0)  # the deadline a sample missed
    assert rule.choose(cloud_ready=False) is EDGE
    assert rule.choose(cloud_ready=True) is EDGE  # 2 s is slower
    rule.cloud_returned()
    assert rule.choose(cloud_ready=True) is SPLIT  # unmeasured again: tried at once


def test_each_place_is_tried_once_split_first() -> None:
    rule = Placer()
    assert rule.choose(True) is SPLIT
    rule.measured(SPLIT, 0.3)
    assert rule.choose(True) is EDGE
    rule.measured(EDGE, 0.1)
    assert rule.choose(True) is EDGE


def test_the_faster_place_wins_and_follows_the_link() -> None:
    rule = Placer()
    measured(rule, SPLIT, 0.05)
    measured(rule, EDGE, 0.1)
    assert rule.choose(True) is SPLIT
    measured(rule, SPLIT, 0.3, times=30)  # the link degrades
    assert rule.latency[SPLIT].value > 0.25
    assert rule.choose(True) is EDGE


def test_within_the_margin_the_lower_energy_wins_else_the_last_place() -> None:
    rule = Placer()
    measured(rule, SPLIT, 0.10)
    measured(rule, EDGE, 0.105)
    rule.last = EDGE
    assert rule.choose(True) is EDGE  # a tie, no energies: stay
    measured(rule, SPLIT, 0.10, joules=1e-6)
    measured(rule, EDGE, 0.105, joules=5e-6)
    assert rule.choose(True) is SPLIT  # a tie: the cheaper


def test_hysteresis_keeps_the_place_until_the_other_wins_by_the_margin() -> None:
    rule = Placer()
    measured(rule, SPLIT, 0.21)
    measured(rule, EDGE, 0.2)
    rule.last = SPLIT
    assert rule.choose(True) is SPLIT  # the edge is faster, by less than 10%: kept
    measured(rule, SPLIT, 0.4, times=20)
    assert rule.choose(True) is EDGE


def test_within_the_budget_the_lower_edge_energy_wins() -> None:
    rule = Placer(latency_budget=0.2)
    measured(rule, SPLIT, 0.05, joules=9e-5)
    measured(rule, EDGE, 0.15, joules=2e-5)
    assert rule.choose(True) is EDGE  # slower, both within 0.2 s: the cheaper
    measured(rule, EDGE, 0.215, times=30)
    assert rule.choose(True) is EDGE  # above the budget by less than the margin: kept
    measured(rule, EDGE, 0.5, times=30)
    assert rule.choose(True) is SPLIT  # the only one within
    measured(rule, SPLIT, 0.6, times=30)
    assert rule.choose(True) is EDGE  # neither within: the faster


def test_a_place_left_unchosen_for_refresh_samples_gets_one_measured_afresh() -> None:
    rule = Placer(refresh=3)
    measured(rule, SPLIT, 0.3, times=30)  # a slow link, long ago
    measured(rule, EDGE, 0.1)
    assert [rule.choose(True) for _ in range(5)] == [EDGE, EDGE, EDGE, SPLIT, EDGE]
    measured(rule, EDGE, 0.1)  # (answers of other places change nothing)
    measured(rule, SPLIT, 0.03, times=1)  # the refresh: the link recovered
    assert rule.latency[SPLIT].value == 0.03
    assert rule.choose(True) is SPLIT
    measured(rule, SPLIT, 0.06, times=1)  # smoothed again from there
    assert 0.03 < rule.latency[SPLIT].value < 0.04


def test_a_place_often_slow_counts_as_slow_as_its_tail() -> None:
    rule = Placer()
    for _ in range(20):  # a throttled edge: 50 ms or 250 ms, 150 ms on average
        measured(rule, EDGE, 0.05, times=1)
        measured(rule, EDGE, 0.25, times=1)
    measured(rule, SPLIT, 0.16)  # steady, a little slower on average
    assert rule.latency[EDGE].value < rule.latency[SPLIT].value
    assert rule.choose(True) is SPLIT


def test_settings_that_cannot_work_are_refused() -> None:
    for bad in ({'latency_budget': -1.0}, {'margin': -0.1}, {'refresh': 0}):
        with pytest.raises(ValueError, match=r'^latency_budget and margin must be >= 0, '
                                             r'refresh >= 1$'):
            Placer(**bad)  # type: ignore[arg-type]


def test_the_rule_takes_no_negative_budget_margin_nor_refresh_below_one() -> None:
    Placer(latency_budget=0.0, margin=0.0, refresh=1)
    for bad in ({'latency_budget': -0.01}, {'margin': -0.01}, {'refresh': 0}):
        with pytest.raises(ValueError, match='latency_budget and margin must be >= 0'):
            Placer(**bad)


def test_the_budget_rule_needs_both_energies_and_counts_the_budget_itself_as_within() -> None:
    rule = Placer(latency_budget=0.2)
    measured(rule, SPLIT, 0.05, joules=9e-5)
    rule.latency[EDGE] = Smoothed(0.2)  # no energy here yet: the faster, as without a budget
    assert rule.choose(True) is SPLIT
    rule.energy[EDGE] = Smoothed(2e-5)  # exactly at the budget: within, and cheaper
    assert rule.choose(True) is EDGE
    rule.last = SPLIT  # the margin's slack is the last place's only
    rule.latency[EDGE] = Smoothed(0.21)
    assert rule.choose(True) is SPLIT


def test_exactly_the_margin_apart_is_within_it_and_the_lower_energy_wins() -> None:
    rule = Placer(margin=0.5)
    measured(rule, SPLIT, 0.2, joules=9e-5)
    measured(rule, EDGE, 0.3, joules=2e-5)  # 1.5 × the faster: not slower by more
    assert rule.choose(True) is EDGE


def test_a_chosen_place_has_been_unchosen_for_zero_samples() -> None:
    rule = Placer(refresh=2)
    measured(rule, SPLIT, 0.05)
    measured(rule, EDGE, 0.3)
    assert [rule.choose(True) for _ in range(3)] == [SPLIT, SPLIT, EDGE]  # EDGE: 2 unchosen
    assert rule.unchosen == {SPLIT: 1, EDGE: 0}
