"""The missing-timestep rule: in order, each once, missing ones lost after `wait`."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from neucodex_ros.core.reorder import TimestepOrder


def test_in_order_timesteps_pass_at_once() -> None:
    order = TimestepOrder(3, wait=1.0)
    for t in range(3):
        assert order.add(t, f'm{t}', now=0.0)
        assert order.ready(0.0) == [(t, f'm{t}')]
    assert order.complete and order.lost == 0


def test_an_early_timestep_waits_for_the_missing_one() -> None:
    order = TimestepOrder(4, wait=0.05)
    order.add(0, 'a', 0.0)
    assert order.ready(0.0) == [(0, 'a')]
    order.add(2, 'c', 0.010)
    assert order.ready(0.020) == [] and order.waiting
    order.add(1, 'b', 0.030)  # arrived in time: order restored
    assert order.ready(0.030) == [(1, 'b'), (2, 'c')]
    assert order.lost == 0 and not order.waiting


def test_a_missing_timestep_is_lost_after_the_wait() -> None:
    order = TimestepOrder(4, wait=0.5)
    order.add(1, 'b', 0.0)  # timestep 0 never comes
    order.add(3, 'd', 0.25)
    assert order.ready(0.4375) == []
    assert order.ready(0.5) == [(1, 'b')]  # 0 lost; 2 waits its own time from d's arrival
    assert order.ready(0.6875) == []
    assert order.ready(0.75) == [(3, 'd')]
    assert (order.lost, order.complete) == (2, True)
    assert not order.add(2, 'c', 1.0), 'too late: a timestep after it was used'


def test_repeats_are_refused() -> None:
    order = TimestepOrder(4, wait=1.0)
    assert order.add(2, 'c', 0.0)
    assert not order.add(2, 'c again', 0.0)  # held
    order.add(0, 'a', 0.0)
    order.add(1, 'b', 0.0)
    assert [t for t, _ in order.ready(0.0)] == [0, 1, 2]
    assert not order.add(0, 'a again', 0.0)  # used


def test_giving_up_uses_what_is_held_and_loses_the_rest() -> None:
    order = TimestepOrder(6, wait=10.0)
    order.add(0, 'a', 0.0)
    order.add(2, 'c', 0.0)
    assert order.ready(0.0) == [(0, 'a')]
    assert order.give_up() == [(2, 'c')]
    assert (order.lost, order.complete, order.waiting) == (4, True, False)


def test_a_timestep_outside_the_sample_is_an_error() -> None:
    with pytest.raises(ValueError, match=r'^timestep 4 is outside 0\.\.3$'):
        TimestepOrder(4, wait=1.0).add(4, 'x', 0.0)


@settings(max_examples=200, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), num_timesteps=st.integers(1, 12),
       drop=st.floats(0, 0.6), repeat=st.floats(0, 0.5))
def test_every_timestep_is_used_at_most_once_in_order(seed: int, num_timesteps: int,
                                                      drop: float, repeat: float) -> None:
    """Lossy, repeating, shuffled arrivals: out comes an increasing subsequence, then done."""
    rng = random.Random(seed)
    arrivals = [t for t in range(num_timesteps) if rng.random() >= drop]
    arrivals += [t for t in arrivals if rng.random() < repeat]
    rng.shuffle(arrivals)
    order = TimestepOrder(num_timesteps, wait=0.05)
    used = []
    now = 0.0
    for t in arrivals:
        now += rng.choice([0.0, 0.01, 0.1])
        order.add(t, t, now)
        used += [item for _, item in order.ready(now)]
    used += [item for _, item in order.ready(now + 1.0)]  # everything waited long enough
    assert used == sorted(set(used)), 'in order, each once'
    assert set(used) <= set(arrivals)
    assert not order.waiting
    if arrivals:
        assert max(arrivals) in used  # the last to arrive is never thrown away
        assert order.lost == max(used) + 1 - len(used)
