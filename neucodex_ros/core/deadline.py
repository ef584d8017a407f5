"""When a split sample is overdue: a few measured round trips without an answer, as TCP's timeout.

A cloud answers a timestep that asked for a verdict (or the last of T) about one round trip
after it was sent, having computed it and the timesteps before it one after another; so the
first answer due, about the k-th timestep not answered yet, is due within k round trips of
that timestep's send (core/pacing.SampleTimesteps.unanswered). The round trip's
timeout is RFC 6298's (smoothed round trip + 4 × its mean deviation, core/pacing.RoundTrip);
the pacing resends the last timestep once it passes, and the sample counts as overdue when
the resend's doubled timeout passed too:

    due = sent(the timestep the answer is about) + max(floor, PATIENCE × timeout × k),

never later than `ceiling` after the sample's start (the `deadline` parameter), which is
also the whole deadline while no answer is due (the edge is computing the next timestep, or
streams timesteps that ask for none). A dead cloud is so noticed in about three round
trips, where a fixed deadline had to allow for the slowest sample the cloud ever answers.
"""

from __future__ import annotations

from dataclasses import dataclass

from neucodex_ros.core.pacing import RoundTrip, SampleTimesteps

PATIENCE = 3  # timeouts: the first, then the resend's doubled one


@dataclass(frozen=True)
class Deadline:
    """The rule of the module docstring: `floor` and `ceiling` in seconds."""

    floor: float
    ceiling: float

    def __post_init__(self) -> None:
        if not 0 < self.floor <= self.ceiling:
            raise ValueError(f'need 0 < floor <= ceiling, got {self.floor}, {self.ceiling}')

    def due(self, started: float, timesteps: SampleTimesteps, round_trip: RoundTrip) -> float:
        """When the sample is overdue (monotonic seconds)."""
        ceiling = started + self.ceiling
        if (unanswered := timesteps.unanswered()) is None:
            return ceiling
        sent, waiting = unanswered
        return min(ceiling, sent + max(self.floor, PATIENCE * round_trip.timeout * waiting))

    def at_ceiling(self, started: float, now: float) -> bool:
        """Whether the sample's whole deadline passed."""
        return now >= started + self.ceiling
