"""Placement: where the edge runs a sample, split with the cloud or whole on the edge.

The edge's `placement` parameter:

* `split`: every sample is split. One the cloud does not answer by its deadline fails
  (`cloud_unavailable`).
* `local`: every sample runs the whole network on the edge.
* `auto`: each new sample goes where the rule below says. A split sample the cloud does not
  answer by its deadline runs again on the edge, restarted from its input: the edge keeps the
  input, while the decoder and tail state it would need to go on lives in the cloud, and a
  restart costs little (the local early exit usually stops after one or two timesteps).
  So every sample gets a label.

The rule of `auto`, for each new sample:

1. While no cloud is known to take samples (none answered a hello since the last missed
   deadline), it runs on the edge. The hellos go on as the probe: the first READY makes
   split possible again, with what it cost before forgotten (rule 2), so that the next
   sample tries the cloud.
2. A place without a measurement gets the sample (split first), so that both are measured.
   A measurement is a sample's latency from its start to its answer, with the timesteps
   its early exit used; the latency holds everything that place costs (the link's delay,
   throughput and loss, the cloud's queue, the edge's compute), which is why the rule does
   not model them apart. How hard a sample is does not depend on where it runs (the same
   network with the same α exits after the same timestep in either place) but its latency
   does, steeply: most samples exit after one timestep, a few need all T, which costs a
   robot T times its first and a split only a few more of the cloud's. So a place is not
   judged by the latencies of its recent samples, which would judge it by how hard they
   happened to be: it keeps its latency per timesteps used, L(t) (the mean of its first
   eight samples, then smoothed with weight 1/8 as TCP estimates its round trip; a t not
   measured there is interpolated between the nearest measured, or scaled in proportion
   to t from the nearest), and the edge counts how many timesteps its samples use,
   wherever they ran (fading over about `memory` samples). A place's expected median and
   95th percentile latency are L at the median and at the 95th percentile of the
   timesteps used. The edge's energy per sample of each place is a smoothed mean.
3. With a `latency_budget` (seconds, 0: none), the place of lower edge energy among those
   whose expected 95th percentile is within the budget wins; if neither is, rule 4.
4. Without one, each place scores the larger of its expected median over the lower of the
   two places' and its 95th percentile over the lower of theirs (1: best at both), and
   the lower score wins, unless the two are within `margin` (a fraction) of each other:
   then the lower energy, or, before the energies are known, the last place. That band is
   also the hysteresis: a place is left only for one better by more than `margin` (or,
   under a budget, when it is expected above the budget by more than `margin`), so that
   noise does not make the choice flap.
5. A place not chosen for `refresh` samples gets the next one, and what that sample costs,
   against what L predicted for its timesteps, rescales the place's L at every t: a link
   that recovered, a busy cloud or a robot whose CPU is now throttled moves the cost of
   every timestep alike, and is so noticed at once, where a smoothed mean would take many
   refreshes to forget.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

from neucodex_ros.core.smoothed import Smoothed


class Placement(StrEnum):
    """The values of the edge's `placement` parameter."""

    SPLIT = 'split'
    LOCAL = 'local'
    AUTO = 'auto'
    CASCADE = 'cascade'  # here first; the cloud finishes what is not decided (core/edge_loop.py)


class ComputedOn(StrEnum):
    """Where a sample's answer was computed (Prediction.computed_on)."""

    SPLIT = 'both'  # head and encoder on the edge, decoder and tail on the cloud
    EDGE = 'edge'  # the whole network, on the edge


SETTLE = 8  # samples a place's latency at a t is a plain mean of, before it is smoothed


def _per_place() -> dict[ComputedOn, Smoothed]:
    return {place: Smoothed() for place in ComputedOn}


@dataclass
class Latencies:
    """A place's smoothed latency (seconds) per timesteps used, 1..T (rule 2)."""

    num_timesteps: int
    by_used: list[Smoothed] = field(default_factory=list)
    counts: list[int] = field(default_factory=list)  # samples taken per timesteps used

    def __post_init__(self) -> None:
        self.by_used = [Smoothed() for _ in range(self.num_timesteps)]
        self.counts = [0] * self.num_timesteps

    @property
    def measured(self) -> bool:
        """Whether any sample was measured here."""
        return any(s.value is not None for s in self.by_used)

    def add(self, used: int, seconds: float) -> None:
        """A sample that used `used` timesteps took `seconds`.

        The first SETTLE at a t are averaged alike, then smoothed: a smoothed mean would hold
        on to its first sample, taken perhaps while the robot was not yet what it is now.
        """
        index = _index(used, self.num_timesteps)
        self.counts[index] += 1
        smoothed, count = self.by_used[index], self.counts[index]
        if smoothed.value is None or count > SETTLE:
            smoothed.add(seconds)
        else:
            smoothed.value += (seconds - smoothed.value) / count

    def at(self, used: int) -> float | None:
        """L(used): measured, else interpolated or scaled from the nearest (None: no sample)."""
        points = [(t, s.value) for t, s in enumerate(self.by_used, 1) if s.value is not None]
        below = [p for p in points if p[0] <= used]
        above = [p for p in points if p[0] >= used]
        if below and above:
            (t0, v0), (t1, v1) = below[-1], above[0]
            return v0 if t1 == t0 else v0 + (v1 - v0) * (used - t0) / (t1 - t0)
        if not points:
            return None
        t0, v0 = below[-1] if below else above[0]
        return v0 * used / t0

    def rescale(self, used: int, seconds: float) -> None:
        """Every L(t) by the factor that makes L(used) what a sample took now (rule 5)."""
        if (before := self.at(used)) is None or before <= 0:
            self.add(used, seconds)
            return
        for smoothed in self.by_used:
            if smoothed.value is not None:
                smoothed.value *= seconds / before
                smoothed.deviation *= seconds / before


@dataclass
class TimestepsUsed:
    """How many timesteps recent samples used, wherever they ran: counts fading per sample."""

    num_timesteps: int
    memory: float = 50.0  # samples
    counts: list[float] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.counts = [0.0] * self.num_timesteps

    def add(self, used: int) -> None:
        """A sample used `used` timesteps."""
        self.counts = [c * (1 - 1 / self.memory) for c in self.counts]
        self.counts[_index(used, self.num_timesteps)] += 1

    def quantile(self, q: float) -> int:
        """The fewest timesteps that at least a fraction q of the samples needed (1: none)."""
        total, running = sum(self.counts), 0.0
        for t, count in enumerate(self.counts, 1):
            running += count
            if running >= q * total and running > 0:
                return t
        return 1


def _index(used: int, num_timesteps: int) -> int:
    if not 1 <= used <= num_timesteps:
        raise ValueError(f'timesteps used must be 1..{num_timesteps}, got {used}')
    return used - 1


def _ratio(value: float, best: float) -> float:
    return 1.0 if value <= best else math.inf if best <= 0 else value / best


@dataclass
class Placer:
    """The `auto` rule (module docstring), with its estimates."""

    num_timesteps: int
    latency_budget: float = 0.0  # seconds; 0: none
    margin: float = 0.1
    refresh: int = 50
    memory: float = 50.0  # samples the timesteps used are counted over
    latency: dict[ComputedOn, Latencies] = field(default_factory=dict)
    energy: dict[ComputedOn, Smoothed] = field(default_factory=_per_place)  # edge J per sample
    used: TimestepsUsed = field(init=False)
    last: ComputedOn | None = None
    unchosen: dict[ComputedOn, int] = field(default_factory=lambda: dict.fromkeys(ComputedOn, 0))
    refreshing: set[ComputedOn] = field(default_factory=set)  # its next measurement rescales

    def __post_init__(self) -> None:
        if self.latency_budget < 0 or self.margin < 0 or self.refresh < 1 or self.memory < 1:
            raise ValueError('latency_budget and margin must be >= 0, refresh and memory >= 1')
        self.latency = {place: Latencies(self.num_timesteps) for place in ComputedOn}
        self.used = TimestepsUsed(self.num_timesteps, self.memory)

    def measured(self, place: ComputedOn, seconds: float, used: int,
                 joules: float | None = None) -> None:
        """A sample placed there took `seconds` from its start to its answer, `used` timesteps.

        (And the edge `joules`.)
        """
        if place in self.refreshing:
            self.refreshing.discard(place)
            self.latency[place].rescale(used, seconds)
            self.energy[place] = Smoothed()
        else:
            self.latency[place].add(used, seconds)
        self.used.add(used)
        if joules is not None:
            self.energy[place].add(joules)

    def cloud_returned(self) -> None:
        """A cloud takes samples again (rule 1): what split cost before says nothing now."""
        self.latency[ComputedOn.SPLIT] = Latencies(self.num_timesteps)

    def expected(self, place: ComputedOn) -> tuple[float, float] | None:
        """The place's expected median and 95th percentile latency (seconds), if measured."""
        latency = self.latency[place]
        median, tail = latency.at(self.used.quantile(0.5)), latency.at(self.used.quantile(0.95))
        return None if median is None or tail is None else (median, tail)

    def choose(self, cloud_ready: bool) -> ComputedOn:
        """Where the next sample runs."""
        if not cloud_ready:
            place = ComputedOn.EDGE
        elif unmeasured := [p for p in ComputedOn if not self.latency[p].measured]:
            place = unmeasured[0]
        elif stale := [p for p in ComputedOn if self.unchosen[p] >= self.refresh]:
            place = stale[0]
            self.refreshing.add(place)
        else:
            place = self._better()
        for other in ComputedOn:
            self.unchosen[other] = 0 if other is place else self.unchosen[other] + 1
        self.last = place
        return place

    def _better(self) -> ComputedOn:
        """Rules 3 and 4, both places measured."""
        expected = {p: e for p in ComputedOn if (e := self.expected(p)) is not None}
        energy = {p: s.value for p, s in self.energy.items() if s.value is not None}
        slack = 1 + self.margin
        if self.latency_budget and len(energy) == 2:
            within = [p for p in ComputedOn if expected[p][1] <= self.latency_budget
                      * (slack if p is self.last else 1)]
            if within:
                return min(within, key=energy.__getitem__)
        best = [min(e[i] for e in expected.values()) for i in (0, 1)]
        score = {p: max(_ratio(e[0], best[0]), _ratio(e[1], best[1]))
                 for p, e in expected.items()}
        better = min(score, key=score.__getitem__)
        worse = max(score, key=score.__getitem__)
        if score[worse] > score[better] * slack:
            return better
        if len(energy) == 2:
            return min(energy, key=energy.__getitem__)
        return self.last or better
