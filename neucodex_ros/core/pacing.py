"""Pacing: when the edge computes and sends a sample's next timestep.

After a timestep the cloud either decides (its ExitSignal carries the answer) or, when the
edge asked (PackedSpikes.FLAG_VERDICT), says it needs the next one (REASON_CONTINUE). A
timestep the edge computes before that verdict is a bet: if the cloud then exits, the edge's
compute and radio for it were wasted; if the cloud continues, the timestep reaches it a round
trip sooner than if the edge had waited.

The adaptive rule, for the next timestep k of a sample (0-based):

- timestep 0, and any timestep the cloud asked for, is computed at once; the edge asks for
  a verdict on a timestep when it will wait for one, i.e. unless it would bet on the next
  timestep as soon as this one is out;
- any other is a bet that the cloud continues after every timestep from the last one it
  asked for up to k − 1. With p the chance of that (the product of the continue rates that
  this edge observed in its recent answers, `ContinueRates`) and w the time left until the
  verdict on timestep k − 1 is due (its send time + the smoothed round trip − now), the edge
  computes timestep k now iff

        p · w  ≥  (1 − p) · c

  where c (`timestep_cost`, seconds) is what one wasted timestep is worth in latency; else it
  waits for the verdict. c = 0 streams every timestep as fast as the edge computes them;
  c = ∞ never bets (stop-and-wait: the edge computes exactly the timesteps the cloud uses,
  each costing a round trip);
- the verdict is the acknowledgement: when it is overdue by the retransmission timeout
  (smoothed round trip + 4 × its deviation, as TCP computes it, once per timestep the cloud
  computes before it answers, doubled after every resend) the edge sends its last timestep
  again, marked as a resend, and the cloud answers a resend
  with its latest verdict on the sample. A lost timestep or verdict (best-effort QoS, or a
  cloud that restarted and had not matched yet, which loses messages even over reliable QoS)
  so costs one timeout and a few bytes, never a timestep computed for nothing; a merely
  slow cloud gets a repeat it drops. Round trips of resent timesteps are not sampled (Karn).

The clock rule (`ClockPacing`) is the fixed timestep clock: one timestep per period, no
verdicts asked for, no resends.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

from neucodex_ros.core.smoothed import Smoothed

#: The pacing rules an edge can use (its `pacing` parameter).
PACINGS = ('adaptive', 'clock')


@dataclass
class RoundTrip:
    """Smoothed round trip to the cloud and its deviation (core/smoothed.py, as TCP's).

    A sample is the time from sending a timestep to receiving the cloud's verdict on it, on
    the edge's own monotonic clock; it includes the cloud's compute and queueing.
    """

    initial: float = 0.1  # seconds assumed before the first sample
    min_timeout: float = 0.05  # seconds: the timeout never goes below this
    measured: Smoothed = field(default_factory=Smoothed)
    samples: int = 0

    def add(self, seconds: float) -> None:
        """Take one round-trip sample (seconds); negative ones are ignored."""
        if seconds >= 0:
            self.measured.add(seconds)
            self.samples += 1

    @property
    def smoothed(self) -> float | None:
        """The smoothed round trip (seconds), None before any sample."""
        return self.measured.value

    @property
    def deviation(self) -> float:
        """Its smoothed mean deviation (seconds)."""
        return self.measured.deviation

    @property
    def estimate(self) -> float:
        """The expected round trip (seconds)."""
        return self.initial if self.smoothed is None else self.smoothed

    @property
    def timeout(self) -> float:
        """How long a verdict may take before it counts as overdue (seconds)."""
        if self.smoothed is None:
            return max(2 * self.initial, self.min_timeout)
        return max(self.smoothed + 4 * self.deviation, self.min_timeout)


@dataclass
class ContinueRates:
    """How often the cloud needed timestep t + 1 after using timestep t, in recent samples.

    Counts fade by `1 / memory` per sample, so the rates follow a changing α or scene;
    `prior` (continues, stops) keeps an unseen timestep at a neutral rate.
    """

    num_timesteps: int
    memory: float = 50.0  # samples
    prior: tuple[float, float] = (1.0, 1.0)
    _continued: list[float] = field(default_factory=list, repr=False)
    _seen: list[float] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        if self.num_timesteps < 1 or self.memory < 1:
            raise ValueError('num_timesteps and memory must be >= 1')
        self._continued = [0.0] * self.num_timesteps
        self._seen = [0.0] * self.num_timesteps

    def add(self, used: int, confident: bool) -> None:
        """A sample ended after `used` timesteps, by confidence or by reaching T.

        It continued after timesteps 0..used − 2, and stopped after used − 1 if confident
        (reaching T says nothing about stopping).
        """
        if not 1 <= used <= self.num_timesteps:
            raise ValueError(f'used must be 1..{self.num_timesteps}, got {used}')
        fade = 1 - 1 / self.memory
        self._continued = [c * fade for c in self._continued]
        self._seen = [s * fade for s in self._seen]
        for t in range(used - 1):
            self._continued[t] += 1
            self._seen[t] += 1
        if confident:
            self._seen[used - 1] += 1

    def rate(self, timestep: int) -> float:
        """Chance that the cloud needs timestep + 1 after using `timestep`."""
        if timestep >= self.num_timesteps - 1:
            return 0.0
        a, b = self.prior
        return (self._continued[timestep] + a) / (self._seen[timestep] + a + b)

    def chance(self, first: int, last: int) -> float:
        """Chance that the cloud continues after every timestep first..last (1 if none)."""
        return math.prod(self.rate(t) for t in range(first, last + 1))


@dataclass
class SampleTimesteps:
    """What the edge knows of one sample's timesteps: when each was sent, which are needed."""

    num_timesteps: int
    sent_at: list[float] = field(default_factory=list)  # first send, monotonic s, per timestep
    needed: int = 1  # the cloud needs timesteps 0..needed − 1 (it always needs the first)
    resent: set[int] = field(default_factory=set)  # timesteps sent more than once
    last_send: float = 0.0  # when the last timestep was last (re)sent
    resends: int = 0  # times the last timestep was resent
    asked: bool = True  # whether the last timestep asked for a verdict
    asks: list[bool] = field(default_factory=list)  # per timestep: whether it asked
    verdicted: int = 0  # timesteps the cloud working on it said it used (none after a hedge)

    @property
    def next(self) -> int:
        """The next timestep to compute."""
        return len(self.sent_at)

    @property
    def all_sent(self) -> bool:
        """Whether every timestep 0..T − 1 was sent."""
        return len(self.sent_at) >= self.num_timesteps

    def sent(self, now: float, asked: bool = True) -> None:
        """The next timestep went out at `now`, asking for a verdict or not."""
        self.sent_at.append(now)
        self.asks.append(asked)
        self.last_send, self.resends, self.asked = now, 0, asked

    def resent_last(self, now: float) -> None:
        """The last timestep went out again at `now`."""
        self.resent.add(len(self.sent_at) - 1)
        self.last_send = now
        self.resends += 1

    def round_trip(self, used: int, now: float) -> float | None:
        """Seconds from sending timestep used − 1 to its verdict at `now`; None if resent."""
        if not 1 <= used <= len(self.sent_at) or used - 1 in self.resent:
            return None
        return now - self.sent_at[used - 1]

    def continued(self, used: int) -> None:
        """The cloud used `used` timesteps, is not decided, and needs the next one."""
        self.needed = max(self.needed, min(used + 1, self.num_timesteps))
        self.verdicted = max(self.verdicted, min(used, len(self.sent_at)))

    def hedged(self, now: float, asked: bool) -> None:
        """Every timestep sent went again at `now`, in one message, to a cloud that used none.

        The message asked for a verdict after its last timestep or not; their round trips are
        not sampled (Karn).
        """
        count = len(self.sent_at)
        self.sent_at = [now] * count
        self.asks = [False] * (count - 1) + [asked]
        self.resent.update(range(count))
        self.last_send, self.resends, self.asked, self.verdicted = now, 0, asked, 0

    def unanswered(self) -> tuple[float, int] | None:
        """The first answer due: when the timestep it is about was sent, and how many before.

        The cloud answers a timestep that asked for a verdict, and the last of T, once it has
        computed it and every one before it not yet answered. None while no answer is due
        (the edge acts next, or streams on without asking).
        """
        for index in range(self.verdicted, len(self.sent_at)):
            if self.asks[index] or index == self.num_timesteps - 1:
                return self.sent_at[index], index - self.verdicted + 1
        return None


@dataclass(frozen=True)
class Step:
    """What to do for a sample, and when (a time ≤ now: at once)."""

    at: float  # monotonic seconds; inf: only when a verdict comes
    resend: bool = False  # send the last timestep again, instead of computing the next


class Pacing(Protocol):
    """A pacing rule: when to compute a sample's next timestep, or resend its last."""

    def asks_verdict(self, sample: SampleTimesteps, count: int = 1) -> bool:
        """Whether the `count` timesteps about to be sent should ask for a verdict after them."""

    def next_step(self, sample: SampleTimesteps, now: float) -> Step | None:
        """The sample's next step, or None: all T were sent.

        A step later than now holds unless a verdict comes first, which asks again.
        """


@dataclass
class ClockPacing:
    """The fixed timestep clock: timestep k + 1 one `period` after timestep k."""

    period: float

    def asks_verdict(self, sample: SampleTimesteps, count: int = 1) -> bool:
        """See Pacing: the clock does not listen."""
        return False

    def next_step(self, sample: SampleTimesteps, now: float) -> Step | None:
        """See Pacing."""
        if sample.all_sent:
            return None
        return Step(now if not sample.sent_at else sample.sent_at[-1] + self.period)


@dataclass
class AdaptivePacing:
    """The cost rule of the module docstring, over measured round trips and continue rates."""

    timestep_cost: float  # seconds of latency one wasted timestep is worth; inf: never bet
    round_trip: RoundTrip
    rates: ContinueRates

    def asks_verdict(self, sample: SampleTimesteps, count: int = 1) -> bool:
        """See Pacing: unless the bet on the timestep after them pays at once."""
        k = sample.next + count - 1  # the last about to be sent
        if k + 1 >= sample.num_timesteps:
            return False  # the last: the answer comes anyway
        return not self._pays(self.rates.chance(sample.needed - 1, k), self.round_trip.estimate)

    def next_step(self, sample: SampleTimesteps, now: float) -> Step | None:
        """See Pacing."""
        if sample.all_sent:
            return None
        # (a timestep sent without asking for a verdict committed the edge to the next)
        if sample.next < sample.needed or not sample.asked or self.bet(sample, now):
            return Step(now)
        waiting = unanswered[1] if (unanswered := sample.unanswered()) is not None else 1
        return Step(sample.last_send + self.round_trip.timeout * waiting * 2 ** sample.resends,
                    resend=True)

    def bet(self, sample: SampleTimesteps, now: float) -> bool:
        """Whether computing the next timestep before the cloud asked for it pays (the rule)."""
        k = sample.next
        wait = max(0.0, sample.sent_at[k - 1] + self.round_trip.estimate - now)
        return self._pays(self.rates.chance(sample.needed - 1, k - 1), wait)

    def _pays(self, p: float, wait: float) -> bool:
        """The rule: a timestep needed with chance p, saving `wait` seconds if it is."""
        if math.isinf(self.timestep_cost):
            return p >= 1.0
        return p * wait >= (1 - p) * self.timestep_cost
