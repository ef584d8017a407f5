"""core/placement.py: the `auto` rule, one clause at a time, without ROS."""

from __future__ import annotations

from neucodex_ros.core.placement import Place, Placer

EDGE, SPLIT = Place.EDGE, Place.SPLIT


def placer(**kwargs: object) -> Placer:
    settings: dict[str, object] = {'latency_budget': 0.2, 'prior': {SPLIT: 0.05, EDGE: 0.1},
                                   'refresh': 1000}
    return Placer(**(settings | kwargs))  # type: ignore[arg-type]


def test_without_a_cloud_samples_run_on_the_edge_and_return_when_it_answers() -> None:
    rule = placer()
    rule.measured(SPLIT, 2.0)  # the deadline a sample missed
    assert rule.choose(cloud_ready=False) is EDGE
    rule.cloud_returned()
    assert rule.choose(cloud_ready=True) is SPLIT  # its prior again, not the 2 s


def test_the_faster_place_wins_and_measurements_replace_the_prior() -> None:
    rule = placer(latency_budget=0.01)  # neither within: the faster
    assert rule.choose(True) is SPLIT
    for _ in range(30):  # the link degrades: split now takes 0.3 s
        rule.measured(SPLIT, 0.3)
    assert rule.expected(SPLIT) > 0.25
    assert rule.choose(True) is EDGE


def test_within_the_budget_the_lower_edge_energy_wins() -> None:
    rule = placer(energy={SPLIT: 1e-3, EDGE: 5e-3})
    rule.measured(EDGE, 0.02)  # the edge is faster, but both are within 0.2 s
    assert rule.choose(True) is SPLIT
    only_edge = placer(energy={SPLIT: 1e-3, EDGE: 5e-3}, prior={SPLIT: 0.5, EDGE: 0.1})
    assert only_edge.choose(True) is EDGE  # split is outside the budget


def test_hysteresis_keeps_the_place_until_the_other_wins_by_the_margin() -> None:
    rule = placer(latency_budget=0.0, prior={SPLIT: 0.10, EDGE: 0.11})
    assert rule.choose(True) is SPLIT
    rule.measured(SPLIT, 0.115)  # now edge is faster, by less than 20%
    assert rule.choose(True) is SPLIT
    for _ in range(20):
        rule.measured(SPLIT, 0.2)
    assert rule.choose(True) is EDGE


def test_a_place_left_unchosen_for_refresh_samples_gets_one() -> None:
    rule = placer(latency_budget=0.0, prior={SPLIT: 0.3, EDGE: 0.1}, refresh=3)
    assert [rule.choose(True) for _ in range(5)] == [EDGE, EDGE, EDGE, SPLIT, EDGE]
