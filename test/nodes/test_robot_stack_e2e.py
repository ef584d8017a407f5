"""The nodes in a robot stack over real rclpy + Fast DDS: lifecycle, namespaces, diagnostics.

Also vision_msgs and the annotated picture. One cloud at the root serves two robots in the
namespaces /robot1 and /robot2, every node started unconfigured (autostart: false) and
brought up by this process through the standard lifecycle services, as a lifecycle manager
would. The tests run in file order: the last one kills the cloud.
"""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pytest
import rclpy
from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus
from rclpy.context import Context
from rosutil import Lifecycle, harness, kill
from sensor_msgs.msg import Image
from vision_msgs.msg import Classification

from neucodex_ros.client import Observed, SplitClient
from neucodex_ros.core.datasets.digits import held_out_digits
from neucodex_ros.core.overlay import Layout, scale_factor
from neucodex_ros.msg import Prediction
from neucodex_ros.processes import node_command, running, start
from neucodex_ros.qos import stream_qos

pytestmark = pytest.mark.ros

ROBOTS = ('robot1', 'robot2')
CLOUD_STATS_PERIOD = 0.5
ROBOT1_STATS_PERIOD = 3.0  # robot1's health reports; its deadline is well within one
ROBOT1_DEADLINE = 1.0
OK, WARN, ERROR = (int.from_bytes(value, 'little') for value in
                   (DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR))


def level(status: DiagnosticStatus) -> int:
    """A status's level as a number (the message field is a byte)."""
    return int.from_bytes(status.level, 'little')


def cloud_command() -> list[str]:
    return node_command('cloud_node', name='cloud_node', parameters={
        'autostart': False, 'stats_period': CLOUD_STATS_PERIOD})


@dataclass
class Stack:
    """The test's side: a camera for both robots and what it heard."""

    client: SplitClient
    processes: list
    lifecycles: dict[str, Lifecycle]
    answers: dict[str, list[Prediction]] = field(default_factory=lambda: defaultdict(list))
    classifications: dict[str, list[Classification]] = field(
        default_factory=lambda: defaultdict(list))
    pictures: list[Image] = field(default_factory=list)
    health: dict[str, list[tuple[float, DiagnosticStatus]]] = field(
        default_factory=lambda: defaultdict(list))

    def alive(self) -> bool:
        return all(p.poll() is None for p in self.processes[1:])  # (the cloud may be killed)

    def send(self, robot: str, image: np.ndarray, label: int) -> Observed:
        return self.client.publish_frame(image, label, ROBOTS.index(robot))

    def wait(self, observed: list[Observed], timeout: float = 60.0) -> None:
        self.client.spin_until(lambda: all(o.prediction is not None for o in observed),
                               timeout, 'a Prediction for every frame', self.alive)
        self.client.pause(0.5)  # (for anything sent twice, or to the wrong robot)


@pytest.fixture(scope='module')
def stack() -> Iterator[Stack]:
    edge = {'autostart': False, 'placement': 'split', 'input_reliable': True,
            'queue_size': 100}
    commands = [cloud_command(),
                node_command('edge_node', name='edge_node', parameters=edge | {
                    'annotated_topic': 'annotated_image', 'deadline': ROBOT1_DEADLINE,
                    'stats_period': ROBOT1_STATS_PERIOD},
                    ros_args=['-r', '__ns:=/robot1']),
                node_command('edge_node', name='edge_node', parameters=edge,
                             ros_args=['-r', '__ns:=/robot2'])]
    context = Context()
    rclpy.init(context=context)
    with running(commands) as processes:
        client = SplitClient('camera', image_topics=[f'/{r}/image' for r in ROBOTS],
                             prediction_topics=[f'/{r}/prediction' for r in ROBOTS],
                             context=context)
        lifecycles = {name: Lifecycle(client, name, client.spin_until)
                      for name in ('/cloud_node', '/robot1/edge_node', '/robot2/edge_node')}
        stack = Stack(client, processes, lifecycles)
        qos = stream_qos(True, 64)
        for robot in ROBOTS:
            client.create_subscription(Prediction, f'/{robot}/prediction',
                                       lambda m, r=robot: stack.answers[r].append(m), qos)
            client.create_subscription(Classification, f'/{robot}/classification',
                                       lambda m, r=robot: stack.classifications[r].append(m),
                                       qos)
        client.create_subscription(Image, '/robot1/annotated_image', stack.pictures.append,
                                   stream_qos(True, 5))
        client.create_subscription(DiagnosticArray, '/diagnostics', lambda m: [
            stack.health[s.name].append((time.monotonic(), s)) for s in m.status], 100)
        try:
            for lifecycle in lifecycles.values():  # the cloud first, as a bringup would
                lifecycle.bring_up()
            client.wait_ready(90.0, stack.alive)
            yield stack
        finally:
            client.destroy_node()
            rclpy.try_shutdown(context=context)


def test_two_robots_in_namespaces_share_a_cloud_and_get_only_their_own_answers(
        stack: Stack) -> None:
    """Each robot's Predictions, Classifications and pictures are of its own frames only."""
    images, labels = held_out_digits(10, seed=3)
    for answers in (stack.answers, stack.classifications):
        answers.clear()
    stack.pictures.clear()
    sent: dict[str, dict[tuple[int, int], Observed]] = {robot: {} for robot in ROBOTS}
    inputs: dict[tuple[int, int], np.ndarray] = {}
    for index, (image, label) in enumerate(zip(images, labels, strict=True)):
        robot = ROBOTS[index % 2]
        observed = stack.send(robot, image, int(label))
        stamp = next(reversed(stack.client.observed))  # (the frame just published)
        sent[robot][stamp], inputs[stamp] = observed, image
        stack.client.pause(0.1)
    stack.wait([o for robot in ROBOTS for o in sent[robot].values()])
    stack.client.spin_until(lambda: all(len(stack.classifications[r]) >= len(sent[r])
                                        for r in ROBOTS) and len(stack.pictures) >= 5,
                            30.0, 'the Classifications and pictures', stack.alive)
    stack.client.pause(0.5)
    for robot in ROBOTS:
        stamps = [(m.header.stamp.sec, m.header.stamp.nanosec) for m in stack.answers[robot]]
        assert sorted(stamps) == sorted(sent[robot]), f'{robot}: exactly its own frames'
        assert {m.source_id for m in stack.answers[robot]} == {robot}, 'named by namespace'
        assert all(m.status == 'ok' for m in stack.answers[robot])
        by_stamp = {(m.header.stamp.sec, m.header.stamp.nanosec): m
                    for m in stack.answers[robot]}
        classified = [(m.header.stamp.sec, m.header.stamp.nanosec)
                      for m in stack.classifications[robot]]
        assert sorted(classified) == sorted(sent[robot]), 'one Classification per sample'
        for message in stack.classifications[robot]:
            prediction = by_stamp[(message.header.stamp.sec, message.header.stamp.nanosec)]
            assert message.header.frame_id == prediction.header.frame_id
            scores = [h.score for h in message.results]
            assert len(scores) == 10 and scores == sorted(scores, reverse=True)
            assert message.results[0].class_id == prediction.label_name
            assert abs(message.results[0].score - prediction.confidence) < 1e-6
            assert abs(sum(scores) - 1.0) < 1e-4
        correct = [by_stamp[stamp].label == observed.label
                   for stamp, observed in sent[robot].items()]
        assert sum(correct) >= 4, f'{robot}: the digits are classified ({correct})'
    assert len(stack.pictures) == len(sent['robot1']), 'a picture per robot1 sample, no other'
    for picture in stack.pictures:
        stamp = (picture.header.stamp.sec, picture.header.stamp.nanosec)
        assert stamp in sent['robot1'], 'a picture of a frame robot1 got'
        picture_of_input(picture, inputs[stamp])


def picture_of_input(picture: Image, image: np.ndarray) -> None:
    """The picture is its input digit, scaled up, under a band of text (not blank)."""
    factor = scale_factor(28, 28)
    assert (picture.height, picture.width, picture.encoding) == (28 * factor, 28 * factor,
                                                                 'rgb8')
    pixels = np.frombuffer(bytes(picture.data), np.uint8).reshape(picture.height,
                                                                  picture.width, 3)
    expected = np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)
    band = Layout.for_width(picture.width).band(2, picture.height)
    assert 0 < band < picture.height // 2
    for channel in range(3):
        assert np.array_equal(pixels[band:, :, channel], expected[band:]), 'below: the input'
    top = pixels[:band]
    assert (top == 255).any(), 'text is drawn in the band'
    assert not np.array_equal(top[..., 0], expected[:band]), 'the band is an overlay'


def stats(stack: Stack, node: str) -> dict[str, str]:
    """The node's latest health values (its counters), as /diagnostics had them."""
    return {v.key: v.value for v in stack.health[node][-1][1].values}


def test_every_lifecycle_transition_from_another_process(stack: Stack) -> None:
    """Deactivate stops the work and keeps the state; cleanup and configure start afresh."""
    robot2 = stack.lifecycles['/robot2/edge_node']
    image, label = (a[0] for a in held_out_digits(1, seed=4))

    def answered() -> None:
        before = len(stack.answers['robot2'])
        observed = stack.send('robot2', image, int(label))
        stack.wait([observed])
        assert observed.prediction.status == 'ok'
        assert len(stack.answers['robot2']) == before + 1

    answered()
    assert robot2.transition('deactivate') and robot2.state() == 'inactive'
    before = len(stack.answers['robot2'])
    stack.send('robot2', image, int(label))
    stack.client.pause(1.5)
    assert len(stack.answers['robot2']) == before, 'an inactive edge starts nothing'
    assert robot2.transition('activate') and robot2.state() == 'active'
    answered()
    stack.client.spin_until(lambda: int(stats(stack, '/robot2/edge_node').get(
        'inputs_while_inactive', 0)) == 1, 10.0, 'the frame sent while inactive, counted')
    # the answers heard since answers were last cleared (two of them in this test, one
    # before the deactivate) are counted at least: the counters went on across deactivate
    # and activate, whichever tests ran before this one
    heard = len(stack.answers['robot2'])
    assert heard >= 2
    stack.client.spin_until(lambda: int(stats(stack, '/robot2/edge_node').get(
        'samples_answered', 0)) >= heard, 10.0, 'the counters going on across activate')
    assert robot2.transition('deactivate') and robot2.transition('cleanup')
    assert robot2.state() == 'unconfigured'
    assert not robot2.transition('activate'), 'an unconfigured node cannot be activated'
    assert robot2.transition('configure') and robot2.state() == 'inactive'
    assert robot2.transition('activate')
    answered()  # the model loaded again, a cloud found again
    cloud = stack.lifecycles['/cloud_node']
    assert cloud.transition('deactivate') and cloud.state() == 'inactive'
    assert cloud.transition('activate') and cloud.state() == 'active'
    stack.client.pause(1.5)  # it takes robots once it has listened for others (dead_after)
    answered()
    assert robot2.transition('deactivate') and robot2.transition('shutdown')
    assert robot2.state() == 'finalized'


def test_a_configure_that_cannot_work_fails_and_says_error() -> None:
    """A missing checkpoint: configure fails, the node stays unconfigured, ERROR says why."""
    command = node_command('edge_node', name='edge_node', parameters={
        'autostart': False, 'checkpoint': '/nonexistent/model.pt', 'stats_period': 0.3},
        ros_args=['-r', '__ns:=/broken'])
    with running([command]), harness('broken_manager') as h:
        health: list[DiagnosticStatus] = []
        h.node.create_subscription(DiagnosticArray, '/diagnostics', lambda m: health.extend(
            s for s in m.status if s.name == '/broken/edge_node'), 100)
        node = Lifecycle(h.node, '/broken/edge_node', h.spin_until)
        assert node.state() == 'unconfigured'
        assert not node.transition('configure')
        assert node.state() == 'unconfigured'
        h.spin_until(lambda: any(level(s) == ERROR for s in health), 30.0, 'an ERROR status')
        error = next(s for s in health if level(s) == ERROR)
        assert 'cannot configure' in error.message and 'nonexistent' in error.message


def test_diagnostics_warn_within_a_stats_period_of_the_cloud_dying_and_recover(
        stack: Stack) -> None:
    """robot1's status goes WARN when its cloud is killed, and OK once a cloud is back."""
    images, labels = held_out_digits(200, seed=5)
    frames = iter(zip(images, labels, strict=True))
    name = '/robot1/edge_node'

    def level_since(since: float) -> list[int]:
        return [level(s) for t, s in stack.health[name] if t >= since]

    def stream_until(condition, timeout: float, what: str) -> None:  # noqa: ANN001
        deadline = time.monotonic() + timeout
        while not condition():
            assert time.monotonic() < deadline, f'timed out waiting for {what}'
            image, label = next(frames)
            stack.send('robot1', image, int(label))
            stack.client.pause(0.2, stack.alive)

    started = time.monotonic()
    stream_until(lambda: OK in level_since(started), 60.0, 'robot1 OK')
    kill(stack.processes[0])  # the cloud, without a word
    killed = time.monotonic()
    stream_until(lambda: WARN in level_since(killed), 30.0, 'robot1 WARN')
    warned = next(t for t, s in stack.health[name] if t >= killed and level(s) == WARN)
    warning = next(s for t, s in stack.health[name] if t == warned)
    print(f'WARN {warned - killed:.2f} s after the cloud was killed: {warning.message}')
    assert warned - killed <= ROBOT1_STATS_PERIOD, 'WARN within one stats period'
    assert 'deadline' in warning.message or 'no cloud' in warning.message
    stack.processes[0] = start(node_command('cloud_node', name='cloud_node'))  # autostart
    back = time.monotonic()
    stream_until(lambda: OK in level_since(back), 90.0, 'robot1 OK again')
    print(f'OK {stack.health[name][-1][0] - back:.2f} s after a cloud was started again')
    # (its reports come every CLOUD_STATS_PERIOD, not when robot1's do)
    stack.client.spin_until(lambda: any(level(s) == OK for t, s in stack.health['/cloud_node']
                                        if t >= back), 30.0, 'the new cloud OK', stack.alive)
