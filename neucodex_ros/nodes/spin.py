"""Running one node as a process: until Ctrl-C or SIGTERM, with a summary and a clean exit."""

from __future__ import annotations

import os
import signal
import sys
import time
from collections.abc import Callable
from typing import NoReturn

import rclpy
from rclpy.exceptions import ParameterException
from rclpy.executors import ExternalShutdownException, SingleThreadedExecutor
from rclpy.guard_condition import GuardCondition
from rclpy.node import Node
from rclpy.signals import SignalHandlerOptions

from neucodex_ros import shared_memory
from neucodex_ros.core.errors import NeucodexError
from neucodex_ros.nodes.managed import GuardedNode, ManagedNode
from neucodex_ros.nodes.parameters import warn_unknown_parameters
from neucodex_ros.processes import CONFIG_ERROR, stop_with_parent


class _Stop:
    """Ctrl-C or SIGTERM heard: a flag, and a wake-up for the executor; nothing raised.

    An exception raised from a signal handler lands wherever the main thread is, inside
    rclpy's own calls too (where pybind11 reports it as an unrelated RuntimeError while
    taking a message), so the handler only asks, and the spin loop stops.
    """

    def __init__(self) -> None:
        self.requested = False
        self.wake: GuardCondition | None = None

    def __call__(self, signum: int, frame: object) -> None:
        self.requested = True
        if self.wake is not None:
            self.wake.trigger()


def spin(make_node: Callable[[], Node], args: list[str] | None = None) -> NoReturn:
    """Run one node until Ctrl-C or SIGTERM, log its summary, shut down cleanly, and exit.

    rclpy's own signal handler is off so that the context is still valid while the node
    logs its summary; a Ctrl-C while the node starts stops it once started. A NeucodexError
    while starting (a bad checkpoint or parameter) exits with CONFIG_ERROR, which tells a
    supervisor that starting it again will not help. Once the node is destroyed and rclpy
    shut down nothing is left to run, so the process leaves at once: Python's own teardown
    (collecting torch's and rclpy's objects) took 20 to 75 s under a quarter of a core, past
    the stop timeouts of ros2 launch and the benchmark.
    """
    code = _spin(make_node, args)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _spin(make_node: Callable[[], Node], args: list[str] | None) -> int:
    """spin() until the node is gone; the exit code."""
    if stop_with_parent(os.environ):
        print('the process that started this node has ended: not starting', file=sys.stderr)
        return 0
    # What killed nodes left in /dev/shm goes before this one adds its own (a robot whose
    # nodes crash and respawn would fill its RAM)
    swept = shared_memory.sweep(now=time.time())
    rclpy.init(args=args, signal_handler_options=SignalHandlerOptions.NO)
    if swept.files:
        rclpy.logging.get_logger('neucodex_ros').info(swept.line())
    stop = _Stop()
    # SIGINT too: a process started from a non-interactive shell's background job inherits
    # an ignored SIGINT, and would then never hear ros2 launch's Ctrl-C
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    node: Node | None = None
    executor = SingleThreadedExecutor()
    try:
        node = make_node()
        if not isinstance(node, ManagedNode):  # (a managed node does at each configure)
            warn_unknown_parameters(node)
        executor.add_node(node)
        # (Node's own: not one of the entities a managed node's cleanup destroys)
        stop.wake = Node.create_guard_condition(node, lambda: None)
        while not stop.requested:
            executor.spin_once()
    except ExternalShutdownException:
        pass
    except (NeucodexError, ParameterException) as err:  # a setting that cannot work
        rclpy.logging.get_logger('neucodex_ros').fatal(str(err))
        return CONFIG_ERROR
    finally:
        stop.wake = None  # a second Ctrl-C (a terminal's and ros2 launch's) wakes nothing now
        # Callbacks the last wait found and the loop left untaken hold the node's entities
        # in use (rclpy's executor yields event handlers inside the wait), which would keep
        # the node, its Fast DDS participant and its /dev/shm files past the exit below.
        executor.shutdown()
        if node is not None:
            if isinstance(node, GuardedNode):
                node.get_logger().info(f'{node.role} summary: {node.counters.line()}')
            node.destroy_node()
        rclpy.try_shutdown()
    return 0
