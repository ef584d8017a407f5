"""`neucodex-ros convert`, `inspect` and `replay` on real recordings and simulated digits."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
from rosutil import child, harness, type_hash
from tiny_data import make_event_folder

from neucodex_ros.core.datasets.atis import read_atis_bin
from neucodex_ros.core.events.bags import (
    EVENT_PACKET,
    SAMPLE_LABEL,
    decoded_packets,
    deserialize,
    open_bag,
)


def cli(*args: str) -> str:
    result = subprocess.run([sys.executable, '-m', 'neucodex_ros.cli', *args],
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def read_bag(bag: Path) -> tuple[list, list]:
    """(decoded EventPackets with their messages, SampleLabels) of a converted bag."""
    packets = [(msg, decoded.events) for _, msg, decoded in decoded_packets(bag)]
    with open_bag(bag) as reader:
        labels = [deserialize(raw, SAMPLE_LABEL) for _, _, raw in reader.messages(
            connections=[c for c in reader.connections if c.msgtype == SAMPLE_LABEL])]
    return packets, labels


@pytest.mark.parametrize('storage, encoding', [('mcap', 'evt3'), ('sqlite3', 'mono')])
def test_nmnist_files_convert_exactly(shared_data: Path, tmp_path: Path, storage: str,
                                      encoding: str) -> None:
    root = shared_data / 'nmnist_small' / 'train'
    bag = tmp_path / 'bag'
    cli('convert', '--dataset', 'nmnist', '--data-dir', str(root), '--part', 'test',
        '--limit', '6', '--out', str(bag), '--storage', storage, '--encoding', encoding)
    packets, labels = read_bag(bag)
    events = np.concatenate([e for _, e in packets])
    assert len(labels) == 6
    table = dict(line.split(',') for line in (root / 'labels.csv').read_text().split()[1:])
    for index, label in enumerate(labels):
        source = Path(label.source)
        original = read_atis_bin(source)
        start = (index + 1) * 350_000  # one sample per 0.35 s slot
        in_slot = events[(events['t'] >= start) & (events['t'] < start + 350_000)]
        assert (in_slot['x'] == original['x']).all() and (in_slot['p'] == original['p']).all()
        assert (in_slot['t'] - start == original['t'] - original['t'][0]).all()
        assert label.label == int(table[source.name]) and label.label_name == table[source.name]
        first = next(msg for msg, e in packets if len(e) and e['t'][0] == start)
        assert label.header.stamp == first.header.stamp
    metadata = yaml.safe_load((bag / 'metadata.yaml').read_text())['rosbag2_bagfile_information']
    assert metadata['storage_identifier'] == storage
    hashes = {t['topic_metadata']['type']: t['topic_metadata']['type_description_hash']
              for t in metadata['topics_with_message_count']}
    assert hashes == {EVENT_PACKET: type_hash('event_camera_msgs', 'EventPacket'),
                      SAMPLE_LABEL: type_hash('neucodex_ros', 'SampleLabel')}


def test_inspect_json_on_the_real_bags(shared_data: Path) -> None:
    [evt3] = json.loads(cli('inspect', str(shared_data / 'bags' / 'prophesee_evt3'), '--json'))
    assert {k: evt3[k] for k in ('topic', 'encoding', 'width', 'height', 'packets',
                                 'events_on', 'events_off', 'triggers_falling')} == {
        'topic': '/event_camera/events', 'encoding': 'evt3', 'width': 640, 'height': 480,
        'packets': 517, 'events_on': 125_183, 'events_off': 218_291, 'triggers_falling': 2_078}
    assert evt3['triggers_rising'] == 2_079  # see test/core/events/test_codecs.py
    assert 2.0e6 < evt3['t_last_us'] - evt3['t_first_us'] < 2.1e6
    [caer] = json.loads(cli('inspect', str(shared_data / 'bags' / 'inivation_libcaer'),
                            '--json'))
    assert (caer['events_on'], caer['events_off'], caer['packets']) == (181_908, 152_423, 201)
    text = cli('inspect', str(shared_data / 'bags' / 'inivation_libcaer'))
    assert '334,331: 181,908 ON, 152,423 OFF' in text


def test_aedat4_converts_whole(shared_data: Path, tmp_path: Path) -> None:
    bag = tmp_path / 'bag'
    cli('convert', '--aedat4', str(shared_data / 'aedat4' / 'dvxplorer_person.aedat4'),
        '--out', str(bag), '--storage', 'sqlite3')
    [stats] = json.loads(cli('inspect', str(bag), '--json'))
    assert stats['events_on'] + stats['events_off'] == 111_954
    assert (stats['width'], stats['height']) == (320, 240)


@pytest.mark.parametrize('dataset, suffix, sensor', [('cifar10dvs', '.aedat', (128, 128)),
                                                     ('ncaltech101', '.bin', (180, 240))])
def test_event_datasets_convert(tmp_path: Path, dataset: str, suffix: str,
                                sensor: tuple[int, int]) -> None:
    """CIFAR10-DVS (AEDAT 3.1) and N-Caltech101 (.bin) folders → bags with every event."""
    written = make_event_folder(tmp_path / 'data', suffix, ['cat', 'dog'], 10, *sensor)
    bag = tmp_path / 'bag'
    cli('convert', '--dataset', dataset, '--data-dir', str(tmp_path / 'data'), '--part', 'all',
        '--out', str(bag))
    packets, labels = read_bag(bag)
    assert len(labels) == len(written) == 20
    assert sum(len(e) for _, e in packets) == sum(len(e) for e in written.values())
    for label in labels:
        assert label.label_name == Path(label.source).parent.name
        assert label.t_last_us - label.t_first_us == np.ptp(written[Path(label.source)]['t'])


def test_convert_limit_draws_every_class_in_turn(tmp_path: Path) -> None:
    """A quick bag of a part sorted by class holds every class, not only zeros."""
    bag = tmp_path / 'bag'
    cli('convert', '--dataset', 'digits_dvs', '--part', 'test', '--limit', '10', '--out',
        str(bag))
    _, labels = read_bag(bag)
    assert sorted(label.label for label in labels) == list(range(10))


@pytest.mark.ros
def test_replay_publishes_every_message_unchanged_in_order(tmp_path: Path) -> None:
    """Simulated digits (no ../shared needed) → bag → replay → received as recorded."""
    bag = tmp_path / 'bag'
    cli('convert', '--dataset', 'digits_dvs', '--part', 'test', '--limit', '4', '--out', str(bag))
    with open_bag(bag) as reader:
        recorded = [(c.topic, bytes(raw)) for c, _, raw in reader.messages()]
        duration = reader.duration / 1e9
    qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=1000,
                     reliability=ReliabilityPolicy.RELIABLE)
    received: list[tuple[str, bytes, float]] = []
    from event_camera_msgs.msg import EventPacket

    from neucodex_ros.msg import SampleLabel
    with harness() as h:
        for topic, msg_type in (('/event_camera/events', EventPacket),
                                ('/event_camera/labels', SampleLabel)):
            h.node.create_subscription(
                msg_type, topic, lambda raw, t=topic: received.append((t, raw, time.monotonic())),
                qos, raw=True)
        command = [sys.executable, '-m', 'neucodex_ros.cli', 'replay', str(bag), '--rate', '2',
                   '--wait-for-subscribers', '30']
        with child(command) as process:
            h.spin_until(lambda: len(received) == len(recorded), 60.0, 'every message')
            process.wait(30)
    assert process.returncode == 0
    for topic in ('/event_camera/events', '/event_camera/labels'):
        got = [raw for t, raw, _ in received if t == topic]
        sent = [raw for t, raw in recorded if t == topic]
        assert len(got) == len(sent)
        for a, b in zip(got, sent, strict=True):  # Fast DDS pads CDR to 4 bytes; rosbags not
            assert a[:len(b)] == b and a[len(b):] == bytes(len(a) - len(b)) and len(a) % 4 == 0
    assert received[-1][2] - received[0][2] >= 0.8 * duration / 2  # the recorded timing, x2
    # --start-offset skips the first part of the recording
    late: list[bytes] = []
    with harness() as h:
        h.node.create_subscription(EventPacket, '/event_camera/events', late.append, qos,
                                   raw=True)
        command = [sys.executable, '-m', 'neucodex_ros.cli', 'replay', str(bag), '--rate', '4',
                   '--wait-for-subscribers', '30', '--start-offset', str(duration / 2),
                   '--topics', '/event_camera/events']
        with child(command) as process:
            process.wait(60)
            end = time.monotonic() + 1.0  # what is still in flight
            h.spin_until(lambda: time.monotonic() > end, 2.0)
    events = [raw for t, raw in recorded if t == '/event_camera/events']
    assert 0 < len(late) < len(events)
    assert [raw[:len(b)] for raw, b in zip(late, events[-len(late):], strict=True)] == \
        events[-len(late):]


def test_bags_with_unknown_types_and_corrupt_packets(tmp_path: Path) -> None:
    """A topic of a type nobody here knows is skipped; corrupt packets are counted, not fatal."""
    from rosbags.rosbag2 import StoragePlugin, Writer
    from rosbags.typesys import Stores, get_types_from_msg, get_typestore

    from neucodex_ros.core.events import make_events
    from neucodex_ros.core.events.bags import BAG_VERSION, message_class, serialize, typestore
    from neucodex_ros.core.events.codecs import encode_evt3

    acme = get_typestore(Stores.ROS2_KILTED)
    acme.register(get_types_from_msg('uint8[] data', 'acme_msgs/msg/Blob'))
    events = make_events(np.arange(5), np.arange(5), np.ones(5), np.arange(5) * 10)

    def packet(encoding: str, seq: int) -> bytes:
        header = acme.types['std_msgs/msg/Header'](
            stamp=acme.types['builtin_interfaces/msg/Time'](sec=1, nanosec=seq), frame_id='')
        return serialize(message_class(EVENT_PACKET)(
            header=header, height=8, width=8, seq=seq, time_base=0, encoding=encoding,
            is_bigendian=False, events=np.frombuffer(encode_evt3(events), np.uint8)),
            EVENT_PACKET)

    good = packet('evt3', 0)
    bag = tmp_path / 'bag'
    with Writer(bag, version=BAG_VERSION, storage_plugin=StoragePlugin.MCAP) as writer:
        blobs = writer.add_connection('/acme/blob', 'acme_msgs/msg/Blob', typestore=acme)
        packets = writer.add_connection('/events', EVENT_PACKET, typestore=typestore())
        writer.write(blobs, 1, bytes(acme.serialize_cdr(
            acme.types['acme_msgs/msg/Blob'](data=np.zeros(3, np.uint8)), 'acme_msgs/msg/Blob')))
        for n, raw in enumerate([good, good[:len(good) // 2], packet('evt9', 1), good]):
            writer.write(packets, 10 + n, raw)

    [stats] = json.loads(cli('inspect', str(bag), '--json'))
    assert (stats['topic'], stats['packets'], stats['rejected_packets']) == ('/events', 4, 2)
    assert stats['events_on'] == 2 * len(events)

    received: list[bytes] = []
    from event_camera_msgs.msg import EventPacket
    with harness() as h:
        h.node.create_subscription(EventPacket, '/events', received.append, QoSProfile(
            history=HistoryPolicy.KEEP_LAST, depth=100, reliability=ReliabilityPolicy.RELIABLE),
            raw=True)
        command = [sys.executable, '-m', 'neucodex_ros.cli', 'replay', str(bag),
                   '--wait-for-subscribers', '30']
        result = subprocess.run(command, capture_output=True, text=True, timeout=120)
        h.spin_until(lambda: len(received) == 3, 10.0, 'the three packets that deserialize')
    assert result.returncode == 0, result.stderr
    assert 'skipping /acme/blob: cannot import acme_msgs/msg/Blob' in result.stdout
    assert 'published 3 messages; skipped 1 that do not deserialize' in result.stdout


def test_a_looping_replay_stops_on_ctrl_c_and_says_what_it_published(shared_data: Path) -> None:
    replay = subprocess.Popen([sys.executable, '-m', 'neucodex_ros.cli', 'replay', '--loop',
                               str(shared_data / 'bags' / 'prophesee_evt3')],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    first = replay.stdout.readline()  # the replay's first line: it plays
    assert 'looping' in first, first
    time.sleep(1.0)
    replay.send_signal(signal.SIGINT)
    output = replay.communicate(timeout=60)[0]
    assert replay.returncode == 0, output
    assert 'Traceback' not in output and 'replay: published' in output, output
