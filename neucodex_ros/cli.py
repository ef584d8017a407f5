"""`neucodex-ros`: the command-line entry point (demo, and more as the project grows)."""

from __future__ import annotations

import argparse
import sys
import time


def demo(args: argparse.Namespace) -> int:
    """Start a cloud and an edge process and wait for their first predictions."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor

    from neucodex_ros.msg import Prediction
    from neucodex_ros.nodes.common import CONTROL_QOS
    from neucodex_ros.processes import node_command, running

    commands = [node_command('cloud_node'), node_command('edge_node')]
    predictions: list[Prediction] = []
    with rclpy.init(), running(commands) as processes:
        node = rclpy.create_node('neucodex_demo')
        node.create_subscription(Prediction, 'prediction', predictions.append, CONTROL_QOS)
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        deadline = time.monotonic() + args.timeout
        while len(predictions) < args.samples and time.monotonic() < deadline:
            if any(p.poll() is not None for p in processes):
                print('neucodex-ros demo: a node process exited early', file=sys.stderr)
                return 1
            executor.spin_once(timeout_sec=0.1)
    for p in predictions:
        print(f'{p.source_id} sample {p.sample_id}: label {p.label} ({p.status}), '
              f'{p.timesteps_used}/{p.num_timesteps} timesteps, {p.bytes_received} bytes')
    if len(predictions) < args.samples:
        print(f'neucodex-ros demo: only {len(predictions)}/{args.samples} predictions within '
              f'{args.timeout:.0f} s', file=sys.stderr)
        return 1
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser, one subcommand per job."""
    parser = argparse.ArgumentParser(prog='neucodex-ros', description=__doc__)
    commands = parser.add_subparsers(dest='command', required=True)
    p = commands.add_parser('demo', help='run edge and cloud nodes and print their predictions')
    p.add_argument('--samples', type=int, default=5, help='predictions to wait for')
    p.add_argument('--timeout', type=float, default=60.0, help='seconds to wait at most')
    p.set_defaults(func=demo)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen subcommand."""
    args = build_parser().parse_args(argv)
    return int(args.func(args))


if __name__ == '__main__':
    sys.exit(main())
