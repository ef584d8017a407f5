"""The cloud's rules (core/cloud_sessions.py) with injected time, without ROS or a model."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import pytest

from neucodex_ros.core import codec
from neucodex_ros.core.cloud_sessions import CloudSessions
from neucodex_ros.core.exit_policy import Decision, EarlyExit
from neucodex_ros.core.fleet import MAX_SOURCE_ID, Fleet, cloud_fingerprint
from neucodex_ros.core.protocol import Flag, Log, Reason, Status, Verdict
from neucodex_ros.core.settings import CloudSettings

SHAPE = (2, 3, 3)
MODEL = 0xABC
T = 4


@dataclass
class State:
    early_exit: EarlyExit


class Runner:
    """Logits that favour class 1 by the number of spikes a timestep holds."""

    def __init__(self) -> None:
        self.batches: list[int] = []

    def new_sample(self, alpha: float, num_timesteps: int) -> State:
        return State(EarlyExit(alpha, num_timesteps))

    def step_batch(self, samples: Sequence[State],
                   spikes: Sequence[np.ndarray]) -> list[Decision | None]:
        self.batches.append(len(samples))
        return [s.early_exit.update(np.array([0.0, float(x.sum()), 0.0]))
                for s, x in zip(samples, spikes, strict=True)]


@dataclass
class Msg:
    source_id: str = 'r1'
    sample_id: int = 10
    timestep: int = 0
    num_timesteps: int = T
    flags: int = 0
    model_id: int = MODEL
    channels: int = SHAPE[0]
    height: int = SHAPE[1]
    width: int = SHAPE[2]
    encoding: int = codec.WIRE_IDS['bitpack']
    cloud: int = 0
    data: bytes = field(default=b'')

    def __post_init__(self) -> None:
        if not self.data and not self.flags & Flag.HELLO:
            self.data = codec.encode(np.ones(SHAPE, bool), 'bitpack', None)


class Cloud:
    """The rules, a runner, and the node's loop: serve, then run what is due."""

    def __init__(self, alpha: float = 1.0, **limits: object) -> None:
        self.runner = Runner()
        self.fleet = Fleet('c1', now=-2.0)  # joined long ago: takes new robots
        self.rules = CloudSessions({SHAPE: self.runner}, SHAPE, MODEL, 'abc', self.fleet,
                                   lambda: alpha, replace(CloudSettings.of({}).limits, **limits))
        self.rules.active = True
        self.sent: list[Verdict] = []

    def out(self, replies: list[Verdict | Log]) -> None:
        self.sent += [r for r in replies if isinstance(r, Verdict)]

    def run(self, now: float) -> None:
        at = self.rules.when_to_run(now)
        while at is not None and at <= now and self.rules.due:
            for batch in self.rules.batches():
                self.out(self.rules.ran(batch, batch.runner.step_batch(
                    [s.state for s in batch.samples], [s.spikes for s in batch.steps])))

    def deliver(self, *messages: Msg, now: float = 0.0) -> None:
        for msg in messages:
            self.rules.receive(msg)
        while self.rules.inbox:
            self.out(self.rules.serve(now))
        self.run(now)

    def tick(self, now: float) -> None:
        self.out(self.rules.housekeeping(now))
        self.run(now)


def test_a_sample_is_answered_once_at_t_and_late_timesteps_get_the_answer_again() -> None:
    cloud = Cloud()
    cloud.deliver(*[Msg(timestep=t) for t in range(T)])
    [answer] = cloud.sent
    assert answer.reason is Reason.REACHED_T and answer.label == 1
    assert answer.timesteps_used == T and answer.bytes_received == T * len(Msg().data)
    cloud.deliver(Msg(timestep=3))  # late
    cloud.deliver(Msg(timestep=3, flags=Flag.RESENT))  # the answer may have been lost
    assert cloud.sent[1:] == [answer] and cloud.rules.counters['late_timesteps'] == 2


def test_a_verdict_is_asked_for_continue_comes_only_when_nothing_is_held() -> None:
    cloud = Cloud(reorder_wait=0.05)
    cloud.deliver(Msg(timestep=0, flags=Flag.VERDICT))
    assert [r.reason for r in cloud.sent] == [Reason.CONTINUE]
    assert cloud.sent[0].probabilities == () and cloud.sent[0].timesteps_used == 1
    cloud.deliver(Msg(timestep=2, flags=Flag.VERDICT), now=0.01)  # 1 is missing: held
    assert len(cloud.sent) == 1
    cloud.tick(0.04)
    assert len(cloud.sent) == 1  # still waited for
    cloud.tick(0.061)  # 1 counted lost, 2 used: continue
    assert [r.reason for r in cloud.sent] == [Reason.CONTINUE] * 2
    assert cloud.sent[1].timesteps_lost == 1


def test_a_resent_timestep_used_already_gets_the_latest_verdict_again() -> None:
    cloud = Cloud()
    cloud.deliver(Msg(timestep=0, flags=Flag.VERDICT))
    cloud.deliver(Msg(timestep=0, flags=Flag.VERDICT | Flag.RESENT))
    assert [r.reason for r in cloud.sent] == [Reason.CONTINUE] * 2
    assert cloud.rules.counters['verdicts_resent'] == 1
    cloud.deliver(Msg(timestep=0))  # a plain repeat: dropped
    assert len(cloud.sent) == 2 and cloud.rules.counters['repeated_timesteps'] == 2


def test_a_temporal_payload_after_a_lost_timestep_is_lost_not_decoded_wrongly() -> None:
    cloud = Cloud(reorder_wait=0.0)
    spikes = np.ones(SHAPE, bool)
    temporal = codec.encode(spikes, 'rice-temporal', spikes)  # against timestep 1: never came
    cloud.deliver(Msg(timestep=0), Msg(timestep=2, encoding=codec.WIRE_IDS['rice-temporal'],
                                       data=temporal), Msg(timestep=3))
    [answer] = cloud.sent
    assert answer.timesteps_used == 2 and answer.timesteps_lost == 2
    assert cloud.rules.counters['rejected_missing_reference'] == 1


def test_a_sample_gone_quiet_is_decided_on_what_it_has_or_times_out() -> None:
    cloud = Cloud(sample_timeout=0.5)
    cloud.deliver(Msg(sample_id=1, timestep=0), Msg(sample_id=2, timestep=1))
    cloud.tick(0.49)
    assert cloud.sent == []
    cloud.tick(0.5)
    by_id = {r.sample_id: r for r in cloud.sent}
    assert by_id[1].status is Status.OK and by_id[1].timesteps_used == 1
    assert by_id[2].status is Status.OK and by_id[2].timesteps_lost == 3  # 0, 2, 3
    cloud.deliver(Msg(sample_id=3, timestep=1, encoding=codec.WIRE_IDS['rice-temporal']),
                  now=1.0)  # not decodable: nothing usable
    cloud.tick(1.5)
    assert cloud.sent[-1].status is Status.TIMEOUT and cloud.sent[-1].label == -1


def test_a_robot_over_max_in_flight_has_its_oldest_sample_evicted() -> None:
    cloud = Cloud(max_in_flight=2)
    cloud.deliver(Msg(sample_id=1), Msg(sample_id=2), Msg(sample_id=3),
                  Msg(source_id='r2', sample_id=1))
    [evicted] = cloud.sent
    assert (evicted.source_id, evicted.sample_id, evicted.status) == ('r1', 1, Status.EVICTED)
    assert set(cloud.rules.open) == {('r1', 2), ('r1', 3), ('r2', 1)}


def test_batches_take_one_timestep_per_sample_oldest_first_up_to_max_batch() -> None:
    cloud = Cloud(max_batch=2)
    for msg in [Msg(sample_id=i, timestep=t) for i in range(3) for t in range(2)]:
        cloud.rules.receive(msg)
    while cloud.rules.inbox:
        cloud.out(cloud.rules.serve(0.0))
    batches = cloud.rules.batches()
    assert [key for batch in batches for key in batch.keys] == [('r1', 0), ('r1', 1)]
    assert [step.spikes.shape for step in batches[0].steps] == [SHAPE, SHAPE]


def test_a_batch_not_full_waits_batch_wait_from_its_first_timestep() -> None:
    cloud = Cloud(max_batch=3, batch_wait=0.01)
    assert cloud.rules.when_to_run(0.0) is None
    cloud.rules.receive(Msg(sample_id=1))
    cloud.out(cloud.rules.serve(1.0))
    assert cloud.rules.when_to_run(1.002) == pytest.approx(1.01)
    for source in ('r2', 'r3'):
        cloud.rules.receive(Msg(source_id=source))
    cloud.out(cloud.rules.serve(1.003))
    assert cloud.rules.when_to_run(1.004) == 1.004  # full


def test_a_flooding_robot_waits_behind_itself_and_loses_its_oldest() -> None:
    cloud = Cloud(inbox_depth=2)
    for i in range(5):
        cloud.rules.receive(Msg(source_id='flood', sample_id=i))
    cloud.rules.receive(Msg(source_id='calm', sample_id=1))
    assert cloud.rules.counters['dropped_source_backlog'] == 3
    cloud.rules.serve(0.0)  # one message of each robot
    assert {key[0] for key in cloud.rules.open} == {'flood', 'calm'}


@pytest.mark.parametrize(('fields', 'reason'), [
    ({'model_id': 1}, 'model_mismatch'), ({'channels': 9}, 'bad_shape'),
    ({'num_timesteps': 0}, 'bad_num_timesteps'), ({'encoding': 250}, 'unknown_encoding'),
    ({'timestep': 4}, 'bad_timestep'), ({'data': b'\x01'}, 'bad_payload')])
def test_messages_that_do_not_fit_are_rejected_by_reason(fields: dict, reason: str) -> None:
    cloud = Cloud()
    replies = []
    cloud.rules.receive(Msg(**fields))
    replies = cloud.rules.serve(0.0)
    assert cloud.rules.counters[f'rejected_{reason}'] == 1
    assert any(isinstance(r, Log) and r.warning for r in replies)


def test_hellos_are_answered_for_this_model_by_the_cloud_that_takes_the_robot() -> None:
    cloud = Cloud()
    cloud.deliver(Msg(sample_id=7, flags=Flag.HELLO))
    assert cloud.sent == [Verdict('r1', 7, Reason.READY, cloud=cloud_fingerprint('c1'))]
    cloud.deliver(Msg(sample_id=8, flags=Flag.HELLO, model_id=5))
    assert cloud.rules.counters['rejected_model_mismatch'] == 1
    cloud.rules.active = False
    cloud.deliver(Msg(sample_id=9, flags=Flag.HELLO), Msg(sample_id=11))
    assert cloud.rules.counters['ignored_while_inactive'] == 2 and len(cloud.sent) == 1


def test_a_robot_another_cloud_claims_is_left_to_it() -> None:
    cloud = Cloud()
    cloud.fleet.heard('c0', ['r1'], 0.0)
    cloud.deliver(Msg(sample_id=1))
    assert not cloud.rules.open and cloud.rules.counters['timesteps_for_other_clouds'] == 1


def test_a_sample_counts_exactly_what_happened_to_it() -> None:
    cloud = Cloud(alpha=0.5)
    cloud.deliver(Msg(timestep=0), Msg(timestep=1), Msg(source_id='r2', sample_id=3))
    cloud.deliver(Msg(timestep=2))  # after its answer: late
    assert dict(cloud.rules.counters) == {
        'samples_started': 2, 'samples_decided': 2, 'exits_at_t1': 2, 'batches': 1,
        'timesteps': 2, 'received_bitpack': 2, 'timesteps_lost': 0, 'late_timesteps': 1}
    assert [(v.source_id, v.sample_id, v.reason, v.timesteps_used) for v in cloud.sent] == [
        ('r1', 10, Reason.CONFIDENT, 1), ('r2', 3, Reason.CONFIDENT, 1)]
    assert cloud.sent[0].probabilities and cloud.sent[0].confidence > 0.5
    assert not cloud.rules.open and not cloud.rules.due


def test_failures_are_counted_by_their_outcome_and_lost_timesteps_summed() -> None:
    cloud = Cloud(max_in_flight=1, sample_timeout=0.5, reorder_wait=0.0)
    cloud.deliver(Msg(sample_id=1, timestep=1, encoding=codec.WIRE_IDS['rice-temporal']))
    cloud.deliver(Msg(sample_id=2, timestep=3))  # evicts 1: 0 lost, 1 undecodable
    counted = cloud.rules.counters  # 2 decided at T on timestep 3 (0..2 lost)
    assert counted['samples_evicted'] == 1 and counted['samples_decided'] == 1
    assert counted['timesteps_lost'] == 2 + 3 and counted['rejected_missing_reference'] == 1
    assert [v.status for v in cloud.sent] == [Status.EVICTED, Status.OK]
    assert [v.reason for v in cloud.sent] == [Reason.ERROR, Reason.REACHED_T]
    assert cloud.sent[0].timesteps_used == 0 and cloud.sent[0].timesteps_lost == 2
    assert cloud.sent[0].label == -1 and cloud.sent[0].probabilities == ()


def test_num_timesteps_is_accepted_from_1_to_max_timesteps() -> None:
    cloud = Cloud(max_timesteps=4)
    cloud.deliver(Msg(sample_id=1, num_timesteps=1), Msg(source_id='r2', num_timesteps=4))
    cloud.deliver(Msg(source_id='r3', num_timesteps=5))
    assert cloud.rules.counters['rejected_bad_num_timesteps'] == 1
    assert cloud.rules.counters['samples_started'] == 2


@pytest.mark.parametrize(('fields', 'words'), [
    ({'model_id': 1}, 'model 0000000000000001 is not this cloud\'s abc'),
    ({'channels': 9}, 'spike shape (9, 3, 3) is neither the model\'s (2, 3, 3)'),
    ({'num_timesteps': 0}, 'num_timesteps 0 is outside 1..256'),
    ({'encoding': 250}, 'spike encoding'),
    ({'timestep': 4}, 'timestep 4 >= num_timesteps 4'),
    ({'data': b'\x01'}, 'bitpack payload of 1 bytes does not fit 18 neurons'),
])
def test_a_rejection_says_which_sample_and_why(fields: dict, words: str) -> None:
    cloud = Cloud()
    cloud.rules.receive(Msg(**fields))
    [log] = [r for r in cloud.rules.serve(0.0) if isinstance(r, Log)]
    assert log.warning and log.text.startswith('r1 sample 10: rejected: ') and words in log.text


def test_a_sample_that_changes_its_shape_or_t_midway_is_rejected() -> None:
    cloud = Cloud()
    cloud.deliver(Msg(timestep=0, flags=Flag.VERDICT))
    cloud.deliver(Msg(timestep=1, num_timesteps=5))
    cloud.rules.runners = {SHAPE: cloud.runner, (1, 3, 3): Runner()}
    cloud.deliver(Msg(timestep=1, channels=1))
    assert cloud.rules.counters['rejected_changed_num_timesteps'] == 1
    assert cloud.rules.counters['rejected_changed_shape'] == 1


def test_dropping_everything_in_a_stall_counts_the_waiting_messages() -> None:
    cloud = Cloud()
    cloud.deliver(Msg(sample_id=1))
    cloud.rules.receive(Msg(sample_id=2))
    cloud.rules.receive(Msg(sample_id=3))
    assert cloud.rules.drop_all() == 1
    assert cloud.rules.counters['messages_dropped_in_stall'] == 2
    assert not cloud.rules.open and not cloud.rules.inbox and not cloud.rules.due


def test_a_hello_for_another_clouds_robot_is_counted_not_answered() -> None:
    cloud = Cloud()
    cloud.fleet.heard('c0', ['r1'], 0.0)
    cloud.deliver(Msg(flags=Flag.HELLO))
    assert cloud.sent == [] and cloud.rules.counters['hellos_for_other_clouds'] == 1
    assert cloud.rules.hello_taken('r1', 4) == Verdict('r1', 4, Reason.READY,
                                                       cloud=cloud_fingerprint('c1'))
    assert cloud.rules.counters['hellos_answered'] == 1


def test_a_temporal_payload_decodes_against_the_timestep_before_it() -> None:
    cloud = Cloud()
    first, second = np.ones(SHAPE, bool), np.zeros(SHAPE, bool)
    second[0, 0, 0] = True
    cloud.deliver(Msg(timestep=0, data=codec.encode(first, 'bitpack', None)),
                  Msg(timestep=1, encoding=codec.WIRE_IDS['rice-temporal'],
                      data=codec.encode(second, 'rice-temporal', first)))
    steps = cloud.runner.batches
    assert steps and not [k for k in cloud.rules.counters if k.startswith('rejected')]
    sample = cloud.rules.open[('r1', 10)]
    np.testing.assert_array_equal(sample.previous, second)  # not first XOR'd twice
    assert sample.previous_timestep == 1 and cloud.rules.counters['received_rice-temporal'] == 1


def test_every_counter_counts_each_event_once() -> None:
    """Twice each: hellos, resent answers and verdicts, late timesteps, quiet samples."""
    cloud = Cloud(sample_timeout=0.5)
    for n in (1, 2):
        cloud.deliver(Msg(sample_id=100 + n, flags=Flag.HELLO))
    for n in (1, 2):  # two samples asking for verdicts, then resending the used timestep
        cloud.deliver(Msg(sample_id=n, flags=Flag.VERDICT))
        cloud.deliver(Msg(sample_id=n, flags=Flag.VERDICT | Flag.RESENT))
    cloud.tick(1.0)  # both gone quiet: decided on timestep 0
    for n in (1, 2):  # late, and resent after the answer
        cloud.deliver(Msg(sample_id=n, timestep=1, flags=Flag.RESENT), now=1.1)
    assert dict(cloud.rules.counters) == {
        'hellos_answered': 2, 'samples_started': 2, 'batches': 2, 'timesteps': 2,
        'received_bitpack': 2, 'verdicts_continue': 4, 'repeated_timesteps': 2,
        'verdicts_resent': 2, 'samples_gone_quiet': 2, 'samples_decided': 2,
        'exits_at_t1': 2, 'timesteps_lost': 6, 'late_timesteps': 2, 'answers_resent': 2}
    reasons = [v.reason for v in cloud.sent]
    assert reasons == [Reason.READY] * 2 + [Reason.CONTINUE] * 4 + [Reason.REACHED_T] * 4


def test_every_rejection_failure_and_ignored_message_counts_each_time() -> None:
    cloud = Cloud(max_in_flight=1)
    for n in (1, 2):
        cloud.deliver(Msg(sample_id=n, model_id=5))  # the same reason twice
    for n in (3, 4, 5):  # each evicts the one before
        cloud.deliver(Msg(sample_id=n, timestep=1))
    cloud.fleet.heard('c0', ['r9'], 0.0)
    for n in (1, 2):  # another cloud's robot
        cloud.deliver(Msg(source_id='r9', sample_id=n))
        cloud.deliver(Msg(source_id='r9', sample_id=10 + n, flags=Flag.HELLO))
    cloud.rules.active = False
    for n in (1, 2):
        cloud.deliver(Msg(sample_id=20 + n), Msg(sample_id=40 + n, flags=Flag.HELLO))
    cloud.rules.active = True
    for n in (30, 31):
        cloud.rules.receive(Msg(sample_id=n))
        cloud.rules.drop_all()
    counters = cloud.rules.counters
    assert (counters['rejected_model_mismatch'], counters['samples_evicted'],
            counters['timesteps_for_other_clouds'], counters['hellos_for_other_clouds'],
            counters['ignored_while_inactive'], counters['messages_dropped_in_stall']) == \
        (2, 2, 2, 2, 4, 2)
    evicted = [v for v in cloud.sent if v.status is Status.EVICTED]
    assert [(v.confidence, v.probabilities, v.label) for v in evicted] == [(0.0, (), -1)] * 2


@pytest.mark.parametrize(('first', 'then', 'words'), [
    ({'timestep': 0}, {'timestep': 1, 'num_timesteps': 5}, 'num_timesteps changed from 4 to 5'),
    ({'timestep': 0}, {'timestep': 1, 'channels': 1}, 'spike shape changed to (1, 3, 3) '
                                                      'mid-sample'),
    ({'timestep': 0}, {'timestep': 2, 'encoding': codec.WIRE_IDS['rice-temporal'],
                       'data': codec.encode(np.ones(SHAPE, bool), 'rice-temporal',
                                            np.ones(SHAPE, bool))},
     'timestep 2 is coded against timestep 1, which was lost'),
])
def test_a_sample_level_rejection_says_what_changed(first: dict, then: dict, words: str) -> None:
    cloud = Cloud(reorder_wait=0.0, alpha=1.0)
    cloud.rules.runners = {SHAPE: cloud.runner, (1, 3, 3): Runner()}
    cloud.deliver(Msg(**first, flags=Flag.VERDICT))
    cloud.rules.receive(Msg(**then))
    logs = [r for r in cloud.rules.serve(0.0) if isinstance(r, Log)]
    assert [log.text for log in logs] == [f'r1 sample 10: rejected: {words}']


def test_a_quiet_sample_times_out_from_its_last_timestep_not_from_zero() -> None:
    cloud = Cloud(sample_timeout=0.5, reorder_wait=0.0)
    cloud.deliver(Msg(timestep=0, flags=Flag.VERDICT), now=1.0)
    cloud.tick(1.4)
    assert cloud.rules.open  # 0.4 s quiet
    cloud.tick(1.5)
    assert not cloud.rules.open and cloud.sent[-1].reason is Reason.REACHED_T


def test_a_batch_wait_of_one_second_waits_a_second() -> None:
    cloud = Cloud(batch_wait=1.0, max_batch=4)
    cloud.deliver(Msg(timestep=0), now=0.0)
    assert cloud.runner.batches == [] and cloud.rules.when_to_run(0.0) == pytest.approx(1.0)
    cloud.tick(1.0)
    assert cloud.runner.batches == [1]


def test_a_resent_first_timestep_never_seen_is_taken_as_new() -> None:
    """Its first copy was lost: it is the next timestep to use, not one to answer again."""
    cloud = Cloud(reorder_wait=0.0)
    cloud.deliver(Msg(timestep=0, flags=Flag.VERDICT | Flag.RESENT))
    assert [r.reason for r in cloud.sent] == [Reason.CONTINUE]
    assert cloud.rules.counters['verdicts_resent'] == 0 and cloud.runner.batches == [1]


def test_a_sample_addressed_to_another_cloud_is_left_to_it_and_answers_say_who() -> None:
    cloud = Cloud()
    cloud.deliver(Msg(sample_id=1, cloud=cloud_fingerprint('elsewhere')))
    assert cloud.sent == [] and cloud.rules.counters['timesteps_for_other_clouds'] == 1
    cloud.deliver(Msg(sample_id=2, cloud=cloud_fingerprint('c1'), flags=Flag.VERDICT))
    [verdict] = cloud.sent
    assert verdict.reason is Reason.CONTINUE and verdict.cloud == cloud_fingerprint('c1')


def test_every_undecodable_timestep_counts_and_the_ones_after_still_decode() -> None:
    """Three timesteps in one release, the first two undecodable: both lost, the third runs."""
    cloud = Cloud(reorder_wait=1.0)
    cloud.deliver(Msg(timestep=1, data=b'\x01'), Msg(timestep=2, data=b'\x02'), Msg(timestep=3))
    cloud.deliver(Msg(timestep=0), now=0.1)  # releases 0..3 in order
    [answer] = cloud.sent
    assert answer.reason is Reason.REACHED_T and answer.timesteps_lost == 2
    assert answer.timesteps_used == 2 and cloud.rules.counters['rejected_bad_payload'] == 2


def test_a_sample_whose_every_timestep_is_undecodable_is_lost_not_timed_out() -> None:
    cloud = Cloud(reorder_wait=0.0)
    cloud.deliver(*[Msg(timestep=t, data=b'\x01') for t in range(T)])
    [answer] = cloud.sent
    assert answer.status is Status.LOST and answer.timesteps_lost == T


def test_continue_carries_the_best_guess_so_far() -> None:
    cloud = Cloud(reorder_wait=0.0)
    cloud.deliver(Msg(timestep=0, flags=Flag.VERDICT))
    [verdict] = cloud.sent
    assert verdict.reason is Reason.CONTINUE and verdict.label == 1
    assert 0.3 < verdict.confidence < 1.0 and verdict.probabilities == ()


def test_a_hello_to_another_clouds_robot_is_kept_to_answer_if_this_cloud_takes_it() -> None:
    cloud = Cloud()
    cloud.fleet.heard('c0', ['r1'], 0.0)
    cloud.deliver(Msg(sample_id=7, flags=Flag.HELLO))
    assert cloud.fleet.sources['r1'].hello == 7


def test_a_held_timestep_is_released_by_housekeeping_after_the_reorder_wait() -> None:
    cloud = Cloud(reorder_wait=0.05)
    cloud.deliver(Msg(timestep=1, flags=Flag.VERDICT))  # held: timestep 0 may still come
    assert cloud.sent == []
    cloud.deliver(Msg(sample_id=11, timestep=1, data=b'\x01'))  # undecodable, found on release
    cloud.tick(0.06)
    [verdict] = cloud.sent
    assert verdict.reason is Reason.CONTINUE and verdict.timesteps_lost == 1
    assert cloud.rules.counters['rejected_bad_payload'] == 1


def test_a_resent_timestep_waiting_in_its_batch_gets_its_verdict_when_the_batch_runs() -> None:
    cloud = Cloud(batch_wait=1.0, max_batch=8, reorder_wait=0.0, sample_timeout=5.0)
    cloud.deliver(Msg(timestep=0))  # no verdict asked; waits for its batch
    cloud.deliver(Msg(timestep=0, flags=Flag.VERDICT | Flag.RESENT), now=0.5)
    assert cloud.sent == [] and cloud.rules.counters['verdicts_resent'] == 1
    cloud.tick(1.0)
    assert [v.reason for v in cloud.sent] == [Reason.CONTINUE]


def test_samples_of_two_runners_go_in_two_batches() -> None:
    cloud = Cloud()
    other = Runner()
    cloud.rules.runners = {SHAPE: cloud.runner, (1, 3, 3): other}
    cloud.deliver(Msg(sample_id=1), Msg(source_id='r2', sample_id=1, channels=1,
                                        data=codec.encode(np.ones((1, 3, 3), bool))))
    assert cloud.runner.batches == [1] and other.batches == [1]


def test_the_rules_count_into_the_nodes_counters_and_start_inactive() -> None:
    from collections import Counter

    counters: Counter[str] = Counter()
    rules = CloudSessions({SHAPE: Runner()}, SHAPE, MODEL, 'abc', Fleet('c1', now=-2.0),
                          lambda: 1.0, CloudSettings.of({}).limits, counters)
    assert rules.counters is counters and not rules.active


def bundle(timesteps: Sequence[np.ndarray], first: int = 0, flags: int = 0) -> Msg:
    """A bundle of these timesteps' spikes, the first bit-packed, the rest temporal."""
    parts, previous = [], None
    for spikes in timesteps:
        encoding = 'bitpack' if previous is None else 'rice-temporal'
        parts.append((encoding, codec.encode(spikes, encoding, previous)))
        previous = spikes
    return Msg(timestep=first, flags=flags | Flag.BUNDLE, data=codec.join_bundle(parts))


def test_a_bundle_is_taken_as_its_timesteps_in_turn_and_asks_after_its_last() -> None:
    """Each part decodes against the one before it; bytes count the parts' payloads."""
    rng = np.random.default_rng(3)
    spikes = [rng.random(SHAPE) < 0.4 for _ in range(3)]
    cloud = Cloud()
    cloud.deliver(bundle(spikes, flags=Flag.VERDICT))
    [verdict] = cloud.sent
    assert verdict.reason is Reason.CONTINUE and verdict.timesteps_used == 3
    assert cloud.runner.batches == [1, 1, 1]
    state = cloud.rules.open[('r1', 10)].state.early_exit
    assert state.timesteps == 3
    assert state._logit_sum[1] == sum(int(s.sum()) for s in spikes)  # every part decoded right
    parts = codec.split_bundle(bundle(spikes).data, T)
    assert cloud.rules.open[('r1', 10)].bytes_received == sum(len(p) for _, p in parts)
    cloud.deliver(Msg(timestep=3))
    assert cloud.sent[-1].reason is Reason.REACHED_T and cloud.sent[-1].timesteps_used == T


def test_a_bundle_past_t_or_malformed_is_rejected_and_counted() -> None:
    cloud = Cloud()
    cloud.deliver(Msg(flags=Flag.BUNDLE, data=b'\x00\x09\x00ab'))  # runs past its end
    assert cloud.rules.counters['rejected_bad_payload'] == 1 and not cloud.rules.open
    ones = np.ones(SHAPE, bool)
    cloud.deliver(bundle([ones, ones], first=T - 1))
    assert cloud.rules.counters['rejected_bad_payload'] == 2 and not cloud.rules.open
    cloud.deliver(bundle([ones], first=T - 1))  # (the same, within T)
    assert ('r1', 10) in cloud.rules.open


def test_a_cancel_drops_the_sample_unless_it_names_this_clouds_answer() -> None:
    cloud = Cloud()
    me = cloud.fleet.fingerprint
    cloud.deliver(Msg(timestep=0), Msg(timestep=1))
    cloud.deliver(Msg(flags=Flag.CANCEL, cloud=me, data=b'-'))  # this cloud's answer taken
    assert (('r1', 10) in cloud.rules.open) and cloud.rules.counters['cancels_ignored'] == 1
    cloud.deliver(Msg(flags=Flag.CANCEL, cloud=me + 1, data=b'-'))  # another's: drop it
    assert not cloud.rules.open and cloud.rules.counters['samples_cancelled'] == 1
    cloud.deliver(Msg(timestep=2), Msg(timestep=3, flags=Flag.RESENT))  # in flight: late
    cloud.tick(5.0)
    assert cloud.sent == [] and cloud.rules.counters['late_timesteps'] == 2


def test_a_direct_sample_is_served_by_the_cloud_it_names_though_another_claims_the_robot() -> None:
    cloud = Cloud()
    cloud.fleet.heard('c2', ['r1'], 0.0)  # c2 serves r1
    cloud.deliver(Msg(sample_id=10, timestep=0))
    assert cloud.sent == [] and cloud.rules.counters['timesteps_for_other_clouds'] == 1
    cloud.deliver(Msg(sample_id=10, timestep=0, flags=Flag.DIRECT | Flag.BUNDLE,
                      cloud=cloud.fleet.fingerprint,
                      data=codec.join_bundle([('bitpack', Msg().data)] * T)))
    [answer] = cloud.sent  # a hedge: the whole sample so far, in one message
    assert answer.reason is Reason.REACHED_T and answer.cloud == cloud.fleet.fingerprint
    cloud.deliver(Msg(sample_id=11, timestep=0, flags=Flag.DIRECT, cloud=cloud_fingerprint('c2')))
    assert ('r1', 11) not in cloud.rules.open  # direct to c2: never here


@pytest.mark.parametrize('source', ['', 'r' * (MAX_SOURCE_ID + 1), 'x' * 4096])
def test_a_source_id_empty_or_too_long_is_rejected_before_it_costs_anything(source: str) -> None:
    cloud = Cloud()
    cloud.deliver(Msg(source_id=source, flags=Flag.HELLO), Msg(source_id=source))
    assert cloud.sent == [] and not cloud.rules.inbox and not cloud.fleet.sources
    assert cloud.rules.counters['rejected_bad_source_id'] == 2
    cloud.deliver(Msg(source_id='r' * MAX_SOURCE_ID, flags=Flag.HELLO))
    assert [v.reason for v in cloud.sent] == [Reason.READY]


def test_a_robots_timesteps_count_only_from_the_writer_of_its_hello() -> None:
    cloud = Cloud()
    robot, peer = b'robot', b'peer'
    cloud.rules.receive(Msg(flags=Flag.HELLO, sample_id=9), robot)
    cloud.rules.receive(Msg(timestep=0), robot)
    for timestep in (1, 2, 3):  # forged: another label's spikes
        cloud.rules.receive(Msg(timestep=timestep, data=codec.encode(
            np.zeros(SHAPE, bool), 'bitpack', None)), peer)
    cloud.rules.receive(Msg(flags=Flag.CANCEL, cloud=7, data=b'-'), peer)
    while cloud.rules.inbox:
        cloud.out(cloud.rules.serve(0.0))
    cloud.run(0.0)
    assert cloud.rules.counters['rejected_other_writer'] == 4
    assert ('r1', 10) in cloud.rules.open  # not cancelled, not ended by the forged timesteps
    for timestep in (1, 2, 3):
        cloud.rules.receive(Msg(timestep=timestep), robot)
    while cloud.rules.inbox:
        cloud.out(cloud.rules.serve(0.1))
    cloud.run(0.1)
    assert [v.reason for v in cloud.sent] == [Reason.READY, Reason.REACHED_T]
    assert cloud.sent[-1].label == 1  # the robot's own spikes decided it
    cloud.rules.receive(Msg(flags=Flag.HELLO, sample_id=20), peer)  # a new writer says hello:
    cloud.rules.receive(Msg(sample_id=21), robot)  # the edge restarted; the old one is out
    while cloud.rules.inbox:
        cloud.out(cloud.rules.serve(0.2))
    assert cloud.rules.counters['rejected_other_writer'] == 5


def test_a_hello_for_another_model_is_told_once_per_robot_with_both_models() -> None:
    cloud = Cloud()
    for sample_id in range(5):
        cloud.rules.receive(Msg(flags=Flag.HELLO, model_id=1, sample_id=sample_id))
    logs = [r for r in cloud.rules.serve(0.0) + cloud.rules.serve(0.0) + cloud.rules.serve(0.0)
            + cloud.rules.serve(0.0) + cloud.rules.serve(0.0) if isinstance(r, Log)]
    assert [log.text for log in logs] == [
        f'r1 asks for a cloud of model 0000000000000001; this one serves abc ({MODEL:016x}): '
        'give both nodes the same checkpoint']
    assert cloud.rules.counters['rejected_model_mismatch'] == 5 and cloud.sent == []
