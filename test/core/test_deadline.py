"""core/deadline.py: a split sample is overdue a few round trips after its cloud went quiet."""

from __future__ import annotations

import pytest

from neucodex_ros.core.deadline import PATIENCE, Deadline
from neucodex_ros.core.pacing import RoundTrip, SampleTimesteps


def measured(seconds: float, times: int = 20) -> RoundTrip:
    round_trip = RoundTrip()
    for _ in range(times):
        round_trip.add(seconds)
    return round_trip


def test_three_timeouts_per_timestep_up_to_the_first_answer_due_from_its_send() -> None:
    rule, round_trip = Deadline(floor=0.01, ceiling=2.0), measured(0.03)
    timesteps = SampleTimesteps(4)
    timeout = round_trip.timeout
    timesteps.sent(10.0, asked=False)  # streamed: no answer due for it
    assert rule.due(10.0, timesteps, round_trip) == 12.0  # nothing due: the ceiling
    timesteps.sent(10.02)  # asks: its answer comes once both are computed
    assert rule.due(10.0, timesteps, round_trip) == pytest.approx(10.02 + 2 * PATIENCE * timeout)
    timesteps.continued(2)
    timesteps.sent(10.1, asked=False)
    timesteps.sent(10.2, asked=False)  # the last of T: its answer comes anyway
    assert rule.due(10.0, timesteps, round_trip) == pytest.approx(10.2 + 2 * PATIENCE * timeout)


def test_the_floor_the_ceiling_and_nothing_unanswered() -> None:
    rule = Deadline(floor=0.15, ceiling=0.5)
    timesteps = SampleTimesteps(4)
    assert rule.due(0.0, timesteps, measured(0.01)) == 0.5  # nothing sent: the edge acts
    timesteps.sent(0.0)
    assert rule.due(0.0, timesteps, measured(0.01)) == pytest.approx(0.15)  # floor
    assert rule.due(0.0, timesteps, measured(1.0)) == 0.5  # ceiling
    assert rule.due(0.0, timesteps, RoundTrip()) == pytest.approx(0.5)  # unmeasured: 3 x 0.2
    timesteps.continued(1)
    assert rule.due(0.0, timesteps, measured(0.01)) == 0.5  # all answered: the edge is next
    assert rule.at_ceiling(0.0, 0.5) and not rule.at_ceiling(0.0, 0.49)
    with pytest.raises(ValueError):
        Deadline(floor=0.6, ceiling=0.5)


def test_a_hedge_restarts_the_clock_for_every_timestep_sent() -> None:
    rule, round_trip = Deadline(floor=0.01, ceiling=5.0), measured(0.05)
    timesteps = SampleTimesteps(4)
    for k in range(3):
        timesteps.sent(k * 0.1)
        timesteps.continued(k + 1)
    timesteps.hedged(1.0, asked=True)  # to a cloud that has used none of them, in one message
    assert timesteps.sent_at == [1.0] * 3 and timesteps.resent == {0, 1, 2}
    assert timesteps.asks == [False, False, True]
    assert timesteps.round_trip(3, 1.1) is None  # Karn: not sampled
    assert rule.due(0.0, timesteps, round_trip) == pytest.approx(
        1.0 + 3 * PATIENCE * round_trip.timeout)
