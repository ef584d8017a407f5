"""core/health: the level is the worst problem of the last period or of now, said in one line."""

from __future__ import annotations

from neucodex_ros.core.health import (
    CLOUD_RULES,
    EDGE_RULES,
    FAILING,
    Health,
    Level,
    Rule,
    assess,
    grown,
)


def test_nothing_grown_is_ok_with_the_healthy_line() -> None:
    assert assess({}, EDGE_RULES, healthy='answers split') == Health(Level.OK, 'answers split')


def test_only_the_counters_that_grew_count() -> None:
    before = {'samples_fallen_back': 3, 'frames_dropped': 10}
    now = {'samples_fallen_back': 3, 'frames_dropped': 50, 'samples_answered': 9}
    assert grown(now, before) == {'frames_dropped': 40, 'samples_answered': 9}
    assert assess(grown(now, before), EDGE_RULES).level is Level.OK, \
        "the queue's own drops are its policy, not a problem"


def test_a_missed_deadline_warns_and_says_how_many() -> None:
    health = assess({'samples_fallen_back': 2, 'samples_cloud_unavailable': 1}, EDGE_RULES)
    assert health.level is Level.WARN
    assert health.message == 'samples the cloud did not answer by their deadline: 3'


def test_a_prefix_rule_sums_every_counter_it_names() -> None:
    growth = {'rejected_bad_shape': 2, 'rejected_model_mismatch': 1, 'samples_decided': 5}
    assert assess(growth, CLOUD_RULES) == Health(Level.WARN, 'messages rejected: 3')
    assert Rule(Level.WARN, ('packets_rejected*',), 'x').count(
        {'packets_rejected': 1, 'packets_rejected_sensor_too_large': 2}) == 3


def test_the_worst_level_wins_and_names_only_its_problems() -> None:
    growth = {'callback_errors': 1, 'frames_rejected': 4}
    health = assess(growth, EDGE_RULES, [Health(Level.WARN, 'no cloud')])
    assert health.level is Level.ERROR
    assert health.message == f'{FAILING.what}: 1'
    warned = assess({'frames_rejected': 4}, EDGE_RULES, [Health(Level.WARN, 'no cloud')])
    assert warned == Health(Level.WARN, 'inputs rejected: 4; no cloud')


def test_levels_are_diagnostic_msgs_levels() -> None:
    assert (Level.OK, Level.WARN, Level.ERROR) == (0, 1, 2)
