"""`neucodex-ros convert`: event datasets and recordings → rosbag2 files of EventPacket.

Dataset samples (N-MNIST / N-Caltech101 `.bin`, CIFAR10-DVS AEDAT 3.1, or the simulated
digits) are laid out one per `--period` on the event clock: sample i starts at i·period, so
an edge node with `window_duration` = period cuts exactly the samples back out. Each sample
goes out as EventPackets of `--packet-ms` (evt3 or mono encoding, as the drivers publish), and
a SampleLabel per sample on the label topic, stamped like the packet that carries its first
event, so a replay through the nodes can be scored. An AEDAT4 recording (`--aedat4`) is
written as one stream, without labels. The bag plays with `neucodex-ros replay` or, on a ROS
install, `ros2 bag play`.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from neucodex_ros.core import topics
from neucodex_ros.core.errors import ConfigError

HELP = 'write event datasets or AEDAT4 recordings as rosbag2 files of EventPacket'
EPOCH_NS = 1_700_000_000 * 10**9  # bag time and header stamps of event time 0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `convert`."""
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument('--dataset', choices=['nmnist', 'ncaltech101', 'cifar10dvs',
                                              'digits_dvs'],
                        help='an event dataset (read from --data-dir; digits_dvs needs none)')
    source.add_argument('--aedat4', type=Path, help='an AEDAT4 recording')
    parser.add_argument('--data-dir', type=Path, default=None, help='the dataset folder')
    parser.add_argument('--part', choices=['train', 'val', 'test', 'all'], default='test',
                        help='dataset part to convert (default: %(default)s)')
    parser.add_argument('--limit', type=int, default=None, metavar='N',
                        help='N samples only, every class in turn (a class-balanced draw)')
    parser.add_argument('--out', type=Path, required=True, help='bag folder to create')
    parser.add_argument('--storage', choices=['mcap', 'sqlite3'], default='mcap',
                        help='rosbag2 storage format; both play with replay and ros2 bag play')
    parser.add_argument('--encoding', choices=['evt3', 'mono'], default='evt3',
                        help='EventPacket encoding: evt3 as metavision_driver publishes, or '
                             'mono (64-bit words, one per event)')
    parser.add_argument('--period', type=float, default=0.35,
                        help='seconds of event time per dataset sample (default: %(default)s)')
    parser.add_argument('--packet-ms', type=float, default=10.0,
                        help='event time per EventPacket, ms (default: %(default)s)')
    parser.add_argument('--topic', default=topics.EVENTS,
                        help='EventPacket topic, where the drivers publish (default: %(default)s)')
    parser.add_argument('--label-topic', default=topics.LABELS,
                        help='SampleLabel topic (default: %(default)s)')
    parser.add_argument('--frame-id', default='event_camera',
                        help='header.frame_id of the packets and labels')


def run(args: argparse.Namespace) -> int:
    """Read the samples, write the bag, print what was written."""
    from tqdm import tqdm

    from neucodex_ros.core.errors import EventError
    from neucodex_ros.core.events import split_at_multiples
    from neucodex_ros.core.events.bags import EVENT_PACKET, SAMPLE_LABEL, BagWriter, message_class

    period_us, packet_us = round(args.period * 1e6), round(args.packet_ms * 1e3)
    if period_us < 1 or packet_us < 1:
        raise ConfigError('--period and --packet-ms must be positive')
    packet_class, label_class = message_class(EVENT_PACKET), message_class(SAMPLE_LABEL)
    samples = list(_samples(args))
    # dataset time starts at 0: stamp it from a fixed epoch; AEDAT4 time is the epoch's own
    offset_ns = EPOCH_NS if args.aedat4 is None else 0
    packets = labels = empty = 0
    seq = 0
    with BagWriter(args.out, args.storage) as bag:
        for index, (events, sensor, label, label_name, source) in enumerate(
                tqdm(samples, desc='samples', unit='sample', disable=len(samples) < 2)):
            if args.aedat4 is None:  # a dataset sample: onto its slot of the grid
                duration = int(events['t'][-1] - events['t'][0]) if len(events) else 0
                if duration >= period_us:
                    raise EventError(f'{source} lasts {duration / 1e6:.3f} s, longer than '
                                     f'--period {args.period} s')
                events = events.copy()
                events['t'] = events['t'] - (events['t'][0] if len(events) else 0) \
                    + (index + 1) * period_us
            first_stamp = None
            for chunk in split_at_multiples(events, packet_us):
                t0 = int(chunk['t'][0]) // packet_us * packet_us
                stamp = _time(offset_ns + t0 * 1000)
                first_stamp = first_stamp or stamp
                msg = packet_class(header=_header(stamp, args.frame_id), height=sensor[0],
                                   width=sensor[1], seq=seq, time_base=t0 * 1000,
                                   encoding=args.encoding, is_bigendian=False,
                                   events=np.frombuffer(_encode(chunk, args.encoding, t0),
                                                        np.uint8))
                bag.write(args.topic, EVENT_PACKET, offset_ns + t0 * 1000, msg)
                seq += 1
                packets += 1
            empty += first_stamp is None
            if label is not None and first_stamp is not None:
                bag.write(args.label_topic, SAMPLE_LABEL,
                          first_stamp.sec * 10**9 + first_stamp.nanosec,
                          label_class(header=_header(first_stamp, args.frame_id),
                                      t_first_us=int(events['t'][0]),
                                      t_last_us=int(events['t'][-1]), label=label,
                                      label_name=label_name, source=source))
                labels += 1
    print(f'wrote {args.out} ({args.storage}): {packets} {args.encoding} EventPackets on '
          f'{args.topic}, {labels} SampleLabels on {args.label_topic}'
          + (f'; replay into an edge node with window_duration: {args.period}'
             if labels else '')
          + (f'; {empty} sample(s) without events left out' if empty else ''))
    return 0


Sample = tuple[np.ndarray, tuple[int, int], int | None, str, str]


def _samples(args: argparse.Namespace) -> Iterator[Sample]:
    """(events, sensor (h, w), label, label name, source) per sample, in order."""
    from neucodex_ros.core.datasets import DataOptions, classes_in_turn, load_dataset

    if args.aedat4 is not None:
        from neucodex_ros.core.datasets.aedat4 import read_aedat4

        events, sensor = read_aedat4(args.aedat4)
        yield events, sensor, None, '', str(args.aedat4)
        return
    parts = ['train', 'val', 'test'] if args.part == 'all' else [args.part]
    entries = []  # (part, dataset, class names, index) of every sample, in order
    for part in parts:
        dataset, spec = load_dataset(args.dataset, args.data_dir, part, DataOptions(cache=False))
        entries += [(part, dataset, spec.class_names, index)
                    for index in range(len(dataset))]  # type: ignore[arg-type]
    order: Any = range(len(entries))
    if args.limit is not None:  # parts are sorted by class: take every class in turn
        labels = np.array([int(d.labels[i]) for _, d, _, i in entries])  # type: ignore[attr-defined]
        order = classes_in_turn(labels)[:args.limit]
    for position in order:
        part, dataset, class_names, index = entries[position]
        source = dataset.files[index]  # type: ignore[attr-defined]
        label = int(dataset.labels[index])  # type: ignore[attr-defined]
        yield (dataset.events(index), dataset.sensor_size,  # type: ignore[attr-defined]
               label, class_names[label],
               str(source) if isinstance(source, Path) else f'{args.dataset}/{part}/{source}')


def _encode(events: np.ndarray, encoding: str, t0_us: int) -> bytes:
    from neucodex_ros.core.events.codecs import encode_evt3, encode_mono

    return encode_evt3(events) if encoding == 'evt3' else encode_mono(events, t0_us * 1000)


def _time(ns: int):  # noqa: ANN202 - a rosbags builtin_interfaces/Time
    from neucodex_ros.core.events.bags import message_class

    sec, nanosec = divmod(ns, 10**9)
    return message_class('builtin_interfaces/msg/Time')(sec=sec, nanosec=nanosec)


def _header(stamp, frame_id: str):  # noqa: ANN001, ANN202 - rosbags message objects
    from neucodex_ros.core.events.bags import message_class

    return message_class('std_msgs/msg/Header')(stamp=stamp, frame_id=frame_id)
