"""core/edge_samples.py: every transition of an edge's samples, with time injected."""

from __future__ import annotations

from dataclasses import dataclass, field

import pytest

from neucodex_ros.core.edge_samples import EdgeSamples, Unmatched
from neucodex_ros.core.recent import MEMORY


@dataclass
class Sample:
    sample_id: int
    frame: str
    started: float
    due: float = field(default=0.0, compare=False)


def make(sample_id: int, frame: str, now: float) -> Sample:
    return Sample(sample_id, frame, now)


def a_sent_b_waiting() -> tuple[EdgeSamples[str, Sample], Sample]:
    """Inputs a and b offered; a started at 0.0 and all sent, pending its answer."""
    samples: EdgeSamples[str, Sample] = EdgeSamples(queue_size=4, deadline=1.0, first_id=0)
    for frame in 'ab':
        samples.offer(frame)
    a = samples.start(0.0, make)
    samples.done_sending(a)
    return samples, a


def test_the_oldest_input_starts_when_none_is_being_sent_and_ids_never_repeat() -> None:
    samples: EdgeSamples[str, Sample] = EdgeSamples(queue_size=2, deadline=1.0, first_id=100)
    assert samples.start(0.0, make) is None  # nothing waiting
    assert samples.offer('a') == 0 and samples.offer('b') == 0
    first = samples.start(0.0, make)
    assert first == Sample(100, 'a', 0.0) and samples.current is first
    assert samples.start(0.1, make) is None  # one sample is sent at a time
    assert samples.take_id() == 101  # a hello takes an id too
    samples.done_sending(Sample(7, 'x', 0.0))  # not the current one: no effect
    assert samples.current is first
    samples.done_sending(first)
    second = samples.start(0.2, make)
    assert second == Sample(102, 'b', 0.2) and list(samples.pending) == [100, 102]
    assert samples.next_id == 103


def test_a_full_queue_drops_its_oldest_input_and_size_zero_drops_while_busy() -> None:
    samples: EdgeSamples[str, Sample] = EdgeSamples(queue_size=2, deadline=1.0, first_id=0)
    assert [samples.offer(f) for f in 'abc'] == [0, 0, 1]
    assert list(samples.waiting) == ['b', 'c']
    no_queue: EdgeSamples[str, Sample] = EdgeSamples(queue_size=0, deadline=1.0, first_id=0)
    assert no_queue.offer('a') == 0  # idle: it may wait to start
    assert no_queue.offer('b') == 1  # another waits
    no_queue.start(0.0, make)
    assert no_queue.offer('c') == 1 and not no_queue.waiting  # one is being sent


def test_an_answer_ends_its_sample_once_and_later_ones_are_told_apart() -> None:
    samples, a = a_sent_b_waiting()
    b = samples.start(0.5, make)
    assert samples.next_deadline() == 1.0  # the oldest pending one's
    assert samples.answer(0) is a
    assert samples.answer(0) == Unmatched.REPEATED
    assert samples.answer(99) == Unmatched.UNKNOWN
    assert samples.next_deadline() == 1.5
    assert samples.overdue(1.49) == []
    assert samples.overdue(1.5) == [b] and not samples.pending  # ends at its deadline
    assert samples.current is b  # the adapter stops sending it (done_sending)
    assert samples.answer(1) == Unmatched.LATE
    assert samples.next_deadline() is None


def test_a_sample_answered_here_has_no_deadline() -> None:
    samples: EdgeSamples[str, Sample] = EdgeSamples(queue_size=1, deadline=1.0, first_id=0)
    samples.offer('a')
    local = samples.start(0.0, make, track=False)
    assert local is not None and not samples.pending and samples.overdue(10.0) == []
    samples.ended(local.sample_id)
    assert samples.answer(local.sample_id) == Unmatched.REPEATED


def test_ends_are_remembered_for_the_last_memory_samples() -> None:
    samples: EdgeSamples[str, Sample] = EdgeSamples(queue_size=1, deadline=1.0, first_id=0)
    for sample_id in range(MEMORY + 1):
        samples.ended(sample_id)
    assert samples.answer(0) == Unmatched.UNKNOWN and samples.answer(1) == Unmatched.REPEATED


def test_settings_that_cannot_work_are_refused() -> None:
    with pytest.raises(ValueError, match=r'^queue_size must be >= 0 and deadline > 0$'):
        EdgeSamples(queue_size=-1, deadline=1.0, first_id=0)
    with pytest.raises(ValueError, match=r'^queue_size must be >= 0 and deadline > 0$'):
        EdgeSamples(queue_size=1, deadline=0.0, first_id=0)


def test_a_sample_past_its_deadline_falls_back_first_with_its_own_id() -> None:
    samples, a = a_sent_b_waiting()
    [late] = samples.overdue(1.0)
    samples.fall_back(late)
    again = samples.start(1.0, make, track=False)
    assert again is a and again.started == 0.0 and not samples.pending  # not pending again
    assert samples.answer(a.sample_id) == Unmatched.LATE  # the cloud's, after all
    samples.done_sending(again)
    assert samples.start(1.1, make) == Sample(1, 'b', 1.1)


def test_a_queue_may_be_empty_but_a_deadline_must_be_positive() -> None:
    EdgeSamples(0, 0.001, 0)
    for queue_size, deadline in ((-1, 1.0), (0, 0.0)):
        with pytest.raises(ValueError, match='queue_size must be >= 0 and deadline > 0'):
            EdgeSamples(queue_size, deadline, 0)


def test_a_deadline_brought_forward_ends_that_sample_first() -> None:
    samples, a = a_sent_b_waiting()
    assert a.due == 1.0 and samples.next_deadline() == 1.0
    b = samples.start(0.2, make)
    b.due = 0.5  # the adapter's own deadline (core/deadline.py), before a's
    assert samples.next_deadline() == 0.5
    assert samples.overdue(0.49) == [] and samples.overdue(0.5) == [b]
    assert list(samples.pending) == [a.sample_id] and samples.answer(b.sample_id) is Unmatched.LATE
