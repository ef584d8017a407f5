"""A smoothed mean and mean deviation of measurements, as TCP keeps its round trip (RFC 6298).

The first measurement x sets the mean to x and the deviation to x / 2; each later one moves
the deviation by 1/4 of its distance from the mean and the mean by 1/8 of its own. The
edge's round trip (core/pacing.py) and its places' latency per timesteps used and energy
(core/placement.py) are kept so.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Smoothed:
    """The mean (None before any measurement) and the mean deviation (module docstring)."""

    value: float | None = None
    deviation: float = 0.0

    def add(self, sample: float) -> None:
        """Take one sample."""
        if self.value is None:
            self.value, self.deviation = sample, sample / 2
            return
        self.deviation += (abs(sample - self.value) - self.deviation) / 4
        self.value += (sample - self.value) / 8
