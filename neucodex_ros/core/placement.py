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
   A measurement is a sample's latency from its start to its answer; it holds everything
   that place costs (the link's delay, throughput and loss, the cloud's queue, the edge's
   compute, the early exit), which is why the rule does not model them apart. A place's
   expected latency is the smoothed mean plus twice the smoothed deviation (weights 1/8
   and 1/4, as TCP estimates its round trip): a place that is fast on average but often
   slow (an edge whose CPU is throttled) counts as slow as its tail. The edge's energy per
   sample of each place is a smoothed mean.
3. With a `latency_budget` (seconds, 0: none), the place of lower edge energy among those
   expected within the budget wins; if neither is, the faster.
4. Without one, the faster place wins, unless the two are within `margin` (a fraction) of
   each other: then the lower energy, or, before the energies are known, the last place.
   That band is also the hysteresis: a place is left only for one faster by more than
   `margin` (or, under a budget, when it is expected above the budget by more than
   `margin`), so that noise does not make the choice flap.
5. A place not chosen for `refresh` samples in a row gets the next one, and what that
   sample costs replaces the place's old estimates: a link that recovered is noticed at
   once (a busy cloud too), where a smoothed mean would take many refreshes to forget.
"""

from __future__ import annotations

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


def _per_place() -> dict[ComputedOn, Smoothed]:
    return {place: Smoothed() for place in ComputedOn}


@dataclass
class Placer:
    """The `auto` rule (module docstring), with its estimates."""

    latency_budget: float = 0.0  # seconds; 0: none
    margin: float = 0.1
    refresh: int = 50
    latency: dict[ComputedOn, Smoothed] = field(default_factory=_per_place)
    energy: dict[ComputedOn, Smoothed] = field(default_factory=_per_place)  # edge J per sample
    last: ComputedOn | None = None
    unchosen: dict[ComputedOn, int] = field(default_factory=lambda: dict.fromkeys(ComputedOn, 0))
    refreshing: set[ComputedOn] = field(default_factory=set)  # its next measurement starts afresh

    def __post_init__(self) -> None:
        if self.latency_budget < 0 or self.margin < 0 or self.refresh < 1:
            raise ValueError('latency_budget and margin must be >= 0, refresh >= 1')

    def measured(self, place: ComputedOn, seconds: float, joules: float | None = None) -> None:
        """A sample placed there took `seconds` from its start to its answer (and `joules`)."""
        if place in self.refreshing:
            self.refreshing.discard(place)
            self.latency[place], self.energy[place] = Smoothed(), Smoothed()
        self.latency[place].add(seconds)
        if joules is not None:
            self.energy[place].add(joules)

    def cloud_returned(self) -> None:
        """A cloud takes samples again (rule 1): what split cost before says nothing now."""
        self.latency[ComputedOn.SPLIT] = Smoothed()

    def choose(self, cloud_ready: bool) -> ComputedOn:
        """Where the next sample runs."""
        if not cloud_ready:
            place = ComputedOn.EDGE
        elif unmeasured := [p for p in ComputedOn if self.latency[p].value is None]:
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
        latency = {p: s.tail for p, s in self.latency.items() if s.tail is not None}
        energy = {p: s.value for p, s in self.energy.items() if s.value is not None}
        slack = 1 + self.margin
        faster = min(latency, key=latency.__getitem__)
        if self.latency_budget and len(energy) == 2:
            within = [p for p in ComputedOn if latency[p] <= self.latency_budget
                      * (slack if p is self.last else 1)]
            if within:
                return min(within, key=energy.__getitem__)
            return faster
        slower = max(latency, key=latency.__getitem__)
        if latency[slower] > latency[faster] * slack:
            return faster
        if len(energy) == 2:
            return min(energy, key=energy.__getitem__)
        return self.last or faster
