"""Cloud node: PackedSpikes → decoder + tail → early exit → ExitSignal with the answer.

State is kept per (source_id, sample_id): each sample has its own neuron state and running
mean of logits, so samples of many robots interleave freely. A sample's timesteps are put
back in order and used once each; one that is missing is waited for `reorder_wait` seconds
and then counted lost (core.reorder has the rule), and a temporal payload coded against a
lost timestep is lost with it. The sample is decided when confident, or when its last
timestep was used or lost, on the timesteps it used; its ExitSignal stops the edge and
carries the answer, which the edge publishes as the sample's Prediction. A sample whose
timesteps stop coming for `sample_timeout` seconds is decided on those it used, or fails
(status "timeout") if there are none; that is also how a dead edge's samples are cleared.
The oldest sample of a source that has `max_in_flight` samples open when it starts another
fails (status "evicted"), which bounds the state one robot can hold. A timestep that asks
for a verdict (FLAG_VERDICT) and leaves the sample undecided is answered with
REASON_CONTINUE, on which the edge paces its next timestep. A timestep the edge sent again
(FLAG_RESENT: no verdict reached it in time) is answered with the latest verdict on its
sample, the final answer included, since the first may have been lost. A FLAG_HELLO (no
spikes) for this cloud's model is answered with REASON_READY: the edge starts samples only
then. Messages that do not
fit (another model, wrong shape, unknown codec, bad timestep, repeats, late arrivals after
the decision) are rejected, counted by reason, and logged at most every few seconds.

Sources are served in turn, one message each, from an inbox per source of `qos_depth`
messages (a full one drops its oldest, counted): a robot that floods the cloud delays itself,
not the others.
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from neucodex_ros.core import codec
from neucodex_ros.core.errors import CodecError, SampleError
from neucodex_ros.core.exit_policy import Decision
from neucodex_ros.core.inference import CloudRunner, CloudSample
from neucodex_ros.core.reorder import TimestepOrder
from neucodex_ros.msg import ExitSignal, PackedSpikes
from neucodex_ros.nodes.common import (
    STATUS_NAMES,
    GuardedNode,
    declare,
    declare_common,
    load_model,
    model_fingerprint,
    publish_stats,
    saturated_uint32,
    spin,
    take_waiting,
)
from neucodex_ros.qos import OVERRIDES, stream_qos

SampleKey = tuple[str, int]
FINISHED_MEMORY = 4096  # answers remembered, to recognise late timesteps (and resend)


@dataclass
class Session:
    """A sample the cloud is working on."""

    num_timesteps: int
    runner: CloudRunner
    state: CloudSample
    order: TimestepOrder[PackedSpikes]
    last_update: float
    previous: np.ndarray | None = None  # spikes of the last timestep used
    previous_timestep: int = -1  # its index: a temporal payload of the next one decodes
    undecodable: int = 0  # timesteps that arrived but could not be decoded (count as lost)


class CloudNode(GuardedNode):
    """Finishes the network on the edge's spikes and decides each sample as early as it can."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__('cloud_node', 'cloud', **kwargs)
        common = declare_common(self)
        declare(self, 'alpha', 0.99, 'Exit threshold: a sample stops once the softmax of its '
                'mean logits reaches alpha (0: after one timestep; 1: always all T); may be '
                'changed while running', low=0.0, high=1.0)
        self.max_timesteps: int = declare(self, 'max_timesteps', 256, 'Largest T accepted '
                                          'from an edge', low=1, high=65535, read_only=True)
        self.sample_timeout: float = declare(self, 'sample_timeout', 1.0, 'Seconds without '
                                             'a timestep before a sample is decided on the '
                                             'timesteps it has, or fails with status "timeout" '
                                             'if none (keep it below the edges\' deadline)',
                                             low=0.01, high=3600.0, read_only=True)
        self.reorder_wait: float = declare(self, 'reorder_wait', 0.05, 'Seconds a timestep '
                                           'that arrived early waits for the missing ones '
                                           'before them, which then count as lost',
                                           low=0.0, high=60.0, read_only=True)
        self.max_in_flight: int = declare(self, 'max_in_flight', 16, 'Samples one source may '
                                          'have open; starting one more fails its oldest '
                                          '(status "evicted")', low=1, high=100000,
                                          read_only=True)
        checkpoint = load_model(common)
        self.model_id = checkpoint.model_id
        self.wire_model_id = model_fingerprint(checkpoint.model_id)
        self.class_names = checkpoint.class_names
        self.split_shape = checkpoint.model.split_shape
        # Spikes from the encoder; or the head's features from an edge without bottleneck
        # (layers: head), for which the cloud runs the encoder too.
        self.runners = {checkpoint.model.head_shape: CloudRunner(checkpoint.model, True),
                        self.split_shape: CloudRunner(checkpoint.model)}
        self.sessions: dict[SampleKey, Session] = {}
        self.finished: OrderedDict[SampleKey, ExitSignal] = OrderedDict()
        publish_stats(self, self.counters, common['stats_period'],
                      lambda: {'open_samples': len(self.sessions)})

        qos = stream_qos(common['reliable'], common['qos_depth'])
        # Messages are served by source in turn (serve), from one inbox per source: a source
        # that floods the cloud waits behind its own messages, not the other robots'.
        self.inbox: dict[str, deque[PackedSpikes]] = {}
        self.inbox_depth: int = common['qos_depth']
        self.spikes_sub = self.create_subscription(PackedSpikes, common['spikes_topic'],
                                                   self.receive, qos,
                                                   qos_overriding_options=OVERRIDES)
        self.serve_guard = self.create_guard_condition(self.serve)
        self.exit_pub = self.create_publisher(ExitSignal, common['exit_topic'], qos,
                                              qos_overriding_options=OVERRIDES)
        periods = [1.0, self.sample_timeout / 2] + [self.reorder_wait / 2] * (self.reorder_wait > 0)
        self.housekeeping_timer = self.create_timer(max(min(periods), 0.005), self.housekeeping)
        self.get_logger().info(
            f'model {self.model_id} ({checkpoint.config.backbone}, '
            f'{len(self.class_names)} classes), expects spikes of shape {self.split_shape}, '
            f'alpha {self.get_parameter("alpha").value}')

    def receive(self, msg: PackedSpikes) -> None:
        """Put this message in its source's inbox; serve() takes the others waiting."""
        self._admit(msg)
        self.serve_guard.trigger()

    def _admit(self, msg: PackedSpikes) -> None:
        """Into the source's inbox; a full inbox drops that source's oldest message."""
        inbox = self.inbox.setdefault(msg.source_id, deque())
        if len(inbox) >= self.inbox_depth:
            inbox.popleft()
            self.counters['dropped_source_backlog'] += 1
            self.get_logger().warning(f'{msg.source_id} sends faster than the cloud serves it: '
                                      'its oldest waiting message was dropped',
                                      throttle_duration_sec=5.0)
        inbox.append(msg)

    def serve(self) -> None:
        """One message of every source with messages waiting; again after the other callbacks."""
        for message in take_waiting(self.spikes_sub):
            self._admit(message)
        try:
            for source in list(self.inbox):
                inbox = self.inbox[source]
                message = inbox.popleft()
                if not inbox:
                    del self.inbox[source]
                self.on_spikes(message)
        finally:  # (even if a message raised: the others still get served)
            if self.inbox:
                self.serve_guard.trigger()

    def on_spikes(self, msg: PackedSpikes) -> None:
        """Take one timestep of a sample; run those now in order; answer once decided."""
        key = (msg.source_id, msg.sample_id)
        if msg.flags & PackedSpikes.FLAG_HELLO:
            self._hello(key, msg)
            return
        if key in self.finished:
            self.counters['late_timesteps'] += 1  # sent before our ExitSignal reached the edge
            if msg.flags & PackedSpikes.FLAG_RESENT:  # the answer may have been lost
                self.exit_pub.publish(self.finished[key])
                self.counters['answers_resent'] += 1
            return
        try:
            session = self._session_for(key, msg)
        except SampleError as err:
            self._reject(key, err)
            return
        now = time.monotonic()
        if not session.order.add(msg.timestep, msg, now):
            self.counters['repeated_timesteps'] += 1  # a duplicate, or older than one used
            if msg.flags & PackedSpikes.FLAG_RESENT and msg.timestep < session.order.next_timestep:
                self._continue(key, session)  # used already: the verdict may have been lost
                self.counters['verdicts_resent'] += 1
            return
        session.state.bytes_received += len(msg.data)
        session.last_update = now
        self._advance(key, session, now)

    def _hello(self, key: SampleKey, msg: PackedSpikes) -> None:
        """An edge asks whether we take its model's samples: say so, if we do.

        The answer also proves the link both ways (our reader has its writer, its reader
        ours), which seeing a subscriber does not.
        """
        if msg.model_id != self.wire_model_id:
            self._reject(key, SampleError('model_mismatch', f'hello for model '
                                          f'{msg.model_id:016x}, not this cloud\'s '
                                          f'{self.model_id}'))
            return
        self.exit_pub.publish(ExitSignal(sample_id=key[1], source_id=key[0], label=-1,
                                         reason=ExitSignal.REASON_READY,
                                         status=ExitSignal.STATUS_OK))
        self.counters['hellos_answered'] += 1

    def _advance(self, key: SampleKey, session: Session, now: float,
                 give_up: bool = False) -> None:
        """Run the timesteps that are ready, in order; answer the sample once it is decided.

        `give_up`: no more will come, so every held timestep is ready and the rest is lost.
        """
        ready = session.order.give_up() if give_up else session.order.ready(now)
        wants_verdict = False
        for timestep, msg in ready:
            reference = session.previous if session.previous_timestep == timestep - 1 \
                else None
            try:
                encoding = codec.from_wire_id(msg.encoding)
                if reference is None and codec.is_temporal(encoding):
                    raise SampleError('missing_reference', f'timestep {timestep} is coded '
                                      f'against timestep {timestep - 1}, which was lost')
                spikes = codec.decode(msg.data, (msg.channels, msg.height, msg.width),
                                      encoding, reference)
            except (SampleError, CodecError) as err:
                self._reject(key, err)
                session.undecodable += 1
                continue
            session.previous, session.previous_timestep = spikes, timestep
            decision = session.runner.step(session.state, spikes)
            self.counters['timesteps'] += 1
            self.counters[f'received_{encoding}'] += 1
            if decision is not None:
                self._finish(key, session, decision)
                return
            wants_verdict = bool(msg.flags & PackedSpikes.FLAG_VERDICT)
        if session.order.complete:  # the last timesteps were lost: decide on those used
            decision = session.state.early_exit.finish()
            if decision is None:
                self._fail(key, session, ExitSignal.STATUS_TIMEOUT if give_up
                           else ExitSignal.STATUS_LOST)
            else:
                self._finish(key, session, decision)
        elif wants_verdict and not session.order.waiting:
            self._continue(key, session)

    def _session_for(self, key: SampleKey, msg: PackedSpikes) -> Session:
        """The sample's session, new at its first message; SampleError if msg does not fit."""
        if msg.model_id != self.wire_model_id:
            raise SampleError('model_mismatch', f'model {msg.model_id:016x} is not this '
                              f'cloud\'s {self.model_id}')
        shape = (msg.channels, msg.height, msg.width)
        if shape not in self.runners:
            raise SampleError('bad_shape', f'spike shape {shape} is neither the model\'s '
                              f'{self.split_shape} nor its head\'s features')
        if not 1 <= msg.num_timesteps <= self.max_timesteps:
            raise SampleError('bad_num_timesteps', f'num_timesteps {msg.num_timesteps} is '
                              f'outside 1..{self.max_timesteps}')
        try:
            codec.from_wire_id(msg.encoding)
        except CodecError as err:
            raise SampleError('unknown_encoding', str(err)) from None
        if msg.timestep >= msg.num_timesteps:
            raise SampleError('bad_timestep', f'timestep {msg.timestep} >= num_timesteps '
                              f'{msg.num_timesteps}')
        session = self.sessions.get(key)
        if session is None:  # at whichever timestep arrives first: timestep 0 may be lost
            self._make_room(key[0])
            alpha = float(self.get_parameter('alpha').value)
            runner = self.runners[shape]
            session = Session(num_timesteps=msg.num_timesteps,
                              runner=runner, state=runner.new_sample(alpha, msg.num_timesteps),
                              order=TimestepOrder(msg.num_timesteps, self.reorder_wait),
                              last_update=time.monotonic())
            self.sessions[key] = session
            self.counters['samples_started'] += 1
        elif session.runner is not self.runners[shape]:
            raise SampleError('changed_shape', f'spike shape changed to {shape} mid-sample')
        elif msg.num_timesteps != session.num_timesteps:
            raise SampleError('changed_num_timesteps', f'num_timesteps changed from '
                              f'{session.num_timesteps} to {msg.num_timesteps}')
        return session

    def _reject(self, key: SampleKey, err: SampleError | CodecError) -> None:
        reason = err.reason if isinstance(err, SampleError) else 'bad_payload'
        self.counters[f'rejected_{reason}'] += 1
        self.get_logger().warning(f'{key[0]} sample {key[1]}: rejected: {err}',
                                  throttle_duration_sec=5.0)

    def _finish(self, key: SampleKey, session: Session, decision: Decision) -> None:
        """Send the edge the answer (which also stops it), forget the sample."""
        reason = ExitSignal.REASON_CONFIDENT if decision.confident else \
            ExitSignal.REASON_REACHED_T
        self._answer(key, session, reason, ExitSignal.STATUS_OK, decision)
        self.counters['samples_decided'] += 1
        self.counters[f'exits_at_t{decision.timesteps_used}'] += 1

    def _fail(self, key: SampleKey, session: Session, status: int) -> None:
        """Stop the edge and answer the sample with label -1 and the reason."""
        self._answer(key, session, ExitSignal.REASON_ERROR, status, None)
        self.counters[f'samples_{STATUS_NAMES[status]}'] += 1

    def _continue(self, key: SampleKey, session: Session) -> None:
        """Tell the edge the sample is undecided and needs its next timestep."""
        so_far = session.state.early_exit.finish()
        self.exit_pub.publish(ExitSignal(
            sample_id=key[1], source_id=key[0],
            bytes_received=saturated_uint32(session.state.bytes_received),
            confidence=0.0 if so_far is None else so_far.confidence,
            label=-1 if so_far is None else so_far.label,
            timesteps_used=session.state.early_exit.timesteps,
            timesteps_lost=session.order.lost + session.undecodable,
            reason=ExitSignal.REASON_CONTINUE, status=ExitSignal.STATUS_OK))
        self.counters['verdicts_continue'] += 1

    def _answer(self, key: SampleKey, session: Session, reason: int, status: int,
                decision: Decision | None) -> None:
        """Publish the sample's final ExitSignal with its outcome; forget the sample."""
        lost = session.order.lost + session.undecodable
        self.counters['timesteps_lost'] += lost
        answer = ExitSignal(
            sample_id=key[1], source_id=key[0],
            bytes_received=saturated_uint32(session.state.bytes_received),
            confidence=0.0 if decision is None else decision.confidence,
            label=-1 if decision is None else decision.label,
            timesteps_used=session.state.early_exit.timesteps, timesteps_lost=lost,
            reason=reason, status=status,
            probabilities=[] if decision is None
            else decision.probabilities.astype('float32').tolist())
        self.exit_pub.publish(answer)
        del self.sessions[key]
        self.finished[key] = answer
        while len(self.finished) > FINISHED_MEMORY:
            self.finished.popitem(last=False)

    def housekeeping(self) -> None:
        """Give up on samples gone quiet; release timesteps that waited for lost ones."""
        now = time.monotonic()
        for key, session in list(self.sessions.items()):
            if now - session.last_update >= self.sample_timeout:
                self.counters['samples_gone_quiet'] += 1
                self._advance(key, session, now, give_up=True)
            elif session.order.waiting:
                self._advance(key, session, now)

    def _make_room(self, source: str) -> None:
        """Fail a source's oldest open samples until it may open one more."""
        open_samples = sorted(key for key in self.sessions if key[0] == source)
        for key in open_samples[:max(len(open_samples) - self.max_in_flight + 1, 0)]:
            self._fail(key, self.sessions[key], ExitSignal.STATUS_EVICTED)


def main(args: list[str] | None = None) -> int:
    """Run the cloud node until Ctrl-C."""
    return spin(CloudNode, args)


if __name__ == '__main__':
    raise SystemExit(main())
