"""End to end over real rclpy + Fast DDS: cloud and edge node processes classify real digits.

The edge runs with a 50 ms timestep clock, far longer than a loopback round trip, so the
cloud's ExitSignal always reaches it before its next timestep: every sample must then be
sent for exactly the timesteps the cloud used, and not one more.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pytest
import torch
from rclpy.parameter import Parameter
from rclpy.parameter_client import AsyncParameterClient
from rosutil import RosHarness, harness
from sensor_msgs.msg import Image

from neucodex_ros.core import codec
from neucodex_ros.core.checkpoint import Checkpoint, load_checkpoint
from neucodex_ros.core.digits import held_out_digits
from neucodex_ros.core.image import image_to_input
from neucodex_ros.core.inference import CloudRunner, EdgeRunner
from neucodex_ros.core.training import exit_summary, predict_logits
from neucodex_ros.msg import ExitSignal, PackedSpikes, Prediction
from neucodex_ros.nodes.common import link_qos
from neucodex_ros.processes import node_command, running

pytestmark = pytest.mark.ros

PERIOD = 0.05  # edge timestep clock for these tests (s)


@dataclass
class Observed:
    """Everything seen on the wire for one image."""

    label: int
    pixels: np.ndarray
    prediction: Prediction | None = None
    spikes: list[PackedSpikes] = field(default_factory=list)
    exits: list[ExitSignal] = field(default_factory=list)


class Camera:
    """The test's side of the link: publishes images, records spikes, exits, predictions."""

    def __init__(self, h: RosHarness, image_topics: list[str]) -> None:
        self.h = h
        self.seen: dict[tuple[int, int], Observed] = {}
        link = link_qos(True, 64)
        self.publishers = [h.node.create_publisher(Image, topic, 10) for topic in image_topics]
        self.subscriptions = [
            h.node.create_subscription(Prediction, 'prediction', self._on_prediction, link),
            h.node.create_subscription(PackedSpikes, 'spikes', self._on_spikes, link),
            h.node.create_subscription(ExitSignal, 'exit_signal', self._on_exit, link)]
        self._last_stamp = 0

    def _find(self, header) -> Observed | None:
        return self.seen.get((header.stamp.sec, header.stamp.nanosec))

    def _on_prediction(self, msg: Prediction) -> None:
        if (observed := self._find(msg.header)) is not None:
            assert observed.prediction is None, 'one Prediction per image'
            observed.prediction = msg

    def _on_spikes(self, msg: PackedSpikes) -> None:
        if (observed := self._find(msg.header)) is not None:
            observed.spikes.append(msg)

    def _on_exit(self, msg: ExitSignal) -> None:
        if (observed := self._find(msg.header)) is not None:
            observed.exits.append(msg)

    def wait_ready(self) -> None:
        self.h.spin_until(lambda: all(p.get_subscription_count() > 0 for p in self.publishers)
                          and all(s.get_publisher_count() > 0 for s in self.subscriptions),
                          60.0, 'the nodes to match')

    def send(self, images: np.ndarray, labels: np.ndarray, rate: float,
             publishers: list[int] | None = None) -> list[Observed]:
        """Publish the digits at `rate` Hz (image i on publishers[i]); what was observed."""
        sent = []
        publishers = publishers or [0] * len(labels)
        for image, label, publisher in zip(images, labels, publishers, strict=True):
            stamp = max(time.time_ns(), self._last_stamp + 1)
            self._last_stamp = stamp
            key = divmod(stamp, 10**9)
            msg = Image(height=28, width=28, encoding='mono8', step=28, data=image.tobytes())
            msg.header.stamp.sec, msg.header.stamp.nanosec = key
            pixels = image_to_input(msg.data, 'mono8', 28, 28, 28, 1, (28, 28))
            self.seen[key] = observed = Observed(label=int(label), pixels=pixels)
            sent.append(observed)
            self.publishers[publisher].publish(msg)
            deadline = time.monotonic() + 1.0 / rate
            self.h.spin_until(lambda d=deadline: time.monotonic() > d, 5.0, 'the next frame')
        return sent

    def wait_answers(self, observed: list[Observed], timeout: float = 60.0) -> None:
        """Wait for every Prediction and ExitSignal, then two timestep periods more.

        The extra wait lets a timestep the edge wrongly sent after its exit arrive and be seen.
        """
        self.h.spin_until(lambda: all(o.prediction is not None and o.exits for o in observed),
                          timeout, 'a Prediction and an ExitSignal for every image')
        settle = time.monotonic() + 2 * PERIOD
        self.h.spin_until(lambda: time.monotonic() > settle, 1.0)

    def set_alpha(self, alpha: float) -> None:
        client = AsyncParameterClient(self.h.node, 'cloud_node')
        self.h.spin_until(lambda: client.services_are_ready(), 30.0, 'the parameter service')
        future = client.set_parameters([Parameter('alpha', value=alpha)])
        self.h.spin_until(future.done, 10.0, 'set_parameters')
        assert future.result().results[0].successful


@pytest.fixture(scope='module')
def checkpoint() -> Checkpoint:
    return load_checkpoint()


@pytest.fixture(scope='module')
def split() -> Iterator[Camera]:
    """A cloud node and two edge nodes (robot0 on `image`, robot1 on `image_1`)."""
    commands = [node_command('cloud_node', name='cloud_node'),
                node_command('edge_node', name='edge_node',
                             parameters={'timestep_period': PERIOD, 'queue_size': 100,
                                         'image_reliable': True}),
                node_command('edge_node', name='edge_node_1',
                             parameters={'timestep_period': PERIOD, 'queue_size': 100,
                                         'image_reliable': True, 'source_id': 'robot1',
                                         'image_topic': 'image_1'})]
    with harness('camera') as h, running(commands):
        camera = Camera(h, ['image', 'image_1'])
        camera.wait_ready()
        yield camera


def offline_reference(checkpoint: Checkpoint, pixels: np.ndarray, alpha: float):
    """The same model run offline, one timestep at a time, as the nodes run it."""
    edge, cloud = EdgeRunner(checkpoint.model), CloudRunner(checkpoint.model)
    edge.start(pixels)
    sample = cloud.new_sample(alpha, checkpoint.config.num_timesteps)
    while (decision := cloud.step(sample, edge.step())) is None:
        pass
    return decision


def test_accuracy_equals_the_offline_model(split: Camera, checkpoint: Checkpoint) -> None:
    split.set_alpha(0.99)
    images, labels = held_out_digits(100, seed=1)
    observed = split.send(images, labels, rate=20.0)
    split.wait_answers(observed)
    assert all(o.prediction.status == 'ok' for o in observed)
    online = np.mean([o.prediction.label == o.label for o in observed])
    logits = predict_logits(checkpoint.model, torch.as_tensor(images[:, None] / np.float32(255)))
    offline = exit_summary(logits, labels, 0.99)
    assert abs(online - offline['accuracy']) <= 0.01
    used = np.mean([o.prediction.timesteps_used for o in observed])
    assert abs(used - offline['mean_timesteps']) <= 0.1
    assert online >= 0.95


def test_edge_sends_nothing_for_a_sample_after_its_exit_signal(split: Camera) -> None:
    split.set_alpha(0.99)
    images, labels = held_out_digits(40, seed=2)
    observed = split.send(images, labels, rate=10.0)
    split.wait_answers(observed)
    for o in observed:
        used = o.prediction.timesteps_used
        assert [m.timestep for m in o.spikes] == list(range(used)), 'no timestep after exit'
        assert [e.timesteps_used for e in o.exits] == [used]
        assert o.prediction.bytes_received == sum(len(m.data) for m in o.spikes)
    assert any(o.prediction.timesteps_used < 4 for o in observed), 'some samples exit early'


@pytest.mark.parametrize('alpha, expected', [(1.0, 4), (0.0, 1)])
def test_alpha_bounds(split: Camera, alpha: float, expected: int) -> None:
    split.set_alpha(alpha)
    images, labels = held_out_digits(10, seed=3)
    observed = split.send(images, labels, rate=5.0)
    split.wait_answers(observed)
    for o in observed:
        assert o.prediction.timesteps_used == expected
        assert len(o.spikes) == expected
        reason = ExitSignal.REASON_REACHED_T if expected == 4 else ExitSignal.REASON_CONFIDENT
        assert [e.reason for e in o.exits] == [reason]


def test_two_edges_interleaved_never_mix(split: Camera, checkpoint: Checkpoint) -> None:
    """Images alternate between two edges; each answer is the offline result for its image."""
    split.set_alpha(0.999)
    images, labels = held_out_digits(40, seed=4)
    sources = [n % 2 for n in range(len(labels))]
    observed = split.send(images, labels, rate=40.0, publishers=sources)
    split.wait_answers(observed)
    for o, source in zip(observed, sources, strict=True):
        assert o.prediction.source_id == f'robot{source}'
        reference = offline_reference(checkpoint, o.pixels, 0.999)
        assert (o.prediction.label, o.prediction.timesteps_used) == \
            (reference.label, reference.timesteps_used)
        np.testing.assert_allclose(o.prediction.probabilities, reference.probabilities,
                                   rtol=1e-5, atol=1e-6)


def test_cloud_keeps_interleaved_samples_apart(split: Camera, checkpoint: Checkpoint) -> None:
    """Real spikes of 8 samples from two sources, sent round-robin by timestep: all in flight.

    Each answer must be exactly the offline result for its own sample.
    """
    split.set_alpha(1.0)
    images, labels = held_out_digits(8, seed=5)
    edge = EdgeRunner(checkpoint.model)
    link = link_qos(True, 64)
    publisher = split.h.node.create_publisher(PackedSpikes, 'spikes', link)
    split.h.spin_until(lambda: publisher.get_subscription_count() >= 1, 30.0, 'the cloud')
    messages, expected = [], {}
    for n, image in enumerate(images):
        pixels = image_to_input(image.tobytes(), 'mono8', 28, 28, 28, 1, (28, 28))
        source, sample_id = f'fake{n % 2}', 1000 + n
        # (before edge.start: the reference runs the same model and moves its neuron state)
        expected[(source, sample_id)] = offline_reference(checkpoint, pixels, 1.0)
        edge.start(pixels)
        for t in range(4):
            msg = PackedSpikes(source_id=source, sample_id=sample_id, timestep=t,
                               num_timesteps=4, channels=4, height=7, width=7,
                               encoding='bitpack', model_id=checkpoint.model_id,
                               data=codec.encode(edge.step()))
            msg.header.stamp.sec = 7
            msg.header.stamp.nanosec = n
            messages.append(msg)
    answers: dict[tuple[str, int], Prediction] = {}
    split.h.node.create_subscription(
        Prediction, 'prediction',
        lambda m: answers.setdefault((m.source_id, m.sample_id), m), link)
    for t in range(4):  # timestep t of every sample, then t + 1 of every sample, ...
        for msg in messages[t::4]:
            publisher.publish(msg)
    split.h.spin_until(lambda: len(answers) == len(expected), 30.0, 'all 8 answers')
    for key, reference in expected.items():
        answer = answers[key]
        assert (answer.label, answer.timesteps_used) == (reference.label, 4)
        np.testing.assert_allclose(answer.probabilities, reference.probabilities,
                                   rtol=1e-5, atol=1e-6)
