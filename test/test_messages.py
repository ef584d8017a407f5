"""Every neucodex_ros message crosses a process boundary over Fast DDS unchanged."""

from __future__ import annotations

import numpy as np
import pytest
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rosutil import child, harness, python_command

from neucodex_ros.msg import ExitSignal, PackedSpikes, Prediction

pytestmark = pytest.mark.ros

RNG = np.random.default_rng(7)


def header(msg, sec: int, nanosec: int, frame: str):
    msg.header.stamp.sec = sec
    msg.header.stamp.nanosec = nanosec
    msg.header.frame_id = frame
    return msg


def packed_spikes() -> list[PackedSpikes]:
    big = PackedSpikes(source_id='robot-ü7', sample_id=2**64 - 1, timestep=65535,
                       num_timesteps=65535, channels=16, height=64, width=512,
                       encoding='bitpack', model_id='sha256:' + 'ab' * 32,
                       data=RNG.integers(0, 256, 65536, dtype=np.uint8).tobytes())
    small = PackedSpikes(source_id='r1', sample_id=3, timestep=2, num_timesteps=4,
                         channels=1, height=3, width=5, encoding='zstd', model_id='m',
                         data=bytes([0b10110000, 0xFF]))
    empty = PackedSpikes(source_id='', encoding='')
    return [header(big, 2**31 - 1, 999_999_999, 'camera_optical'),
            header(small, 1_700_000_000, 1, 'x'), empty]


def exit_signals() -> list[ExitSignal]:
    reasons = (ExitSignal.REASON_CONFIDENT, ExitSignal.REASON_REACHED_T,
               ExitSignal.REASON_ERROR)
    return [header(ExitSignal(source_id=f'robot{r}', sample_id=10**12 + r, timesteps_used=r + 1,
                              reason=r), 1_700_000_000 + r, 123 + r, 'f')
            for r in reasons]


def predictions() -> list[Prediction]:
    probabilities = RNG.dirichlet(np.ones(10)).astype(np.float32)
    ok = Prediction(source_id='robot0', sample_id=41, label=7, label_name='seven',
                    confidence=float(probabilities.max()),
                    probabilities=probabilities.tolist(), timesteps_used=2, num_timesteps=4,
                    bytes_received=2**32 - 1, status='ok')
    failed = Prediction(source_id='robot1', sample_id=0, label=-1, label_name='',
                        confidence=0.0, probabilities=[], timesteps_used=0, num_timesteps=4,
                        bytes_received=0, status='timeout')
    return [header(ok, 5, 6, 'cam'), header(failed, 0, 0, '')]


def field_values(msg) -> dict:
    """Every field, recursively, as plain comparable values."""
    values = {}
    for name in msg.get_fields_and_field_types():
        value = getattr(msg, name)
        if hasattr(value, 'get_fields_and_field_types'):
            value = field_values(value)
        elif not isinstance(value, (int, float, str, bool)):
            value = list(value)
        values[name] = value
    return values


@pytest.mark.parametrize('msg_type, make', [
    (PackedSpikes, packed_spikes), (ExitSignal, exit_signals), (Prediction, predictions)],
    ids=['PackedSpikes', 'ExitSignal', 'Prediction'])
def test_round_trip_between_processes(msg_type, make) -> None:
    sent = make()
    type_path = f'neucodex_ros.msg.{msg_type.__name__}'
    qos = QoSProfile(history=HistoryPolicy.KEEP_ALL, reliability=ReliabilityPolicy.RELIABLE)
    received: list = []
    with harness() as h, child(python_command('echo_node.py', type_path, 'out', 'back')):
        publisher = h.node.create_publisher(msg_type, 'out', qos)
        subscription = h.node.create_subscription(msg_type, 'back', received.append, qos)
        h.spin_until(lambda: publisher.get_subscription_count() > 0
                     and subscription.get_publisher_count() > 0, 30.0,
                     'the echo process to match')
        for msg in sent:
            publisher.publish(msg)
        h.spin_until(lambda: len(received) == len(sent), 20.0, 'the echoed messages')
    assert [field_values(m) for m in received] == [field_values(m) for m in sent]
    assert received == sent


def test_payload_is_64_kib() -> None:
    assert len(packed_spikes()[0].data) == 64 * 1024
