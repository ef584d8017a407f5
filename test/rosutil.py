"""Helpers for tests that talk to real node processes over rclpy + Fast DDS."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import rclpy
from diagnostic_msgs.msg import DiagnosticArray
from lifecycle_msgs.srv import ChangeState, GetState
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from rclpy.node import Node
from rclpy.qos import qos_profile_sensor_data
from sensor_msgs.msg import Image
from vision_msgs.msg import Classification

from neucodex_ros import shared_memory
from neucodex_ros.core.datasets.digits import held_out_digits
from neucodex_ros.msg import Prediction

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


#: The state each lifecycle transition ends in when it succeeds.
TRANSITION_TARGETS = {'configure': 'inactive', 'activate': 'active', 'deactivate': 'inactive',
                      'cleanup': 'unconfigured', 'shutdown': 'finalized'}


class Lifecycle:
    """A managed node driven from this process through its standard lifecycle services.

    `spin_until(condition, timeout, what)` spins the node the clients belong to (as
    RosHarness.spin_until and SplitClient.spin_until do).
    """

    def __init__(self, node: Node, name: str,
                 spin_until: Callable[[Callable[[], bool], float, str], None]) -> None:
        self.name = name
        self.change = node.create_client(ChangeState, f'{name}/change_state')
        self.get = node.create_client(GetState, f'{name}/get_state')
        self.spin_until = spin_until

    def _call(self, client, request, timeout: float):  # noqa: ANN001, ANN202
        """The service's answer, or None if none came within `timeout` seconds.

        A service seen ready may not have matched our reader of its answers yet, and an
        answer sent before that is lost; the callers ask again.
        """
        self.spin_until(client.service_is_ready, 60.0, f'{client.srv_name}')
        future = client.call_async(request)
        try:
            self.spin_until(future.done, timeout, f'an answer of {client.srv_name}')
        except TimeoutError:
            client.remove_pending_request(future)
            return None
        return future.result()

    def state(self) -> str:
        """The node's state label: unconfigured, inactive, active, finalized."""
        deadline = time.monotonic() + 60.0
        while (answer := self._call(self.get, GetState.Request(), 2.0)) is None:
            if time.monotonic() > deadline:
                raise TimeoutError(f'{self.name}: get_state unanswered for 60 s')
        return answer.current_state.label

    def transition(self, label: str) -> bool:
        """configure, activate, deactivate, cleanup or shutdown; whether it succeeded.

        If its answer is lost, the state says whether it ran; if it did not, it is asked
        again.
        """
        request = ChangeState.Request()
        request.transition.label = label
        before = self.state()
        deadline = time.monotonic() + 60.0
        while (answer := self._call(self.change, request, 5.0)) is None:
            if (now := self.state()) != before:  # it ran; its answer was lost
                return now == TRANSITION_TARGETS[label]
            if time.monotonic() > deadline:
                raise TimeoutError(f'{self.name}: {label} unanswered for 60 s')
        return answer.success

    def bring_up(self) -> None:
        """configure, then activate, as a lifecycle manager does."""
        assert self.state() == 'unconfigured', self.name
        assert self.transition('configure'), f'{self.name}: configure failed'
        assert self.transition('activate'), f'{self.name}: activate failed'
        assert self.state() == 'active', self.name


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


def kill(process: subprocess.Popen[Any]) -> None:
    """SIGKILL a node process (no goodbye on the wire), then remove what it left in /dev/shm.

    A killed process cannot remove its Fast DDS files; the next node to start would (spin),
    but a test must not leave them to chance.
    """
    process.kill()
    process.wait()
    shared_memory.sweep(now=time.time())


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
            kill(process)
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


#: What an edge logs once a cloud takes its samples (in a namespace: [robot1.edge_node]).
READY = r'\[(\w+\.)?edge_node\]: a cloud of model \w+ takes samples'


class Robot:
    """The test's own rclpy node: a camera on `image`, a reader of what the stack answers."""

    def __init__(self, ros: RosHarness, namespace: str = '', image: str = 'image') -> None:
        self.ros = ros
        prefix = f'/{namespace}' if namespace else ''
        self.camera = ros.node.create_publisher(Image, image if image.startswith('/')
                                                else f'{prefix}/{image}', 10)
        self.predictions: list[Prediction] = []
        self.classifications: list[Classification] = []
        ros.node.create_subscription(Prediction, f'{prefix}/prediction',
                                     self.predictions.append, qos_profile_sensor_data)
        ros.node.create_subscription(Classification, f'{prefix}/classification',
                                     self.classifications.append, qos_profile_sensor_data)
        self.images, self.labels = held_out_digits(20)
        self.sent = 0

    def answer(self, timeout: float = 120.0) -> tuple[Prediction, Classification, int]:
        """A digit published (again every 2 s, as a camera goes on) until one is answered.

        The Prediction and Classification of one frame, matched by its stamp, and its label.
        """
        self.ros.spin_until(lambda: self.camera.get_subscription_count() > 0, timeout,
                            'the edge to subscribe to the camera')
        labels: dict[tuple[int, int], int] = {}
        deadline = self.ros.node.get_clock().now().nanoseconds + timeout * 1e9

        def stamp(msg: Prediction | Classification) -> tuple[int, int]:
            return msg.header.stamp.sec, msg.header.stamp.nanosec

        def answered() -> tuple[Prediction, Classification] | None:
            for prediction in self.predictions:
                for classification in self.classifications:
                    if stamp(prediction) == stamp(classification) in labels:
                        return prediction, classification
            return None

        while (pair := answered()) is None:
            assert self.ros.node.get_clock().now().nanoseconds < deadline, \
                f'no answer to {len(labels)} frames in {timeout} s'
            frame = self.sent % len(self.images)
            self.sent += 1
            msg = Image(height=28, width=28, encoding='mono8', step=28,
                        data=self.images[frame].tobytes())
            msg.header.stamp = self.ros.node.get_clock().now().to_msg()
            msg.header.frame_id = 'camera'
            labels[stamp(msg)] = int(self.labels[frame])
            self.camera.publish(msg)
            try:
                self.ros.spin_until(lambda: answered() is not None, 2.0)
            except TimeoutError:
                pass
        prediction, classification = pair
        return prediction, classification, labels[stamp(prediction)]


def node_pid(output: str, node: str) -> int:
    """The pid launch reported for the latest start of `node`."""
    return int(re.findall(rf'\[{node}-\d+\]: process started with pid \[(\d+)\]', output)[-1])
