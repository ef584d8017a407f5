"""`neucodex-ros watch`: what a running split says, for pip users without `ros2 topic echo`.

One line per Prediction (robot, sample, class, confidence, timesteps, bytes, status, and
whether it matched the SampleLabel of a replayed bag), and every `--stats-period` the
counters each neucodex_ros node publishes on ~/stats (found by type, whatever the node's
name). Ctrl-C, or `--count` answers, ends it with the score line.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from neucodex_ros.commands.options import add_scorer_arguments

HELP = 'print the Predictions and ~/stats of a running split (pip stand-in for ros2 topic echo)'
STATS_TYPE = 'diagnostic_msgs/msg/DiagnosticArray'
PREDICTION_TYPE = 'neucodex_ros/msg/Prediction'
QUIET = 5.0  # seconds without a publisher on the Prediction topic before saying so


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `watch`."""
    add_scorer_arguments(parser)
    parser.add_argument('--stats-period', type=float, default=5.0, metavar='SECONDS',
                        help='seconds between the nodes\' counters; 0: none '
                             '(default %(default)s)')
    parser.add_argument('--count', type=int, default=None, metavar='N',
                        help='stop after N Predictions (default: at Ctrl-C)')


def prediction_line(msg: Any, truth: int | None) -> str:
    """One Prediction as a line, with ✓ or ✗ when the sample's label is known."""
    answer = (f'{msg.label} {msg.label_name!r} {msg.confidence:.0%}' if msg.label >= 0
              else 'no label')
    verdict = '' if truth is None else f'  {"✓" if msg.label == truth else "✗"} label {truth}'
    return (f'{msg.source_id} #{msg.sample_id}: {answer}  {msg.timesteps_used}/'
            f'{msg.num_timesteps} timesteps  {msg.bytes_received} B  {msg.status}{verdict}')


def run(args: argparse.Namespace) -> int:
    """Listen until Ctrl-C or --count answers."""
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray
    from rclpy.signals import SignalHandlerOptions

    from neucodex_ros.listener import Scorer, stamp_ns

    with rclpy.init(args=[], signal_handler_options=SignalHandlerOptions.NO):
        def show(msg: Any) -> None:
            truth = scorer.board.truths.get(stamp_ns(msg.header.stamp))
            print(prediction_line(msg, None if truth is None else truth.label), flush=True)

        scorer = Scorer(args.prediction_topic, args.label_topic, time.monotonic,
                        on_prediction=show, name='neucodex_watch')
        latest: dict[str, Any] = {}  # stats topic → its last DiagnosticArray
        print(f'watch: Predictions on {args.prediction_topic}, labels on {args.label_topic}'
              + (', ~/stats of every node' if args.stats_period > 0 else '')
              + ' (Ctrl-C ends)', flush=True)
        next_stats = time.monotonic() + args.stats_period
        heard = 0  # publishers matched on the Prediction topic, as last said
        quiet_until: float | None = time.monotonic() + QUIET  # then say if nobody publishes
        try:
            while args.count is None or len(scorer.board.answers) < args.count:
                rclpy.spin_once(scorer, timeout_sec=0.2)
                if (matched := scorer.matched.get(args.prediction_topic, 0)) != heard:
                    heard = matched
                    print(f'watch: hearing {heard} publisher(s) on {args.prediction_topic}',
                          flush=True)
                if quiet_until is not None and time.monotonic() >= quiet_until:
                    quiet_until = None
                    if not heard:
                        others = sorted(topic for topic, types in
                                        scorer.get_topic_names_and_types()
                                        if PREDICTION_TYPE in types
                                        and scorer.count_publishers(topic) > 0)
                        print(f'watch: nobody publishes on {args.prediction_topic} after '
                              f'{QUIET:g} s; Prediction topics now: '
                              + (f'{", ".join(others)} (use --prediction-topic)' if others
                                 else 'none (is an edge running, on this ROS_DOMAIN_ID?)'),
                              file=sys.stderr, flush=True)
                if args.stats_period <= 0 or time.monotonic() < next_stats:
                    continue
                next_stats += args.stats_period
                for topic, types in scorer.get_topic_names_and_types():
                    if topic.endswith('/stats') and STATS_TYPE in types and topic not in latest:
                        latest[topic] = None
                        scorer.create_subscription(
                            DiagnosticArray, topic,
                            lambda msg, topic=topic: latest.__setitem__(topic, msg), 10)
                for topic, array in latest.items():
                    for status in array.status if array is not None else []:
                        values = ', '.join(f'{kv.key}={kv.value}' for kv in status.values)
                        print(f'[{status.name}] {values}', flush=True)
                    latest[topic] = None  # printed: only news next time
        except KeyboardInterrupt:
            pass
        print(f'watch: {scorer.board.score().line()}', flush=True)
        scorer.destroy_node()
    return 0
