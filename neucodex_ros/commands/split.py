"""`neucodex-ros split`: both nodes as separate processes from one parameters file.

The pip stand-in for `ros2 launch neucodex_ros split.launch.py`: every section of the YAML
that names a neucodex_ros node (edge_node, cloud_node; or those of `--nodes`) starts that node,
in `--namespace` if given, with the file as its --params-file, then its `-p NODE.name:=value`
overrides; `-r` remaps go to every node as ROS
takes them (`from:=to`, or `NODE:from:=to` for one node). A node that dies is started again
after RESPAWN_DELAY, as the launch files' respawn does, and the others go on; one that cannot
start as configured stops them all. Ctrl-C stops them all cleanly.

While it runs, a status line every `--status-period` says what the edge's Predictions say
(answers, accuracy against the SampleLabels of a replayed bag, timesteps, bytes, failures).
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path
from typing import Any

from neucodex_ros.core import topics
from neucodex_ros.core.errors import ConfigError

HELP = 'start the nodes of a parameters file as separate processes (no ros2 launch needed)'
RESPAWN_DELAY = 2.0  # seconds before a node that died is started again (as the launch files)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `split`."""
    parser.add_argument('--params-file', type=Path, default=None,
                        help='YAML keyed by node name (default: config/split.yaml)')
    parser.add_argument('-p', '--param', action='append', default=[], metavar='NODE.NAME:=VALUE',
                        help='override one node\'s parameter (repeatable), e.g. '
                             '-p edge_node.image_topic:=/camera/image_raw')
    parser.add_argument('-r', '--remap', action='append', default=[], metavar='FROM:=TO',
                        help='remap a name in every node, or in one as NODE:FROM:=TO '
                             '(repeatable), e.g. -r image:=/camera/image_raw')
    parser.add_argument('--nodes', default=None, metavar='NODE,...',
                        help='start only these sections of the file, e.g. cloud_node on the '
                             'server and edge_node on each robot (default: all of them)')
    parser.add_argument('--namespace', default='', metavar='NS',
                        help='run the nodes in this namespace, e.g. robot1: topics such as '
                             "image and prediction become /robot1/...; the link topics are "
                             'absolute and shared (default: the root)')
    parser.add_argument('--ros-args', action='store_true',
                        help='accepted and ignored, so that ROS-style "--ros-args -p ... -r '
                             '..." lines work as they are')
    parser.add_argument('--status-period', type=float, default=5.0, metavar='SECONDS',
                        help='seconds between status lines; 0: none (default %(default)s)')
    parser.add_argument('--label-topic', default=topics.LABELS,
                        help='SampleLabels that the status line scores against, as a '
                             'converted bag publishes them (default %(default)s)')


def node_overrides(rules: list[str], nodes: list[str]) -> dict[str, dict[str, str]]:
    """`NODE.name:=value` rules as {node: {name: value}}, the value as written (YAML)."""
    overrides: dict[str, dict[str, str]] = {node: {} for node in nodes}
    for rule in rules:
        target, sep, value = rule.partition(':=')
        node, dot, name = target.partition('.')
        if not sep or not dot or not name:
            raise ConfigError(f'-p {rule!r} is not NODE.NAME:=VALUE (NODE one of '
                             f'{", ".join(nodes)})')
        if node not in overrides:
            raise ConfigError(f'-p {rule!r}: no node {node!r} in the parameters file '
                             f'(it has {", ".join(nodes)})')
        overrides[node][name] = value
    return overrides


def resolved_topic(topic: str, node: str, remaps: list[str], namespace: str = '') -> str:
    """The absolute name of a node's topic after the `-r` rules: the first match wins (rcl).

    A relative name is in the node's `namespace`, on both sides of a rule.
    """
    def absolute(name: str) -> str:
        return name if name.startswith('/') else \
            '/'.join(['', *filter(None, namespace.split('/')), name])

    resolved = absolute(topic)
    for rule in remaps:
        source, _, target = rule.partition(':=')
        only, colon, name = source.rpartition(':')
        if (not colon or only == node) and absolute(name) == resolved:
            return absolute(target)
    return resolved


def run(args: argparse.Namespace) -> int:
    """Start the nodes; restart one that dies; print the status; stop them all on Ctrl-C."""
    from neucodex_ros.processes import CONFIG_ERROR, NODE_MODULES, node_command, running, start

    # Ctrl-C must stop us even if we inherited an ignored SIGINT (a background job's lot)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from neucodex_ros.resources import default_params_file, read_params_file

    params_file = (args.params_file or default_params_file()).resolve()
    sections = read_params_file(params_file)
    unknown = sorted(set(sections) - set(NODE_MODULES))
    if unknown or not sections:
        print(f'neucodex-ros split: {params_file} must have sections named after nodes '
              f'{sorted(NODE_MODULES)}; unknown: {unknown}', file=sys.stderr)
        return 2
    if args.nodes:
        chosen = args.nodes.split(',')
        if missing := sorted(set(chosen) - set(sections)):
            raise ConfigError(f'--nodes: {params_file} has no section for {", ".join(missing)}'
                              f' (it has {", ".join(sorted(sections))})')
        sections = {name: sections[name] for name in chosen}
    names = sorted(sections, key=lambda name: name != 'cloud_node')  # the cloud first
    overrides = node_overrides(args.param, names)
    if bad := [rule for rule in args.remap if not all(rule.partition(':=')[::2])]:
        raise ConfigError(f'-r {bad[0]!r} is not FROM:=TO or NODE:FROM:=TO')
    for rule in args.remap:  # NODE:FROM:=TO for a node not started would do nothing, silently
        node, colon, _ = rule.partition(':=')[0].rpartition(':')
        if colon and node not in names:
            raise ConfigError(f'-r {rule!r} is for node {node!r}, which is not started here '
                              f'(nodes: {", ".join(names)})')
    namespace = ['-r', f'__ns:=/{args.namespace.strip("/")}'] if args.namespace else []
    commands = [node_command(name, name=name, params_file=params_file, ros_args=[
        *(arg for key, value in overrides[name].items() for arg in ('-p', f'{key}:={value}')),
        *(arg for rule in args.remap for arg in ('-r', rule)), *namespace]) for name in names]
    print(f'neucodex-ros split: starting {", ".join(names)} from {params_file} '
          '(Ctrl-C stops them)', flush=True)
    status = _status(args, sections, overrides) if args.status_period > 0 else None
    wait = time.sleep if status is None else status.wait
    try:
        with running(commands) as processes:
            restart_at: dict[int, float] = {}  # index → when a dead node starts again
            while True:
                now = time.monotonic()
                for index, process in enumerate(processes):
                    if index in restart_at:
                        if now >= restart_at[index]:
                            del restart_at[index]
                            processes[index] = start(commands[index])
                        continue
                    if (code := process.poll()) is None:
                        continue
                    if code == CONFIG_ERROR:  # it cannot start as configured: again won't help
                        print(f'neucodex-ros split: {names[index]} cannot start with '
                              f'{params_file} (see its error above); stopping the others',
                              file=sys.stderr)
                        return 2  # (a user's mistake)
                    print(f'neucodex-ros split: {names[index]} exited with code {code}; '
                          f'starting it again in {RESPAWN_DELAY:g} s', file=sys.stderr,
                          flush=True)
                    restart_at[index] = now + RESPAWN_DELAY
                wait(0.2)
    except KeyboardInterrupt:
        return 0
    finally:
        if status is not None:
            status.close()


class _Status:
    """Prints the scorer's line every period, when there is something new to say."""

    def __init__(self, scorer: Any, period: float) -> None:
        self.scorer, self.period = scorer, period
        self._next = time.monotonic() + period
        self._said = (0, 0)  # (answers, labels) in the last line
        self._counted = 0  # answers at the last tick, for the rate

    def wait(self, seconds: float) -> None:
        """Hear the topics for `seconds`; print the line when it is due and has news."""
        self.scorer.pause(seconds)
        if time.monotonic() >= self._next:
            self._next += self.period
            board = self.scorer.board
            rate = (len(board.answers) - self._counted) / self.period
            self._counted = len(board.answers)
            if (news := (len(board.answers), len(board.truths))) != self._said:
                self._said = news
                print(f'neucodex-ros split: {rate:.1f} samples/s · {board.score().line()}',
                      flush=True)

    def close(self) -> None:
        import rclpy

        self.scorer.destroy_node()
        rclpy.try_shutdown()


def _status(args: argparse.Namespace, sections: dict[str, Any],
            overrides: dict[str, dict[str, str]]) -> _Status | None:
    """A scorer on the edge's Prediction topic (None without an edge)."""
    import rclpy
    import yaml
    from rclpy.signals import SignalHandlerOptions

    from neucodex_ros.listener import Scorer

    if 'edge_node' not in sections:
        return None
    topic = overrides['edge_node'].get('prediction_topic')
    topic = yaml.safe_load(topic) if topic else \
        sections['edge_node'].get('prediction_topic', 'prediction')
    prediction_topic = resolved_topic(str(topic), 'edge_node', args.remap, args.namespace)
    rclpy.init(args=[], signal_handler_options=SignalHandlerOptions.NO)  # Ctrl-C stays ours
    return _Status(Scorer(prediction_topic, args.label_topic, time.monotonic,
                          name='neucodex_split_status'), args.status_period)
