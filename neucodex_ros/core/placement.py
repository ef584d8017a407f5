"""Placement: where the edge runs a sample, split with the cloud or whole on the edge.

The edge's `placement` parameter:

* `split`: every sample is split. One the cloud does not answer by its deadline fails
  (`cloud_unavailable`).
* `local`: every sample runs the whole network on the edge.
* `auto`: each new sample goes where the rule below says. A split sample the cloud does not
  answer by its deadline runs again on the edge, restarted from its input (the edge keeps
  the input, not the state of a decoder and tail it never ran), so every sample gets a label.

The rule of `auto`, for each new sample:

1. While no cloud is known to take samples (none answered a hello since the last missed
   deadline), it runs on the edge. The hellos go on as the probe: the first READY makes
   split possible again, with split's latency forgotten (back to its prior), so that the
   next sample tries the cloud.
2. Otherwise each place has an expected latency: the smoothed latency (start → answer,
   weight 1/8 per sample) of its recent samples, or, before it has one, its prior.
3. If both are within `latency_budget` and both edge energies per sample are known, the
   lower energy wins; if only one place is within the budget, that one; otherwise the
   faster.
4. Hysteresis: the last sample's place is kept unless the other wins by more than `margin`
   (a fraction) on what decided, so that noise does not make it flap.
5. A place not chosen for `refresh` samples in a row gets the next one, so that its latency
   is measured again (a link that recovered is noticed, a busy cloud too).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum


class Placement(StrEnum):
    """The values of the edge's `placement` parameter."""

    SPLIT = 'split'
    LOCAL = 'local'
    AUTO = 'auto'


class Place(StrEnum):
    """Where a sample's answer was computed (Prediction.computed_on)."""

    EDGE = 'edge'  # the whole network, on the edge
    SPLIT = 'both'  # head and encoder on the edge, decoder and tail on the cloud


@dataclass
class Smoothed:
    """An exponentially weighted mean (weight 1/8 per sample), None before the first."""

    value: float | None = None

    def add(self, sample: float) -> None:
        """Take one sample."""
        self.value = sample if self.value is None else self.value + (sample - self.value) / 8


@dataclass
class Placer:
    """The `auto` rule (module docstring), with its estimates."""

    latency_budget: float  # seconds
    prior: dict[Place, float]  # expected latency (s) of each place before it is measured
    energy: dict[Place, float] = field(default_factory=dict)  # edge J per sample, if known
    margin: float = 0.2
    refresh: int = 50
    latency: dict[Place, Smoothed] = field(
        default_factory=lambda: {place: Smoothed() for place in Place})
    last: Place | None = None
    unchosen: dict[Place, int] = field(default_factory=lambda: dict.fromkeys(Place, 0))

    def measured(self, place: Place, seconds: float) -> None:
        """A sample placed there took `seconds` from its start to its answer."""
        self.latency[place].add(seconds)

    def cloud_returned(self) -> None:
        """A cloud takes samples again (rule 1): what split cost before says nothing now."""
        self.latency[Place.SPLIT] = Smoothed()

    def expected(self, place: Place) -> float:
        """The expected latency of a place (seconds)."""
        value = self.latency[place].value
        return self.prior[place] if value is None else value

    def choose(self, cloud_ready: bool) -> Place:
        """Where the next sample runs."""
        if not cloud_ready:
            place = Place.EDGE
        elif stale := [p for p in Place if self.unchosen[p] >= self.refresh]:
            place = stale[0]
        else:
            place = self._better()
        for other in Place:
            self.unchosen[other] = 0 if other is place else self.unchosen[other] + 1
        self.last = place
        return place

    def _better(self) -> Place:
        """Rules 3 and 4 between the two places."""
        split, edge = self.expected(Place.SPLIT), self.expected(Place.EDGE)
        within = {p for p, s in ((Place.SPLIT, split), (Place.EDGE, edge))
                  if s <= self.latency_budget}
        if len(within) == 2 and len(self.energy) == 2:
            cost = self.energy  # both fast enough: the edge's energy decides
        elif len(within) == 1:
            return within.pop()
        else:
            cost = {Place.SPLIT: split, Place.EDGE: edge}
        best = min(cost, key=lambda p: cost[p])
        if self.last is None or best is self.last:
            return best
        return best if cost[best] * (1 + self.margin) < cost[self.last] else self.last
