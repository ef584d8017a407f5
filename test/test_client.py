"""`client.SplitClient.play`: the one way the demo, the benchmark camera and the soak play.

The demo used to send the next digit as soon as every answer was in, so `--rate` was not
the rate it played at; these tests hold the schedule, and the waits, without node processes
(the samples are answered by the test itself).
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import rclpy

from neucodex_ros.client import Observed, SplitClient
from neucodex_ros.msg import Prediction

pytestmark = pytest.mark.ros


@pytest.fixture
def client() -> Iterator[SplitClient]:
    with rclpy.init():
        node = SplitClient('play_test')
        yield node
        node.destroy_node()


def answered_now(label: int) -> Observed:
    observed = Observed(label, time.monotonic())
    observed.prediction = Prediction(label=label, status=Prediction.STATUS_OK)
    return observed


def test_at_a_rate_samples_keep_the_schedule_though_all_are_answered(client: SplitClient
                                                                      ) -> None:
    before = time.monotonic()
    sent = client.play(answered_now, 5, rate=20.0, timeout=5.0)
    assert [o.label for o in sent] == [0, 1, 2, 3, 4]
    assert all(o.sent >= before + i / 20.0 for i, o in enumerate(sent))  # never early


def test_unanswered_samples_are_waited_for_then_left_unanswered(client: SplitClient) -> None:
    seen: list[int] = []
    started = time.monotonic()
    sent = client.play(lambda i: answered_now(i) if i != 1 else Observed(i, time.monotonic()),
                       3, rate=None, timeout=0.3, settle=0.1,
                       after=lambda o: seen.append(o.label))
    assert seen == [0, 1, 2]  # one at a time, each seen once settled
    assert [o.prediction is None for o in sent] == [False, True, False]
    assert time.monotonic() - started >= 0.3 + 3 * 0.1  # its answer waited for, all settled
    progress: list[int] = []
    at_rate = client.play(lambda i: Observed(i, time.monotonic()), 2, rate=50.0, timeout=0.3,
                          progress=lambda done: progress.append(len(done)))
    assert all(o.prediction is None for o in at_rate) and progress == []


def test_one_at_a_time_no_sooner_than_every(client: SplitClient) -> None:
    """`every`: answered at once, the samples still start `every` seconds apart."""
    before = time.monotonic()
    sent = client.play(answered_now, 4, rate=None, timeout=1.0, every=0.1)
    assert all(o.sent >= before + i * 0.1 for i, o in enumerate(sent))  # never early
