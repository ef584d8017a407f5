"""End to end over real rclpy + Fast DDS: cloud and edge node processes classify real digits.

Three edges share one cloud: robot0 paces adaptively (the default), robot1 runs the 20 ms
timestep clock, and `waits` paces adaptively but never bets (timestep_cost 1e6): it computes
a timestep only when the cloud asked for it, so however loaded the test machine is, each of
its samples is sent for exactly the timesteps the cloud used, and not one more. Only that
edge is used where this matters.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import numpy as np
import pytest
import rclpy
import torch
from rclpy.context import Context
from rclpy.parameter import Parameter
from rclpy.parameter_client import AsyncParameterClient
from rosutil import Lifecycle, watch_stats

from neucodex_ros.client import Observed, SplitClient
from neucodex_ros.core import codec
from neucodex_ros.core.checkpoint import Checkpoint, load_checkpoint
from neucodex_ros.core.datasets.digits import held_out_digits
from neucodex_ros.core.exit_policy import exit_summary
from neucodex_ros.core.image import image_to_input
from neucodex_ros.core.inference import CloudRunner, EdgeRunner
from neucodex_ros.core.training import predict_logits
from neucodex_ros.msg import ExitSignal, PackedSpikes, Prediction
from neucodex_ros.nodes.wire import model_fingerprint
from neucodex_ros.processes import node_command, running
from neucodex_ros.qos import stream_qos

pytestmark = pytest.mark.ros

WAITS = 2  # index of the stop-and-wait edge's image topic


def finals(observed: Observed) -> list[ExitSignal]:
    """The sample's final ExitSignals (not the REASON_CONTINUE verdicts)."""
    return [e for e in observed.exits if e.reason != ExitSignal.REASON_CONTINUE]


class Camera:
    """The test's side of the split: a SplitClient plus helpers."""

    def __init__(self, client: SplitClient, alive: Callable[[], bool]) -> None:
        self.client = client
        self.alive = alive

    def send(self, images: np.ndarray, labels: np.ndarray, rate: float,
             topics: list[int] | None = None) -> list[Observed]:
        """Publish the digits at `rate` Hz (image i on topics[i]); their records."""
        sent = []
        for image, label, topic in zip(images, labels, topics or [0] * len(labels),
                                       strict=True):
            sent.append(self.client.publish_frame(image, int(label), topic))
            next_frame = sent[-1].sent + 1.0 / rate
            self.client.spin_until(lambda t=next_frame: time.monotonic() >= t, 5.0,
                                   'the next frame', self.alive)
        return sent

    def wait_answers(self, observed: list[Observed], timeout: float = 60.0) -> None:
        """Wait for every Prediction and final ExitSignal, then half a second more.

        The extra wait lets a timestep the edge wrongly sent after its exit arrive and be seen.
        """
        try:
            self.client.spin_until(lambda: all(o.prediction is not None and finals(o)
                                               for o in observed),
                                   timeout, 'a Prediction and an ExitSignal for every image',
                                   self.alive)
        except TimeoutError as err:
            missing = [(n, o.prediction is not None, len(o.exits), [m.timestep for m in o.spikes])
                       for n, o in enumerate(observed) if o.prediction is None or not finals(o)]
            raise TimeoutError(f'{err}; (image, has prediction, exits, timesteps seen): '
                               f'{missing}') from err
        self.client.pause(0.5)
        assert all(o.predictions == 1 for o in observed), 'exactly one Prediction per image'

    def set_alpha(self, alpha: float) -> None:
        client = AsyncParameterClient(self.client, 'cloud_node')
        self.client.spin_until(client.services_are_ready, 30.0, 'the parameter service')
        future = client.set_parameters([Parameter('alpha', value=alpha)])
        self.client.spin_until(future.done, 10.0, 'set_parameters')
        assert future.result().results[0].successful


def pixels_of(image: np.ndarray) -> np.ndarray:
    """The model input the edge makes of a digit image."""
    return image_to_input(image.tobytes(), 'mono8', 28, 28, 28, 1, (28, 28))


@pytest.fixture(scope='module')
def checkpoint() -> Checkpoint:
    return load_checkpoint()


@pytest.fixture(scope='module')
def split() -> Iterator[Camera]:
    """A cloud node and three edge nodes, each on its own image topic.

    They start unconfigured and are brought up by this process, as a lifecycle manager does:
    configure and activate on each node's ~/change_state.
    """
    managed = {'autostart': False}
    edge = managed | {'queue_size': 100, 'input_reliable': True, 'placement': 'split'}
    commands = [node_command('cloud_node', name='cloud_node', parameters=managed),
                node_command('edge_node', name='edge_node', parameters=edge),
                # robot1 codes against the previous timestep only (after its first)
                node_command('edge_node', name='edge_node_1',
                             parameters=edge | {'source_id': 'robot1', 'image_topic': 'image_1',
                                                'encoding': 'rice-temporal', 'pacing': 'clock'}),
                node_command('edge_node', name='edge_node_waits',
                             parameters=edge | {'source_id': 'waits',
                                                'image_topic': 'image_waits',
                                                'timestep_cost': 1e6})]
    context = Context()
    rclpy.init(context=context)
    with running(commands) as processes:
        client = SplitClient('camera', image_topics=['image', 'image_1', 'image_waits'],
                             context=context)

        def alive() -> bool:
            return all(p.poll() is None for p in processes)

        try:
            for name in ('cloud_node', 'edge_node', 'edge_node_1', 'edge_node_waits'):
                Lifecycle(client, f'/{name}', lambda c, t, w: client.spin_until(
                    c, t, w, alive)).bring_up()
            client.wait_ready(60.0, alive)
            yield Camera(client, alive)
        finally:
            client.destroy_node()
            rclpy.try_shutdown(context=context)


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
    assert all(o.prediction.computed_on == Prediction.COMPUTED_ON_SPLIT for o in observed)
    online = np.mean([o.prediction.label == o.label for o in observed])
    logits, _ = predict_logits(checkpoint.model,
                               torch.as_tensor(images[:, None] / np.float32(255)))
    offline = exit_summary(logits, labels, 0.99)
    assert abs(online - offline['accuracy']) <= 0.01
    used = np.mean([o.prediction.timesteps_used for o in observed])
    assert abs(used - offline['mean_timesteps']) <= 0.1
    # a trained model (its accuracy target is measured by `evaluate` on all 1,000 held-out
    # digits; 100 of them carry about ±1.7 points of sampling noise)
    assert online >= 0.9


def test_edge_sends_nothing_for_a_sample_after_its_exit_signal(split: Camera) -> None:
    split.set_alpha(0.99)
    images, labels = held_out_digits(16, seed=2)
    observed = split.send(images, labels, rate=4.0, topics=[WAITS] * 16)
    split.wait_answers(observed)
    for o in observed:
        used = o.prediction.timesteps_used
        first = [m.timestep for m in o.spikes if not m.flags & PackedSpikes.FLAG_RESENT]
        assert first == list(range(used)), 'no timestep after exit'
        # (a loaded machine may delay a verdict past the timeout: then the edge sends the
        # same timestep again, and the cloud repeats its verdict)
        assert all(m.timestep < used for m in o.spikes)
        # a verdict after every timestep: "continue" until the answer
        assert sorted({e.timesteps_used for e in o.exits
                       if e.reason == ExitSignal.REASON_CONTINUE}) == list(range(1, used))
        assert [e.timesteps_used for e in finals(o)] == [used]
        assert o.prediction.bytes_received == sum(
            len(m.data) for m in o.spikes if not m.flags & PackedSpikes.FLAG_RESENT)
    assert any(o.prediction.timesteps_used < 4 for o in observed), 'some samples exit early'


@pytest.mark.parametrize('alpha, expected', [(1.0, 4), (0.0, 1)])
def test_alpha_bounds(split: Camera, alpha: float, expected: int) -> None:
    split.set_alpha(alpha)
    images, labels = held_out_digits(5, seed=3)
    observed = split.send(images, labels, rate=4.0, topics=[WAITS] * 5)
    split.wait_answers(observed)
    for o in observed:
        assert o.prediction.timesteps_used == expected
        # a verdict later than the edge's timeout makes it resend, flagged (as in the test above)
        seen = [(m.source_id, m.sample_id, m.timestep, m.flags) for m in o.spikes]
        assert [m.timestep for m in o.spikes if not m.flags & PackedSpikes.FLAG_RESENT] == \
            list(range(expected)), f'each timestep sent once, besides resends: {seen}'
        assert all(m.timestep < expected for m in o.spikes), seen
        reason = ExitSignal.REASON_REACHED_T if expected == 4 else ExitSignal.REASON_CONFIDENT
        assert [e.reason for e in finals(o)] == [reason]


def test_two_edges_interleaved_never_mix(split: Camera, checkpoint: Checkpoint) -> None:
    """Images alternate between two edges; each answer is the offline result for its image."""
    split.set_alpha(0.999)
    images, labels = held_out_digits(40, seed=4)
    sources = [n % 2 for n in range(len(labels))]  # robot0, robot1, robot0, ...
    observed = split.send(images, labels, rate=40.0, topics=sources)
    split.wait_answers(observed)
    for i, (o, source) in enumerate(zip(observed, sources, strict=True)):
        assert o.prediction.source_id == f'robot{source}'
        if source == 1:  # rice-temporal from the second timestep on
            assert o.spikes and all(
                (m.encoding == codec.WIRE_IDS['rice-temporal']) == (m.timestep > 0)
                for m in o.spikes)
        reference = offline_reference(checkpoint, pixels_of(images[i]), 0.999)
        assert (o.prediction.label, o.prediction.timesteps_used) == \
            (reference.label, reference.timesteps_used)
        np.testing.assert_allclose(o.prediction.probabilities, reference.probabilities,
                                   rtol=1e-5, atol=1e-6)


def test_cloud_keeps_interleaved_samples_apart(split: Camera, checkpoint: Checkpoint) -> None:
    """Real spikes of 8 samples from four sources, sent round-robin by timestep: all in flight.

    Each answer must be exactly the offline result for its own sample, though the cloud runs
    the samples' timesteps in batches (one timestep of each source per batch). The timesteps
    rotate through every codec, so temporal payloads meet the right sample's previous
    timestep.
    """
    split.set_alpha(1.0)
    images, labels = held_out_digits(8, seed=5)
    edge = EdgeRunner(checkpoint.model)
    link = stream_qos(True, 64)
    publisher = split.client.create_publisher(PackedSpikes, 'spikes', link)
    split.client.spin_until(lambda: publisher.get_subscription_count() >= 1, 30.0, 'the cloud')
    messages, expected = [], {}
    for n, image in enumerate(images):
        pixels = pixels_of(image)
        source, sample_id = f'fake{n % 4}', 1000 + n
        # (before edge.start: the reference runs the same model and moves its neuron state)
        expected[(source, sample_id)] = offline_reference(checkpoint, pixels, 1.0)
        edge.start(pixels)
        previous = None
        for t in range(4):
            spikes = edge.step()
            encoding = codec.ENCODINGS[(n + t) % len(codec.ENCODINGS)]
            if previous is None and codec.is_temporal(encoding):
                encoding = codec.RICE
            msg = PackedSpikes(source_id=source, sample_id=sample_id, timestep=t,
                               num_timesteps=4, channels=4, height=7, width=7,
                               encoding=codec.WIRE_IDS[encoding],
                               model_id=model_fingerprint(checkpoint.model_id),
                               data=codec.encode(spikes, encoding, previous))
            previous = spikes
            msg.stamp.sec, msg.stamp.nanosec = 7, n
            messages.append(msg)
    answers: dict[tuple[str, int], ExitSignal] = {}  # the cloud's answers (no edge here)
    stats = watch_stats(split.client, ('cloud_node',))
    split.client.spin_until(lambda: stats, 10.0, 'the cloud\'s stats')
    before = {name: int(stats['cloud_node'].get(name, 0)) for name in ('timesteps', 'batches')}
    split.client.create_subscription(
        ExitSignal, 'exit_signal',
        lambda m: answers.setdefault((m.source_id, m.sample_id), m), link)
    for t in range(4):  # timestep t of every sample, then t + 1 of every sample, ...
        for msg in messages[t::4]:
            publisher.publish(msg)
    split.client.spin_until(lambda: len(answers) == len(expected), 30.0, 'all 8 answers')
    for key, reference in expected.items():
        answer = answers[key]
        assert (answer.label, answer.timesteps_used) == (reference.label, 4)
        np.testing.assert_allclose(answer.probabilities, reference.probabilities,
                                   rtol=1e-5, atol=1e-6)
    ran = {}

    def counted() -> bool:
        ran.update({name: int(stats['cloud_node'][name]) - before[name] for name in before})
        return ran['timesteps'] >= 32

    split.client.spin_until(counted, 10.0, 'the counters of all 32 timesteps')
    assert ran['batches'] < ran['timesteps'], 'the timesteps ran in batches'


def test_every_node_publishes_its_counters_on_stats(split: Camera) -> None:
    """~/stats: one DiagnosticStatus per node, a key-value per counter."""
    seen = watch_stats(split.client, ('cloud_node', 'edge_node'))
    split.client.spin_until(lambda: len(seen) == 2, 10.0, 'stats from both nodes')
    assert int(seen['cloud_node']['samples_started']) >= 1
    assert int(seen['edge_node']['timesteps_sent']) >= 1
    assert 'open_samples' in seen['cloud_node'] and 'pending_samples' in seen['edge_node']


def test_a_source_holds_at_most_max_in_flight_samples(split: Camera,
                                                      checkpoint: Checkpoint) -> None:
    """17 samples opened by one source (timestep 0 only): the oldest is failed as evicted."""
    link = stream_qos(True, 64)
    publisher = split.client.create_publisher(PackedSpikes, 'spikes', link)
    answers: list[ExitSignal] = []
    split.client.create_subscription(
        ExitSignal, 'exit_signal',
        lambda m: answers.append(m) if m.source_id == 'crowd' else None, link)
    split.client.spin_until(lambda: publisher.get_subscription_count() >= 1, 30.0, 'the cloud')
    for sample_id in range(17):
        msg = PackedSpikes(source_id='crowd', sample_id=sample_id, timestep=0, num_timesteps=4,
                           channels=4, height=7, width=7, encoding=codec.WIRE_IDS['bitpack'],
                           model_id=model_fingerprint(checkpoint.model_id),
                           data=codec.encode(np.zeros((4, 7, 7), dtype=bool)))
        msg.stamp.sec = 9
        publisher.publish(msg)
    split.client.spin_until(lambda: answers, 10.0, 'the eviction')
    split.client.pause(0.3)
    assert [(a.sample_id, a.label, a.status, a.reason) for a in answers] == \
        [(0, -1, ExitSignal.STATUS_EVICTED, ExitSignal.REASON_ERROR)]
