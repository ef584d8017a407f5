"""What every neucodex_ros node shares: QoS profiles and parameter declaration."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy

if TYPE_CHECKING:
    from rclpy.node import Node

#: Spikes: every timestep of a sample matters, so reliable with room for a few samples in flight.
SPIKES_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=64,
                        reliability=ReliabilityPolicy.RELIABLE,
                        durability=DurabilityPolicy.VOLATILE)
#: Exit signals and predictions: small, one per sample, must arrive.
CONTROL_QOS = QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=32,
                         reliability=ReliabilityPolicy.RELIABLE,
                         durability=DurabilityPolicy.VOLATILE)


def declare(node: Node, name: str, default: Any, description: str, *,
            low: float | None = None, high: float | None = None) -> Any:
    """Declare a parameter with a description (and a range for numbers); return its value."""
    descriptor = ParameterDescriptor(description=description)
    if low is not None and high is not None:
        if isinstance(default, bool):
            raise TypeError(f'parameter {name}: a range makes no sense for a bool')
        if isinstance(default, int):
            descriptor.integer_range = [IntegerRange(from_value=int(low), to_value=int(high),
                                                     step=1)]
        else:
            descriptor.floating_point_range = [FloatingPointRange(from_value=float(low),
                                                                  to_value=float(high))]
    return node.declare_parameter(name, default, descriptor).value
