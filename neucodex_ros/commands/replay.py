"""`neucodex-ros replay BAG`: play a bag through rclpy with its recorded timing.

The pip stand-in for `ros2 bag play`: every topic whose message type this environment can
import (EventPacket, the neucodex_ros messages, the standard ones) is published as the
recorded CDR bytes, unchanged, at the recorded times scaled by `--rate`, optionally from
`--start-offset` seconds in and in a `--loop`. Topics of types it cannot import are skipped
(said at the start), and so is a message whose bytes do not deserialize as its type (counted
at the end): a subscriber cannot take it either. Publishers are reliable with a deep history,
so they match reliable and best-effort subscribers alike.
"""

from __future__ import annotations

import argparse
import importlib
import time
from pathlib import Path
from typing import Any

HELP = 'publish the messages of a bag through rclpy with their recorded timing'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `replay`."""
    parser.add_argument('bag', type=Path, help='rosbag2 folder (sqlite3 or mcap)')
    parser.add_argument('--rate', type=float, default=1.0,
                        help='playback speed factor (default %(default)s)')
    parser.add_argument('--start-offset', type=float, default=0.0, metavar='SECONDS',
                        help='skip this much of the recording')
    parser.add_argument('--loop', action='store_true', help='play again and again (Ctrl-C)')
    parser.add_argument('--topics', nargs='+', default=None, help='only these topics')
    parser.add_argument('--wait-for-subscribers', type=float, default=0.0, metavar='SECONDS',
                        help='before playing, wait up to this long until every topic has a '
                             'subscriber (default: start at once)')
    parser.add_argument('--qos-depth', type=int, default=1000,
                        help='history depth of the publishers (default %(default)s)')


def message_type(name: str) -> Any | None:
    """The rclpy message class of 'pkg/msg/Name', or None if it cannot be imported here."""
    if len(parts := name.split('/')) != 3 or not all(parts):
        return None
    package, kind, type_name = parts
    try:
        return getattr(importlib.import_module(f'{package}.{kind}'), type_name)
    except (ImportError, AttributeError):
        return None


def run(args: argparse.Namespace) -> int:
    """Play the bag."""
    import rclpy
    from rclpy.duration import Duration
    from rclpy.qos import HistoryPolicy, QoSProfile, ReliabilityPolicy
    from rclpy.serialization import deserialize_message

    from neucodex_ros.core.bags import open_bag

    if args.rate <= 0:
        raise SystemExit('replay: --rate must be positive')
    qos = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=args.qos_depth,
                     reliability=ReliabilityPolicy.RELIABLE)
    with rclpy.init(), open_bag(args.bag) as reader:
        node = rclpy.create_node('neucodex_replay')
        publishers, classes, connections = {}, {}, []
        for connection in reader.connections:
            if args.topics and connection.topic not in args.topics:
                continue
            msg_class = message_type(connection.msgtype)
            if msg_class is None:
                print(f'replay: skipping {connection.topic}: cannot import {connection.msgtype}')
                continue
            connections.append(connection)
            classes[connection.id] = msg_class
            if connection.topic not in publishers:
                publishers[connection.topic] = node.create_publisher(msg_class,
                                                                     connection.topic, qos)
        if not publishers:
            print(f'replay: nothing to play in {args.bag}')
            return 1
        deadline = time.monotonic() + args.wait_for_subscribers
        while time.monotonic() < deadline and not all(
                p.get_subscription_count() > 0 for p in publishers.values()):
            rclpy.spin_once(node, timeout_sec=0.05)
        if args.wait_for_subscribers:
            # Discovery is asymmetric: a subscriber drops what arrives before it has matched
            # us in turn, so give it a moment after we have matched it.
            time.sleep(1.0)
        start_ns = reader.start_time + round(args.start_offset * 1e9)
        print(f'replay: {args.bag} — {len(publishers)} topic(s), '
              f'{sum(c.msgcount for c in connections):,} messages recorded, rate {args.rate:g}'
              + (', looping' if args.loop else ''), flush=True)
        played = corrupt = 0
        try:
            while True:
                wall_start = time.monotonic()
                for connection, timestamp, raw in reader.messages(connections=connections,
                                                                  start=start_ns):
                    due = wall_start + (timestamp - start_ns) / 1e9 / args.rate
                    if (delay := due - time.monotonic()) > 0:
                        time.sleep(delay)
                    try:
                        deserialize_message(bytes(raw), classes[connection.id])
                    except RuntimeError:  # rclpy's RMWError: not a valid CDR message
                        corrupt += 1
                        continue
                    publishers[connection.topic].publish(bytes(raw))
                    played += 1
                if not args.loop:
                    break
        except KeyboardInterrupt:
            pass
        # Reliable messages still in flight are lost if we quit before they are acknowledged.
        unacked = [topic for topic, publisher in publishers.items()
                   if not publisher.wait_for_all_acked(Duration(seconds=5))]
        print(f'replay: published {played:,} messages'
              + (f'; skipped {corrupt:,} that do not deserialize' if corrupt else '')
              + (f'; not acknowledged on {unacked}' if unacked else ''), flush=True)
        node.destroy_node()
    return 0
