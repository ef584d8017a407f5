"""ROS 2 nodes: rclpy adapters that carry out what the core's rules decide.

One node per file (edge_node, cloud_node, fault_relay); what they share by concern:
managed.py (the callback boundary, counters, health, lifecycle), parameters.py (declared from
core/settings.py), spin.py (a node as a process), wire.py (message helpers), and the edge's
inputs.py and outputs.py (camera messages in, answers out).
"""

__all__: list[str] = []
