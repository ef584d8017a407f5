"""The edge's control as a state machine: events and `now` in, actions and "call me at t" out.

No ROS, no model, no clock: the edge node converts what arrived into calls of `EdgeLoop`
(an input, a cloud's verdict, the spikes subscribers changed, its one timer fired, a timestep
went out, a sample was decided here) and carries out the actions each returns, in order: say
hello, start a split sample, compute and send its next timestep or resend the last, run a
sample here, publish an answer, log, report health, and `Wake(at)`: call `timer(now)` at
`at` (at once, after the callbacks waiting now, if `at` ≤ now). An action that computes
(`SendTimestep`, `Resend`, `RunHere`) is always the last one of its list: the node reports
its outcome (`sent`, `decided_here`), which returns what comes next. The rules:

* Queue and ends: core/edge_samples.py. Every sample started ends in exactly one `Publish`.
* Handshake: a sample is split only once a cloud of the model answered a hello (READY to a
  `SayHello` of this round; hellos take sample ids, one every HELLO_PERIOD while spikes
  subscribers exist and none answered). Seeing a subscriber is not enough: a reader may not
  have matched the edge's writer yet, and what is sent meanwhile is lost even over reliable
  QoS. The edge asks again when the subscribers change and when a sample misses its
  deadline; meanwhile `split` waits (looking again every RETRY_PERIOD) and `auto` answers here.
* Timesteps of a split sample: core/pacing.py (adaptive or clock); the cloud's final answer
  stops the sample at once.
* Where a sample runs: core/placement.py, measured here from each sample's latency and edge
  energy (compute per timestep, counted once on the first input, and the radio's bytes).
* Cascade: a sample runs here first, the whole network with the early exit at α, for
  `cascade_timesteps`; if it did not exit it escalates: the spikes at the split of those
  timesteps (the head and encoder ran as part of the whole network) go to the cloud, which
  runs its decoder and tail on them and goes on, the edge computing only the head and
  encoder of the timesteps after them. The cloud's state after them is the one the whole
  network had here, so its answer is the split's. While no cloud takes samples, and for a
  sample that fell back, it runs here to the end.
* Deadline: a split (or escalated) sample is overdue a few measured round trips after the
  oldest timestep its cloud has not answered went out (core/deadline.py), and at the latest
  `deadline` seconds after its start. Overdue before that, under `auto` and `cascade` it
  runs here from its input, before any other (so the frames behind it wait a few round
  trips, not `deadline`), and its cloud is told to drop it (Cancel). Under `split`, with
  `hedge` on, it is hedged once: everything it sent goes again in one message, for the
  next cloud of the fleet after the one that went quiet (core/fleet.py, rule 7); the
  samples after it go there too, and, once a cloud answered, direct to that cloud, which
  the edge greets (hello) until a cloud that serves the robot answers. The first answer
  wins; the other clouds are told to drop the sample (Cancel), and their answers are
  counted, not published. Otherwise `split` waits for the sample's `deadline` and
  publishes it as CLOUD_UNAVAILABLE. No sample is counted overdue within SETTLE of the
  edge's last compute: answers that arrived meanwhile are read first.
* Answers: a sample takes verdicts only from the writer (publisher GID) of the cloud it was
  sent to, as that cloud's READY to a hello came from it; others are refused and counted.
  One sent to a cloud whose READY the edge never took, or hedged, takes the first other
  writer to answer, and from then on only it. A final answer that cannot come from this
  model (exit_policy.answer_problem) is rejected and counted; one for no pending sample is
  counted as late, repeated (apart: a second answer to a sample the edge resent a timestep
  of, or hedged) or unknown. A verdict or answer teaches the round trip and the continue
  rates only when it is about a timestep that was not resent and nothing was lost.
* Health: EDGE_RULES, and WARN while no cloud has taken samples for longer than the deadline.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from neucodex_ros.core.deadline import Deadline
from neucodex_ros.core.edge_samples import EdgeSamples, Unmatched
from neucodex_ros.core.energy import EnergyConfig, radio_energy_j
from neucodex_ros.core.exit_policy import answer_problem
from neucodex_ros.core.health import EDGE_RULES, Health, Level, assess
from neucodex_ros.core.pacing import (
    AdaptivePacing,
    ClockPacing,
    ContinueRates,
    Pacing,
    RoundTrip,
    SampleTimesteps,
    Step,
)
from neucodex_ros.core.placement import ComputedOn, Placement, Placer
from neucodex_ros.core.protocol import CLOUD_UNAVAILABLE, Log, Reason, Status, Verdict, outcome
from neucodex_ros.core.recent import Recent

RETRY_PERIOD = 0.1  # seconds between looks for a cloud while inputs wait for one
HELLO_PERIOD = 0.5  # seconds between hellos while none is answered
UNANSWERED_HELLOS = 10  # hellos heard by readers and unanswered before the edge says so
SETTLE = 0.02  # seconds after a compute before a sample counts as overdue (answers first)
UNMATCHED_COUNTERS = {Unmatched.LATE: 'answers_after_deadline',
                      Unmatched.REPEATED: 'answers_repeated', Unmatched.UNKNOWN: 'answers_unknown'}
# a second answer the edge's own resend or hedge asked for
ASKED_AGAIN = {'resent': 'answers_to_resends', 'hedged': 'hedge_answers_dropped'}

InputT = TypeVar('InputT')


@dataclass
class Sample(Generic[InputT]):
    """A sample started on this edge and not yet answered."""

    sample_id: int
    input: InputT  # what the node runs it on
    started: float  # `now` at its start
    timesteps: SampleTimesteps  # sent when, needed how far (split)
    place: ComputedOn = ComputedOn.SPLIT  # where its answer is computed
    fell_back: bool = False  # split first, then run here at its deadline
    here: int = 0  # timesteps of the whole network run here so far (their spikes kept)
    escalate_after: int = 0  # cascade: escalate if not decided after this many here (0: never)
    bytes_up: int = 0  # serialized messages sent for it (counted under auto)
    bytes_down: int = 0  # ... and received
    due: float = math.inf  # its deadline (core/edge_samples.py, core/deadline.py)
    cloud: int = 0  # the cloud it is sent to (fingerprint; 0: any)
    direct: bool = False  # ... for that cloud alone (core/fleet.py, rule 7)
    hedge: bool = False  # ... for the next cloud after that one, which went quiet (rule 7)
    patient: bool = False  # overdue with nowhere else to go: it waits for the whole deadline
    spikes: list[Any] = field(default_factory=list)  # what was sent of it, kept for a hedge
    writers: set[bytes] = field(default_factory=set)  # whose verdicts on it count
    new_writer: bool = False  # ... and the first other writer to answer (a hedge)


@dataclass(frozen=True)
class Outcome:
    """A sample's outcome, as its Prediction carries it."""

    label: int  # -1: none (status says why)
    confidence: float
    probabilities: Sequence[float]
    timesteps_used: int
    timesteps_lost: int = 0
    bytes_received: int = 0
    status: str = Status.OK.outcome


@dataclass(frozen=True)
class SayHello:
    """Ask the clouds listening whether one takes this model's samples; the hello's id."""

    sample_id: int


@dataclass(frozen=True)
class ForSample:
    """An action on one sample (the ones below)."""

    sample: Sample[Any]


class StartSplit(ForSample):
    """Start the edge's layers on the sample's input (its timesteps follow)."""


@dataclass(frozen=True)
class SendTimestep(ForSample):
    """Compute, code and send the sample's next `count` timesteps, in one message; then `sent`.

    More than one only for an escalated sample: the timesteps run here, in one bundle with
    the next `cascade_bundle` (-1: all) computed now.
    """

    asks_verdict: bool
    count: int = 1


class Resend(ForSample):
    """Send the sample's last timestep again, marked as a resend; then call `sent`."""


@dataclass(frozen=True)
class Hedge(ForSample):
    """Send everything sent of the sample (its `spikes`) again in one message, as a hedge.

    For the next cloud after `sample.cloud` (Flag.HEDGE); then call `hedge_sent`.
    """

    asks_verdict: bool


@dataclass(frozen=True)
class Cancel(ForSample):
    """Tell the clouds the sample is answered, by `cloud` (0: here): the others drop it."""

    cloud: int


@dataclass(frozen=True)
class RunHere(ForSample):
    """Run the whole network on the sample with the early exit, from where it stopped here.

    At most `timesteps` more; then `decided_here`, or `undecided_here` if it did not exit
    (a cascade's try). Its spikes at the split are kept for an escalation.
    """

    timesteps: int


class Escalate(ForSample):
    """Go on with a sample run here as a split one: the cloud gets the spikes kept.

    SendTimestep sends those first, then computes its next timesteps with the edge's layers,
    from where the whole network stopped.
    """


@dataclass(frozen=True)
class Publish(ForSample):
    """The sample's one answer."""

    answer: Outcome


@dataclass(frozen=True)
class ReportWorse:
    """Report health now if it got worse (a sample missed its deadline)."""


@dataclass(frozen=True)
class Wake:
    """Call `timer` at `at` (None: no time is set; ≤ now: once the waiting callbacks ran)."""

    at: float | None


Action = (SayHello | StartSplit | Escalate | SendTimestep | Resend | Hedge | Cancel | RunHere
          | Publish | Log | ReportWorse | Wake)
COMPUTES = (SendTimestep, Resend, RunHere)


@dataclass(frozen=True)
class LoopSettings:
    """What the rules need of the edge's parameters (core/settings.py: EDGE says each one's)."""

    num_timesteps: int
    num_classes: int
    placement: Placement
    deadline: float
    queue_size: int
    pacing: str
    timestep_cost: float
    timestep_period: float
    latency_budget: float
    energy: EnergyConfig
    split_layers: str  # what a split sample runs here: 'split' or 'head'
    cascade_timesteps: int  # cascade: timesteps here before escalating
    cascade_bundle: int  # cascade: timesteps computed for the escalation's first message; -1: all
    model_id: str  # for the log
    deadline_min: float = 0.15  # the floor of the round-trip deadline (core/deadline.py)
    hedge: bool = True  # split: send an overdue sample to the next cloud of the fleet too


class EdgeLoop(Generic[InputT]):
    """The rules of the module docstring, over one edge's state."""

    def __init__(self, settings: LoopSettings, now: float, first_id: int,
                 counters: Counter[str] | None = None,
                 energy_of: Callable[[InputT], dict[str, float]] | None = None) -> None:
        """`energy_of(input)`: J per timestep of each layers choice, asked once under auto.

        It counts the operations of a real input (spikes depend on it), which takes the
        time of several timesteps: it is asked after the first answer's latency was taken.
        """
        self.settings = settings
        self.counters = Counter() if counters is None else counters
        self.energy_of = energy_of
        self.samples: EdgeSamples[InputT, Sample[InputT]] = EdgeSamples(
            settings.queue_size, settings.deadline, first_id)
        self.deadline = Deadline(min(settings.deadline_min, settings.deadline), settings.deadline)
        self.suspects: set[int] = set()  # clouds that left a sample overdue, until they answer
        self.asked_again: Recent[int, str] = Recent()  # ended samples resent or hedged: how
        self.writers: dict[int, bytes] = {}  # cloud → the writer its READY came from
        self.round_trip = RoundTrip()
        self.continue_rates = ContinueRates(settings.num_timesteps)
        self.pacing: Pacing = AdaptivePacing(settings.timestep_cost, self.round_trip,
                                             self.continue_rates) \
            if settings.pacing == 'adaptive' else ClockPacing(settings.timestep_period)
        self.placer = Placer(settings.num_timesteps, latency_budget=settings.latency_budget)
        self.timestep_energy: dict[str, float] | None = None
        self.active = False
        self.subscribers = 0  # of the spikes the edge sends
        self.cloud_ready = False  # a cloud answered a hello of this round
        self.cloud = 0  # the cloud samples are addressed to: the latest to answer (core/fleet.py)
        self.direct = False  # ... for it alone: the edge moved there on its own (rule 7)
        self.hedge = False  # ... for the next cloud after it, which went quiet (rule 7)
        self._settle_until = -math.inf  # no sample counts as overdue before this (SETTLE)
        self.cloud_lost_at = now  # since when no cloud takes samples
        self.hellos_from: int | None = None  # the first id of this round of hellos
        self.said_unanswered = False  # that hellos go unanswered (once, until a READY)
        self.last_hello = -math.inf
        self._pacing_at: float | None = None  # the current sample's next step, if later
        self._retry_at: float | None = None  # the next look for a cloud
        self._again = False  # work is waiting: be called at once
        self._resending = False  # the compute action just returned is a Resend
        self._asked = True  # ... a SendTimestep asking for a verdict
        self._count = 1  # ... of this many timesteps

    @property
    def counts_bytes(self) -> bool:
        """Whether the node should tell the serialized size of what it sends and receives."""
        return self.settings.placement is Placement.AUTO

    # Events.
    def activate(self, now: float) -> list[Action]:
        """Take input again; start the samples that waited."""
        self.active = True
        self.cloud_lost_at = now
        return self._event(now, lambda actions: self._step(now, actions))

    def deactivate(self) -> None:
        """Take no input and start no sample; the one in flight still ends in its answer."""
        self.active = False

    def input(self, item: InputT, now: float) -> list[Action]:
        """A sample's input arrived: queue it (the queue policy applies), start it if idle."""
        if not self.active:
            self.counters['inputs_while_inactive'] += 1
            return []
        self.counters['frames_dropped'] += self.samples.offer(item)
        if self.samples.current is not None:
            return []
        return self._event(now, lambda actions: self._step(now, actions))

    def subscribers_changed(self, count: int, now: float) -> list[Action]:
        """The spikes subscribers came or went: a cloud (re)started, or stopped."""
        self.subscribers = count

        def changed(actions: list[Action]) -> None:
            self._cloud_lost(f'spikes subscribers now {count}', now, actions)
            if self.samples.current is None:
                self._step(now, actions)  # ask at once: the first input need not wait for it
        return self._event(now, changed)

    def timer(self, now: float) -> list[Action]:
        """The time of the last Wake came: deadlines, a look for a cloud, the next timestep."""
        if self._retry_at is not None and self._retry_at <= now:
            self._retry_at = None
        return self._event(now, lambda actions: self._step(now, actions))

    def verdict(self, verdict: Verdict, now: float, wire_bytes: int = 0,
                writer: bytes = b'') -> list[Action]:
        """An ExitSignal for this robot, from `writer` (its publisher's GID; b'': unknown).

        `wire_bytes`: its size, when `counts_bytes`.
        """
        handlers: dict[int, Callable[[Verdict, int, float, list[Action]], None]] = {
            Reason.CONTINUE: self._continue, Reason.READY: self._ready}
        handle = handlers.get(verdict.reason, self._final)

        def checked(actions: list[Action]) -> None:
            if verdict.reason == Reason.READY:
                handle(verdict, wire_bytes, now, actions)
                if self.cloud_ready and self.hellos_from is None and writer \
                        and self.cloud == verdict.cloud:  # (taken: the cloud's writer)
                    self.writers[verdict.cloud] = writer
            elif self._from_its_cloud(verdict, writer, actions):
                handle(verdict, wire_bytes, now, actions)
        # (the answer first: it may end a sample whose deadline passed while it waited)
        return self._event(now, checked, answer_first=True)

    def hedge_sent(self, sample: Sample[InputT], wire_bytes: int = 0) -> None:
        """The Hedge just returned went out: its size, when `counts_bytes`."""
        sample.bytes_up += wire_bytes

    def sent(self, sample: Sample[InputT], now: float, wire_bytes: int = 0) -> list[Action]:
        """The SendTimestep or Resend just returned went out at `now`."""
        if not self._resending:
            self._settle_until = now + SETTLE  # (it computed)

        def went(actions: list[Action]) -> None:
            sample.bytes_up += wire_bytes
            if self._resending:
                self.counters['timesteps_resent'] += 1
            else:
                for index in range(self._count):
                    if sample.timesteps.next >= sample.here:  # (else computed here already)
                        self.counters['timesteps_computed'] += 1
                    # (a bundle asks after its last)
                    sample.timesteps.sent(now, self._asked and index == self._count - 1)
                    self.counters['timesteps_sent'] += 1
            self._update_due(sample)
            if sample is self.samples.current and self._due(sample, now) is not None:
                self._again = True  # once the callbacks waiting now have run
        return self._event(now, went)

    def decided_here(self, sample: Sample[InputT], answer: Outcome, now: float) -> list[Action]:
        """RunHere's early exit decided after answer.timesteps_used timesteps."""
        self._settle_until = now + SETTLE

        def decided(actions: list[Action]) -> None:
            self.counters['timesteps_computed'] += answer.timesteps_used - sample.here
            sample.here = answer.timesteps_used
            self._measured(sample, now, answer.timesteps_used, answer.timesteps_used)
            self._publish(sample, answer, actions)
            self._finished_sending(sample)
        return self._event(now, decided)

    def undecided_here(self, sample: Sample[InputT], timesteps: int,
                       now: float) -> list[Action]:
        """RunHere ran its `timesteps` and the early exit did not decide: escalate (cascade)."""
        self._settle_until = now + SETTLE

        def undecided(actions: list[Action]) -> None:
            self.counters['timesteps_computed'] += timesteps
            sample.here += timesteps
            sample.escalate_after = 0
            if not self.cloud_ready:  # (gone meanwhile: finish here)
                self._again = True
                return
            self.counters['samples_escalated'] += 1
            sample.place = ComputedOn.SPLIT
            sample.timesteps.continued(sample.here)  # the cloud will need the next one too
            self._address(sample)
            self.samples.track(sample)
            actions.append(Escalate(sample))
            self._step(now, actions)
        return self._event(now, undecided)

    # Queries.
    def gauges(self) -> dict[str, int | float]:
        """The state beside the counters in the health report."""
        return {'pending_samples': len(self.samples.pending),
                'round_trip_us': round(self.round_trip.estimate * 1e6),
                'cloud_ready': int(self.cloud_ready)} | {
            f'expected_{place.name.lower()}{quantile}_ms': round(seconds * 1e3, 1)
            for place in ComputedOn if (expected := self.placer.expected(place)) is not None
            for quantile, seconds in zip(('', '_p95'), expected, strict=True)}

    def health(self, growth: dict[str, int], now: float) -> Health:
        """EDGE_RULES, and WARN while no cloud has taken samples for longer than the deadline."""
        conditions = []
        waiting = now - self.cloud_lost_at
        placement = self.settings.placement
        if placement is not Placement.LOCAL and not self.cloud_ready \
                and waiting >= self.settings.deadline:
            conditions.append(Health(Level.WARN, f'no cloud has taken samples for {waiting:.0f} s'
                                     + (': they wait' if placement is Placement.SPLIT
                                        else ': they run here')))
        where = 'here' if placement is Placement.LOCAL or not self.cloud_ready else \
            'split with a cloud'
        return assess(growth, EDGE_RULES, conditions, f'answers {where}')

    # The rules.
    def _event(self, now: float, handle: Callable[[list[Action]], None],
               answer_first: bool = False) -> list[Action]:
        """Deadlines, then the event (or the reverse); then when to be called, unless computing."""
        actions: list[Action] = []
        if not answer_first:
            self._expire(now, actions)
        handle(actions)
        if answer_first:
            self._expire(now, actions)
        if actions and isinstance(actions[-1], COMPUTES):
            return actions  # its outcome (sent, decided_here) says when
        times = [t for t in (self._pacing_at, self._retry_at) if t is not None]
        if (deadline := self.samples.next_deadline()) is not None:
            times.append(max(deadline, self._settle_until))
        if self._again:
            times.append(now)
            self._again = False
        actions.append(Wake(min(times) if times else None))
        return actions

    def _expire(self, now: float, actions: list[Action]) -> None:
        """The samples past their deadline: hedge them, run them here, or fail them."""
        if now < self._settle_until:
            return
        for sample in [s for s in self.samples.pending.values() if s.due <= now]:
            if self.deadline.at_ceiling(sample.started, now):
                continue
            self.suspects.add(sample.cloud)
            if self.settings.placement is not Placement.SPLIT:
                sample.due = now  # (here, below)
            elif not self._hedge(sample, now, actions):  # nowhere else to go: it waits
                sample.patient = True
                self._update_due(sample)
                actions.append(Log(f'no verdict on sample {sample.sample_id} for '
                                   f'{(now - sample.started) * 1e3:.0f} ms: it waits up to '
                                   f'deadline {self.settings.deadline:g} s', True))
        for sample in self.samples.overdue(now):
            waited = f'{(now - sample.started) * 1e3:.0f} ms'
            self._cloud_lost(f'no answer to sample {sample.sample_id} in {waited}', now, actions)
            self._finished_sending(sample)
            actions.append(Cancel(sample, 0))
            if self.settings.placement in (Placement.AUTO, Placement.CASCADE):
                # (what split cost, at least, as if it needed all T)
                self.placer.measured(ComputedOn.SPLIT, now - sample.started,
                                     self.settings.num_timesteps)
                sample.here = 0  # (the edge's layers ran on since: from the input again)
                actions.append(Log(f'no answer from the cloud in {waited} for sample '
                                   f'{sample.sample_id}: answering it here', True))
                self.counters['samples_fallen_back'] += 1
                sample.fell_back = True
                self.samples.fall_back(sample)
                self._again = True
            else:
                actions.append(Log(f'no answer from the cloud in {waited} for sample '
                                   f'{sample.sample_id}: reported as {CLOUD_UNAVAILABLE}', True))
                self._publish(sample, Outcome(-1, 0.0, [], 0, status=CLOUD_UNAVAILABLE), actions)
            actions.append(ReportWorse())

    def _hedge(self, sample: Sample[InputT], now: float, actions: list[Action]) -> bool:
        """Send an overdue split sample for the next cloud after its own, once, if allowed."""
        if not self.settings.hedge or sample.hedge or not sample.cloud:
            return False
        left = sample.cloud
        sample.hedge, sample.direct, sample.new_writer = True, False, True
        if self.cloud == left:  # the samples after it go to the next cloud too
            self.hedge, self.direct = True, False
        self.counters['hedges_sent'] += 1
        actions.append(Log(f'no verdict on sample {sample.sample_id} from cloud {left:08x} in '
                           f'{(now - sample.started) * 1e3:.0f} ms: sent for the next cloud too',
                           True))
        timesteps = sample.timesteps
        if timesteps.sent_at:
            timesteps.hedged(now, not timesteps.all_sent)
            actions.append(Hedge(sample, not timesteps.all_sent))
        self._update_due(sample)
        return True

    def _update_due(self, sample: Sample[InputT]) -> None:
        """A pending sample's deadline, from what its cloud has not answered (core/deadline.py)."""
        if sample.sample_id in self.samples.pending:
            sample.due = sample.started + self.deadline.ceiling if sample.patient else \
                self.deadline.due(sample.started, sample.timesteps, self.round_trip)

    def _address(self, sample: Sample[InputT]) -> None:
        """A split sample goes to the cloud samples go to now, and only its writer answers.

        A cloud whose READY this edge never took (one that took the robot on its own, or
        through a hedge) is trusted on its first answer.
        """
        sample.cloud, sample.direct, sample.hedge = self.cloud, self.direct, self.hedge
        writer = self.writers.get(self.cloud)
        sample.writers = set() if writer is None else {writer}
        sample.new_writer = writer is None or self.hedge

    def _from_its_cloud(self, verdict: Verdict, writer: bytes, actions: list[Action]) -> bool:
        """Whether a verdict on a pending sample comes from a writer it was sent to."""
        sample = self.samples.pending.get(verdict.sample_id)
        if sample is None or not writer or writer in sample.writers:
            return True  # (one for no pending sample is counted as such)
        if sample.new_writer:
            sample.writers.add(writer)
            sample.new_writer = False
            self.writers.setdefault(verdict.cloud, writer)
            return True
        self.counters['answers_from_other_writers'] += 1
        actions.append(Log(f'a verdict on sample {sample.sample_id} came from a writer that is '
                           'not the cloud it was sent to: refused (a peer forging answers? '
                           'README: "Trust")', True))
        return False

    def _step(self, now: float, actions: list[Action]) -> None:
        """Start a sample if idle; its next timestep if the pacing says now."""
        if self.samples.current is None and (not self.active or not self._start(now, actions)):
            return
        if (sample := self.samples.current) is None:
            return
        if sample.place is ComputedOn.EDGE:
            actions.append(RunHere(sample, (sample.escalate_after
                                            or self.settings.num_timesteps) - sample.here))
        elif (due := self._due(sample, now)) is not None:
            self._resending = due.resend
            if due.resend:
                sample.timesteps.resent_last(now)
                actions.append(Resend(sample))
            else:
                if sample.timesteps.next >= sample.timesteps.needed:
                    self.counters['timesteps_ahead'] += 1  # a bet
                self._count = self._bundled(sample)
                self._asked = self.pacing.asks_verdict(sample.timesteps, self._count)
                actions.append(SendTimestep(sample, self._asked, self._count))

    def _bundled(self, sample: Sample[InputT]) -> int:
        """Timesteps in the sample's next message: those kept here, with the next computed."""
        timesteps = sample.timesteps
        kept = sample.here - timesteps.next
        if kept <= 0:
            return 1
        self.counters['bundles_sent'] += 1
        rest = timesteps.num_timesteps - timesteps.next
        bundle = self.settings.cascade_bundle
        return rest if bundle < 0 else min(kept + bundle, rest)

    def _due(self, sample: Sample[InputT], now: float) -> Step | None:
        """The sample's pacing step if due now; if later, when to be called for it."""
        self._pacing_at = None
        step = self.pacing.next_step(sample.timesteps, now)
        if step is None:  # all T sent; the cloud decides from here
            self._finished_sending(sample)
            return None
        if step.at <= now:
            return step
        if not math.isinf(step.at):  # unless a verdict comes first
            self._pacing_at = step.at
        return None

    def _start(self, now: float, actions: list[Action]) -> bool:
        """Make the oldest waiting input the current sample; False if there is none to start.

        A sample that fell back comes first and runs here; any other goes where the
        placement says (split waits for a cloud, auto runs here while there is none).
        """
        placement = self.settings.placement
        if placement is not Placement.LOCAL and not self.cloud_ready:
            self._ask_for_cloud(now, actions)
            if placement is Placement.SPLIT:
                return False
        if self.samples.again:
            place = ComputedOn.EDGE
        elif not self.samples.waiting:
            return False
        else:
            place = self._place(actions)
        if self.direct:  # (until a cloud that serves this robot answers)
            self._ask_for_cloud(now, actions)
        sample = self.samples.start(now, lambda sample_id, item, started: Sample(
            sample_id, item, started, SampleTimesteps(self.settings.num_timesteps)),
            track=place is ComputedOn.SPLIT)
        if sample is None:
            return False
        sample.place = place
        if placement is Placement.CASCADE and self.cloud_ready and not sample.fell_back \
                and self.settings.cascade_timesteps < self.settings.num_timesteps:
            sample.escalate_after = self.settings.cascade_timesteps
        if place is ComputedOn.SPLIT:
            self._address(sample)
            actions.append(StartSplit(sample))
        if not sample.fell_back:
            self.counters['samples_started'] += 1
            self.counters[f'placed_{place.name.lower()}'] += 1
        return True

    def _place(self, actions: list[Action]) -> ComputedOn:
        """Where the next new sample runs: the placement, or auto's rule."""
        placement = self.settings.placement
        if placement is not Placement.AUTO:
            return ComputedOn.SPLIT if placement is Placement.SPLIT else ComputedOn.EDGE
        last = self.placer.last
        place = self.placer.choose(self.cloud_ready)
        if place is not last and self.cloud_ready:
            expected = ', '.join(f'{p.name.lower()} {e[0] * 1e3:.0f} / {e[1] * 1e3:.0f} ms'
                                 for p in ComputedOn if (e := self.placer.expected(p)) is not None)
            actions.append(Log(f'placing samples {"here" if place is ComputedOn.EDGE else "split"}'
                               + (f' (expected median / p95: {expected})' if expected else '')))
        return place

    def _measured(self, sample: Sample[InputT], now: float, timesteps: int, used: int) -> None:
        """Tell auto's rule the sample's latency, the timesteps it `used`, the edge's energy.

        The energy is that of the `timesteps` computed for it, and of its bytes.
        """
        if self.settings.placement is not Placement.AUTO or sample.fell_back:
            return  # (a sample that fell back says what split cost: recorded at its deadline)
        if self.timestep_energy is None and self.energy_of is not None:
            # (once, on the first input answered: after its latency was taken, which it would
            # otherwise hold, as the latency of its place)
            self.timestep_energy = self.energy_of(sample.input)
        joules = None
        if (energy := self.timestep_energy) is not None:
            layers = 'all' if sample.place is ComputedOn.EDGE else self.settings.split_layers
            joules = energy[layers] * timesteps + float(radio_energy_j(
                8 * sample.bytes_up, self.settings.energy, 8 * sample.bytes_down))
        self.placer.measured(sample.place, now - sample.started, used, joules)

    def _ask_for_cloud(self, now: float, actions: list[Action]) -> None:
        """Say hello to the clouds listening (if due), and look again in a while."""
        if self.subscribers > 0 and now - self.last_hello >= HELLO_PERIOD:
            if self.hellos_from is None:
                self.hellos_from = self.samples.next_id
                actions.append(Log(f'asking for a cloud of model {self.settings.model_id}'))
            elif self.samples.next_id - self.hellos_from == UNANSWERED_HELLOS \
                    and not self.said_unanswered:
                self.said_unanswered = True
                actions.append(Log(
                    f'{UNANSWERED_HELLOS} hellos for model {self.settings.model_id} unanswered, '
                    f'though {self.subscribers} reader(s) hear the spikes: a cloud of another '
                    'model? (its log names both models; give both nodes the same checkpoint)',
                    True))
            actions.append(SayHello(self.samples.take_id()))
            self.last_hello = now
            self.counters['hellos_sent'] += 1
        if self.samples.waiting or self.subscribers > 0:
            self._retry_at = now + RETRY_PERIOD  # (else a subscriber's arrival wakes us)

    def _cloud_lost(self, why: str, now: float, actions: list[Action]) -> None:
        """Start no sample before a cloud answers a hello again."""
        if self.cloud_ready:
            actions.append(Log(f'{why}: asking for a cloud again before the next sample'))
            self.cloud_lost_at = now
        self.cloud_ready = False
        self.hellos_from = None
        self.last_hello = -math.inf

    def _ready(self, verdict: Verdict, wire_bytes: int, now: float,
               actions: list[Action]) -> None:
        """A cloud answered a hello of this round: samples may start."""
        if self.hellos_from is None \
                or not self.hellos_from <= verdict.sample_id < self.samples.next_id:
            self.counters['ready_unknown'] += 1  # an old round's, or not ours
            return
        self.cloud_ready = True
        self.said_unanswered = False
        self.cloud, self.direct, self.hedge = verdict.cloud, False, False
        self.suspects.discard(verdict.cloud)
        self.hellos_from = None
        self.placer.cloud_returned()
        actions.append(Log(f'a cloud of model {self.settings.model_id} takes samples'))
        self._step(now, actions)

    def _continue(self, verdict: Verdict, wire_bytes: int, now: float,
                  actions: list[Action]) -> None:
        """The cloud is not decided after verdict.timesteps_used and needs the next timestep."""
        sample = self.samples.pending.get(verdict.sample_id)
        used = verdict.timesteps_used
        if sample is None or not 1 <= used <= len(sample.timesteps.sent_at):
            self.counters['verdicts_unknown'] += 1  # late (answered meanwhile), or not ours
            return
        self.counters['verdicts_continue'] += 1
        self._answered_by(verdict.cloud, sample)
        sample.bytes_down += wire_bytes
        if verdict.timesteps_lost == 0 and \
                (seconds := sample.timesteps.round_trip(used, now)) is not None:
            self.round_trip.add(seconds)
        sample.timesteps.continued(used)
        self._update_due(sample)
        if sample is self.samples.current:
            self._step(now, actions)

    def _final(self, verdict: Verdict, wire_bytes: int, now: float,
               actions: list[Action]) -> None:
        """A final answer: the sample's outcome, if it fits this model and a pending sample."""
        self.counters['exit_signals'] += 1
        status = outcome(verdict.status)
        settings = self.settings
        problem = f'unknown status {verdict.status}' if status is None else answer_problem(
            verdict.label, verdict.confidence, verdict.probabilities, status == Status.OK.outcome,
            verdict.timesteps_used, verdict.timesteps_lost, settings.num_classes,
            settings.num_timesteps)
        if problem is not None or status is None:
            self.counters['answers_rejected'] += 1
            actions.append(Log(f'answer for sample {verdict.sample_id} rejected: {problem} '
                               'cannot come from this model', True))
            return
        sample = self.samples.answer(verdict.sample_id)
        if isinstance(sample, Unmatched):
            again = self.asked_again.get(verdict.sample_id)
            self.counters[ASKED_AGAIN[again] if again and sample is Unmatched.REPEATED
                          else UNMATCHED_COUNTERS[sample]] += 1
            return
        self._answered_by(verdict.cloud, sample)
        if sample.hedge:
            actions.append(Cancel(sample, verdict.cloud))
        timesteps = sample.timesteps
        used = verdict.timesteps_used
        ok = verdict.status == Status.OK
        if ok and verdict.timesteps_lost == 0 and 1 <= used <= len(timesteps.sent_at):
            if (seconds := timesteps.round_trip(used, now)) is not None:
                self.round_trip.add(seconds)
            self.continue_rates.add(used, verdict.reason == Reason.CONFIDENT)
        if sample is self.samples.current:
            self.counters['timesteps_saved'] += settings.num_timesteps - timesteps.next
            self._finished_sending(sample)
        sample.bytes_down += wire_bytes
        if ok:
            self._measured(sample, now, len(timesteps.sent_at), used)
        self._publish(sample, Outcome(verdict.label, verdict.confidence,
                                     list(verdict.probabilities), used, verdict.timesteps_lost,
                                     verdict.bytes_received, status), actions)

    def _answered_by(self, cloud: int, sample: Sample[InputT]) -> None:
        """The samples after go to the cloud that answered, unless it was suspected since."""
        if cloud and cloud not in self.suspects:
            self.cloud, self.hedge = cloud, False
            # (it took the robot without serving it: a hedge, or direct since)
            self.direct = sample.direct or sample.hedge and cloud != sample.cloud
        self.suspects.discard(cloud)

    def _finished_sending(self, sample: Sample[InputT]) -> None:
        """The sample needs nothing more from here: if it was the current one, on to the next."""
        if sample is not self.samples.current:
            return
        self.samples.done_sending(sample)
        self._pacing_at = None
        if self.samples.waiting:
            self._again = True

    def _publish(self, sample: Sample[InputT], answer: Outcome, actions: list[Action]) -> None:
        """The sample's one answer, counted by how it ended.

        A cloud answers a resent timestep of a sample it answered with its answer again, and
        a hedged sample may be answered by two clouds: such a second answer is told apart from
        one nothing explains (`answers_repeated`).
        """
        if sample.hedge or sample.timesteps.resent:
            self.asked_again.remember(sample.sample_id,
                                      'hedged' if sample.hedge else 'resent')
        actions.append(Publish(sample, answer))
        self.counters['samples_answered' if answer.label >= 0 else 'samples_cloud_unavailable'
                      if answer.status == CLOUD_UNAVAILABLE else 'samples_failed'] += 1
