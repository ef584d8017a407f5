"""A callback that raises does not end a node: counted, logged, the next message handled."""

from __future__ import annotations

import pytest
import rclpy
from rclpy.context import Context
from rclpy.executors import SingleThreadedExecutor
from std_msgs.msg import Int32

from neucodex_ros.nodes.managed import GuardedNode

pytestmark = pytest.mark.ros


@pytest.mark.callback_errors
def test_exceptions_in_callbacks_are_counted_and_the_node_goes_on() -> None:
    context = Context()
    rclpy.init(context=context)
    node = GuardedNode('boundary_test', 'boundary test', context=context)
    executor = SingleThreadedExecutor(context=context)
    executor.add_node(node)
    handled: list[int] = []

    def on_message(msg: Int32) -> None:
        if msg.data % 2:
            raise RuntimeError(f'odd {msg.data}')  # a bug nobody foresaw
        handled.append(msg.data)

    ticks: list[int] = []

    def tick() -> None:
        ticks.append(1)
        raise ZeroDivisionError

    try:
        node.create_subscription(Int32, 'boundary', on_message, 10)
        node.create_timer(0.01, tick)
        guard = node.create_guard_condition(lambda: [][0])
        publisher = node.create_publisher(Int32, 'boundary', 10)
        for value in range(6):
            publisher.publish(Int32(data=value))
        guard.trigger()
        for _ in range(2000):  # every message, a few ticks: no exception reaches spin
            executor.spin_once(timeout_sec=0.01)
            if len(handled) == 3 and len(ticks) >= 3:
                break
        assert handled == [0, 2, 4]
        assert node.counters['callback_errors'] == 3 + len(ticks) + 1
    finally:
        executor.shutdown()
        node.destroy_node()
        rclpy.try_shutdown(context=context)
