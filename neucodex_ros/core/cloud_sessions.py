"""The cloud's samples without ROS: admission, a fair inbox per robot, order, batches, ends.

The cloud node hands every PackedSpikes to `receive`, calls `serve(now)` (one message of
each robot with messages waiting: a robot that floods the cloud delays itself, not the
others), runs each `Batch` of `batches(now)` through its runner and hands the decisions to
`ran`, and calls `housekeeping(now)` now and then. What to send back comes out as verdicts.
The rules:

* A sample is kept per (source_id, sample_id), with its own neuron state and mean of logits,
  so the samples of many robots interleave freely. Its first message, at whichever
  timestep arrives first, opens it if it fits this cloud (model, shape, T, codec, timestep;
  else rejected and counted by reason) and if the fleet gives this cloud the robot
  (core/fleet.py; else counted as another cloud's). A robot with `max_in_flight` samples
  open that opens another has its oldest fail (EVICTED).
* A bundle (FLAG_BUNDLE: the timesteps a robot already held, in one message) is taken as
  its timesteps one after the other, each as if it came alone; only its last asks for a
  verdict. A malformed bundle, or one reaching past T, is rejected whole.
* Timesteps are put back in order and used once each (core/reorder.py: a missing one is
  waited for `reorder_wait`, then lost); a temporal payload is decoded against the
  timestep just before it, so one coded against a lost timestep is lost too.
* The decoded timesteps of all open samples run as batches: one timestep per sample per
  batch, oldest sample first, at most `max_batch` per runner (spikes, or a head's
  features). A batch that is not full waits up to `batch_wait` (0: it never waits).
* A sample ends with exactly one final Verdict: when confident or at T (its answer), when its
  last timesteps were lost (decided on those used; LOST if none), when no timestep came
  for `sample_timeout` (decided on those used; TIMEOUT if none), or evicted. Its answer is
  remembered (the last MEMORY): a later timestep of it is counted late, and one the edge
  resent (FLAG_RESENT: the answer may have been lost) gets the answer again.
* A timestep that asked for a verdict (FLAG_VERDICT) and leaves the sample undecided, with
  nothing held for missing ones, is answered CONTINUE; a resent timestep used already is
  answered with the latest verdict. A hello for this model, from a robot this cloud takes,
  is answered READY.
* A robot's messages count only from the writer (publisher GID) its latest hello came
  from, or, before any hello, from the first writer heard; others are rejected and counted
  (`rejected_other_writer`): a peer cannot slip timesteps into a robot's sample.
* A CANCEL drops the sample without an answer unless it names this cloud as the one whose
  answer the robot took (it has one, from another cloud or its own network); its later
  timesteps are counted late.
"""

from __future__ import annotations

import copy
from collections import Counter, deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from neucodex_ros.core import codec
from neucodex_ros.core.errors import CodecError, SampleError
from neucodex_ros.core.exit_policy import Decision, EarlyExit
from neucodex_ros.core.fleet import MAX_SOURCE_ID, Fleet
from neucodex_ros.core.protocol import Flag, Log, Reason, Status, Verdict
from neucodex_ros.core.recent import Recent
from neucodex_ros.core.reorder import TimestepOrder

SampleKey = tuple[str, int]
Shape = tuple[int, ...]


class Spikes(Protocol):
    """What the rules read of a PackedSpikes."""

    source_id: str
    sample_id: int
    model_id: int
    timestep: int
    num_timesteps: int
    channels: int
    height: int
    width: int
    encoding: int
    flags: int
    cloud: int  # the fingerprint of the cloud it is for, 0: any (core/fleet.py, rule 6)
    data: Any  # bytes-like


class State(Protocol):
    """A runner's per-sample state (core/inference.SampleState)."""

    early_exit: EarlyExit


class Runner(Protocol):
    """Decoder and tail, run a batch at a time (core/inference.CloudRunner)."""

    def new_sample(self, alpha: float, num_timesteps: int) -> State:
        """Fresh state for a sample."""

    def step_batch(self, samples: Sequence[State],
                   spikes: Sequence[np.ndarray]) -> list[Decision | None]:
        """One timestep of each sample; its Decision once it stops."""


@dataclass
class Timestep:
    """A decoded timestep waiting for its batch."""

    spikes: np.ndarray
    encoding: str
    wants_verdict: bool  # the edge asked for a verdict after it (FLAG_VERDICT)


@dataclass
class OpenSample:
    """A sample this cloud is working on."""

    num_timesteps: int
    runner: Runner
    state: State
    order: TimestepOrder[Spikes]
    last_update: float
    bytes_received: int = 0
    previous: np.ndarray | None = None  # spikes of the last timestep decoded
    previous_timestep: int = -1  # its index: a temporal payload of the next one decodes
    undecodable: int = 0  # timesteps that arrived but could not be decoded (count as lost)
    queue: deque[Timestep] = field(default_factory=deque)  # decoded, not yet run
    verdict_wanted: bool = False  # a timestep run asked for a verdict
    gave_up: bool = False  # no more timesteps will be waited for

    @property
    def lost(self) -> int:
        """Timesteps never received or not decodable."""
        return self.order.lost + self.undecodable


@dataclass(frozen=True)
class Batch:
    """One timestep each of up to max_batch samples of one runner."""

    runner: Runner
    keys: list[SampleKey]
    samples: list[OpenSample]
    steps: list[Timestep]


@dataclass(frozen=True)
class Limits:
    """What the cloud's parameters bound (core/settings.py: CLOUD says each one's meaning)."""

    max_timesteps: int
    sample_timeout: float  # seconds
    reorder_wait: float  # seconds
    max_in_flight: int
    max_batch: int
    batch_wait: float  # seconds
    inbox_depth: int  # messages per robot (qos_depth)


class CloudSessions:
    """The rules of the module docstring over one cloud's open samples."""

    def __init__(self, runners: Mapping[Shape, Runner], split_shape: Shape, model_id: int,
                 model_name: str, fleet: Fleet, alpha: Callable[[], float], limits: Limits,
                 counters: Counter[str] | None = None) -> None:
        """`runners` by the shape they take; `alpha()` is read as each sample opens."""
        self.runners, self.split_shape = runners, split_shape
        self.model_id, self.model_name = model_id, model_name
        self.fleet, self.alpha, self.limits = fleet, alpha, limits
        self.counters = Counter() if counters is None else counters
        self.active = False
        self.open: dict[SampleKey, OpenSample] = {}
        self.due: dict[SampleKey, OpenSample] = {}  # with decoded timesteps, oldest first
        self.due_since: float | None = None  # when `due` last became non-empty
        self.answered: Recent[SampleKey, Verdict | None] = Recent()  # None: cancelled
        self.inbox: dict[str, deque[tuple[Spikes, bytes]]] = {}
        self.writers: Recent[str, bytes] = Recent()  # source → the writer of its messages
        self.told_mismatch: Recent[str, int] = Recent()  # source → the other model it wants

    # Events.
    def receive(self, msg: Spikes, writer: bytes = b'') -> None:
        """Into its robot's inbox; a full inbox drops that robot's oldest message (counted).

        `writer`: the GID of the publisher it came from (b'': unknown, taken as the robot's).
        A source_id empty or longer than MAX_SOURCE_ID is rejected here (core/fleet.py, 8).
        """
        if not 0 < len(msg.source_id) <= MAX_SOURCE_ID:
            self.counters['rejected_bad_source_id'] += 1
            return
        inbox = self.inbox.setdefault(msg.source_id, deque())
        if len(inbox) >= self.limits.inbox_depth:
            inbox.popleft()
            self.counters['dropped_source_backlog'] += 1
        inbox.append((msg, writer))

    def serve(self, now: float) -> list[Verdict | Log]:
        """One message of every robot with messages waiting (`inbox` says if more wait)."""
        out: list[Verdict | Log] = []
        for source in list(self.inbox):
            inbox = self.inbox[source]
            message, writer = inbox.popleft()
            if not inbox:
                del self.inbox[source]
            if self._from_the_robot(message, writer):
                self._take(message, now, out)
        return out

    def when_to_run(self, now: float) -> float | None:
        """When the decoded timesteps should run (≤ now: at once); None: none waits."""
        if not self.due:
            return None
        if self.limits.batch_wait == 0 or len(self.due) >= self.limits.max_batch:
            return now
        return (now if self.due_since is None else self.due_since) + self.limits.batch_wait

    def batches(self) -> list[Batch]:
        """A round: one timestep of each sample with some decoded, oldest first, per runner."""
        chosen: dict[int, Batch] = {}
        for key, sample in self.due.items():
            batch = chosen.setdefault(id(sample.runner), Batch(sample.runner, [], [], []))
            if len(batch.keys) < self.limits.max_batch:
                batch.keys.append(key)
                batch.samples.append(sample)
        for batch in chosen.values():
            batch.steps.extend(sample.queue.popleft() for sample in batch.samples)
        return list(chosen.values())

    def ran(self, batch: Batch, decisions: Sequence[Decision | None]) -> list[Verdict | Log]:
        """The runner's decisions on a batch: answers, verdicts."""
        out: list[Verdict | Log] = []
        self.counters['batches'] += 1
        self.counters['timesteps'] += len(batch.keys)
        for key, sample, step, decision in zip(batch.keys, batch.samples, batch.steps,
                                               decisions, strict=True):
            self.counters[f'received_{step.encoding}'] += 1
            sample.verdict_wanted |= step.wants_verdict
            if decision is not None:
                self._decided(key, sample, decision, out)
            elif not sample.queue:
                self.due.pop(key)
                self._settle(key, sample, out)
        return out

    def housekeeping(self, now: float) -> list[Verdict | Log]:
        """Give up on samples gone quiet; release timesteps that waited for lost ones."""
        out: list[Verdict | Log] = []
        for key, sample in list(self.open.items()):
            if now - sample.last_update >= self.limits.sample_timeout:
                self.counters['samples_gone_quiet'] += 1
                self._advance(key, sample, now, out, give_up=True)
            elif sample.order.waiting:
                self._advance(key, sample, now, out)
        return out

    def hello_taken(self, source: str, hello: int) -> Verdict:
        """READY to a robot's hello: this cloud takes its samples."""
        self.counters['hellos_answered'] += 1
        return Verdict(source, hello, Reason.READY, cloud=self.fleet.fingerprint)

    def drop_all(self) -> int:
        """Forget every open sample and waiting message (the cloud stalled); how many samples."""
        dropped = len(self.open)
        self.counters['messages_dropped_in_stall'] += sum(map(len, self.inbox.values()))
        self.open.clear()
        self.due.clear()
        self.inbox.clear()
        return dropped

    # The rules.
    def _take(self, msg: Spikes, now: float, out: list[Verdict | Log]) -> None:
        """One message: a hello, a timestep of an open or new sample, or one to reject."""
        key = (msg.source_id, msg.sample_id)
        if msg.flags & Flag.BUNDLE and not msg.flags & Flag.HELLO:
            try:
                parts = codec.split_bundle(msg.data, min(
                    self.limits.max_timesteps, max(msg.num_timesteps - msg.timestep, 1)))
            except CodecError as err:
                self._reject(key, err, out)
                return
            for index, (encoding, data) in enumerate(parts):
                part = copy.copy(msg)  # as if it had come alone; the verdict asked after the last
                part.timestep, part.encoding, part.data = \
                    msg.timestep + index, codec.WIRE_IDS[encoding], data
                part.flags = int(Flag(msg.flags) & ~Flag.BUNDLE
                                 & (~Flag(0) if index == len(parts) - 1 else ~Flag.VERDICT))
                self._take(part, now, out)
            return
        if msg.flags & Flag.CANCEL:
            self._cancel(key, msg)
            return
        if msg.flags & Flag.HELLO:
            if self.active:
                self._hello(key, msg, now, out)
            else:
                self.counters['ignored_while_inactive'] += 1
            return
        if key in self.answered:
            self.counters['late_timesteps'] += 1  # sent before the answer reached the edge
            if msg.flags & Flag.RESENT and (answer := self.answered[key]) is not None:
                # (the answer may have been lost)
                out.append(answer)
                self.counters['answers_resent'] += 1
            return
        if key not in self.open and not self.active:
            self.counters['ignored_while_inactive'] += 1
            return
        if key not in self.open and msg.model_id == self.model_id \
                and not self.fleet.takes(msg.source_id, msg.sample_id, now, addressed=msg.cloud,
                                         direct=bool(msg.flags & Flag.DIRECT),
                                         hedge=bool(msg.flags & Flag.HEDGE)):
            self.counters['timesteps_for_other_clouds'] += 1
            return
        try:
            sample = self._sample_for(key, msg, now, out)
        except SampleError as err:
            self._reject(key, err, out)
            return
        if not sample.order.add(msg.timestep, msg, now):
            self.counters['repeated_timesteps'] += 1  # a duplicate, or older than one used
            if msg.flags & Flag.RESENT and msg.timestep < sample.order.next_timestep:
                self.counters['verdicts_resent'] += 1  # used already: the verdict may be lost
                if sample.queue:  # (it is still to run: its batch answers)
                    sample.verdict_wanted = True
                else:
                    self._continue(key, sample, out)
            return
        sample.bytes_received += len(msg.data)
        sample.last_update = now
        self._advance(key, sample, now, out)

    def _from_the_robot(self, msg: Spikes, writer: bytes) -> bool:
        """Whether a message comes from its robot's writer; a hello (re)pins it."""
        pinned = self.writers.get(msg.source_id)
        if not writer or pinned == writer:
            return True
        if pinned is None or (msg.flags & Flag.HELLO and msg.model_id == self.model_id):
            self.writers.remember(msg.source_id, writer)  # (a restarted edge says hello first)
            return True
        self.counters['rejected_other_writer'] += 1
        return False

    def _cancel(self, key: SampleKey, msg: Spikes) -> None:
        """Drop a sample its robot took another's answer to."""
        if msg.cloud == self.fleet.fingerprint or (sample := self.open.pop(key, None)) is None:
            self.counters['cancels_ignored'] += 1  # this cloud's answer was taken, or none open
            return
        self.due.pop(key, None)
        self.counters['timesteps_lost'] += sample.lost
        self.answered.remember(key, None)
        self.counters['samples_cancelled'] += 1

    def _hello(self, key: SampleKey, msg: Spikes, now: float, out: list[Verdict | Log]) -> None:
        """READY if this cloud has the model and takes the robot."""
        if msg.model_id != self.model_id:
            self.counters['rejected_model_mismatch'] += 1
            if self.told_mismatch.get(key[0]) != msg.model_id:  # (once per robot and model)
                self.told_mismatch.remember(key[0], msg.model_id)
                out.append(Log(f'{key[0]} asks for a cloud of model {msg.model_id:016x}; this '
                               f'one serves {self.model_name} ({self.model_id:016x}): give '
                               'both nodes the same checkpoint', warning=True))
        elif not self.fleet.takes(key[0], key[1], now, hello=True):
            self.counters['hellos_for_other_clouds'] += 1
        else:
            out.append(self.hello_taken(*key))

    def _sample_for(self, key: SampleKey, msg: Spikes, now: float,
                    out: list[Verdict | Log]) -> OpenSample:
        """The open sample, new at its first message; SampleError if msg does not fit."""
        if msg.model_id != self.model_id:
            raise SampleError('model_mismatch', f'model {msg.model_id:016x} is not this '
                              f'cloud\'s {self.model_name}')
        shape = (msg.channels, msg.height, msg.width)
        if shape not in self.runners:
            raise SampleError('bad_shape', f'spike shape {shape} is neither the model\'s '
                              f'{self.split_shape} nor its head\'s features')
        if not 1 <= msg.num_timesteps <= self.limits.max_timesteps:
            raise SampleError('bad_num_timesteps', f'num_timesteps {msg.num_timesteps} is '
                              f'outside 1..{self.limits.max_timesteps}')
        try:
            codec.from_wire_id(msg.encoding)
        except CodecError as err:
            raise SampleError('unknown_encoding', str(err)) from None
        if msg.timestep >= msg.num_timesteps:
            raise SampleError('bad_timestep', f'timestep {msg.timestep} >= num_timesteps '
                              f'{msg.num_timesteps}')
        sample = self.open.get(key)
        runner = self.runners[shape]
        if sample is None:  # at whichever timestep arrives first: timestep 0 may be lost
            self._make_room(key[0], out)
            sample = OpenSample(msg.num_timesteps, runner,
                                runner.new_sample(self.alpha(), msg.num_timesteps),
                                TimestepOrder(msg.num_timesteps, self.limits.reorder_wait), now)
            self.open[key] = sample
            self.counters['samples_started'] += 1
        elif sample.runner is not runner:
            raise SampleError('changed_shape', f'spike shape changed to {shape} mid-sample')
        elif msg.num_timesteps != sample.num_timesteps:
            raise SampleError('changed_num_timesteps', f'num_timesteps changed from '
                              f'{sample.num_timesteps} to {msg.num_timesteps}')
        return sample

    def _advance(self, key: SampleKey, sample: OpenSample, now: float, out: list[Verdict | Log],
                 give_up: bool = False) -> None:
        """Decode the timesteps now in order, for the next batch.

        `give_up`: no more will come, so every held timestep is ready and the rest is lost.
        """
        sample.gave_up = sample.gave_up or give_up
        ready = sample.order.give_up() if give_up else sample.order.ready(now)
        for timestep, msg in ready:
            reference = sample.previous if sample.previous_timestep == timestep - 1 else None
            try:
                encoding = codec.from_wire_id(msg.encoding)
                if reference is None and codec.is_temporal(encoding):
                    raise SampleError('missing_reference', f'timestep {timestep} is coded '
                                      f'against timestep {timestep - 1}, which was lost')
                spikes = codec.decode(msg.data, (msg.channels, msg.height, msg.width),
                                      encoding, reference)
            except (SampleError, CodecError) as err:
                self._reject(key, err, out)
                sample.undecodable += 1
                continue
            sample.previous, sample.previous_timestep = spikes, timestep
            sample.queue.append(Timestep(spikes, encoding, bool(msg.flags & Flag.VERDICT)))
        if sample.queue:
            if not self.due:
                self.due_since = now
            self.due[key] = sample
        else:
            self._settle(key, sample, out)

    def _settle(self, key: SampleKey, sample: OpenSample, out: list[Verdict | Log]) -> None:
        """After the timesteps it had: decide a sample that will get no more, or say continue."""
        if sample.order.complete:  # the last timesteps were lost: decide on those used
            decision = sample.state.early_exit.finish()
            if decision is None:
                self._fail(key, sample, Status.TIMEOUT if sample.gave_up else Status.LOST, out)
            else:
                self._decided(key, sample, decision, out)
        elif sample.verdict_wanted and not sample.order.waiting:
            self._continue(key, sample, out)
        sample.verdict_wanted = False

    def _make_room(self, source: str, out: list[Verdict | Log]) -> None:
        """Fail a robot's oldest open samples until it may open one more."""
        mine = sorted(key for key in self.open if key[0] == source)
        for key in mine[:max(len(mine) - self.limits.max_in_flight + 1, 0)]:
            self._fail(key, self.open[key], Status.EVICTED, out)

    def _reject(self, key: SampleKey, err: SampleError | CodecError,
                out: list[Verdict | Log]) -> None:
        reason = err.reason if isinstance(err, SampleError) else 'bad_payload'
        self.counters[f'rejected_{reason}'] += 1
        out.append(Log(f'{key[0]} sample {key[1]}: rejected: {err}', warning=True))

    def _verdict(self, key: SampleKey, sample: OpenSample, reason: Reason,
               status: Status = Status.OK, decision: Decision | None = None) -> Verdict:
        """The sample's verdict now: its decision so far (CONTINUE) or final."""
        return Verdict(key[0], key[1], reason, status,
                     label=-1 if decision is None else decision.label,
                     confidence=0.0 if decision is None else decision.confidence,
                     probabilities=() if decision is None or reason is Reason.CONTINUE
                     else decision.probabilities.astype('float32').tolist(),
                     timesteps_used=sample.state.early_exit.timesteps,
                     timesteps_lost=sample.lost, bytes_received=sample.bytes_received,
                     cloud=self.fleet.fingerprint)

    def _continue(self, key: SampleKey, sample: OpenSample, out: list[Verdict | Log]) -> None:
        """Tell the edge the sample is undecided and needs its next timestep."""
        out.append(self._verdict(key, sample, Reason.CONTINUE,
                               decision=sample.state.early_exit.finish()))
        self.counters['verdicts_continue'] += 1

    def _decided(self, key: SampleKey, sample: OpenSample, decision: Decision,
                 out: list[Verdict | Log]) -> None:
        """The answer (which also stops the edge)."""
        self._end(key, self._verdict(key, sample, Reason.CONFIDENT if decision.confident
                                   else Reason.REACHED_T, Status.OK, decision), sample, out)
        self.counters['samples_decided'] += 1
        self.counters[f'exits_at_t{decision.timesteps_used}'] += 1

    def _fail(self, key: SampleKey, sample: OpenSample, status: Status,
              out: list[Verdict | Log]) -> None:
        """Stop the edge: label -1 and why."""
        self._end(key, self._verdict(key, sample, Reason.ERROR, status), sample, out)
        self.counters[f'samples_{status.outcome}'] += 1

    def _end(self, key: SampleKey, answer: Verdict, sample: OpenSample,
             out: list[Verdict | Log]) -> None:
        """Send the final answer, remember it, forget the sample."""
        out.append(answer)
        self.counters['timesteps_lost'] += sample.lost
        del self.open[key]
        self.due.pop(key, None)
        self.answered.remember(key, answer)
