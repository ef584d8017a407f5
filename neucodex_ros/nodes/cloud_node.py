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
not the others. The timesteps a round of serving made ready run through decoder and tail as
one batch (CloudRunner.step_batch: each sample's answer is the one it would get alone), of at
most `max_batch` samples; `batch_wait_ms` > 0 holds a batch that is not full for up to that
long. With the default 0 a lone robot waits for nothing, and under load the batches fill by
themselves with what arrived while the last one ran.

Any number of clouds of a model serve the robots together: each robot is served by one of
them, chosen by rendezvous hashing over the clouds that announce themselves on
`fleet_topic` (core/fleet.py has the rule and the handover). The others ignore its
messages, counted; a cloud that dies has its robots taken over after `dead_after`, and the
samples it had open end at their edge's deadline.

A lifecycle node (nodes/common.ManagedNode): configure loads the model, activate joins the
fleet, deactivate leaves it (the other clouds take its robots; its open samples are still
finished here); `autostart` does configure and activate at start.
"""

from __future__ import annotations

import os
import socket
import threading
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from neucodex_ros.core import codec
from neucodex_ros.core.errors import CodecError, SampleError
from neucodex_ros.core.exit_policy import Decision
from neucodex_ros.core.fleet import ANNOUNCE_PERIOD, Fleet
from neucodex_ros.core.health import CLOUD_RULES, Health, assess
from neucodex_ros.core.inference import CloudRunner, CloudSample
from neucodex_ros.core.reorder import TimestepOrder
from neucodex_ros.msg import CloudAnnounce, ExitSignal, PackedSpikes
from neucodex_ros.nodes.common import (
    STATUS_NAMES,
    ManagedNode,
    declare,
    declare_common,
    load_model,
    model_fingerprint,
    saturated_uint32,
    spin,
    take_waiting,
)
from neucodex_ros.qos import OVERRIDES, stream_qos, tool_qos

SampleKey = tuple[str, int]
FINISHED_MEMORY = 4096  # answers remembered, to recognise late timesteps (and resend)


@dataclass
class Timestep:
    """A decoded timestep waiting for its batch."""

    spikes: np.ndarray
    encoding: str
    wants_verdict: bool  # the edge asked for a verdict after it (FLAG_VERDICT)


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
    queue: deque[Timestep] = field(default_factory=deque)  # decoded, not yet run
    verdict_wanted: bool = False  # the last timestep run asked for a verdict
    gave_up: bool = False  # no more timesteps will be waited for


class CloudNode(ManagedNode):
    """Finishes the network on the edge's spikes and decides each sample as early as it can."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__('cloud_node', 'cloud', **kwargs)

    def configure(self) -> None:
        """Parameters, model, publishers, subscriptions and timers (lifecycle: configure)."""
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
        self.max_batch: int = declare(self, 'max_batch', 16, 'Most samples run through '
                                      'decoder and tail in one pass (a timestep each)',
                                      low=1, high=4096, read_only=True)
        batch_wait_ms: float = declare(self, 'batch_wait_ms', 0.0, 'Milliseconds a decoded '
                                       'timestep may wait for others to fill its batch. 0: '
                                       'run what has arrived as soon as the sources were '
                                       'served once (under load the batches fill by '
                                       'themselves, and one robot waits for nothing)',
                                       low=0.0, high=10000.0, read_only=True)
        self.batch_wait = batch_wait_ms / 1e3
        cloud_id: str = declare(self, 'cloud_id', '', 'Name of this cloud among the clouds '
                                'that share the robots; unique per process. Empty: '
                                'host-pid', read_only=True)
        fleet_topic: str = declare(self, 'fleet_topic', '/clouds', 'CloudAnnounce topic on '
                                   'which the clouds of a fleet hear each other',
                                   read_only=True)
        dead_after: float = declare(self, 'dead_after', 1.0, 'Seconds without an '
                                    'announcement after which another cloud counts as gone '
                                    'and its robots move; a new cloud takes none before',
                                    low=4 * ANNOUNCE_PERIOD, high=60.0, read_only=True)
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
        self.due: dict[SampleKey, Session] = {}  # with decoded timesteps to run, oldest first
        self.finished: OrderedDict[SampleKey, ExitSignal] = OrderedDict()
        self.fleet = Fleet(cloud_id or f'{socket.gethostname()}-{os.getpid()}',
                           time.monotonic(), dead_after, dead_after / 2)
        self.hardware_id = self.fleet.cloud_id

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
        # The fleet (core/fleet.py): announcements go out from their own thread, so that a
        # long batch does not make this cloud look gone; the claims change in update_fleet.
        self.fleet_pub = self.create_publisher(CloudAnnounce, fleet_topic, tool_qos())
        self.fleet_sub = self.create_subscription(CloudAnnounce, fleet_topic, self.on_announce,
                                                  tool_qos())
        self.claims_announced: list[str] = []
        self.announce_now = threading.Event()
        self.announcer: threading.Thread | None = None  # while active
        self.fleet_timer = self.create_timer(ANNOUNCE_PERIOD, self.update_fleet)
        periods = [1.0, self.sample_timeout / 2] + [self.reorder_wait / 2] * (self.reorder_wait > 0)
        if self.batch_wait > 0:
            self.batch_timer = self.create_timer(self.batch_wait, self._batch_waited)
            self.batch_timer.cancel()
        self.housekeeping_timer = self.create_timer(max(min(periods), 0.005), self.housekeeping)
        self.get_logger().info(
            f'model {self.model_id} ({checkpoint.config.backbone}, '
            f'{len(self.class_names)} classes), expects spikes of shape {self.split_shape}, '
            f'alpha {self.get_parameter("alpha").value}, cloud id {self.fleet.cloud_id}')

    def activate(self) -> None:
        """Join the fleet (core/fleet.py: as a cloud that just started) and announce."""
        self.fleet.join(time.monotonic())
        self.claims_announced = []
        self.announcer = threading.Thread(target=self._announce, name='announce', daemon=True)
        self.announcer.start()

    def deactivate(self) -> None:
        """Stop announcing, so that the other clouds take the robots; finish the open samples.

        Their timesteps are still served (or they end at sample_timeout); nothing new is
        taken (counted as ignored_while_inactive).
        """
        self._stop_announcing()
        self.fleet.claims.clear()

    def release(self) -> None:
        """The announcer stops before its publisher goes."""
        self._stop_announcing()

    def _stop_announcing(self) -> None:
        if getattr(self, 'announcer', None) is not None:  # (configure may have failed before)
            self.announce_now.set()
            self.announcer.join()
            self.announcer = None

    def gauges(self) -> dict[str, int]:
        """The state beside the counters in the health report."""
        return {'open_samples': len(self.sessions), 'sources_served': len(self.fleet.claims)}

    def health(self, growth: dict[str, int]) -> Health:
        """CLOUD_RULES over the last period."""
        return assess(growth, CLOUD_RULES, (), f'serves {len(self.fleet.claims)} robots, '
                      f'{len(self.sessions)} open samples')

    def _announce(self) -> None:
        """Announce this cloud and its claims every ANNOUNCE_PERIOD, or at once on a change."""
        while self.active and self.context.ok():
            try:
                self.fleet_pub.publish(CloudAnnounce(cloud_id=self.fleet.cloud_id,
                                                     model_id=self.wire_model_id,
                                                     sources=self.claims_announced))
            except Exception:  # shutting down: the publisher is gone
                return
            self.fleet.announced = time.monotonic()
            self.announce_now.wait(ANNOUNCE_PERIOD)
            self.announce_now.clear()

    def on_announce(self, msg: CloudAnnounce) -> None:
        """Another cloud is live and serves msg.sources."""
        if msg.model_id == self.wire_model_id:
            self.fleet.heard(msg.cloud_id, msg.sources, time.monotonic())

    def update_fleet(self) -> None:
        """Claim the robots this cloud owns now, release the others (core/fleet.py)."""
        for announcement in take_waiting(self.fleet_sub):  # (heard now, not after a batch)
            self.on_announce(announcement)
        if not self.active:
            return
        now = time.monotonic()
        if self._stalled(now):
            return
        before = set(self.claims_announced)  # (a new robot is claimed at its first message)
        for source, hello in self.fleet.update(now, {key[0] for key in self.sessions}):
            if hello is not None:  # its edge is waiting for a cloud: say this one takes it
                self.exit_pub.publish(self._ready(source, hello))
        if self.fleet.claims != before:
            gained, lost = sorted(self.fleet.claims - before), sorted(before - self.fleet.claims)
            self.get_logger().info(
                f'serves {len(self.fleet.claims)} robots of {len(self.fleet.live(now))} '
                f'clouds' + (f'; took {", ".join(gained)}' if gained else '')
                + (f'; handed over {", ".join(lost)}' if lost else ''))
            self.counters['robots_taken'] += len(gained)
            self.counters['robots_handed_over'] += len(lost)
            self.claims_announced = sorted(self.fleet.claims)
            self.announce_now.set()

    def _stalled(self, now: float) -> bool:
        """This cloud went unheard long enough to be taken over: drop everything, rejoin."""
        if not self.active or not self.fleet.stalled(now):
            return False
        self.counters['stalls'] += 1
        self.counters['samples_dropped_in_stall'] += len(self.sessions)
        self.get_logger().warning(f'not announced for over {self.fleet.fence:.2f} s: another '
                                  'cloud may have taken its robots; dropped '
                                  f'{len(self.sessions)} open samples, joining again')
        self.sessions.clear()
        self.due.clear()
        self.claims_announced = []
        self.announce_now.set()
        return True

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
        if self._stalled(time.monotonic()):
            self.counters['messages_dropped_in_stall'] += sum(map(len, self.inbox.values()))
            self.inbox.clear()
            return
        try:
            for source in list(self.inbox):
                inbox = self.inbox[source]
                message = inbox.popleft()
                if not inbox:
                    del self.inbox[source]
                self.on_spikes(message)
        finally:  # (even if a message raised: the others still get served)
            self._batch_ready()
            if self.inbox:
                self.serve_guard.trigger()

    def _batch_ready(self) -> None:
        """Run the waiting timesteps now if the batch is full or nothing is to be waited for."""
        if not self.due:
            return
        if self.batch_wait == 0 or len(self.due) >= self.max_batch:
            self._flush()
        elif self.batch_timer.is_canceled():
            self.batch_timer.reset()

    def _batch_waited(self) -> None:
        """The oldest waiting timestep has waited batch_wait: run the batch as it is."""
        self.batch_timer.cancel()
        self._flush()

    def on_spikes(self, msg: PackedSpikes) -> None:
        """Take one timestep of a sample; those now in order go to the next batch (_flush)."""
        key = (msg.source_id, msg.sample_id)
        if msg.flags & PackedSpikes.FLAG_HELLO:
            if self.active:
                self._hello(key, msg)
            else:
                self.counters['ignored_while_inactive'] += 1
            return
        if key in self.finished:
            self.counters['late_timesteps'] += 1  # sent before our ExitSignal reached the edge
            if msg.flags & PackedSpikes.FLAG_RESENT:  # the answer may have been lost
                self.exit_pub.publish(self.finished[key])
                self.counters['answers_resent'] += 1
            return
        now = time.monotonic()
        if key not in self.sessions and not self.active:
            self.counters['ignored_while_inactive'] += 1
            return
        if key not in self.sessions and msg.model_id == self.wire_model_id \
                and not self.fleet.takes(msg.source_id, msg.sample_id, now):
            self.counters['timesteps_for_other_clouds'] += 1
            return
        try:
            session = self._session_for(key, msg)
        except SampleError as err:
            self._reject(key, err)
            return
        if not session.order.add(msg.timestep, msg, now):
            self.counters['repeated_timesteps'] += 1  # a duplicate, or older than one used
            if msg.flags & PackedSpikes.FLAG_RESENT and msg.timestep < session.order.next_timestep:
                self.counters['verdicts_resent'] += 1  # used already: the verdict may be lost
                if session.queue:  # (it is still to run: its batch answers)
                    session.verdict_wanted = True
                else:
                    self._continue(key, session)
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
        if not self.fleet.takes(key[0], key[1], time.monotonic(), hello=True):
            self.counters['hellos_for_other_clouds'] += 1
            return
        self.exit_pub.publish(self._ready(*key))

    def _ready(self, source: str, hello: int) -> ExitSignal:
        """The answer to a hello: this cloud takes the source's samples."""
        self.counters['hellos_answered'] += 1
        return ExitSignal(sample_id=hello, source_id=source, label=-1,
                          reason=ExitSignal.REASON_READY, status=ExitSignal.STATUS_OK)

    def _advance(self, key: SampleKey, session: Session, now: float,
                 give_up: bool = False) -> None:
        """Decode the timesteps that are ready, in order, for the next batch (see _flush).

        `give_up`: no more will come, so every held timestep is ready and the rest is lost.
        """
        session.gave_up = session.gave_up or give_up
        ready = session.order.give_up() if give_up else session.order.ready(now)
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
            session.queue.append(Timestep(spikes, encoding,
                                          bool(msg.flags & PackedSpikes.FLAG_VERDICT)))
        if session.queue:
            self.due[key] = session
        else:
            self._settle(key, session)

    def _flush(self) -> None:
        """Run every decoded timestep: one batch per round, one timestep per sample in it.

        A round takes the samples with timesteps waiting, oldest first, up to `max_batch`
        per runner; a sample decided in the batch drops the timesteps it still had.
        """
        while self.due and not self._stalled(time.monotonic()):
            batches: dict[CloudRunner, list[tuple[SampleKey, Session]]] = {}
            for key, session in list(self.due.items()):
                batch = batches.setdefault(session.runner, [])
                if len(batch) < self.max_batch:
                    batch.append((key, session))
            for runner, batch in batches.items():
                steps = [session.queue.popleft() for _, session in batch]
                decisions = runner.step_batch([session.state for _, session in batch],
                                              [step.spikes for step in steps])
                self.counters['batches'] += 1
                self.counters['timesteps'] += len(batch)
                for (key, session), step, decision in zip(batch, steps, decisions, strict=True):
                    self.counters[f'received_{step.encoding}'] += 1
                    session.verdict_wanted |= step.wants_verdict
                    if decision is not None:
                        self._finish(key, session, decision)
                    elif not session.queue:
                        self.due.pop(key)
                        self._settle(key, session)

    def _settle(self, key: SampleKey, session: Session) -> None:
        """After the timesteps it had: decide a sample that will get no more, or say continue."""
        if session.order.complete:  # the last timesteps were lost: decide on those used
            decision = session.state.early_exit.finish()
            if decision is None:
                self._fail(key, session, ExitSignal.STATUS_TIMEOUT if session.gave_up
                           else ExitSignal.STATUS_LOST)
            else:
                self._finish(key, session, decision)
        elif session.verdict_wanted and not session.order.waiting:
            self._continue(key, session)
        session.verdict_wanted = False

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
        self.due.pop(key, None)
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
        self._flush()

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
