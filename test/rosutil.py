"""Helpers for tests that talk to real node processes over rclpy + Fast DDS."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node

TEST_DIR = Path(__file__).resolve().parent

Stats = dict[str, dict[str, str]]  # node name → counter → value, as ~/stats has them


def watch_stats(node: Node, names: Iterable[str]) -> Stats:
    """The latest ~/stats of each named node, kept up to date while `node` spins."""
    stats: Stats = {}
    for name in names:
        node.create_subscription(
            DiagnosticArray, f'/{name}/stats',
            lambda m, n=name: stats.__setitem__(n, {v.key: v.value for v in m.status[0].values}),
            10)
    return stats


def counter(stats: Stats, node: str, name: str) -> int:
    """One counter of a node's latest ~/stats (0 before it counted any)."""
    return int(stats.get(node, {}).get(name, 0))


class RosHarness:
    """A node of the test's own, in its own context, with an executor to spin it."""

    def __init__(self, name: str) -> None:
        self.context = Context()
        rclpy.init(context=self.context)
        self.node = Node(name, context=self.context)
        self.executor = SingleThreadedExecutor(context=self.context)
        self.executor.add_node(self.node)

    def spin_until(self, condition: Callable[[], bool], timeout: float,
                   what: str = 'condition') -> None:
        """Spin until condition() holds; fail with `what` after timeout seconds."""
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise TimeoutError(f'timed out after {timeout:.1f} s waiting for {what}')
            self.executor.spin_once(timeout_sec=0.05)

    def close(self) -> None:
        self.executor.shutdown()
        self.node.destroy_node()
        rclpy.try_shutdown(context=self.context)


@contextmanager
def harness(name: str = 'test_harness') -> Iterator[RosHarness]:
    """A RosHarness that is shut down afterwards."""
    h = RosHarness(name)
    try:
        yield h
    finally:
        h.close()


@contextmanager
def child(command: list[str], timeout: float = 20.0,
          env: dict[str, str] | None = None) -> Iterator[subprocess.Popen[str]]:
    """Run a child process; on exit interrupt it (Ctrl-C) and show its output."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True, env=env)
    try:
        yield process
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        try:
            output, _ = process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            output, _ = process.communicate()
        sys.stdout.write(output)  # shown by pytest when the test fails


def python_command(script: str, *args: str) -> list[str]:
    """Run a helper script from test/ with this interpreter."""
    return [sys.executable, str(TEST_DIR / script), *args]


def type_hash(package: str, name: str) -> str:
    """The RIHS01 hash rosidl generated for package/msg/name (pip: in sys.prefix/share)."""
    from neucodex_ros.resources import installed_share_dirs

    description = next(path for share in installed_share_dirs(package)
                       if (path := share / 'msg' / f'{name}.json').exists())
    hashes = json.loads(description.read_text())['type_hashes']
    return next(h['hash_string'] for h in hashes if h['type_name'] == f'{package}/msg/{name}')
