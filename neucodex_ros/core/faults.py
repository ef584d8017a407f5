"""Seeded link faults (drop, duplicate, reorder, delay) for testing the split's reliability.

The fault relay node applies these rules to every message between edge and cloud; being a
pure function of a seeded generator, the same seed gives the same faults for the same stream.
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class FaultRules:
    """What may happen to each message, independently, with these probabilities."""

    drop: float = 0.0
    duplicate: float = 0.0  # a second copy goes out (delayed like the first)
    reorder: float = 0.0  # held `reorder_delay` longer, so that later messages overtake it
    delay: float = 0.0  # seconds every copy is held
    reorder_delay: float = 0.05

    def __post_init__(self) -> None:
        for name in ('drop', 'duplicate', 'reorder'):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f'{name} is a probability, got {getattr(self, name)}')
        if self.delay < 0 or self.reorder_delay < 0:
            raise ValueError('delays are >= 0 seconds')

    def plan(self, rng: random.Random) -> list[float]:
        """The delays (s) after which copies of one message go out: none if it is dropped."""
        if rng.random() < self.drop:
            return []
        copies = 2 if rng.random() < self.duplicate else 1
        return [self.delay + (self.reorder_delay if rng.random() < self.reorder else 0.0)
                for _ in range(copies)]
