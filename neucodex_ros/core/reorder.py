"""Putting one sample's timesteps back in order, over a link that may lose, repeat or reorder.

The rule the cloud applies (README, "Lost, repeated and reordered timesteps"):

- timesteps are used in order, each at most once: a repeat, or one older than a timestep
  already used, is dropped;
- a timestep that arrives ahead of the next one expected waits for the missing ones for at
  most `wait` seconds from its arrival; then they count as lost and the sample goes on
  without them (its neurons simply see no input for them);
- the sample is complete when its last timestep, T − 1, has been used or counted lost;
- a sample whose timesteps stop coming is given up: what is held is used, the rest is lost.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Generic, TypeVar

Item = TypeVar('Item')


@dataclass
class TimestepOrder(Generic[Item]):
    """One sample's timesteps 0..T−1 in, the usable ones out in order (see the module)."""

    num_timesteps: int
    wait: float  # seconds a timestep waits for the missing ones before it
    next_timestep: int = 0  # every timestep before this one was used or lost
    lost: int = 0
    _held: dict[int, tuple[float, Item]] = field(default_factory=dict, repr=False)

    def add(self, timestep: int, item: Item, now: float) -> bool:
        """Take a timestep that arrived at `now`; False if it is a repeat or too late."""
        if not 0 <= timestep < self.num_timesteps:
            raise ValueError(f'timestep {timestep} is outside 0..{self.num_timesteps - 1}')
        if timestep < self.next_timestep or timestep in self._held:
            return False
        self._held[timestep] = (now, item)
        return True

    def ready(self, now: float) -> list[tuple[int, Item]]:
        """The timesteps that may be used now, in order; skips missing ones waited for enough."""
        out = []
        while self._held:
            if self.next_timestep in self._held:
                out.append((self.next_timestep, self._held.pop(self.next_timestep)[1]))
                self.next_timestep += 1
                continue
            first = min(self._held)
            if now - self._held[first][0] < self.wait:
                break
            self.lost += first - self.next_timestep
            self.next_timestep = first
        return out

    def give_up(self) -> list[tuple[int, Item]]:
        """Everything held, in order, without waiting; every timestep not held is lost."""
        out = self.ready(float('inf'))
        self.lost += self.num_timesteps - self.next_timestep
        self.next_timestep = self.num_timesteps
        return out

    @property
    def waiting(self) -> bool:
        """Whether timesteps are held for missing ones (ready() may release them later)."""
        return bool(self._held)

    @property
    def complete(self) -> bool:
        """Whether every timestep was used or counted lost."""
        return self.next_timestep >= self.num_timesteps
