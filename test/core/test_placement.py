"""core/placement.py: the `auto` rule, one clause at a time, without ROS."""

from __future__ import annotations

import pytest

from neucodex_ros.core.placement import ComputedOn, Latencies, Placer, TimestepsUsed
from neucodex_ros.core.smoothed import Smoothed

EDGE, SPLIT = ComputedOn.EDGE, ComputedOn.SPLIT
T = 4


def measured(rule: Placer, place: ComputedOn, seconds: float, joules: float | None = None,
             times: int = 40, used: int = 1) -> None:
    """A place's samples: by default many alike, a steady latency (no deviation left)."""
    for _ in range(times):
        rule.measured(place, seconds, used, joules)


def test_without_a_cloud_samples_run_on_the_edge_and_return_when_it_answers() -> None:
    rule = Placer(T)
    measured(rule, EDGE, 0.1)
    measured(rule, SPLIT, 2.0)  # the deadline a sample missed
    assert rule.choose(cloud_ready=False) is EDGE
    assert rule.choose(cloud_ready=True) is EDGE  # 2 s is slower
    rule.cloud_returned()
    assert rule.choose(cloud_ready=True) is SPLIT  # unmeasured again: tried at once


def test_each_place_is_tried_once_split_first() -> None:
    rule = Placer(T)
    assert rule.choose(True) is SPLIT
    rule.measured(SPLIT, 0.3, 1)
    assert rule.choose(True) is EDGE
    rule.measured(EDGE, 0.1, 1)
    assert rule.choose(True) is EDGE


def test_the_faster_place_wins_and_follows_the_link() -> None:
    rule = Placer(T)
    measured(rule, SPLIT, 0.05)
    measured(rule, EDGE, 0.1)
    assert rule.choose(True) is SPLIT
    measured(rule, SPLIT, 0.3, times=30)  # the link degrades
    assert rule.expected(SPLIT)[0] > 0.25
    assert rule.choose(True) is EDGE


def test_a_fast_robot_is_not_judged_by_its_hard_samples() -> None:
    """One sample in eight needs all T: median 1 timestep, 95th percentile T.

    Here: 40 ms or 4 x 40 ms; split: 90 ms or 200 ms. Here is better at the median and worse
    at the tail, but the split's median is more than twice here's: here. A hard sample, in
    its turn, changes nothing (the old rule, mean + 2 deviations of the latest samples, left
    for the split after each).
    """
    rule = Placer(T)
    for n in range(80):
        hard = n % 8 == 7
        rule.measured(EDGE, 0.16 if hard else 0.04, T if hard else 1)
        rule.measured(SPLIT, 0.2 if hard else 0.09, T if hard else 1)
    assert rule.used.quantile(0.5) == 1 and rule.used.quantile(0.95) == T
    assert rule.expected(EDGE) == pytest.approx((0.04, 0.16))
    assert rule.choose(True) is EDGE
    rule.measured(EDGE, 0.16, T)
    assert rule.choose(True) is EDGE


def test_a_place_better_at_both_the_median_and_the_tail_wins() -> None:
    """A throttled robot: 110 ms a timestep; the split 74 ms for one, 231 ms for all T."""
    rule = Placer(T)
    for n in range(80):
        hard = n % 8 == 7
        rule.measured(EDGE, 0.44 if hard else 0.11, T if hard else 1)
        rule.measured(SPLIT, 0.231 if hard else 0.074, T if hard else 1)
    assert rule.choose(True) is SPLIT


def test_each_place_scores_its_worse_ratio_to_the_best_median_and_tail() -> None:
    """Here 1× at the median and 1.4× at the tail; split 1.1× and 1×: the split."""
    rule = Placer(T)
    rule.used.counts = [0.9, 0.0, 0.0, 0.1]
    rule.latency[EDGE].add(1, 0.10)
    rule.latency[EDGE].add(T, 0.42)
    rule.latency[SPLIT].add(1, 0.11)
    rule.latency[SPLIT].add(T, 0.30)
    rule.last = EDGE
    assert rule.choose(True) is SPLIT
    rule.latency[SPLIT] = Latencies(T)
    rule.latency[SPLIT].add(1, 0.135)  # 1.35× at the median: within 10% of here's 1.4
    rule.latency[SPLIT].add(T, 0.30)
    assert rule.choose(True) is SPLIT  # a tie, no energies: stay


def test_within_the_margin_the_lower_energy_wins_else_the_last_place() -> None:
    rule = Placer(T)
    measured(rule, SPLIT, 0.10)
    measured(rule, EDGE, 0.105)
    rule.last = EDGE
    assert rule.choose(True) is EDGE  # a tie, no energies: stay
    measured(rule, SPLIT, 0.10, joules=1e-6)
    measured(rule, EDGE, 0.105, joules=5e-6)
    assert rule.choose(True) is SPLIT  # a tie: the cheaper


def test_hysteresis_keeps_the_place_until_the_other_wins_by_the_margin() -> None:
    rule = Placer(T)
    measured(rule, SPLIT, 0.21)
    measured(rule, EDGE, 0.2)
    rule.last = SPLIT
    assert rule.choose(True) is SPLIT  # the edge is faster, by less than 10%: kept
    measured(rule, SPLIT, 0.4, times=20)
    assert rule.choose(True) is EDGE


def test_within_the_budget_the_lower_edge_energy_wins() -> None:
    rule = Placer(T, latency_budget=0.2)
    measured(rule, SPLIT, 0.05, joules=9e-5)
    measured(rule, EDGE, 0.15, joules=2e-5)
    assert rule.choose(True) is EDGE  # slower, both within 0.2 s: the cheaper
    measured(rule, EDGE, 0.215, times=30)
    assert rule.choose(True) is EDGE  # above the budget by less than the margin: kept
    measured(rule, EDGE, 0.5, times=30)
    assert rule.choose(True) is SPLIT  # the only one within
    measured(rule, SPLIT, 0.6, times=30)
    assert rule.choose(True) is EDGE  # neither within: the better


def test_the_budget_is_judged_by_the_expected_95th_percentile() -> None:
    rule = Placer(T, latency_budget=0.2)
    for n in range(40):
        hard = n % 4 == 3
        rule.measured(EDGE, 0.3 if hard else 0.1, T if hard else 1, 2e-5)
        rule.measured(SPLIT, 0.15, T if hard else 1, 9e-5)
    assert rule.choose(True) is SPLIT  # here's median is within, its tail is not


def test_a_place_left_unchosen_for_refresh_samples_is_rescaled_by_its_next() -> None:
    rule = Placer(T, refresh=3)
    measured(rule, SPLIT, 0.3, times=30)  # a slow link, long ago
    measured(rule, SPLIT, 0.6, times=30, used=T)
    measured(rule, EDGE, 0.1)
    assert [rule.choose(True) for _ in range(5)] == [EDGE, EDGE, EDGE, SPLIT, EDGE]
    measured(rule, EDGE, 0.1)  # (answers of other places change nothing)
    measured(rule, SPLIT, 0.03, times=1)  # the refresh: the link recovered, 10× faster
    assert rule.latency[SPLIT].at(1) == pytest.approx(0.03)
    assert rule.latency[SPLIT].at(T) == pytest.approx(0.06)  # every t alike
    assert rule.choose(True) is SPLIT
    measured(rule, SPLIT, 0.06, times=1)  # smoothed again from there
    assert 0.03 < rule.latency[SPLIT].at(1) < 0.04


def test_latencies_interpolate_between_and_scale_beyond_the_timesteps_measured() -> None:
    latencies = Latencies(T)
    assert latencies.at(1) is None and not latencies.measured
    latencies.add(2, 0.2)
    assert latencies.measured
    assert [latencies.at(t) for t in (1, 2, 4)] == pytest.approx([0.1, 0.2, 0.4])
    latencies.add(4, 0.3)
    assert [latencies.at(t) for t in (1, 3, 4)] == pytest.approx([0.1, 0.25, 0.3])
    with pytest.raises(ValueError, match='timesteps used must be 1..4, got 5'):
        latencies.add(5, 0.1)
    latencies.rescale(2, 0.4)
    assert [latencies.at(t) for t in (2, 4)] == pytest.approx([0.4, 0.6])


def test_a_rescale_of_nothing_measured_is_a_first_measurement() -> None:
    latencies = Latencies(T)
    latencies.rescale(3, 0.3)
    assert latencies.at(3) == 0.3 and latencies.by_used[2].value == 0.3


def test_the_timesteps_used_fade_and_give_their_quantiles() -> None:
    used = TimestepsUsed(T, memory=10)
    assert used.quantile(0.5) == used.quantile(0.95) == 1  # nothing yet
    for t in (1, 1, 1, 1, 1, 1, 1, 1, 1, 4):
        used.add(t)
    assert used.quantile(0.5) == 1 and used.quantile(0.95) == T
    for _ in range(40):
        used.add(2)
    assert used.quantile(0.05) == 2 and used.counts[0] < 0.2  # the old ones faded


def test_zero_latencies_score_as_the_best() -> None:
    rule = Placer(T)
    measured(rule, EDGE, 0.0)
    measured(rule, SPLIT, 0.01)
    assert rule.choose(True) is EDGE


def test_settings_that_cannot_work_are_refused() -> None:
    Placer(T, latency_budget=0.0, margin=0.0, refresh=1, memory=1)
    for bad in ({'latency_budget': -0.01}, {'margin': -0.01}, {'refresh': 0}, {'memory': 0.5}):
        with pytest.raises(ValueError, match=r'^latency_budget and margin must be >= 0, '
                                             r'refresh and memory >= 1$'):
            Placer(T, **bad)  # type: ignore[arg-type]


def test_the_budget_rule_needs_both_energies_and_counts_the_budget_itself_as_within() -> None:
    rule = Placer(T, latency_budget=0.2)
    measured(rule, SPLIT, 0.05, joules=9e-5)
    measured(rule, EDGE, 0.2)  # no energy here yet: the better, as without a budget
    assert rule.choose(True) is SPLIT
    rule.energy[EDGE] = Smoothed(2e-5)  # exactly at the budget: within, and cheaper
    assert rule.choose(True) is EDGE
    rule.last = SPLIT  # the margin's slack is the last place's only
    measured(rule, EDGE, 0.21)
    assert rule.choose(True) is SPLIT


def test_exactly_the_margin_apart_is_within_it_and_the_lower_energy_wins() -> None:
    rule = Placer(T, margin=0.5)
    measured(rule, SPLIT, 0.2, joules=9e-5)
    measured(rule, EDGE, 0.3, joules=2e-5)  # 1.5 × the better: not worse by more
    assert rule.choose(True) is EDGE


def test_a_chosen_place_has_been_unchosen_for_zero_samples() -> None:
    rule = Placer(T, refresh=2)
    measured(rule, SPLIT, 0.05)
    measured(rule, EDGE, 0.3)
    assert [rule.choose(True) for _ in range(3)] == [SPLIT, SPLIT, EDGE]  # EDGE: 2 unchosen
    assert rule.unchosen == {SPLIT: 1, EDGE: 0}


def test_the_first_samples_at_a_t_are_averaged_alike_then_smoothed() -> None:
    """One sample taken before the robot was throttled (30 ms, then 300 ms) fades at once."""
    latencies = Latencies(T)
    latencies.add(1, 0.03)
    latencies.add(1, 0.3)
    assert latencies.at(1) == pytest.approx(0.165)
    for _ in range(6):
        latencies.add(1, 0.3)
    assert latencies.at(1) == pytest.approx((0.03 + 7 * 0.3) / 8)
    latencies.add(1, 1.1)  # the ninth: smoothed, weight 1/8
    assert latencies.at(1) == pytest.approx(0.26625 + (1.1 - 0.26625) / 8)
    assert latencies.counts == [9, 0, 0, 0]
