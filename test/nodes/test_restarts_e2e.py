"""Killing real node processes mid-stream (SIGKILL: no goodbye on the wire) and restarting them.

Cloud not up yet: frames wait at the edge until a cloud answers its hello. Cloud gone: the
edge gets no answer within its `deadline`, reports its samples as failed
("cloud_unavailable"), and is answered again once a new cloud is up; with `placement: auto`
it answers them itself, the one under way included, and splits again once a cloud is back.
Edge gone: the cloud
clears the samples it left open after `sample_timeout`, and a restarted edge with the same
source_id carries on with new sample ids. Throughout, no sample gets two Predictions.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import numpy as np
import pytest
import rclpy
from rclpy.context import Context
from rosutil import counter, kill, watch_stats

from neucodex_ros.client import Observed, SplitClient
from neucodex_ros.core.datasets.digits import held_out_digits
from neucodex_ros.msg import Prediction
from neucodex_ros.processes import node_command, running
from neucodex_ros.qos import stream_qos

pytestmark = pytest.mark.ros

IMAGES, LABELS = held_out_digits(200, seed=21)


class Robot:
    """The camera side: streams digits, counts Predictions per sample, reads ~/stats."""

    def __init__(self, context: Context) -> None:
        self.client = SplitClient('camera', context=context)
        self.per_sample: Counter[tuple[str, int]] = Counter()
        self.client.create_subscription(
            Prediction, 'prediction',
            lambda m: self.per_sample.update([(m.source_id, m.sample_id)]), stream_qos(True, 64))
        self.stats = watch_stats(self.client, ('cloud_node', 'edge_node'))
        self.sent: list[Observed] = []

    def stream(self, seconds: float, rate: float = 10.0,
               until: Callable[[], bool] = lambda: False) -> None:
        """Publish frames at `rate` Hz for `seconds` or until `until()`."""
        end = time.monotonic() + seconds
        while time.monotonic() < end and not until():
            n = len(self.sent) % len(LABELS)
            self.sent.append(self.client.publish_frame(IMAGES[n], int(LABELS[n])))
            self.client.pause(1.0 / rate)

    def statuses(self, since: int = 0) -> list[str | None]:
        return [None if o.prediction is None else o.prediction.status for o in self.sent[since:]]

    def counter(self, node: str, name: str) -> int:
        return counter(self.stats, node, name)


@contextmanager
def robot() -> Iterator[Robot]:
    context = Context()
    rclpy.init(context=context)
    r = Robot(context)
    try:
        yield r
    finally:
        r.client.destroy_node()
        rclpy.try_shutdown(context=context)


def cloud(alpha: float = 0.99) -> list[str]:
    return node_command('cloud_node', name='cloud_node',
                        parameters={'sample_timeout': 0.5, 'alpha': alpha})


def test_frames_wait_for_a_cloud_that_says_it_is_ready() -> None:
    """A subscriber on `spikes` that is not a cloud (ours) must not make the edge start."""
    edge = node_command('edge_node', name='edge_node',
                        parameters={'input_reliable': True, 'queue_size': 10,
                                    'placement': 'split'})
    with running([edge]) as edges, robot() as r:
        def alive() -> bool:
            return edges[0].poll() is None

        r.stream(60.0, until=lambda: r.counter('edge_node', 'frames_received') >= 3)
        r.client.spin_until(lambda: r.counter('edge_node', 'hellos_sent') >= 2
                            or r.counter('edge_node', 'samples_started') >= 1, 30.0,
                            'the edge to ask for a cloud (or to start without one)', alive)
        waiting = r.counter('edge_node', 'frames_received') - \
            r.counter('edge_node', 'frames_dropped')
        with running([cloud()]) as clouds:
            r.client.spin_until(
                lambda: sum(r.per_sample.values()) >= waiting
                and r.counter('edge_node', 'pending_samples') == 0
                and r.counter('edge_node', 'samples_started') == sum(r.per_sample.values()),
                90.0, 'the waiting frames to be answered',
                lambda: alive() and clouds[0].poll() is None)
    answered = [status for status in r.statuses() if status is not None]
    assert len(answered) >= 3 and set(answered) == {'ok'}, answered
    assert r.counter('edge_node', 'samples_cloud_unavailable') == 0


def test_cloud_killed_and_restarted() -> None:
    # Long enough that a sample of a fresh cloud on a loaded machine is answered in time,
    # and a queue that holds every frame of a slow moment: the test is about a cloud that is
    # gone, not about a slow one.
    deadline = 5.0
    edge = node_command('edge_node', name='edge_node',
                        parameters={'deadline': deadline, 'input_reliable': True,
                                    'placement': 'split', 'queue_size': 10})
    with running([edge]) as edges, robot() as r:
        with running([cloud()]) as clouds:
            r.client.wait_ready(90.0, lambda: edges[0].poll() is None)
            r.stream(2.0)
            r.client.spin_until(lambda: None not in r.statuses(), 10.0, 'the answers')
            kill(clouds[0])
        down = len(r.sent)
        r.stream(2 * deadline)
        r.client.spin_until(lambda: 'cloud_unavailable' in r.statuses(down), 30.0,
                            'a deadline to pass without a cloud')
        # answered while no cloud ran (frames of the outage still queued when the cloud is
        # back may well be answered by it, if it starts within their deadline)
        without_cloud = [status for status in r.statuses(down) if status is not None]
        with running([cloud()]):
            back = len(r.sent)
            r.stream(90.0, until=lambda: r.statuses(back)[-10:] == ['ok'] * 10)
            r.client.pause(3 * deadline)
            # (while the cloud is away each sample waits out its deadline, and frames that
            # come meanwhile are dropped by the queue policy: not every frame is a sample)
            r.client.spin_until(lambda: r.counter('edge_node', 'pending_samples') == 0
                                and r.counter('edge_node', 'samples_started')
                                == sum(r.per_sample.values()) >= down + 10, 15.0,
                                'the edge counters to settle', lambda: edges[0].poll() is None)
    before, recovered = r.statuses()[:down], r.statuses()[back:]
    assert before and set(before) == {'ok'}
    assert 'ok' not in without_cloud, 'no cloud, no answer'
    assert recovered[-10:] == ['ok'] * 10, recovered
    assert max(r.per_sample.values()) == 1, 'a sample was answered twice'
    assert r.counter('edge_node', 'samples_cloud_unavailable') >= 1


def test_edge_killed_and_restarted() -> None:
    """The edge dies mid-sample (a 0.25 s timestep clock, α = 1: all T): the cloud clears it."""
    edge = node_command('edge_node', name='edge_node',
                        parameters={'pacing': 'clock', 'timestep_period': 0.25,
                                    'input_reliable': True, 'placement': 'split',
                                    'queue_size': 10})
    with running([cloud(alpha=1.0)]) as clouds, robot() as r:
        with running([edge]) as edges:
            r.client.wait_ready(90.0, lambda: edges[0].poll() is None)
            first = r.client.publish_frame(IMAGES[0], int(LABELS[0]))
            r.client.spin_until(lambda: any(m.timestep >= 1 for m in first.spikes), 10.0,
                                'the sample under way')
            assert first.prediction is None
            kill(edges[0])
        old_sample = first.spikes[0].sample_id
        r.client.spin_until(lambda: r.counter('cloud_node', 'samples_gone_quiet') >= 1
                            and r.counter('cloud_node', 'open_samples') == 0, 10.0,
                            'the cloud to clear the dead edge\'s sample',
                            lambda: clouds[0].poll() is None)
        with running([edge]) as edges:
            r.client.wait_ready(90.0, lambda: edges[0].poll() is None)
            later = [r.client.publish_frame(IMAGES[n], int(LABELS[n])) for n in range(1, 4)]
            r.client.spin_until(lambda: all(o.prediction is not None for o in later), 30.0,
                                'answers from the restarted edge')
    assert first.prediction is None, 'the dead edge published nothing more'
    assert [o.prediction.status for o in later] == ['ok'] * 3
    assert all(o.prediction.sample_id > old_sample for o in later), 'sample ids never reused'
    assert np.mean([o.prediction.label == o.label for o in later]) >= 2 / 3
    assert max(r.per_sample.values()) == 1


def test_auto_answers_here_when_the_cloud_dies_mid_sample() -> None:
    """Placement auto: the cloud dies mid-sample, and the edge answers that sample, once.

    Also: local answers without a cloud, the split once one answers, the split again after a
    restart. The cloud runs all T (α = 1) of a 0.25 s timestep clock, so a split sample is under way
    for about a second: time to kill the cloud in the middle of one.
    """
    edge = node_command('edge_node', name='edge_node',
                        parameters={'placement': 'auto', 'pacing': 'clock', 'alpha': 0.99,
                                    'timestep_period': 0.25, 'deadline': 3.0,
                                    'input_reliable': True, 'queue_size': 10})
    sent: list[Observed] = []

    def one(alive: Callable[[], bool], until: Callable[[Observed], bool] = lambda o: False,
            what: str = 'an answer') -> Observed:
        """Publish a digit; return once `until` holds for it or it is answered."""
        n = len(sent) % len(LABELS)
        sent.append(r.client.publish_frame(IMAGES[n], int(LABELS[n])))
        r.client.spin_until(lambda: until(sent[-1]) or sent[-1].prediction is not None,
                            60.0, what, alive)
        return sent[-1]

    def split_under_way(o: Observed) -> bool:
        return any(m.timestep >= 1 for m in o.spikes)

    with running([edge]) as edges, robot() as r:
        def edge_alive() -> bool:
            return edges[0].poll() is None

        r.client.spin_until(lambda: r.client.image_pubs[0].get_subscription_count() > 0, 60.0,
                            'the edge', edge_alive)
        alone = [one(edge_alive) for _ in range(3)]  # no cloud at all
        with running([cloud(alpha=1.0)]) as clouds:
            def both_alive() -> bool:
                return edge_alive() and clouds[0].poll() is None

            end = time.monotonic() + 90.0
            while time.monotonic() < end:  # once the cloud answers a hello, a sample tries it
                caught = one(both_alive, split_under_way, 'a split sample under way')
                if caught.prediction is None:
                    break
                r.client.pause(0.2)
            kill(clouds[0])
        r.client.spin_until(lambda: caught.prediction is not None, 30.0,
                            'the caught sample answered here', edge_alive)
        without = [one(edge_alive) for _ in range(3)]
        with running([cloud()]) as clouds:
            def both_alive() -> bool:
                return edge_alive() and clouds[0].poll() is None

            end = time.monotonic() + 90.0
            while time.monotonic() < end:
                back = one(both_alive)
                if back.prediction.computed_on == Prediction.COMPUTED_ON_SPLIT:
                    break
                r.client.pause(0.2)
        r.client.pause(1.0)  # a second answer to anything would come by now
        r.client.spin_until(lambda: r.counter('edge_node', 'samples_fallen_back') >= 1,
                            10.0, 'the edge counters', edge_alive)
    assert all(o.prediction.computed_on == Prediction.COMPUTED_ON_EDGE for o in alone)
    assert caught.spikes and caught.prediction.status == 'ok'
    assert caught.prediction.computed_on == Prediction.COMPUTED_ON_EDGE, 'answered here'
    assert caught.prediction.sample_id == caught.spikes[0].sample_id, 'as the same sample'
    assert caught.predictions == 1
    assert all(o.prediction.computed_on == Prediction.COMPUTED_ON_EDGE for o in without)
    assert back.prediction.computed_on == Prediction.COMPUTED_ON_SPLIT, 'split again'
    assert all(o.prediction.status == 'ok' for o in sent), [o.prediction for o in sent]
    assert np.mean([o.prediction.label == o.label for o in sent]) >= 0.8
    assert max(r.per_sample.values()) == 1, 'a sample was answered twice'
    assert r.counter('edge_node', 'samples_fallen_back') == 1
    assert r.counter('edge_node', 'samples_cloud_unavailable') == 0
