"""The edge's samples from input to outcome: queue, start, deadline, exactly one end each.

Pure bookkeeping with injected time, as core/reorder.py is for the cloud; the edge node is
the adapter that computes, sends and publishes. The rules:

* An input waits in a queue of `queue_size`; when it is full the oldest waiting input is
  dropped, so the edge works on recent input. `queue_size` 0 drops every input that arrives
  while a sample is being sent or another input waits.
* The oldest waiting input starts once no sample is being sent (`current`; the adapter says
  when it is done with one, `done_sending`). A sample whose answer comes from elsewhere
  (`track`) is pending until exactly one end: its answer (`answer`), or its deadline
  (`overdue`): `due`, `deadline` seconds after its start unless the adapter brings it
  forward (core/deadline.py).
* A sample that ended at its deadline may run again on the edge (`fall_back`): it goes
  before every waiting input, keeps its id and start (so its latency counts the wait), and
  is not pending again; the cloud's answer to it, should one still come, is late.
* An answer for a sample no longer pending is told apart: after the deadline (late), a
  second one (repeated), or for a sample not started here (unknown). The ends of the last
  MEMORY samples are remembered for that (core/recent.py).
* Sample ids increase from `first_id` and are never reused; hellos take ids too (`take_id`).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from enum import StrEnum
from typing import Generic, Protocol, TypeVar

from neucodex_ros.core.recent import Recent


class Started(Protocol):
    """What the bookkeeping reads of the adapter's sample."""

    sample_id: int
    started: float  # the time it started, on the clock `now` is read from
    due: float  # its deadline, on that clock


class Unmatched(StrEnum):
    """Why an answer matched no pending sample."""

    LATE = 'late'  # its sample ended at the deadline
    REPEATED = 'repeated'  # its sample was answered already
    UNKNOWN = 'unknown'  # not a sample of this edge (or long forgotten)


InputT = TypeVar('InputT')
SampleT = TypeVar('SampleT', bound=Started)


class EdgeSamples(Generic[InputT, SampleT]):
    """The queue, the current sample and the pending ones of one edge (module docstring)."""

    def __init__(self, queue_size: int, deadline: float, first_id: int) -> None:
        if queue_size < 0 or deadline <= 0:
            raise ValueError('queue_size must be >= 0 and deadline > 0')
        self.queue_size, self.deadline = queue_size, deadline
        self.waiting: deque[InputT] = deque()
        self.again: deque[SampleT] = deque()  # ended at the deadline, to run on the edge
        self.current: SampleT | None = None  # being computed and sent
        self.pending: dict[int, SampleT] = {}  # started in order, not yet ended
        self._ended: Recent[int, bool] = Recent()  # sample_id → by the deadline
        self._next_id = first_id

    def offer(self, item: InputT) -> int:
        """Queue an input; how many inputs this dropped (0 or 1)."""
        if self.queue_size == 0 and (self.current is not None or self.waiting):
            return 1
        self.waiting.append(item)
        if len(self.waiting) > max(self.queue_size, 1):
            self.waiting.popleft()
            return 1
        return 0

    def take_id(self) -> int:
        """A fresh sample id."""
        self._next_id += 1
        return self._next_id - 1

    @property
    def next_id(self) -> int:
        """The id the next sample or hello will take."""
        return self._next_id

    def start(self, now: float, make: Callable[[int, InputT, float], SampleT],
              track: bool = True) -> SampleT | None:
        """Start the oldest waiting input as the current sample, if none is being sent.

        `make(sample_id, input, now)` builds the adapter's sample; `track: False` for one
        answered here (it has no deadline).
        """
        if self.current is not None:
            return None
        if self.again:
            self.current = self.again.popleft()
            return self.current
        if not self.waiting:
            return None
        sample = make(self.take_id(), self.waiting.popleft(), now)
        sample.due = now + self.deadline
        self.current = sample
        if track:
            self.pending[sample.sample_id] = sample
        return sample

    def track(self, sample: SampleT) -> None:
        """The current sample, started untracked, now waits for an answer from elsewhere."""
        self.pending[sample.sample_id] = sample

    def done_sending(self, sample: SampleT) -> None:
        """The sample needs nothing more from the edge (all sent, or it ended)."""
        if self.current is sample:
            self.current = None

    def answer(self, sample_id: int) -> SampleT | Unmatched:
        """The pending sample an answer ends, or why there is none."""
        sample = self.pending.pop(sample_id, None)
        if sample is None:
            by_deadline = self._ended.get(sample_id)
            return Unmatched.UNKNOWN if by_deadline is None else \
                Unmatched.LATE if by_deadline else Unmatched.REPEATED
        self.ended(sample_id)
        return sample

    def ended(self, sample_id: int, by_deadline: bool = False) -> None:
        """Remember how a sample ended (answered, here or by the cloud, or at its deadline)."""
        self._ended.remember(sample_id, by_deadline)

    def overdue(self, now: float) -> list[SampleT]:
        """End and return the pending samples whose deadline has passed, oldest first."""
        late = [s for s in self.pending.values() if now >= s.due]
        for sample in late:
            del self.pending[sample.sample_id]
            self.ended(sample.sample_id, by_deadline=True)
        return late

    def fall_back(self, sample: SampleT) -> None:
        """Run a sample that ended at its deadline again, on the edge, before any other."""
        self.again.append(sample)

    def next_deadline(self) -> float | None:
        """When the first pending sample's deadline passes."""
        return min((s.due for s in self.pending.values()), default=None)
