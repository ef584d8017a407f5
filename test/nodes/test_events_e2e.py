"""Event cameras end to end over real rclpy + Fast DDS: bags replayed into edge and cloud.

`neucodex-ros replay` plays (1) the real Prophesee evt3 recording, unchanged, and (2) real
N-MNIST recordings converted by `neucodex-ros convert`, into an edge node and a cloud node
running the shipped event model (config/events.yaml), started afresh for each test. Every
window the edge cuts must come back as exactly one Prediction, equal to the offline model's
on the same window, and the converted bag's SampleLabels score the predictions.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rosutil import RosHarness
from test_split_e2e import offline_reference

from neucodex_ros.core.checkpoint import Checkpoint, load_checkpoint
from neucodex_ros.core.events.bags import SAMPLE_LABEL, decoded_packets, deserialize, open_bag
from neucodex_ros.core.events.frames import FrameSpec, event_frames
from neucodex_ros.core.events.windows import EventWindower
from neucodex_ros.msg import Prediction
from neucodex_ros.processes import node_command, running
from neucodex_ros.qos import stream_qos
from neucodex_ros.resources import events_params_file, node_sections

pytestmark = pytest.mark.ros

TOPIC = '/event_camera/events'  # where metavision_driver and libcaer_driver publish
EDGE = {'input_reliable': True, 'queue_size': 1000, 'events_topic': TOPIC, 'placement': 'split'}
Stamp = tuple[int, int]


def edge_parameters() -> dict[str, Any]:
    return node_sections(yaml.safe_load(events_params_file().read_text()))['edge_node']


class Observer:
    """The test's node: collects Predictions by stamp."""

    def __init__(self, alive: Any) -> None:
        self.ros = RosHarness('event_observer')
        self.alive = alive
        self.predictions: dict[Stamp, list[Prediction]] = defaultdict(list)
        self.sub = self.ros.node.create_subscription(Prediction, 'prediction',
                                                     self._on_prediction, stream_qos(True, 64))

    def _on_prediction(self, msg: Prediction) -> None:
        self.predictions[(msg.header.stamp.sec, msg.header.stamp.nanosec)].append(msg)

    def replay(self, bag: Path, *args: str) -> None:
        """Play a bag with `neucodex-ros replay` and wait for it to finish."""
        command = [sys.executable, '-m', 'neucodex_ros.cli', 'replay', str(bag),
                   '--wait-for-subscribers', '30', *args]
        with subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True) as process:
            while process.poll() is None:
                assert self.alive(), 'a node process died during the replay'
                self.ros.executor.spin_once(timeout_sec=0.05)
            output = process.stdout.read()
        assert process.returncode == 0, output

    def wait_for(self, stamps: list[Stamp], timeout: float = 60.0) -> None:
        self.ros.spin_until(lambda: all(s in self.predictions for s in stamps), timeout,
                            f'{len(stamps)} predictions')
        end = time.monotonic() + 1.0  # anything extra would show up now
        self.ros.spin_until(lambda: time.monotonic() > end, 2.0)


@contextmanager
def started(edge: dict[str, Any]) -> Iterator[Observer]:
    """A cloud node and an edge node on the event configuration, and the observer."""
    params = events_params_file()
    commands = [node_command('cloud_node', name='cloud_node', params_file=params),
                node_command('edge_node', name='edge_node', params_file=params,
                             parameters=edge)]
    with running(commands) as processes:
        observer = Observer(lambda: all(p.poll() is None for p in processes))
        try:
            observer.ros.spin_until(lambda: observer.sub.get_publisher_count() > 0, 60.0,
                                    'the cloud node')
            yield observer
        finally:
            observer.ros.close()


@pytest.fixture
def split() -> Iterator[Observer]:
    with started(EDGE) as observer:
        yield observer


@pytest.fixture(scope='module')
def checkpoint() -> Checkpoint:
    return load_checkpoint('nmnist_events')


def offline_windows(bag: Path, checkpoint: Checkpoint) -> dict[Stamp, tuple[int, int]]:
    """Every window the edge should cut from the bag → (label, timesteps used), offline."""
    params = edge_parameters()
    windower = EventWindower(params['window_mode'], round(params['window_duration'] * 1e6),
                             params['window_events'], params['min_events'])
    spec = FrameSpec(checkpoint.config.num_timesteps, checkpoint.config.input_size,
                     params['frames_by'], params['fit'], tuple(params['roi']))
    alpha = node_sections(yaml.safe_load(events_params_file().read_text()))['cloud_node'][
        'alpha']
    windows = []
    for _, msg, decoded in decoded_packets(bag):
        windows += windower.push(decoded.events,
                                 (msg.header.stamp.sec, msg.header.stamp.nanosec),
                                 (msg.height, msg.width))
    windows += windower.flush()
    results = {}
    for window in windows:
        decision = offline_reference(checkpoint,
                                     event_frames(window.events, window.sensor_size, spec), alpha)
        results[window.stamp] = (decision.label, decision.timesteps_used)
    return results


def publish_sample(split: Observer, packets: list[tuple[str, bytes, int]],
                   sec: int = 1234) -> Stamp:
    """Publish packets (encoding, data, sensor side) stamped (sec, n); the last one's stamp."""
    from event_camera_msgs.msg import EventPacket

    publisher = split.ros.node.create_publisher(EventPacket, TOPIC, QoSProfile(
        history=HistoryPolicy.KEEP_LAST, depth=100, reliability=ReliabilityPolicy.RELIABLE))
    split.ros.spin_until(lambda: publisher.get_subscription_count() > 0, 30.0, 'the edge')
    time.sleep(0.5)
    for n, (encoding, data, side) in enumerate(packets):
        msg = EventPacket(encoding=encoding, width=side, height=side, seq=n, events=data)
        msg.header.stamp.sec, msg.header.stamp.nanosec = sec, n
        publisher.publish(msg)
    return (sec, len(packets) - 1)


def digit_events(slot: int) -> bytes:
    """A simulated DVS recording of a held-out digit, evt3, in a window slot of its own."""
    from neucodex_ros.core.datasets.digits import held_out_digits
    from neucodex_ros.core.events.codecs import encode_evt3
    from neucodex_ros.core.events.dvs import simulate

    images, _ = held_out_digits(1, seed=3)
    events = simulate(images[0], np.random.default_rng(0))
    events['t'] += slot * 350_000
    return encode_evt3(events)


def test_bad_packets_are_rejected_and_the_stream_goes_on(split: Observer) -> None:
    """Unknown encoding, truncated evt3, bad evt3 code: rejected; the next sample works."""
    bad = [('bayer', b'\x00' * 8, 34), ('evt3', b'\x00\x80\x01', 34), ('evt3', b'\x00\xb0', 34)]
    split.predictions.clear()
    good = publish_sample(split, [*bad, ('evt3', digit_events(40), 34)])
    split.wait_for([good])  # the window completes when the stream pauses (flush_after)
    assert list(split.predictions) == [good] and split.predictions[good][0].status == 'ok'


def test_a_window_that_cannot_be_fitted_is_rejected_and_the_node_goes_on() -> None:
    """`fit: pool` cannot take a 50x50 sensor to 34x34: that window is dropped, not fatal."""
    with started(EDGE | {'fit': 'pool'}) as split:
        publish_sample(split, [('evt3', digit_events(10), 50)], sec=1233)  # its own stamp
        time.sleep(1.5)  # past flush_after: the window was cut, and rejected
        good = publish_sample(split, [('evt3', digit_events(40), 34)])
        split.wait_for([good])
        assert list(split.predictions) == [good]


def check_predictions(split: Observer, expected: dict[Stamp, tuple[int, int]]) -> None:
    split.wait_for(list(expected))
    assert set(split.predictions) == set(expected), 'a prediction for every window, no other'
    for stamp, (label, timesteps) in expected.items():
        [prediction] = split.predictions[stamp]  # exactly one
        assert prediction.status == 'ok'
        assert (prediction.label, prediction.timesteps_used) == (label, timesteps)


def test_real_evt3_bag_gives_a_prediction_for_every_window(split: Observer, shared_data: Path,
                                                           checkpoint: Checkpoint) -> None:
    bag = shared_data / 'bags' / 'prophesee_evt3'
    expected = offline_windows(bag, checkpoint)
    assert len(expected) >= 5  # 2.08 s of events in 0.35 s windows
    split.predictions.clear()
    split.replay(bag)
    check_predictions(split, expected)


def bag_labels(bag: Path) -> dict[Stamp, int]:
    """The SampleLabels `convert` wrote, by stamp."""
    with open_bag(bag) as reader:
        return {(m.header.stamp.sec, m.header.stamp.nanosec): m.label
                for m in (deserialize(raw, SAMPLE_LABEL) for _, _, raw in reader.messages(
                    connections=[c for c in reader.connections if c.msgtype == SAMPLE_LABEL]))}


def test_nmnist_bin_to_bag_to_replay_is_scored(split: Observer, shared_data: Path,
                                               checkpoint: Checkpoint, tmp_path: Path) -> None:
    bag = tmp_path / 'nmnist'
    subprocess.run([sys.executable, '-m', 'neucodex_ros.cli', 'convert', '--dataset', 'nmnist',
                    '--data-dir', str(shared_data / 'nmnist_small' / 'train'), '--part', 'test',
                    '--limit', '30', '--out', str(bag)], check=True, capture_output=True)
    expected = offline_windows(bag, checkpoint)
    labels = bag_labels(bag)
    assert len(labels) == 30 and set(labels) == set(expected), 'one window per converted sample'
    split.predictions.clear()
    score_file = tmp_path / 'score.json'
    split.replay(bag, '--rate', '2', '--score', '--json', str(score_file))
    check_predictions(split, expected)
    score = json.loads(score_file.read_text())
    assert (score['labels'], score['labelled'], score['repeated_answers']) == (30, 30, 0)
    correct = [split.predictions[s][0].label == label for s, label in labels.items()]
    assert score['correct'] == sum(correct)  # replay's scoring agrees with ours
    assert np.mean(correct) >= 0.8  # the shipped model on held-out real recordings
