"""ROS 2 bags of event-camera data, read and written with rosbags (no ROS install needed).

A bag is a rosbag2 folder (metadata.yaml + sqlite3 `.db3` or `.mcap` files). Bags whose
metadata has an empty `storage_identifier` (some recorders write that) are opened through a
temporary view that names the storage the files have. Messages are handled as CDR bytes and
decoded with a typestore that knows `event_camera_msgs/msg/EventPacket` and the neucodex_ros
messages, from their .msg definitions (the same files the typesupport is built from).
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from rosbags.rosbag2 import Reader, StoragePlugin, Writer
from rosbags.serde import SerdeError
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

from neucodex_ros.core.errors import EventError
from neucodex_ros.core.events.codecs import Decoded, EventDecoder, make_decoder
from neucodex_ros.resources import installed_share_dirs

EVENT_PACKET = 'event_camera_msgs/msg/EventPacket'
SAMPLE_LABEL = 'neucodex_ros/msg/SampleLabel'
STORAGES = {'sqlite3': ('.db3', StoragePlugin.SQLITE3), 'mcap': ('.mcap', StoragePlugin.MCAP)}
BAG_VERSION: Literal[8] = 8  # read by rosbag2 on Jazzy, Kilted and later


def _definition(package: str, name: str) -> str:
    """The .msg text of package/msg/name: from this source tree, a ROS install or sys.prefix."""
    source = Path(__file__).resolve().parents[2]
    candidates = [source / 'msg' if package == 'neucodex_ros'
                  else source / 'interfaces' / package / 'msg']
    candidates += [share / 'msg' for share in installed_share_dirs(package)]
    for folder in candidates:
        if (folder / f'{name}.msg').is_file():
            return (folder / f'{name}.msg').read_text()
    raise FileNotFoundError(f'{package}/msg/{name}.msg not found in {[str(c) for c in candidates]}')


@cache
def typestore() -> Typestore:
    """ROS 2 Kilted's standard types plus EventPacket and SampleLabel."""
    store = get_typestore(Stores.ROS2_KILTED)
    for full_name in (EVENT_PACKET, SAMPLE_LABEL):
        package, _, name = full_name.split('/')
        store.register(get_types_from_msg(_definition(package, name), full_name))
    return store


def _storage_of(files: list[Path]) -> str:
    suffixes = {path.suffix for path in files}
    for storage, (suffix, _) in STORAGES.items():
        if suffixes == {suffix}:
            return storage
    raise EventError(f'cannot tell the storage of bag files {[p.name for p in files]}')


@contextmanager
def open_bag(path: Path | str) -> Iterator[Reader]:
    """A rosbags Reader for a bag folder; tolerates an empty storage_identifier."""
    path = Path(path)
    metadata_file = path / 'metadata.yaml'
    if not metadata_file.is_file():
        inside = sorted(str(bag.parent) for bag in path.glob('*/metadata.yaml'))
        raise EventError(f'{path} is not a rosbag2 folder (no metadata.yaml)' + (
            f'; it holds {len(inside)}: give one of {", ".join(inside[:5])}'
            + (', ...' if len(inside) > 5 else '') if inside else ''))
    metadata = yaml.safe_load(metadata_file.read_text())
    info = metadata['rosbag2_bagfile_information']
    if info.get('storage_identifier'):
        with Reader(path) as reader:
            yield reader
        return
    files = [path / name for name in info.get('relative_file_paths', [])]
    info['storage_identifier'] = _storage_of(files)
    view = Path(tempfile.mkdtemp(prefix='neucodex_bag_'))
    try:
        for file in files:
            (view / file.name).symlink_to(file.resolve())
        (view / 'metadata.yaml').write_text(yaml.safe_dump(metadata, sort_keys=False))
        with Reader(view) as reader:
            yield reader
    finally:
        shutil.rmtree(view, ignore_errors=True)


def deserialize(raw: bytes, msgtype: str) -> Any:
    """CDR bytes → a rosbags message object (fields as attributes, uint8[] as numpy)."""
    return typestore().deserialize_cdr(raw, msgtype)


def serialize(message: Any, msgtype: str) -> bytes:
    """A rosbags message object → CDR bytes, as rclpy publishes them."""
    return bytes(typestore().serialize_cdr(message, msgtype))


def message_class(msgtype: str) -> Any:
    """The rosbags class of a message type, to build messages for writing."""
    return typestore().types[msgtype]


@dataclass
class BagWriter:
    """Writes CDR messages to a new bag (sqlite3 or mcap)."""

    path: Path
    storage: str = 'mcap'

    def __post_init__(self) -> None:
        if self.storage not in STORAGES:
            raise EventError(f'storage must be one of {sorted(STORAGES)}, got {self.storage!r}')
        if self.path.exists():
            raise EventError(f'{self.path} exists; bags are never overwritten')
        self._writer = Writer(self.path, version=BAG_VERSION,
                              storage_plugin=STORAGES[self.storage][1])
        self._connections: dict[str, Any] = {}

    def __enter__(self) -> BagWriter:
        self._writer.open()
        return self

    def __exit__(self, *exc: object) -> None:
        self._writer.close()

    def write(self, topic: str, msgtype: str, time_ns: int, message: Any) -> None:
        """Add one message, received at time_ns (the bag's timeline)."""
        if topic not in self._connections:
            self._connections[topic] = self._writer.add_connection(
                topic, msgtype, typestore=typestore(), rihs01=typestore().hash_rihs01(msgtype))
        self._writer.write(self._connections[topic], time_ns, serialize(message, msgtype))


@dataclass
class TopicStats:
    """What `neucodex-ros inspect` reports for one EventPacket topic."""

    topic: str
    encoding: str = ''
    width: int = 0
    height: int = 0
    packets: int = 0
    events_on: int = 0
    events_off: int = 0
    triggers_rising: int = 0
    triggers_falling: int = 0
    t_first_us: int | None = None
    t_last_us: int | None = None
    rejected_packets: int = 0  # could not be decoded (unknown encoding, truncated)
    outside: int = 0  # events dropped for lying outside width x height

    @property
    def events(self) -> int:
        """ON and OFF events together."""
        return self.events_on + self.events_off

    @property
    def event_rate(self) -> float:
        """Events per second of recording."""
        if self.t_first_us is None or self.t_last_us is None or self.t_last_us == self.t_first_us:
            return 0.0
        return self.events / ((self.t_last_us - self.t_first_us) * 1e-6)


def decoded_packets(path: Path | str) -> Iterator[tuple[str, Any, Decoded | EventError]]:
    """Every EventPacket of a bag as (topic, message, what it decodes to), in bag order.

    Topics of other types are left alone. One decoder per topic and encoding, as a node
    keeps one per stream; a packet that cannot be decoded comes with its EventError instead
    (and as message None if not even its CDR bytes make an EventPacket).
    """
    decoders: dict[tuple[str, str], EventDecoder] = {}
    with open_bag(path) as reader:
        connections = [c for c in reader.connections if c.msgtype == EVENT_PACKET]
        for connection, _, raw in reader.messages(connections=connections):
            try:
                msg = deserialize(raw, EVENT_PACKET)
            except SerdeError as err:
                yield connection.topic, None, EventError(f'corrupt EventPacket: {err}')
                continue
            try:
                key = (connection.topic, msg.encoding)
                if key not in decoders:
                    decoders[key] = make_decoder(msg.encoding)
                yield connection.topic, msg, decoders[key].decode(
                    msg.events, msg.width, msg.height, msg.time_base, msg.is_bigendian)
            except EventError as err:
                yield connection.topic, msg, err


def event_topic_stats(path: Path | str) -> list[TopicStats]:
    """Decode every EventPacket in a bag and count, per topic."""
    stats: dict[str, TopicStats] = {}
    for name, msg, decoded in decoded_packets(path):
        topic = stats.setdefault(name, TopicStats(name))
        topic.packets += 1
        if msg is None:
            topic.rejected_packets += 1
            continue
        topic.encoding = topic.encoding or msg.encoding
        topic.width, topic.height = int(msg.width), int(msg.height)
        if isinstance(decoded, EventError):
            topic.rejected_packets += 1
            continue
        events, triggers = decoded.events, decoded.triggers
        on = int(events['p'].sum())
        topic.events_on += on
        topic.events_off += len(events) - on
        rising = int(triggers['edge'].sum())
        topic.triggers_rising += rising
        topic.triggers_falling += len(triggers) - rising
        topic.outside += decoded.outside
        times = [a['t'] for a in (events, triggers) if len(a)]
        if times:
            first, last = min(int(t[0]) for t in times), max(int(t[-1]) for t in times)
            topic.t_first_us = first if topic.t_first_us is None else topic.t_first_us
            topic.t_last_us = last
    return list(stats.values())
