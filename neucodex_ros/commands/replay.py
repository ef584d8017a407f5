"""`neucodex-ros replay BAG`: play a bag through rclpy with its recorded timing.

The pip stand-in for `ros2 bag play`: every topic whose message type this environment can
import (EventPacket, the neucodex_ros messages, the standard ones) is published as the
recorded CDR bytes, unchanged, at the recorded times scaled by `--rate`, optionally from
`--start-offset` seconds in and in a `--loop`, with topics renamed by `--remap`. Topics of
types it cannot import are skipped (said at the start), and so is a message whose bytes do not
deserialize as its type (counted at the end): a subscriber cannot take it either. Publishers
are reliable with a deep history, so they match reliable and best-effort subscribers alike.

`--score` also listens to the split's Predictions and matches them to the bag's SampleLabels
by stamp (core/scoring.py): after the last message it waits for the answers still due, then
prints accuracy, timesteps, bytes and latency (from the sample's last event being played to
its Prediction).
"""

from __future__ import annotations

import argparse
import importlib
import json
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from neucodex_ros.commands.options import add_scorer_arguments
from neucodex_ros.core.errors import ConfigError

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
                        help='before playing, wait up to this long until every topic but the '
                             'labels has a subscriber (and, with --score, the Predictions a '
                             'publisher) (default: start at once)')
    parser.add_argument('--qos-depth', type=int, default=None,
                        help="history depth of the publishers (default: the package's tools' "
                             'depth, neucodex_ros.qos.TOOL_DEPTH = 1000)')
    parser.add_argument('--remap', '-r', nargs='+', default=[], metavar='FROM:=TO',
                        help='publish a topic of the bag under another name, as ros2 bag '
                             'play --remap (e.g. /event_camera/events:=/cam/events)')
    score = parser.add_argument_group('scoring (the bag needs SampleLabels, as from convert)')
    score.add_argument('--score', action='store_true',
                       help='match the Predictions to the bag\'s labels and print the score')
    add_scorer_arguments(score)
    score.add_argument('--answer-wait', type=float, default=10.0, metavar='SECONDS',
                       help='after the last message, wait this long for answers still due '
                            '(default %(default)s)')
    score.add_argument('--json', type=Path, default=None, metavar='FILE',
                       help='also write the score to FILE as JSON')


def remaps(rules: list[str]) -> dict[str, str]:
    """`FROM:=TO` rules as a dict; a topic named without a leading / is taken as absolute."""
    table = {}
    for rule in rules:
        source, sep, target = rule.partition(':=')
        if not sep or not source or not target:
            raise ConfigError(f'--remap {rule!r} is not FROM:=TO')
        table['/' + source.lstrip('/')] = '/' + target.lstrip('/')
    return table


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
    """Play the bag (and score it)."""
    import rclpy
    from rclpy.duration import Duration
    from rclpy.serialization import deserialize_message

    from neucodex_ros.core.events.bags import open_bag
    from neucodex_ros.core.scoring import Truth
    from neucodex_ros.listener import stamp_ns
    from neucodex_ros.qos import stream_qos, tool_qos

    if args.rate <= 0:
        raise ConfigError('--rate must be positive')
    if args.score and args.loop:
        raise ConfigError('--score plays the bag once; drop --loop')
    renamed = remaps(args.remap)
    qos = tool_qos() if args.qos_depth is None else stream_qos(True, args.qos_depth)
    from rclpy.signals import SignalHandlerOptions

    # Ctrl-C stops the replay between two messages, and it reports. rclpy's own handler
    # would invalidate the context under the publishing loop, and a KeyboardInterrupt can land
    # inside rclpy's C++ (set even if SIGINT came ignored, as to a background job).
    stop = threading.Event()
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    with rclpy.init(args=[], signal_handler_options=SignalHandlerOptions.NO), \
            open_bag(args.bag) as reader:
        node = rclpy.create_node('neucodex_replay')
        scorer = _scorer(args) if args.score else None
        pause: Callable[[float], None] = time.sleep if scorer is None else scorer.pause
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
                publishers[connection.topic] = node.create_publisher(
                    msg_class, renamed.get(connection.topic, connection.topic), qos)
        if not publishers:
            print(f'replay: nothing to play in {args.bag}')
            return 1
        if scorer is not None and args.label_topic not in publishers:
            raise ConfigError(f'--score needs SampleLabels on {args.label_topic}; '
                             f'{args.bag} has none (topics: {sorted(publishers)})')
        deadline = time.monotonic() + args.wait_for_subscribers
        # the nodes' inputs: the labels are for a scorer, which may not be there yet
        awaited = [p for p in publishers.values() if p.msg_type.__name__ != 'SampleLabel']
        while time.monotonic() < deadline and not stop.is_set() and not (
                all(p.get_subscription_count() > 0 for p in awaited)
                and (scorer is None or scorer.count_publishers(args.prediction_topic) > 0)):
            rclpy.spin_once(node, timeout_sec=0.05)
        if args.wait_for_subscribers:
            # Discovery is asymmetric: a subscriber drops what arrives before it has matched
            # us in turn, so give it a moment after we have matched it.
            pause(1.0)
        start_ns = reader.start_time + round(args.start_offset * 1e9)
        print(f'replay: {args.bag} — {len(publishers)} topic(s), '
              f'{sum(c.msgcount for c in connections):,} messages recorded, rate {args.rate:g}'
              + (', looping' if args.loop else ''), flush=True)
        played = corrupt = 0
        while True:
            wall_start = time.monotonic()
            for connection, timestamp, raw in reader.messages(connections=connections,
                                                              start=start_ns):
                if stop.is_set():
                    break
                due = wall_start + (timestamp - start_ns) / 1e9 / args.rate
                if (delay := due - time.monotonic()) > 0:
                    pause(delay)
                try:
                    msg = deserialize_message(bytes(raw), classes[connection.id])
                except RuntimeError:  # rclpy's RMWError: not a valid CDR message
                    corrupt += 1
                    continue
                publishers[connection.topic].publish(bytes(raw))
                played += 1
                if scorer is not None and connection.topic == args.label_topic:
                    # due when its last event plays: the span of its events after this
                    ended = due + (msg.t_last_us - msg.t_first_us) / 1e6 / args.rate
                    scorer.board.expect(Truth(stamp_ns(msg.header.stamp), msg.label, ended))
            if not args.loop or stop.is_set():
                break
        # Reliable messages still in flight are lost if we quit before they are acknowledged.
        unacked = [topic for topic, publisher in publishers.items()
                   if not publisher.wait_for_all_acked(Duration(seconds=5))]
        print(f'replay: published {played:,} messages'
              + (f'; skipped {corrupt:,} that do not deserialize' if corrupt else '')
              + (f'; not acknowledged on {unacked}' if unacked else ''), flush=True)
        code = 0 if scorer is None else _report(scorer, args)
        node.destroy_node()
    return code


def _scorer(args: argparse.Namespace) -> Any:
    from neucodex_ros.listener import Scorer

    # the labels come from the bag itself, with the times they were played
    return Scorer(args.prediction_topic, None, time.monotonic)


def _report(scorer: Any, args: argparse.Namespace) -> int:
    """Wait for the answers still due, print the score; 1 if no sample was answered."""
    end = time.monotonic() + args.answer_wait
    while scorer.board.unanswered() and time.monotonic() < end:
        scorer.pause(0.1)
    score = scorer.board.score()
    report = score.report()
    print(f'replay: score of {args.bag}: {score.line()}')
    if score.latency_p50 is not None:
        print(f'replay: latency from a sample\'s last event to its Prediction: '
              f'p50 {score.latency_p50 * 1e3:.0f} ms, p95 {score.latency_p95 * 1e3:.0f} ms')
    if unanswered := report['unanswered']:
        print(f'replay: {unanswered} of {score.labels} labelled samples got no Prediction on '
              f'{args.prediction_topic} within {args.answer_wait:g} s'
              + (' — is a split running, listening where this bag publishes?'
                 if not score.answered else ''))
    if args.json is not None:
        args.json.write_text(json.dumps(report, indent=2) + '\n')
    scorer.destroy_node()
    return 0 if score.answered else 1
