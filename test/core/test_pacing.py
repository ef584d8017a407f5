"""Pacing: the edge computes a timestep the cloud has not asked for only when the bet pays."""

from __future__ import annotations

import math
import random

import pytest

from neucodex_ros.core.pacing import (
    AdaptivePacing,
    ClockPacing,
    ContinueRates,
    RoundTrip,
    SampleTimesteps,
    Step,
)


def test_round_trip_follows_rfc6298() -> None:
    rtt = RoundTrip(initial=0.2)
    assert rtt.estimate == 0.2 and rtt.timeout == 0.4  # before the first sample
    rtt.add(0.04)
    assert rtt.estimate == pytest.approx(0.04) and rtt.timeout == pytest.approx(0.04 + 4 * 0.02)
    rtt.add(0.08)
    assert rtt.estimate == pytest.approx(0.04 + 0.04 / 8)
    assert rtt.deviation == pytest.approx(0.02 + (0.04 - 0.02) / 4)
    rtt.add(-1.0)  # a clock oddity is not a sample
    assert rtt.samples == 2


def test_round_trip_timeout_has_a_floor() -> None:
    rtt = RoundTrip(min_timeout=0.01)
    for _ in range(50):
        rtt.add(0.0001)
    assert rtt.timeout == 0.01


def test_round_trips_of_resent_timesteps_are_not_sampled() -> None:
    sample = SampleTimesteps(4)
    sample.sent(1.0)
    assert sample.round_trip(1, 1.25) == 0.25
    sample.resent_last(1.5)
    assert sample.round_trip(1, 1.6) is None  # the first send's, or the resend's? (Karn)
    assert sample.round_trip(2, 1.6) is None  # not sent


def test_continue_rates_learn_where_samples_stop() -> None:
    rates = ContinueRates(4, memory=1000)
    assert rates.rate(0) == 0.5 and rates.rate(3) == 0.0  # nothing seen; after T − 1: never
    for used in [1] * 80 + [2] * 20:
        rates.add(used, confident=True)
    assert rates.rate(0) == pytest.approx(21 / 102, rel=0.05)
    assert rates.rate(1) == pytest.approx(1 / 22, rel=0.05)
    assert rates.chance(0, 1) == pytest.approx(rates.rate(0) * rates.rate(1))
    assert rates.chance(2, 1) == 1.0


def test_reaching_the_last_timestep_is_no_evidence_of_stopping() -> None:
    rates = ContinueRates(3)
    for _ in range(20):
        rates.add(3, confident=False)
    assert rates.rate(0) > 0.9 and rates.rate(1) > 0.9


def test_continue_rates_forget_old_samples() -> None:
    rates = ContinueRates(4, memory=10)
    for _ in range(100):
        rates.add(1, confident=True)
    assert rates.rate(0) < 0.1
    for _ in range(30):
        rates.add(4, confident=False)  # α raised: samples now run on
    assert rates.rate(0) > 0.85


def test_continue_rates_reject_impossible_counts() -> None:
    with pytest.raises(ValueError):
        ContinueRates(4).add(0, confident=True)
    with pytest.raises(ValueError, match=r'^num_timesteps and memory must be >= 1$'):
        ContinueRates(0)


def pacing(cost: float, continue_rate: float, rtt: float = 0.04) -> AdaptivePacing:
    """A pacing whose edge saw every sample continue with this rate after each timestep."""
    rates = ContinueRates(4, memory=10_000, prior=(continue_rate * 1e6, (1 - continue_rate) * 1e6))
    trip = RoundTrip()
    trip.add(rtt)
    return AdaptivePacing(cost, trip, rates)


def test_the_first_timestep_and_the_asked_ones_go_at_once() -> None:
    rule = pacing(cost=math.inf, continue_rate=0.0)
    sample = SampleTimesteps(4)
    assert rule.next_step(sample, 5.0) == Step(5.0)
    sample.sent(5.0)
    assert rule.next_step(sample, 5.001).at > 5.001  # a bet that never pays: wait
    sample.continued(1)  # the cloud asks for timestep 1
    assert rule.next_step(sample, 5.04) == Step(5.04)
    for t in range(3):
        sample.sent(5.1 + t)
    assert sample.all_sent and rule.next_step(sample, 9.0) is None


@pytest.mark.parametrize(('cost', 'rate', 'bets'), [
    (0.0, 0.01, True),  # free timesteps: always stream
    (math.inf, 0.99, False),  # stop-and-wait: never bet
    (0.05, 0.9, True),  # 0.9 × 40 ms ≥ 0.1 × 50 ms
    (0.05, 0.5, False),  # 0.5 × 40 ms < 0.5 × 50 ms
    (0.01, 0.3, True),  # 0.3 × 40 ms ≥ 0.7 × 10 ms
])
def test_the_bet_weighs_latency_saved_against_a_wasted_timestep(cost: float, rate: float,
                                                                 bets: bool) -> None:
    rule = pacing(cost, rate)
    sample = SampleTimesteps(4)
    sample.sent(0.0)
    assert (rule.next_step(sample, 0.0) == Step(0.0)) is bets


def test_the_edge_asks_for_a_verdict_only_when_it_will_wait_for_it() -> None:
    sure = pacing(cost=0.05, continue_rate=0.9)  # 0.9 × 40 ms ≥ 0.1 × 50 ms: it will bet
    unsure = pacing(cost=0.05, continue_rate=0.5)
    sample = SampleTimesteps(4)
    assert not sure.asks_verdict(sample) and unsure.asks_verdict(sample)
    sample.sent(0.0, asked=False)
    assert sure.next_step(sample, 0.0) == Step(0.0)
    assert unsure.next_step(sample, 0.0) == Step(0.0), 'a timestep that did not ask commits'
    for t in range(1, 3):
        sample.sent(t)
    assert not unsure.asks_verdict(sample), 'the last timestep: the answer comes anyway'
    assert not ClockPacing(0.02).asks_verdict(SampleTimesteps(4))


def test_a_bet_loses_value_as_the_verdict_nears() -> None:
    rule = pacing(cost=0.05, continue_rate=0.75)
    sample = SampleTimesteps(4)
    sample.sent(0.0)
    assert rule.bet(sample, 0.0)  # 0.75 × 40 ms ≥ 0.25 × 50 ms
    assert not rule.bet(sample, 0.030)  # 0.75 × 10 ms < 12.5 ms: the verdict is near


def test_bets_chain_over_the_timesteps_not_asked_for() -> None:
    rule = pacing(cost=0.04, continue_rate=0.7)
    sample = SampleTimesteps(4)
    sample.sent(0.0)
    assert rule.bet(sample, 0.0)  # p = 0.7: 28 ms ≥ 12 ms
    sample.sent(0.0)
    assert not rule.bet(sample, 0.0)  # p = 0.49 for timestep 2: 19.6 ms < 20.4 ms


def test_an_overdue_verdict_gets_the_last_timestep_resent_with_backoff() -> None:
    rule = pacing(cost=math.inf, continue_rate=0.0, rtt=0.04)
    timeout = rule.round_trip.timeout
    sample = SampleTimesteps(4)
    sample.sent(1.0)
    assert rule.next_step(sample, 1.0) == Step(1.0 + timeout, resend=True)
    sample.resent_last(1.0 + timeout)
    again = rule.next_step(sample, 1.0 + timeout)
    assert again.resend and again.at == pytest.approx(1.0 + 3 * timeout)
    sample.continued(1)  # the verdict came after all
    assert rule.next_step(sample, 1.3) == Step(1.3)
    sample.sent(1.3)
    assert rule.next_step(sample, 1.3) == Step(1.3 + timeout, resend=True)  # backoff reset


def test_a_resend_waits_a_timeout_for_each_timestep_the_answer_waits_for() -> None:
    rule = pacing(cost=math.inf, continue_rate=0.0, rtt=0.04)
    timeout = rule.round_trip.timeout
    sample = SampleTimesteps(4)
    sample.sent(1.0, asked=False)  # a bet, then the one that asks: the cloud computes both
    sample.sent(1.01)
    assert rule.next_step(sample, 1.01) == Step(1.01 + 2 * timeout, resend=True)
    sample.hedged(1.1, asked=True)  # both again, in one message to a cloud that used none
    assert rule.next_step(sample, 1.1) == Step(1.1 + 2 * timeout, resend=True)


def test_clock_pacing_is_one_timestep_per_period() -> None:
    rule = ClockPacing(0.02)
    sample = SampleTimesteps(3)
    assert rule.next_step(sample, 1.0) == Step(1.0)
    sample.sent(1.0)
    assert rule.next_step(sample, 1.001).at == pytest.approx(1.02)
    sample.sent(1.02)
    sample.sent(1.04)
    assert rule.next_step(sample, 2.0) is None


def simulate(rule: AdaptivePacing, samples: int, rtt: float, step: float,
             seed: int = 0) -> tuple[float, float, float]:
    """Paced samples that exit after 1 (70%), 2 (20%) or 4 (10%) timesteps.

    The edge computes one timestep in `step` seconds and the verdict on it comes `rtt` later.
    Returns (timesteps used, timesteps computed, latency), averaged per sample.
    """
    rng = random.Random(seed)
    used_total = computed_total = latency_total = 0.0
    for _ in range(samples):
        used = rng.choices([1, 2, 4], [0.7, 0.2, 0.1])[0]
        sample = SampleTimesteps(4)
        now = 0.0
        verdicts: list[float] = []  # when the verdict on each sent timestep arrives
        answered = None
        while answered is None:
            planned = rule.next_step(sample, now)
            arrivals = [v for i, v in enumerate(verdicts) if i < used and v > now]
            if planned is not None and planned.at <= now and not planned.resend:
                now += step
                sample.sent(now)
                verdicts.append(now + rtt)
                continue
            now = min(arrivals)  # (nothing is lost here: never a resend)
            for i, v in enumerate(verdicts):
                if v == now and i < used:
                    if i == used - 1:
                        answered = now
                        rule.round_trip.add(rtt)
                    else:
                        sample.continued(i + 1)
                        rule.round_trip.add(rtt)
        rule.rates.add(used, confident=used < 4)
        used_total += used
        computed_total += len(sample.sent_at)
        latency_total += answered
    return used_total / samples, computed_total / samples, latency_total / samples


def test_stop_and_wait_computes_exactly_what_the_cloud_uses() -> None:
    used, computed, latency = simulate(pacing(math.inf, 0.5), 500, rtt=0.04, step=0.005)
    assert computed == used


def test_streaming_is_fastest_and_most_wasteful() -> None:
    stream = simulate(pacing(0.0, 0.5), 500, rtt=0.04, step=0.005)
    wait = simulate(pacing(math.inf, 0.5), 500, rtt=0.04, step=0.005)
    adaptive = simulate(AdaptivePacing(0.05, RoundTrip(), ContinueRates(4)), 500, rtt=0.04,
                        step=0.005)
    assert stream[2] < adaptive[2] <= wait[2]
    assert stream[1] > adaptive[1] >= wait[1]
    assert adaptive[1] <= 1.25 * adaptive[0]


def test_continue_rates_need_a_timestep_and_a_memory_of_a_sample() -> None:
    ContinueRates(1, memory=1.0)
    for bad in ({'num_timesteps': 0}, {'num_timesteps': 1, 'memory': 0.99}):
        with pytest.raises(ValueError, match='num_timesteps and memory must be >= 1'):
            ContinueRates(**bad)
    with pytest.raises(ValueError, match='used must be 1..4, got 5'):
        ContinueRates(4).add(5, True)


class RecordedRates:
    """ContinueRates' interface: one chance for all, and the ranges asked for."""

    def __init__(self, chance: float) -> None:
        self.value, self.asked = chance, []

    def chance(self, first: int, last: int) -> float:
        self.asked.append((first, last))
        return self.value


def test_a_round_trip_is_timed_from_the_send_of_the_timestep_used_last() -> None:
    sample = SampleTimesteps(4)
    sample.sent(1.0)
    sample.sent(1.5)
    assert sample.round_trip(2, 1.7) == pytest.approx(0.2)
    sample.resent_last(1.8)
    sample.resent_last(2.2)
    assert sample.resends == 2
    rtt = RoundTrip()
    rtt.add(0.0)  # a verdict in the same clock tick is a sample
    assert rtt.samples == 1


def test_the_verdict_is_asked_from_the_chance_after_the_timesteps_needed() -> None:
    sample = SampleTimesteps(4)
    sample.needed = 2
    sample.sent(0.0)
    sample.sent(1.0)  # the third (k = 2) is next: not the last, so the rule decides
    rates = RecordedRates(0.0)
    pacing = AdaptivePacing(0.05, RoundTrip(initial=0.1), rates)
    assert pacing.asks_verdict(sample) and rates.asked == [(1, 2)]
    assert not pacing.bet(sample, 1.0) and rates.asked[-1] == (1, 1)


def test_a_bet_waits_from_the_last_send_and_pays_at_equality() -> None:
    sample = SampleTimesteps(4)
    sample.needed = 2
    sample.sent(0.0)
    sample.sent(1.0)
    pacing = AdaptivePacing(0.5, RoundTrip(initial=0.5), RecordedRates(0.5))
    assert pacing.bet(sample, 1.0)  # 0.5 × 0.5 s saved ≥ 0.5 × 0.5 s of compute: exactly
    assert not pacing.bet(sample, 1.25)  # half the round trip is left to save
    never = AdaptivePacing(math.inf, RoundTrip(), RecordedRates(1.0))
    assert never.bet(sample, 1.0)  # certain to be needed: computing it wastes nothing
