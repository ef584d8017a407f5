"""Every neucodex_ros message crosses a process boundary over Fast DDS unchanged."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml
from event_camera_msgs.msg import EventPacket
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.serialization import serialize_message
from rosutil import child, harness, python_command, type_hash
from vision_msgs.msg import Classification, ObjectHypothesis

from neucodex_ros.core import codec
from neucodex_ros.core.errors import CodecError
from neucodex_ros.msg import ExitSignal, PackedSpikes, Prediction, SampleLabel

pytestmark = pytest.mark.ros

RNG = np.random.default_rng(7)


def header(msg, sec: int, nanosec: int, frame: str):
    msg.header.stamp.sec = sec
    msg.header.stamp.nanosec = nanosec
    msg.header.frame_id = frame
    return msg


def packed_spikes() -> list[PackedSpikes]:
    big = PackedSpikes(source_id='robot-ü7', sample_id=2**64 - 1, model_id=2**64 - 1,
                       timestep=65535, num_timesteps=65535, channels=16, height=64, width=512,
                       encoding=255, flags=255,
                       data=RNG.integers(0, 256, 65536, dtype=np.uint8).tobytes())
    big.stamp.sec, big.stamp.nanosec = 2**31 - 1, 999_999_999
    small = PackedSpikes(source_id='r1', sample_id=3, model_id=0xDA02F3B3EA20ECD6, timestep=2,
                         num_timesteps=4, channels=1, height=3, width=5,
                         encoding=PackedSpikes.ENCODING_ZSTD, flags=PackedSpikes.FLAG_VERDICT,
                         data=bytes([0b10110000, 0xFF]))
    small.stamp.sec, small.stamp.nanosec = 1_700_000_000, 1
    return [big, small, PackedSpikes()]


def exit_signals() -> list[ExitSignal]:
    reasons = (ExitSignal.REASON_CONFIDENT, ExitSignal.REASON_REACHED_T,
               ExitSignal.REASON_ERROR, ExitSignal.REASON_CONTINUE)
    return [ExitSignal(source_id=f'robot{r}', sample_id=10**12 + r, timesteps_used=r + 1,
                       timesteps_lost=r, reason=r, label=r - 1, confidence=0.25 * r,
                       probabilities=[0.5, 0.25, 0.25][:r], bytes_received=r * 10**9,
                       status=ExitSignal.STATUS_OK if r < 2 else ExitSignal.STATUS_TIMEOUT)
            for r in reasons]


def predictions() -> list[Prediction]:
    probabilities = RNG.dirichlet(np.ones(10)).astype(np.float32)
    ok = Prediction(source_id='robot0', sample_id=41, label=7, label_name='seven',
                    confidence=float(probabilities.max()),
                    probabilities=probabilities.tolist(), timesteps_used=2, num_timesteps=4,
                    timesteps_lost=65535, bytes_received=2**32 - 1, status='ok',
                    computed_on=Prediction.COMPUTED_ON_SPLIT)
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


def sample_labels() -> list[SampleLabel]:
    return [header(SampleLabel(t_first_us=2**64 - 1, t_last_us=0, label=-1, label_name='',
                               source=''), 0, 0, ''),
            header(SampleLabel(t_first_us=300_000, t_last_us=612_345, label=9, label_name='9',
                               source='nmnist/Test/9/01234.bin'), 12, 13, 'events')]


def event_packets() -> list[EventPacket]:
    evt3 = EventPacket(encoding='evt3', width=640, height=480, seq=2**64 - 1, time_base=2**63,
                       is_bigendian=False, events=RNG.integers(0, 256, 4096, np.uint8).tobytes())
    return [header(evt3, 1_700_000_000, 5, 'event_camera'), EventPacket()]


def classifications() -> list[Classification]:
    scores = RNG.dirichlet(np.ones(10))
    full = Classification(results=[ObjectHypothesis(class_id=f'class ü{n}', score=float(score))
                                   for n, score in enumerate(scores)])
    return [header(full, 1_700_000_000, 7, 'camera'), Classification()]


@pytest.mark.parametrize('msg_type, make', [
    (PackedSpikes, packed_spikes), (ExitSignal, exit_signals), (Prediction, predictions),
    (SampleLabel, sample_labels), (EventPacket, event_packets),
    (Classification, classifications)],
    ids=['PackedSpikes', 'ExitSignal', 'Prediction', 'SampleLabel', 'EventPacket',
         'Classification'])
def test_round_trip_between_processes(msg_type, make) -> None:
    sent = make()
    type_path = f'{msg_type.__module__.split(".")[0]}.msg.{msg_type.__name__}'
    # transient local: a message published before the other side's reader has matched this
    # writer (seeing a subscriber is not that) is delivered on matching instead of lost
    qos = QoSProfile(history=HistoryPolicy.KEEP_ALL, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
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


def test_a_timestep_costs_little_more_than_its_payload() -> None:
    """What crosses the link per timestep and per answer, serialized (CDR, 4-byte header).

    Both carry the cloud's 32-bit fingerprint (core/fleet.py, rule 6): 4 bytes each.
    """
    payload = bytes(15)  # a typical rice payload of the digits model
    spikes = PackedSpikes(source_id='robot0', sample_id=2**62, model_id=2**63, cloud=2**32 - 1,
                          timestep=1, num_timesteps=4, channels=4, height=7, width=7,
                          encoding=PackedSpikes.ENCODING_RICE, data=payload)
    assert len(serialize_message(spikes)) == 60 + len(payload)
    answer = ExitSignal(source_id='robot0', sample_id=2**62, cloud=2**32 - 1,
                        probabilities=[0.1] * 10)
    assert len(serialize_message(answer)) == 52 + 4 * 10
    verdict = ExitSignal(source_id='robot0', sample_id=2**62,
                         reason=ExitSignal.REASON_CONTINUE)
    assert len(serialize_message(verdict)) == 52


def test_wire_ids_are_the_codec_registry() -> None:
    """PackedSpikes' ENCODING_* constants name the codecs of core/codec.py, in order."""
    constants = {name.removeprefix('ENCODING_').lower().replace('_', '-'): value
                 for name, value in vars(PackedSpikes).items() if name.startswith('ENCODING_')}
    assert constants == codec.WIRE_IDS
    assert [codec.from_wire_id(i) for i in range(len(codec.ENCODINGS))] == \
        list(codec.ENCODINGS)
    with pytest.raises(CodecError, match='unknown spike encoding number 6'):
        codec.from_wire_id(6)


def test_event_packet_type_hash_equals_the_real_drivers(shared_data: Path) -> None:
    """Bags recorded from metavision_driver / libcaer_driver carry the upstream type hash."""
    recorded = set()
    for metadata in (shared_data / 'bags').glob('*/metadata.yaml'):
        info = yaml.safe_load(metadata.read_text())['rosbag2_bagfile_information']
        recorded |= {t['topic_metadata'].get('type_description_hash')
                     for t in info['topics_with_message_count']
                     if t['topic_metadata']['type'] == 'event_camera_msgs/msg/EventPacket'}
    recorded.discard(None)
    assert recorded, 'no EventPacket topic with a type hash in the recorded bags'
    assert recorded == {type_hash('event_camera_msgs', 'EventPacket')}


#: RIHS01 type hashes of vision_msgs 4.x, as rosidl generated them upstream: recorded in a
#: public build of ros-perception/vision_msgs (the generated classification__description.c
#: and object_hypothesis__description.c, their get_type_hash()).
UPSTREAM_VISION_HASHES = {
    'Classification': 'RIHS01_f74db28d0eaef3afb78f48bf2161cd709a1383a0309d3454383b25be11345143',
    'ObjectHypothesis':
        'RIHS01_51da43cec11c01957a64d1e05a24acd18aae7745ec30b74348ad5f6d634f7f90',
}


@pytest.mark.parametrize('name', sorted(UPSTREAM_VISION_HASHES))
def test_vision_msgs_type_hashes_equal_the_upstream_build(name: str) -> None:
    """Any vision_msgs consumer (a ROS install's real package) matches our Classification."""
    assert type_hash('vision_msgs', name) == UPSTREAM_VISION_HASHES[name]


def test_every_status_is_a_named_constant_and_means_one_thing() -> None:
    """Prediction.status values are STATUS_* constants, and the cloud's codes map onto them.

    The ROS-free core's OK is the same word, and a client's UNANSWERED is none of them.
    """
    from neucodex_ros.core.protocol import CLOUD_UNAVAILABLE, Status
    from neucodex_ros.core.scoring import OK, UNANSWERED

    statuses = {getattr(Prediction, name) for name in dir(Prediction)
                if name.startswith('STATUS_')}
    assert statuses == {'ok', 'cloud_unavailable', 'timeout', 'evicted', 'lost'}
    assert {status.outcome for status in Status} == statuses - {CLOUD_UNAVAILABLE}
    assert Prediction.STATUS_CLOUD_UNAVAILABLE == CLOUD_UNAVAILABLE
    for status in Status:  # the core's names carry the wire's numbers
        assert getattr(ExitSignal, f'STATUS_{status.name}') == status
        assert getattr(Prediction, f'STATUS_{status.name}') == status.outcome
    assert len({n for n in dir(ExitSignal) if n.startswith('STATUS_')}) == len(Status)
    assert OK == Prediction.STATUS_OK and UNANSWERED not in statuses


def test_the_cores_reasons_and_flags_are_the_wires() -> None:
    """core/protocol.py names the numbers the messages define, one for one."""
    from neucodex_ros.core.protocol import Flag, Reason

    assert {n: getattr(ExitSignal, n) for n in dir(ExitSignal) if n.startswith('REASON_')} \
        == {f'REASON_{reason.name}': reason.value for reason in Reason}
    assert {n: getattr(PackedSpikes, n) for n in dir(PackedSpikes) if n.startswith('FLAG_')} \
        == {f'FLAG_{flag.name}': flag.value for flag in Flag}
