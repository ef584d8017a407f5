"""ROS 2 nodes: rclpy adapters that carry out what the core's rules decide.

One node per file (edge_node, cloud_node, fault_relay); what they share by concern:
managed.py (the callback boundary, counters, health, lifecycle), parameters.py (declared from
core/settings.py), spin.py (a node as a process), wire.py (message helpers), and the edge's
inputs.py and outputs.py (camera messages in, answers out).

A node process spends its first seconds importing torch, before spin() takes Ctrl-C over;
a Ctrl-C then (a `split` stopped at once) ends it quietly, not with a traceback from inside
torch's imports.
"""

import os
import signal
import sys

__all__: list[str] = []

NODE_PROGRAMS = ('edge_node', 'cloud_node', 'fault_relay')


def _leave_quietly(signum: int, frame: object) -> None:
    os._exit(0)  # (nothing started yet: no rclpy, no /dev/shm file of this process)


# `python -m neucodex_ros.nodes.X` (argv[0] is '-m' while the package loads) or a node's
# console script; not a process that merely imports the nodes (a test, a tool)
if sys.argv[:1] == ['-m'] or os.path.basename(sys.argv[0] if sys.argv else '') in NODE_PROGRAMS:
    signal.signal(signal.SIGINT, _leave_quietly)
