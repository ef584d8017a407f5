"""The edge's control (core/edge_loop.py) with injected time: every timing rule, without ROS."""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import replace

import pytest

from neucodex_ros.core.edge_loop import (
    HELLO_PERIOD,
    RETRY_PERIOD,
    UNANSWERED_HELLOS,
    Action,
    Cancel,
    EdgeLoop,
    Escalate,
    Hedge,
    Outcome,
    Publish,
    ReportWorse,
    Resend,
    RunHere,
    SayHello,
    SendTimestep,
    StartSplit,
    Wake,
)
from neucodex_ros.core.energy import radio_energy_j
from neucodex_ros.core.errors import ConfigError
from neucodex_ros.core.health import Level
from neucodex_ros.core.placement import ComputedOn, Placement
from neucodex_ros.core.protocol import CLOUD_UNAVAILABLE, Log, Reason, Status, Verdict
from neucodex_ros.core.settings import EdgeSettings

T = 4


class Edge:
    """A node stand-in: carries out the compute actions at once and keeps what was done."""

    def __init__(self, placement: Placement = Placement.SPLIT, **settings: object) -> None:
        defaults = EdgeSettings.of({}).loop(T, 3, 'abc')
        self.loop: EdgeLoop[str] = EdgeLoop(replace(defaults, placement=placement, **settings),
                                            now=0.0,
            first_id=100, energy_of=lambda item: {'split': 1e-6, 'head': 1e-6, 'all': 4e-6})
        self.done: list[Action] = []
        self.wake: float | None = None
        self.local_used = 1  # timesteps the local early exit takes
        self.busy = 0.0  # seconds a RunHere computes

    def run(self, actions: list[Action], now: float) -> list[Action]:
        """Carry out `actions` as the node would at `now`; what was done, in order."""
        done = self._carry_out(actions, now)
        self.done += done
        return done

    def _carry_out(self, actions: list[Action], now: float) -> list[Action]:
        done = []
        for action in actions:
            done.append(action)
            if isinstance(action, SendTimestep | Resend):
                done += self._carry_out(self.loop.sent(action.sample, now, 10), now)
            elif isinstance(action, RunHere):  # exits after local_used timesteps in all
                sample = action.sample
                now += self.busy
                if sample.here + action.timesteps < self.local_used:
                    done += self._carry_out(self.loop.undecided_here(
                        sample, action.timesteps, now), now)
                else:
                    done += self._carry_out(self.loop.decided_here(sample, Outcome(
                        1, 0.9, [0.05, 0.9, 0.05], self.local_used), now), now)
            elif isinstance(action, Wake):
                self.wake = action.at
        return done

    def ready(self, now: float) -> list[Action]:
        """A cloud appears and answers the hello."""
        done = self.run(self.loop.subscribers_changed(1, now), now)
        hello = next(a for a in done if isinstance(a, SayHello))
        return done + self.run(self.loop.verdict(Verdict('r', hello.sample_id, Reason.READY,
                                                         Status.OK), now), now)

    def answer(self, sample_id: int, now: float, used: int = 1, reason: int = Reason.CONFIDENT,
               **fields: object) -> list[Action]:
        wire_bytes = fields.pop('wire_bytes', None)
        verdict = Verdict('r', sample_id, reason, fields.pop('status', Status.OK),
                          **({'label': 2, 'confidence': 0.95, 'timesteps_used': used}
                             | fields))
        return self.run(self.loop.verdict(verdict, now) if wire_bytes is None
                        else self.loop.verdict(verdict, now, wire_bytes), now)


def of(kind: type, done: list[Action]) -> list:
    return [a for a in done if isinstance(a, kind)]


def test_split_waits_for_a_ready_cloud_and_asks_once_per_hello_period() -> None:
    edge = Edge()
    done = edge.run(edge.loop.activate(0.0), 0.0)
    assert of(SayHello, done) == [] and edge.wake is None  # no subscriber: nothing to ask
    done = edge.run(edge.loop.input('frame', 0.0), 0.0)
    assert not of(StartSplit, done) and edge.wake == pytest.approx(RETRY_PERIOD)
    done = edge.run(edge.loop.subscribers_changed(1, 0.01), 0.01)
    assert len(of(SayHello, done)) == 1
    assert of(SayHello, edge.run(edge.loop.timer(0.2), 0.2)) == []  # before HELLO_PERIOD
    hello = of(SayHello, edge.run(edge.loop.timer(0.01 + HELLO_PERIOD), 0.6))
    assert len(hello) == 1 and edge.loop.counters['hellos_sent'] == 2
    # a READY for a hello of this round starts the waiting sample at once
    done = edge.run(edge.loop.verdict(Verdict('r', hello[0].sample_id, Reason.READY, Status.OK),
                                      0.7), 0.7)
    assert edge.loop.cloud_ready and len(of(StartSplit, done)) == 1
    assert len(of(SendTimestep, done)) == 1


def test_a_ready_of_another_round_or_robot_is_counted_not_believed() -> None:
    edge = Edge()
    edge.run(edge.loop.activate(0.0), 0.0)
    edge.run(edge.loop.subscribers_changed(1, 0.0), 0.0)
    edge.run(edge.loop.verdict(Verdict('r', 5, Reason.READY, Status.OK), 0.1), 0.1)
    assert not edge.loop.cloud_ready and edge.loop.counters['ready_unknown'] == 1


def test_subscribers_changing_forgets_the_cloud_and_asks_again() -> None:
    edge = Edge()
    edge.run(edge.loop.activate(0.0), 0.0)
    edge.ready(0.0)
    assert edge.loop.cloud_ready
    done = edge.run(edge.loop.subscribers_changed(2, 0.1), 0.1)
    assert not edge.loop.cloud_ready and len(of(SayHello, done)) == 1
    assert any('asking for a cloud again' in log.text for log in of(Log, done))


def split_sample(edge: Edge, now: float = 0.0):
    edge.run(edge.loop.activate(now), now)
    edge.ready(now)
    done = edge.run(edge.loop.input('frame', now), now)
    return of(StartSplit, done)[0].sample, done


def test_a_confident_answer_ends_the_sample_once_and_teaches_the_round_trip() -> None:
    edge = Edge(timestep_cost=1e6)  # never bet: one timestep, asking for a verdict
    sample, done = split_sample(edge)
    assert [a.asks_verdict for a in of(SendTimestep, done)] == [True]
    done = edge.answer(sample.sample_id, 0.03)
    [publish] = of(Publish, done)
    assert publish.sample is sample and publish.answer.label == 2
    assert edge.loop.round_trip.smoothed == pytest.approx(0.03)
    assert edge.loop.samples.current is None and not edge.loop.samples.pending
    assert edge.loop.counters['timesteps_saved'] == T - 1
    edge.answer(sample.sample_id, 0.04)  # again
    edge.answer(999, 0.05)  # not ours
    assert edge.loop.counters['answers_repeated'] == 1
    assert edge.loop.counters['answers_unknown'] == 1
    assert len(of(Publish, edge.done)) == 1


def test_continue_asks_for_the_next_timestep_and_stop_and_wait_sends_no_more() -> None:
    edge = Edge(timestep_cost=1e6)
    sample, _ = split_sample(edge)
    edge.run(edge.loop.timer(RETRY_PERIOD), RETRY_PERIOD)  # the look for a cloud, now idle
    assert edge.wake == pytest.approx(0.2)  # the verdict's retransmission timeout
    done = edge.answer(sample.sample_id, 0.05, reason=Reason.CONTINUE, label=-1)
    assert len(of(SendTimestep, done)) == 1 and sample.timesteps.next == 2
    assert edge.loop.counters['verdicts_continue'] == 1
    edge.answer(sample.sample_id, 0.06, used=9, reason=Reason.CONTINUE)  # not sent yet
    assert edge.loop.counters['verdicts_unknown'] == 1


def test_an_overdue_verdict_gets_the_last_timestep_resent_with_backoff() -> None:
    edge = Edge(timestep_cost=1e6)
    sample, _ = split_sample(edge)
    edge.run(edge.loop.timer(RETRY_PERIOD), RETRY_PERIOD)
    first_wake = edge.wake
    assert first_wake == pytest.approx(0.2)
    done = edge.run(edge.loop.timer(first_wake - 1e-3), first_wake - 1e-3)
    assert not of(Resend, done)  # not yet
    done = edge.run(edge.loop.timer(first_wake), first_wake)
    assert len(of(Resend, done)) == 1 and sample.timesteps.resends == 1
    assert edge.wake - first_wake == pytest.approx(2 * 0.2)  # doubled
    edge.answer(sample.sample_id, first_wake + 0.01)
    assert edge.loop.round_trip.samples == 0  # Karn: a resent timestep's round trip is unknown


def test_clock_pacing_sends_one_timestep_per_period_without_verdicts() -> None:
    edge = Edge(pacing='clock', timestep_period=0.02)
    sample, done = split_sample(edge)
    assert [a.asks_verdict for a in of(SendTimestep, done)] == [False]
    assert edge.wake == pytest.approx(0.02)
    for k in range(1, T):
        done = edge.run(edge.loop.timer(0.02 * k), 0.02 * k)
        assert len(of(SendTimestep, done)) == 1
    assert sample.timesteps.all_sent and edge.loop.samples.current is None


def test_split_reports_a_sample_unanswered_by_its_deadline_once() -> None:
    edge = Edge(deadline=0.5, timestep_cost=1e6)
    sample, _ = split_sample(edge)
    edge.run(edge.loop.timer(0.49), 0.49)
    assert not of(Publish, edge.done)
    done = edge.run(edge.loop.timer(0.5), 0.5)
    [publish] = of(Publish, done)
    assert publish.answer.status == CLOUD_UNAVAILABLE and publish.answer.label == -1
    assert of(ReportWorse, done) and not edge.loop.cloud_ready
    edge.answer(sample.sample_id, 0.6)
    assert edge.loop.counters['answers_after_deadline'] == 1
    assert len(of(Publish, edge.done)) == 1


def test_the_deadline_is_kept_by_any_event_not_only_the_timer() -> None:
    edge = Edge(deadline=0.5, timestep_cost=1e6)
    sample, _ = split_sample(edge)
    edge.run(edge.loop.subscribers_changed(1, 0.7), 0.7)  # after the deadline, before the timer
    assert [p.answer.status for p in of(Publish, edge.done)] == [CLOUD_UNAVAILABLE]


def test_an_answer_read_after_the_deadline_but_before_the_timer_is_taken() -> None:
    edge = Edge(deadline=0.5, timestep_cost=1e6)
    sample, _ = split_sample(edge)
    edge.answer(sample.sample_id, 0.7)  # it waited while the edge was busy: it wins
    assert [p.answer.status for p in of(Publish, edge.done)] == ['ok']


def test_auto_runs_a_late_split_sample_here_before_the_waiting_frames() -> None:
    edge = Edge(Placement.AUTO, deadline=0.5, timestep_cost=1e6)
    sample, _ = split_sample(edge)
    assert sample.place is ComputedOn.SPLIT  # unmeasured places get samples, split first
    edge.run(edge.loop.input('next', 0.1), 0.1)
    done = edge.run(edge.loop.timer(0.5), 0.5)
    [run] = of(RunHere, done)
    assert run.sample is sample and sample.fell_back and sample.place is ComputedOn.EDGE
    [publish] = of(Publish, done)
    assert publish.sample is sample and edge.loop.counters['samples_fallen_back'] == 1
    # the cloud is forgotten: the waiting frame runs here too, at once, while the hellos go on
    assert edge.wake == 0.5 and of(SayHello, done)
    assert of(RunHere, edge.run(edge.loop.timer(0.5), 0.5))[0].sample.input == 'next'
    assert edge.loop.counters['samples_started'] == 2  # a fallen-back sample is not new


def test_auto_places_each_sample_where_it_measured_faster() -> None:
    edge = Edge(Placement.AUTO, timestep_cost=1e6)
    sample, _ = split_sample(edge)
    edge.answer(sample.sample_id, 0.3)  # split: slow
    done = edge.run(edge.loop.input('b', 0.3), 0.3)  # the unmeasured place next
    assert of(RunHere, done) and edge.loop.placer.latency[ComputedOn.EDGE].at(1) == 0.0
    done = edge.run(edge.loop.input('c', 0.4), 0.4)
    assert of(RunHere, done), 'here was faster'
    assert any('placing samples here' in log.text for log in of(Log, edge.done))
    energy = edge.loop.placer.energy
    assert energy[ComputedOn.EDGE].value == pytest.approx(4e-6)  # 1 timestep of 'all'
    assert energy[ComputedOn.SPLIT].value > 1e-6  # a timestep and the radio's bytes


def test_forged_or_impossible_answers_are_rejected_and_the_sample_goes_on() -> None:
    edge = Edge(timestep_cost=1e6)
    sample, _ = split_sample(edge)
    for fields in ({'label': 7}, {'confidence': math.nan}, {'probabilities': [0.5]},
                   {'status': 9}, {'label': 1, 'status': Status.TIMEOUT},
                   {'used': 3, 'timesteps_lost': 2}):
        edge.answer(sample.sample_id, 0.01, **fields)
    assert edge.loop.counters['answers_rejected'] == 6 and not of(Publish, edge.done)
    assert edge.loop.samples.current is sample
    edge.answer(sample.sample_id, 0.02, label=-1, confidence=0.0, used=0,
                reason=Reason.ERROR, status=Status.EVICTED)
    [publish] = of(Publish, edge.done)
    assert publish.answer.status == 'evicted' and edge.loop.counters['samples_failed'] == 1


def test_inputs_while_inactive_are_counted_and_the_queue_drops_the_oldest() -> None:
    edge = Edge(Placement.LOCAL, queue_size=1)
    assert edge.loop.input('x', 0.0) == []
    assert edge.loop.counters['inputs_while_inactive'] == 1
    edge.loop.activate(0.0)
    # a local sample is RunHere, done by the node: the queue fills while it runs
    assert of(RunHere, edge.loop.input('a', 0.0))
    edge.loop.input('b', 0.0)
    edge.loop.input('c', 0.0)
    assert edge.loop.counters['frames_dropped'] == 1 and list(edge.loop.samples.waiting) == ['c']


def test_a_split_sample_counts_exactly_what_happened() -> None:
    edge = Edge(timestep_cost=1e6)
    sample, _ = split_sample(edge)
    edge.answer(sample.sample_id, 0.05, reason=Reason.CONTINUE, label=-1)
    edge.answer(sample.sample_id, 0.1, used=2)
    assert dict(edge.loop.counters) == {
        'hellos_sent': 1, 'frames_dropped': 0, 'samples_started': 1, 'placed_split': 1,
        'timesteps_computed': 2,
        'timesteps_sent': 2, 'verdicts_continue': 1, 'exit_signals': 1,
        'timesteps_saved': T - 2, 'samples_answered': 1}
    [publish] = of(Publish, edge.done)
    assert publish.answer == Outcome(2, 0.95, [], 2)
    assert sample.bytes_up == 20  # two timesteps of 10 bytes (Edge.run says so)


def test_a_local_sample_counts_its_timesteps_and_needs_no_cloud() -> None:
    edge = Edge(Placement.LOCAL)
    edge.local_used = 3
    edge.run(edge.loop.activate(0.0), 0.0)
    done = edge.run(edge.loop.input('x', 0.0), 0.0)
    assert not of(SayHello, done) and not of(StartSplit, done)
    assert dict(edge.loop.counters) == {'frames_dropped': 0, 'samples_started': 1,
                                        'placed_edge': 1,
                                        'timesteps_computed': 3, 'samples_answered': 1}
    assert of(Publish, done)[0].sample.place is ComputedOn.EDGE


def test_health_warns_while_no_cloud_takes_samples_for_longer_than_the_deadline() -> None:
    edge = Edge(Placement.AUTO, deadline=2.0)
    edge.run(edge.loop.activate(10.0), 10.0)
    health = edge.loop.health({}, 11.9)
    assert health.level is Level.OK and health.message == 'answers here'
    health = edge.loop.health({}, 12.0)
    assert health.level is Level.WARN
    assert health.message == 'no cloud has taken samples for 2 s: they run here'
    edge.ready(12.0)
    assert edge.loop.health({}, 30.0).message == 'answers split with a cloud'
    split = Edge(deadline=2.0)
    split.run(split.loop.activate(0.0), 0.0)
    assert split.loop.health({}, 5.0).message == 'no cloud has taken samples for 5 s: they wait'
    assert Edge(Placement.LOCAL).loop.health({}, 99.0).message == 'answers here'
    assert split.loop.health({'samples_fallen_back': 1}, 0.5).level is Level.WARN


def test_gauges_say_the_state_beside_the_counters() -> None:
    edge = Edge(Placement.AUTO, timestep_cost=1e6)
    assert edge.loop.gauges() == {'pending_samples': 0, 'round_trip_us': 100000,
                                  'cloud_ready': 0}
    sample, _ = split_sample(edge)
    assert edge.loop.gauges()['pending_samples'] == 1
    edge.answer(sample.sample_id, 0.04)
    gauges = edge.loop.gauges()
    assert gauges['cloud_ready'] == 1 and gauges['round_trip_us'] == 40000
    assert gauges['expected_split_ms'] == gauges['expected_split_p95_ms'] == 40.0
    assert 'expected_edge_ms' not in gauges


def test_the_log_says_when_the_edge_asks_for_a_cloud_and_gets_one() -> None:
    edge = Edge(model_id='m1')
    edge.run(edge.loop.activate(0.0), 0.0)
    edge.ready(0.0)
    texts = [log.text for log in of(Log, edge.done)]
    assert texts == ['asking for a cloud of model m1', 'a cloud of model m1 takes samples']


def test_auto_logs_a_change_of_place_with_what_it_expects() -> None:
    edge = Edge(Placement.AUTO, timestep_cost=1e6)
    sample, _ = split_sample(edge)
    edge.answer(sample.sample_id, 0.3)
    edge.run(edge.loop.input('b', 0.3), 0.3)
    texts = [log.text for log in of(Log, edge.done)]
    assert 'placing samples split' in texts[-2]
    assert texts[-1] == 'placing samples here (expected median / p95: split 300 / 300 ms)'


def test_a_missed_deadline_is_logged_as_a_warning_that_says_what_happened() -> None:
    edge = Edge(deadline=0.5, timestep_cost=1e6)
    sample, _ = split_sample(edge)
    done = edge.run(edge.loop.timer(0.5), 0.5)
    warnings = [log.text for log in of(Log, done) if log.warning]
    assert warnings == [f'no answer from the cloud in 500 ms for sample {sample.sample_id}: '
                        'reported as cloud_unavailable']
    assert [log.text for log in of(Log, done) if not log.warning] == [
        f'no answer to sample {sample.sample_id} in 500 ms: asking for a cloud again before the '
        'next sample', 'asking for a cloud of model abc']
    assert edge.loop.counters['samples_cloud_unavailable'] == 1


def test_a_rejected_answer_says_why_in_the_log() -> None:
    edge = Edge(timestep_cost=1e6)
    sample, _ = split_sample(edge)
    done = edge.answer(sample.sample_id, 0.01, label=7)
    [log] = of(Log, done)
    assert log.warning and log.text == (f'answer for sample {sample.sample_id} rejected: a '
                                        'decided answer with label 7 after 1 timesteps cannot '
                                        'come from this model')
    done = edge.answer(sample.sample_id, 0.01, status=9)
    assert 'unknown status 9' in of(Log, done)[0].text


def test_streaming_asks_to_be_called_at_once_for_the_next_timestep() -> None:
    """timestep_cost 0 computes every timestep as fast as it can, asking no verdict."""
    edge = Edge(timestep_cost=0.0)
    sample, done = split_sample(edge, 1.0)
    assert [a.asks_verdict for a in of(SendTimestep, done)] == [False]
    assert edge.wake == 1.0 and not sample.timesteps.asked
    for _ in range(1, T):
        assert len(of(SendTimestep, edge.run(edge.loop.timer(1.0), 1.0))) == 1
    assert sample.timesteps.all_sent and edge.loop.samples.current is None


def test_a_fallen_back_sample_tells_auto_what_split_cost_and_not_twice() -> None:
    edge = Edge(Placement.AUTO, deadline=0.5, timestep_cost=1e6)
    sample, _ = split_sample(edge, 2.0)
    edge.run(edge.loop.timer(2.6), 2.6)
    split = edge.loop.placer.latency[ComputedOn.SPLIT]
    assert split.at(T) == pytest.approx(0.6) and split.by_used[0].value is None  # as if all T
    assert not edge.loop.placer.latency[ComputedOn.EDGE].measured  # not from a fallback
    assert sample.fell_back and edge.loop.counters['samples_started'] == 1


def test_the_subscribers_count_is_kept_and_asked_with() -> None:
    edge = Edge()
    edge.run(edge.loop.activate(0.0), 0.0)
    edge.run(edge.loop.subscribers_changed(2, 0.0), 0.0)
    assert edge.loop.subscribers == 2 and edge.loop.counters['hellos_sent'] == 1
    edge.run(edge.loop.subscribers_changed(0, 1.0), 1.0)
    edge.run(edge.loop.timer(1.0), 1.0)
    assert edge.loop.subscribers == 0 and edge.wake is None  # nobody to ask, nothing waits
    assert edge.loop.counters['hellos_sent'] == 1


def test_a_deactivated_loop_takes_no_input_and_starts_nothing() -> None:
    edge = Edge(Placement.LOCAL)
    edge.run(edge.loop.activate(0.0), 0.0)
    edge.loop.deactivate()
    assert edge.loop.input('x', 1.0) == [] and not edge.loop.samples.waiting
    assert edge.loop.counters['inputs_while_inactive'] == 1
    assert not of(RunHere, edge.run(edge.loop.timer(2.0), 2.0))


def test_auto_says_it_answers_a_late_sample_here_and_since_when_no_cloud_takes_samples() -> None:
    edge = Edge(Placement.AUTO, deadline=0.5, timestep_cost=1e6)
    sample, _ = split_sample(edge, 1.0)
    done = edge.run(edge.loop.timer(1.5), 1.5)
    assert [log.text for log in of(Log, done) if log.warning] == [
        f'no answer from the cloud in 500 ms for sample {sample.sample_id}: answering it here']
    assert edge.loop.cloud_lost_at == 1.5 and not edge.loop.cloud_ready
    assert edge.loop.hellos_from is not None  # asked again at once (a subscriber is there)
    assert of(ReportWorse, done) and sample.fell_back


def test_every_counter_counts_every_event_of_a_split_run() -> None:
    """Two of each event: a counter that kept only the last one would say 1."""
    edge = Edge(deadline=2.0, timestep_cost=1e6, queue_size=1)
    edge.loop.input('x', 0.0)
    edge.loop.input('y', 0.0)  # inactive: 2
    edge.run(edge.loop.activate(0.0), 0.0)
    for stale in (5, 6):  # READYs of no hello of this round
        edge.run(edge.loop.verdict(Verdict('r', stale, Reason.READY, Status.OK), 0.0), 0.0)
    edge.ready(0.0)
    a = of(StartSplit, edge.run(edge.loop.input('a', 0.0), 0.0))[0].sample
    for frame in 'bcd':  # queue of one: b and c dropped
        edge.run(edge.loop.input(frame, 0.01), 0.01)
    edge.run(edge.loop.timer(0.2), 0.2)
    edge.run(edge.loop.timer(0.61), 0.61)  # resent twice, the timeout doubled between
    assert a.timesteps.resends == 2
    edge.answer(a.sample_id, 0.62, reason=Reason.CONTINUE, label=-1, wire_bytes=30)
    edge.answer(a.sample_id, 0.63, used=2, reason=Reason.CONTINUE, label=-1)
    for used in (9, 8):  # CONTINUE after timesteps not sent: not ours
        edge.answer(a.sample_id, 0.63, used=used, reason=Reason.CONTINUE)
    edge.answer(a.sample_id, 0.64, used=3, wire_bytes=40)
    for _ in range(2):
        edge.answer(a.sample_id, 0.65, used=3)
    assert a.bytes_down == 30 + 40 and a.bytes_up == 5 * 10  # 3 timesteps, 2 resent
    edge.run(edge.loop.timer(0.65), 0.65)
    d = edge.loop.samples.current
    assert d is not None and d.input == 'd'
    edge.answer(d.sample_id, 0.7, used=1)
    for _ in range(2):  # d was not resent: nothing here explains these
        edge.answer(d.sample_id, 0.71, used=1)
    assert dict(edge.loop.counters) == {
        'inputs_while_inactive': 2, 'ready_unknown': 2, 'hellos_sent': 1, 'frames_dropped': 2,
        'samples_started': 2, 'placed_split': 2, 'timesteps_computed': 4, 'timesteps_sent': 4,
        'timesteps_resent': 2, 'verdicts_continue': 2, 'verdicts_unknown': 2,
        'exit_signals': 6, 'timesteps_saved': (T - 3) + (T - 1), 'samples_answered': 2,
        'answers_to_resends': 2, 'answers_repeated': 2}


def test_every_counter_counts_every_deadline_failure_and_rejection() -> None:
    edge = Edge(deadline=0.5, timestep_cost=1e6)
    edge.run(edge.loop.activate(0.0), 0.0)
    for start in (0.0, 1.0):  # unanswered by the deadline, answered after it
        edge.ready(start)
        sample = of(StartSplit, edge.run(edge.loop.input('a', start), start))[0].sample
        edge.run(edge.loop.timer(start + 0.5), start + 0.5)
        edge.answer(sample.sample_id, start + 0.6)
    for start in (2.0, 3.0):  # failed by the cloud; an unknown sample's and a forged answer
        edge.ready(start)
        sample = of(StartSplit, edge.run(edge.loop.input('a', start), start))[0].sample
        edge.answer(sample.sample_id, start + 0.1, label=-1, confidence=0.0, used=0,
                    reason=Reason.ERROR, status=Status.EVICTED)
        edge.answer(sample.sample_id + 100, start + 0.1)
        edge.answer(sample.sample_id, start + 0.1, label=7)
    assert dict(edge.loop.counters) == {
        'hellos_sent': 6, 'frames_dropped': 0, 'samples_started': 4, 'placed_split': 4,
        'timesteps_computed': 4, 'timesteps_sent': 4, 'samples_cloud_unavailable': 2,
        'exit_signals': 8, 'answers_after_deadline': 2, 'timesteps_saved': 2 * (T - 1),
        'samples_failed': 2, 'answers_unknown': 2, 'answers_rejected': 2}
    unavailable = [p.answer for p in of(Publish, edge.done)][:2]
    assert unavailable == [Outcome(-1, 0.0, [], 0, status=CLOUD_UNAVAILABLE)] * 2


def test_every_counter_counts_every_fallback_and_bet() -> None:
    auto = Edge(Placement.AUTO, deadline=0.5, timestep_cost=1e6)
    auto.local_used = 2
    auto.run(auto.loop.activate(0.0), 0.0)
    for start in (0.0, 1.0):
        auto.ready(start)
        auto.run(auto.loop.input('a', start), start)
        auto.run(auto.loop.timer(start + 0.5), start + 0.5)
    assert dict(auto.loop.counters) == {
        'hellos_sent': 4, 'frames_dropped': 0, 'samples_started': 2, 'placed_split': 2,
        'timesteps_computed': 2 * (1 + 2), 'timesteps_sent': 2, 'samples_fallen_back': 2,
        'samples_answered': 2}  # each: a timestep sent, then the local network's 2
    streaming = Edge(timestep_cost=0.0)  # every timestep computed before it is needed
    streaming.run(streaming.loop.activate(0.0), 0.0)
    streaming.ready(0.0)
    for start in (0.0, 1.0):
        sample = of(StartSplit, streaming.run(streaming.loop.input('a', start), start))[0].sample
        for _ in range(1, T):
            streaming.run(streaming.loop.timer(start), start)
        streaming.answer(sample.sample_id, start + 0.1, used=2)
    assert dict(streaming.loop.counters) == {
        'hellos_sent': 1, 'frames_dropped': 0, 'samples_started': 2, 'placed_split': 2,
        'timesteps_computed': 2 * T, 'timesteps_sent': 2 * T, 'timesteps_ahead': 2 * (T - 1),
        'exit_signals': 2, 'samples_answered': 2}


def test_auto_learns_each_places_edge_energy_with_the_radio_counted() -> None:
    """Split: its timesteps of the split layers and the bytes both ways; here: the network's."""
    edge = Edge(Placement.AUTO, timestep_cost=1e6)
    sample, _ = split_sample(edge)
    edge.answer(sample.sample_id, 0.02, reason=Reason.CONTINUE, label=-1, wire_bytes=30)
    edge.answer(sample.sample_id, 0.04, used=2, wire_bytes=40)
    energy = edge.loop.settings.energy
    assert edge.loop.placer.energy[ComputedOn.SPLIT].value == pytest.approx(
        1e-6 * 2 + radio_energy_j(8 * 20, energy, 8 * 70))
    edge.local_used = 3
    edge.run(edge.loop.input('b', 0.1), 0.1)  # the unmeasured place
    assert edge.loop.placer.energy[ComputedOn.EDGE].value == pytest.approx(4e-6 * 3)


def test_samples_are_addressed_to_the_cloud_that_answered_last() -> None:
    edge = Edge(timestep_cost=1e6)
    edge.run(edge.loop.activate(0.0), 0.0)
    done = edge.run(edge.loop.subscribers_changed(1, 0.0), 0.0)
    hello = of(SayHello, done)[0].sample_id
    edge.run(edge.loop.verdict(Verdict('r', hello, Reason.READY, cloud=7), 0.0), 0.0)
    edge.run(edge.loop.verdict(Verdict('r', hello, Reason.READY, cloud=8), 0.0), 0.0)
    assert edge.loop.cloud == 7  # the first READY of the round
    sample = of(StartSplit, edge.run(edge.loop.input('a', 0.0), 0.0))[0].sample
    edge.answer(sample.sample_id, 0.01, reason=Reason.CONTINUE, label=-1, cloud=9)
    assert edge.loop.cloud == 9  # another cloud took the robot over
    edge.answer(sample.sample_id, 0.02, used=2)  # (a verdict that names no cloud)
    assert edge.loop.cloud == 9
    edge.answer(123, 0.03, cloud=5)  # no sample of ours: no say
    assert edge.loop.cloud == 9


def test_only_a_clean_answer_teaches_the_round_trip_and_the_continue_rates() -> None:
    """A verdict with lost timesteps, or a failure, says nothing of the link or the model."""
    edge = Edge(timestep_cost=1e6)
    sample, _ = split_sample(edge)
    edge.answer(sample.sample_id, 0.05, reason=Reason.CONTINUE, label=-1, timesteps_lost=1)
    assert edge.loop.round_trip.samples == 0
    edge.answer(sample.sample_id, 0.1, used=1, timesteps_lost=1)
    assert edge.loop.round_trip.samples == 0 and edge.loop.continue_rates.rate(0) == 0.5
    edge = Edge(timestep_cost=1e6)
    sample, _ = split_sample(edge)
    edge.answer(sample.sample_id, 0.1, used=1, label=-1, confidence=0.0, reason=Reason.ERROR,
                status=Status.TIMEOUT)
    assert edge.loop.round_trip.samples == 0 and edge.loop.continue_rates.rate(0) == 0.5
    edge = Edge(timestep_cost=1e6)
    sample, _ = split_sample(edge)
    edge.answer(sample.sample_id, 0.1, used=1)  # confident after timestep 0: it stopped
    assert edge.loop.round_trip.samples == 1
    assert edge.loop.continue_rates.rate(0) == pytest.approx(1 / 3)


def test_a_label_0_is_an_answer_and_a_ready_for_an_id_not_yet_given_is_unknown() -> None:
    edge = Edge(timestep_cost=1e6)
    sample, _ = split_sample(edge)
    edge.answer(sample.sample_id, 0.1, label=0)
    assert edge.loop.counters['samples_answered'] == 1
    edge = Edge()
    edge.run(edge.loop.activate(0.0), 0.0)
    edge.run(edge.loop.subscribers_changed(1, 0.0), 0.0)
    edge.run(edge.loop.verdict(Verdict('r', edge.loop.samples.next_id, Reason.READY), 0.0), 0.0)
    assert not edge.loop.cloud_ready and edge.loop.counters['ready_unknown'] == 1


def test_a_split_sample_failed_at_its_deadline_is_published_as_itself() -> None:
    edge = Edge(deadline=0.5, timestep_cost=1e6)
    sample, _ = split_sample(edge)
    [publish] = of(Publish, edge.run(edge.loop.timer(0.5), 0.5))
    assert publish.sample is sample


def test_auto_logs_a_change_of_place_once_with_both_expectations() -> None:
    edge = Edge(Placement.AUTO, timestep_cost=1e6)
    sample, _ = split_sample(edge)
    edge.answer(sample.sample_id, 0.3)
    edge.run(edge.loop.input('b', 0.3), 0.3)  # here, unmeasured: 0 s
    for t in (0.4, 0.5):
        edge.run(edge.loop.input('c', t), t)  # here again: no new line
    texts = [log.text for log in of(Log, edge.done) if log.text.startswith('placing')]
    assert texts == ['placing samples split',
                     'placing samples here (expected median / p95: split 300 / 300 ms)']
    assert edge.loop.gauges()['expected_edge_ms'] == 0.0


def test_a_sample_answered_here_has_no_deadline_and_energy_is_asked_only_under_auto() -> None:
    asked = []
    for placement in (Placement.LOCAL, Placement.SPLIT, Placement.AUTO):
        edge = Edge(placement, deadline=0.5, timestep_cost=1e6)
        edge.loop.energy_of = lambda item: asked.append(item) or {'split': 1.0, 'head': 1.0,
                                                                   'all': 1.0}
        edge.run(edge.loop.activate(0.0), 0.0)
        if placement is not Placement.LOCAL:
            edge.ready(0.0)
        edge.run(edge.loop.input('x', 0.0), 0.0)
        if placement is Placement.LOCAL:
            assert not edge.loop.samples.pending
            edge.run(edge.loop.timer(1.0), 1.0)
            assert len(of(Publish, edge.done)) == 1  # once, at its answer; no deadline
    assert asked == []  # (not before the first answer)
    edge.answer(edge.loop.samples.current.sample_id, 0.3)
    assert asked == ['x']


def test_auto_counts_the_energy_at_the_first_answer_and_weighs_that_sample_too() -> None:
    """Not before the sample's compute, where its latency (and so its place's) would hold it.

    Counting a real input's operations takes several timesteps' time.
    """
    edge = Edge(Placement.AUTO, timestep_cost=1e6)
    asked = []
    edge.loop.energy_of = lambda item: asked.append(item) or {'split': 1e-6, 'head': 1e-6,
                                                              'all': 4e-6}
    sample, done = split_sample(edge)
    assert of(SendTimestep, done) and asked == []
    edge.answer(sample.sample_id, 0.04)
    assert asked == [sample.input]
    assert edge.loop.placer.energy[ComputedOn.SPLIT].value is not None


def test_an_input_keeps_the_deadline_of_a_sample_all_sent() -> None:
    edge = Edge(deadline=0.5, timestep_cost=0.0)
    sample, _ = split_sample(edge)
    for _ in range(1, T):
        edge.run(edge.loop.timer(0.0), 0.0)
    assert sample.timesteps.all_sent and edge.loop.samples.current is None
    done = edge.run(edge.loop.input('next', 0.6), 0.6)
    assert [p.sample for p in of(Publish, done)] == [sample]


def test_activating_with_a_subscriber_seen_says_hello_at_once() -> None:
    edge = Edge()
    edge.loop.subscribers_changed(1, 0.0)  # while inactive
    assert len(of(SayHello, edge.run(edge.loop.activate(1.0), 1.0))) == 1
    done = edge.run(edge.loop.subscribers_changed(2, 1.1), 1.1)
    assert edge.wake == pytest.approx(1.1 + RETRY_PERIOD)  # no input waits: look again
    assert not [log for log in of(Log, done) if 'again' in log.text]  # (none was ready)


def test_gauges_round_to_a_microsecond_and_a_tenth_of_a_millisecond() -> None:
    edge = Edge(Placement.AUTO, timestep_cost=1e6)
    sample, _ = split_sample(edge)
    edge.answer(sample.sample_id, 0.75678)
    gauges = edge.loop.gauges()
    assert gauges['round_trip_us'] == 756780 and gauges['expected_split_ms'] == 756.8
    edge.run(edge.loop.subscribers_changed(0, 1.0), 1.0)
    assert edge.loop.gauges()['cloud_ready'] == 0


def test_the_loop_counts_into_the_nodes_counters() -> None:
    counters: Counter[str] = Counter()
    loop: EdgeLoop[str] = EdgeLoop(EdgeSettings.of({}).loop(T, 3, 'abc'), 0.0, 1, counters)
    assert loop.counters is counters


def test_an_idle_loop_is_not_called_again_at_once() -> None:
    """Once the work is done the next Wake is later (or none): the node never spins."""
    edge = Edge(timestep_cost=0.0)  # streaming: each timestep asks to be called at once
    sample, _ = split_sample(edge)
    for _ in range(1, T):
        edge.run(edge.loop.timer(0.0), 0.0)
    edge.answer(sample.sample_id, 0.05, used=T, reason=Reason.REACHED_T)
    for now in (1.0, 2.0):
        [wake] = of(Wake, edge.run(edge.loop.timer(now), now))
        assert wake.at is None or wake.at > now


def test_a_fallback_found_by_any_event_is_run_at_once() -> None:
    edge = Edge(Placement.AUTO, deadline=0.5, timestep_cost=1e6)
    sample, _ = split_sample(edge)
    edge.run(edge.loop.timer(0.2), 0.2)  # the look for a cloud is over; a resend is next
    done = edge.run(edge.loop.verdict(Verdict('r', 999, Reason.CONTINUE, timesteps_used=1),
                                      0.55), 0.55)
    assert sample.fell_back and of(Wake, done)[-1].at <= 0.55


def test_a_subscriber_change_keeps_deadlines_and_says_why_it_asks_again() -> None:
    edge = Edge(deadline=0.5, timestep_cost=1e6)
    sample, _ = split_sample(edge)
    done = edge.run(edge.loop.subscribers_changed(1, 0.3), 0.3)
    assert [log.text for log in of(Log, done)][0] == \
        'spikes subscribers now 1: asking for a cloud again before the next sample'
    assert edge.loop.health({}, 0.4).message == 'answers here'  # (lost since 0.3)
    done = edge.run(edge.loop.subscribers_changed(1, 0.6), 0.6)
    assert [p.sample for p in of(Publish, done)] == [sample]  # its deadline, kept
    edge.loop.deactivate()
    edge.loop.samples.pending[sample.sample_id] = sample  # (as if still pending)
    done = edge.run(edge.loop.activate(1.2), 1.2)
    assert edge.loop.counters['samples_cloud_unavailable'] == 2


def test_hellos_go_on_while_a_subscriber_is_there_even_with_no_input() -> None:
    """So that the first frame finds a cloud ready, should the first hello be lost."""
    edge = Edge()
    edge.run(edge.loop.activate(0.0), 0.0)
    edge.run(edge.loop.subscribers_changed(1, 0.0), 0.0)
    assert edge.wake == pytest.approx(RETRY_PERIOD)
    now = 0.0
    while now < HELLO_PERIOD:
        now = edge.wake
        edge.run(edge.loop.timer(now), now)
    assert edge.loop.counters['hellos_sent'] == 2
def cascade(local_used: int, **settings: object) -> tuple[Edge, list[Action]]:
    """A cascade edge with a cloud, one input; the local early exit after `local_used`."""
    edge = Edge(Placement.CASCADE, **settings)
    edge.local_used = local_used
    edge.run(edge.loop.activate(0.0), 0.0)
    edge.ready(0.0)
    return edge, edge.run(edge.loop.input('frame', 0.0), 0.0)


def test_a_cascade_sample_decided_in_its_first_timesteps_is_answered_here() -> None:
    edge, done = cascade(1, cascade_timesteps=2)
    [run] = of(RunHere, done)
    assert run.timesteps == 2 and not of(StartSplit, done) and not of(SendTimestep, done)
    [publish] = of(Publish, done)
    assert publish.sample.place is ComputedOn.EDGE and publish.answer.timesteps_used == 1
    assert dict(edge.loop.counters) == {
        'hellos_sent': 1, 'frames_dropped': 0, 'samples_started': 1, 'placed_edge': 1,
        'timesteps_computed': 1, 'samples_answered': 1}


def test_a_cascade_sample_not_decided_escalates_with_the_spikes_it_made() -> None:
    """Undecided after two timesteps here: both go to the cloud with the third, in one bundle.

    The third is computed with the edge's layers only; the bundle asks for a verdict after
    it; nothing is computed twice.
    """
    edge, done = cascade(T, cascade_timesteps=2, cascade_bundle=1, timestep_cost=1e6)
    [escalate] = of(Escalate, done)
    sample = escalate.sample
    assert sample.place is ComputedOn.SPLIT and sample.here == 2
    assert sample.sample_id in edge.loop.samples.pending  # its deadline runs
    done += edge.run(edge.loop.timer(0.0), 0.0)
    assert [(a.count, a.asks_verdict) for a in of(SendTimestep, done)] == [(3, True)]
    assert sample.timesteps.next == 3 and sample.timesteps.sent_at == [0.0] * 3
    assert edge.loop.counters['timesteps_computed'] == 3  # 2 here, the third's edge layers
    assert edge.loop.counters['timesteps_sent'] == 3
    assert edge.loop.counters['bundles_sent'] == 1
    edge.answer(sample.sample_id, 0.1, used=3)
    [publish] = of(Publish, edge.done)
    assert publish.sample is sample and publish.answer.timesteps_used == 3
    assert edge.loop.counters['samples_escalated'] == 1
    assert edge.loop.counters['placed_edge'] == 1 and 'placed_split' not in edge.loop.counters


@pytest.mark.parametrize(('bundle', 'counts'), [(0, [2, 1, 1]), (1, [3, 1]), (2, [4]),
                                                 (9, [4]), (-1, [4])])
def test_an_escalation_bundles_the_timesteps_kept_with_cascade_bundle_more(
        bundle: int, counts: list[int]) -> None:
    """Never past T; after the bundle, one timestep per message, the last asking nothing."""
    edge, done = cascade(T, cascade_timesteps=2, cascade_bundle=bundle, timestep_cost=0.0)
    for _ in range(3):
        done += edge.run(edge.loop.timer(0.0), 0.0)
    sends = of(SendTimestep, done)
    assert [a.count for a in sends] == counts and not sends[-1].asks_verdict
    assert edge.loop.counters['timesteps_sent'] == T
    assert edge.loop.counters['timesteps_computed'] == T


def test_without_a_cloud_a_cascade_sample_runs_here_to_the_end() -> None:
    edge = Edge(Placement.CASCADE, cascade_timesteps=1)
    edge.local_used = 3
    edge.run(edge.loop.activate(0.0), 0.0)
    done = edge.run(edge.loop.input('frame', 0.0), 0.0)
    assert [r.timesteps for r in of(RunHere, done)] == [T]
    assert of(Publish, done)[0].answer.timesteps_used == 3 and not of(Escalate, done)


def test_a_cloud_lost_while_the_cascade_tried_here_lets_the_sample_finish_here() -> None:
    edge = Edge(Placement.CASCADE, cascade_timesteps=1)
    edge.local_used = T
    edge.run(edge.loop.activate(0.0), 0.0)
    edge.ready(0.0)
    edge.loop.samples.offer('x')
    [run] = of(RunHere, edge.loop.timer(0.0))  # (carried out below, after the loss)
    edge.loop.cloud_ready = False  # lost between the try's start and its end
    done = edge.run(edge.loop.undecided_here(run.sample, run.timesteps, 0.1), 0.1)
    assert not of(Escalate, done) and run.sample.here == 1 and run.sample.escalate_after == 0
    done = edge.run(edge.loop.timer(0.1), 0.1)
    assert [r.timesteps for r in of(RunHere, done)] == [T - 1]  # from where it stopped
    assert edge.loop.counters['timesteps_computed'] == T


def test_an_escalated_sample_past_its_deadline_runs_here_from_its_input() -> None:
    edge, done = cascade(T, cascade_timesteps=1, deadline=0.5, timestep_cost=1e6)
    [escalate] = of(Escalate, done)
    sample = escalate.sample
    assert sample.timesteps.all_sent and sample.sample_id in edge.loop.samples.pending
    done = edge.run(edge.loop.timer(0.5), 0.5)
    [run] = of(RunHere, done)
    assert run.sample is sample and run.timesteps == T and sample.here == T
    assert sample.fell_back and of(Publish, done)[0].sample.place is ComputedOn.EDGE


def test_cascade_needs_the_spikes_at_the_split() -> None:
    with pytest.raises(ConfigError, match='layers head sends features instead'):
        EdgeSettings.of({'placement': 'cascade', 'layers': 'head'})


def test_a_cascade_edge_without_a_cloud_says_its_samples_run_here() -> None:
    edge = Edge(Placement.CASCADE, deadline=2.0)
    edge.run(edge.loop.activate(0.0), 0.0)
    assert edge.loop.health({}, 2.0).message == \
        'no cloud has taken samples for 2 s: they run here'
    assert 'cascade: first the whole network here, early exit at alpha 0.99 for up to 2 ' \
        'timesteps' in EdgeSettings.of({'placement': 'cascade', 'cascade_timesteps': 2,
                                         'alpha': 0.99}).describe(T, (4, 7, 7))[0]


# Round-trip deadlines and hedging (core/deadline.py, core/fleet.py rule 7).
A, B = 0xA, 0xB  # two clouds' fingerprints


def served_by(edge: Edge, cloud: int) -> None:
    """Activate and take READY from `cloud`."""
    edge.run(edge.loop.activate(0.0), 0.0)
    hello = of(SayHello, edge.run(edge.loop.subscribers_changed(1, 0.0), 0.0))[0].sample_id
    edge.run(edge.loop.verdict(Verdict('r', hello, Reason.READY, cloud=cloud), 0.0), 0.0)
    edge.run(edge.loop.timer(RETRY_PERIOD), RETRY_PERIOD)


def answered_quickly(edge: Edge, samples: int, now: float, seconds: float = 0.03) -> float:
    """`samples` samples answered `seconds` after their send by the cloud they went to."""
    for _ in range(samples):
        sample = of(StartSplit, edge.run(edge.loop.input('frame', now), now))[0].sample
        now += seconds
        edge.answer(sample.sample_id, now, cloud=sample.cloud)
        now += 0.07
    return now


def test_auto_answers_here_three_round_trips_after_the_cloud_went_quiet_not_at_deadline() -> None:
    edge = Edge(Placement.AUTO, deadline=2.0, timestep_cost=1e6)
    sample, _ = split_sample(edge)  # no round trip measured yet: 3 x 2 x 0.1 s
    edge.run(edge.loop.input('next', 0.1), 0.1)
    edge.run(edge.loop.timer(0.1), 0.1)  # (a look for a cloud after the READY)
    assert edge.wake == pytest.approx(0.2)  # (the resend first)
    edge.run(edge.loop.timer(0.2), 0.2)
    assert not of(RunHere, edge.done) and edge.wake == pytest.approx(0.6)
    done = edge.run(edge.loop.timer(edge.wake), edge.wake)
    assert of(RunHere, done)[0].sample is sample  # before the frame waiting behind it
    assert [(c.sample, c.cloud) for c in of(Cancel, done)] == [(sample, 0)]  # drop it
    assert edge.loop.counters['samples_fallen_back'] == 1 and not of(Hedge, done)


def test_a_measured_round_trip_makes_the_deadline_and_split_then_waits_for_the_ceiling() -> None:
    edge = Edge(deadline=2.0, timestep_cost=1e6, hedge=False)
    served_by(edge, A)
    now = answered_quickly(edge, 5, 0.2)
    sample = of(StartSplit, edge.run(edge.loop.input('frame', now), now))[0].sample
    timeout = edge.loop.round_trip.timeout
    assert timeout < 0.06 and sample.due == pytest.approx(now + max(0.15, 3 * timeout))
    due = sample.due
    done = edge.run(edge.loop.timer(due), due)
    assert not of(Publish, done) and not of(Hedge, done)  # hedge off: split has nowhere to go
    assert any('waits up to deadline 2 s' in log.text for log in of(Log, done))
    assert sample.due == pytest.approx(sample.started + 2.0)
    due = sample.due
    done = edge.run(edge.loop.timer(due), due)
    assert [p.answer.status for p in of(Publish, done)] == [CLOUD_UNAVAILABLE]


def test_an_overdue_split_sample_is_hedged_once_and_the_first_answer_wins() -> None:
    edge = Edge(timestep_cost=1e6)
    served_by(edge, A)
    now = answered_quickly(edge, 5, 0.2)
    sample = of(StartSplit, edge.run(edge.loop.input('frame', now), now))[0].sample
    assert (sample.cloud, sample.direct, sample.hedge) == (A, False, False)
    due = sample.due
    done = edge.run(edge.loop.timer(due), due)
    [hedge] = of(Hedge, done)
    assert hedge.sample is sample and hedge.asks_verdict and not of(Publish, done)
    assert (sample.cloud, sample.hedge) == (A, True)  # for the next cloud after A
    assert edge.loop.counters['hedges_sent'] == 1 and sample.due > due
    assert (edge.loop.cloud, edge.loop.hedge) == (A, True)  # the next samples too
    edge.answer(sample.sample_id, due + 0.01, reason=Reason.CONTINUE, label=-1, cloud=A)
    assert edge.loop.counters['verdicts_continue'] == 1  # the cloud it left is still heard
    done = edge.answer(sample.sample_id, due + 0.03, cloud=B)
    assert len(of(Publish, done)) == 1
    assert [(c.sample, c.cloud) for c in of(Cancel, done)] == [(sample, B)]  # others: drop it
    done = edge.answer(sample.sample_id, due + 0.05, cloud=A)  # the loser's, late
    assert not of(Publish, done) and edge.loop.counters['hedge_answers_dropped'] == 1
    assert edge.loop.counters['answers_repeated'] == 0
    assert (edge.loop.cloud, edge.loop.direct, edge.loop.hedge) == (B, True, False)
    done = edge.run(edge.loop.input('frame', due + 0.6), due + 0.6)
    following = of(StartSplit, done)[0].sample
    assert (following.cloud, following.direct) == (B, True)  # B alone, whatever the claims
    hello = of(SayHello, done)[0].sample_id  # ... until a cloud that serves the robot says so
    edge.run(edge.loop.verdict(Verdict('r', hello, Reason.READY, cloud=B), due + 0.7), due + 0.7)
    assert (edge.loop.cloud, edge.loop.direct) == (B, False)
    # a second overdue: no second hedge; it waits for its deadline
    now = due + 1.0
    edge.answer(following.sample_id, now, cloud=B)
    late = of(StartSplit, edge.run(edge.loop.input('frame', now), now))[0].sample
    edge.run(edge.loop.timer(late.due), late.due)
    assert edge.loop.counters['hedges_sent'] == 2 and late.hedge
    edge.run(edge.loop.timer(late.due), late.due)
    assert edge.loop.counters['hedges_sent'] == 2 and late.patient


def test_a_sample_addressed_to_any_cloud_is_not_hedged() -> None:
    edge = Edge(deadline=1.0, timestep_cost=1e6)
    sample, _ = split_sample(edge)  # the READY named no cloud
    edge.run(edge.loop.timer(sample.due), sample.due)
    assert not of(Hedge, edge.done) and sample.patient


def test_no_sample_is_overdue_right_after_a_compute_the_answers_waiting_come_first() -> None:
    edge = Edge(Placement.CASCADE, deadline=0.5, timestep_cost=1e6)
    edge.run(edge.loop.activate(0.0), 0.0)
    edge.ready(0.0)
    edge.local_used = 2  # undecided here: all T go to the cloud in one message
    [escalate] = of(Escalate, edge.run(edge.loop.input('frame', 0.0), 0.0))
    sample = escalate.sample
    assert sample.timesteps.all_sent and sample.due == pytest.approx(0.5)
    edge.local_used, edge.busy = 1, 0.5  # the next frame runs here from 0.1 to 0.6
    done = edge.run(edge.loop.input('next', 0.1), 0.1)
    assert of(RunHere, done) and sample.sample_id in edge.loop.samples.pending
    edge.run(edge.loop.timer(0.6), 0.6)  # its deadline passed while the edge computed
    assert sample.sample_id in edge.loop.samples.pending and edge.wake == pytest.approx(0.62)
    done = edge.answer(sample.sample_id, 0.601)  # it waited in the queue meanwhile: it wins
    assert [p.answer.status for p in of(Publish, done)] == ['ok']
    assert edge.loop.counters['samples_fallen_back'] == 0


# Answers pinned to the writer of the cloud a sample was sent to.
CLOUD_WRITER, PEER_WRITER, OTHER_WRITER = b'cloud', b'peer', b'other'


def pinned_sample(edge: Edge) -> object:
    edge.run(edge.loop.activate(0.0), 0.0)
    hello = of(SayHello, edge.run(edge.loop.subscribers_changed(1, 0.0), 0.0))[0].sample_id
    edge.run(edge.loop.verdict(Verdict('r', hello, Reason.READY, cloud=A), 0.0,
                               writer=CLOUD_WRITER), 0.0)
    return of(StartSplit, edge.run(edge.loop.input('frame', 0.01), 0.01))[0].sample


@pytest.mark.parametrize('forged', [
    {'reason': Reason.CONFIDENT, 'label': 0, 'confidence': 0.97},
    {'reason': Reason.CONFIDENT, 'label': 0, 'confidence': 0.62,
     'probabilities': [0.62, 0.2, 0.18]},
    {'reason': Reason.ERROR, 'status': Status.EVICTED, 'label': -1, 'confidence': 0.0},
    {'reason': Reason.CONTINUE, 'label': -1, 'confidence': 0.0}])
def test_a_verdict_from_another_writer_is_refused_whatever_it_says(forged: dict) -> None:
    edge = Edge(timestep_cost=1e6)
    sample = pinned_sample(edge)
    fields = {'status': Status.OK, 'timesteps_used': 1, 'cloud': A} | forged
    done = edge.run(edge.loop.verdict(Verdict('r', sample.sample_id, **fields), 0.02,
                                      writer=PEER_WRITER), 0.02)
    assert not of(Publish, done) and edge.loop.counters['answers_from_other_writers'] == 1
    assert any('not the cloud it was sent to: refused' in log.text for log in of(Log, done))
    done = edge.run(edge.loop.verdict(Verdict('r', sample.sample_id, Reason.CONFIDENT,
                                              label=2, confidence=0.95, timesteps_used=1,
                                              cloud=A), 0.03, writer=CLOUD_WRITER), 0.03)
    [publish] = of(Publish, done)  # the real answer is the one published
    assert publish.answer.label == 2 and edge.loop.counters['answers_repeated'] == 0


def test_a_hedged_sample_trusts_the_first_other_writer_and_then_only_it() -> None:
    edge = Edge(timestep_cost=1e6)
    sample = pinned_sample(edge)
    edge.run(edge.loop.timer(sample.due), sample.due)
    assert sample.hedge and edge.loop.counters['hedges_sent'] == 1
    edge.run(edge.loop.verdict(Verdict('r', sample.sample_id, Reason.CONTINUE, timesteps_used=1,
                                       cloud=B), 1.0, writer=PEER_WRITER), 1.0)
    done = edge.run(edge.loop.verdict(Verdict('r', sample.sample_id, Reason.CONFIDENT, label=0,
                                              confidence=0.9, timesteps_used=1, cloud=B), 1.01,
                                      writer=OTHER_WRITER), 1.01)
    assert not of(Publish, done) and edge.loop.counters['answers_from_other_writers'] == 1
    assert edge.loop.writers == {A: CLOUD_WRITER, B: PEER_WRITER}


def test_hellos_unanswered_though_readers_hear_them_are_said_once() -> None:
    edge = Edge()
    edge.run(edge.loop.activate(0.0), 0.0)
    edge.run(edge.loop.subscribers_changed(1, 0.0), 0.0)
    now = 0.0
    for _ in range(3 * UNANSWERED_HELLOS):
        now += HELLO_PERIOD
        edge.run(edge.loop.timer(now), now)
    said = [log.text for log in of(Log, edge.done) if log.warning]
    assert said == [f'{UNANSWERED_HELLOS} hellos for model abc unanswered, though 1 reader(s) '
                    'hear the spikes: a cloud of another model? (its log names both models; '
                    'give both nodes the same checkpoint)']
