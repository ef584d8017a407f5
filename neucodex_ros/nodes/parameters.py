"""The nodes' parameters in ROS: declared from the tables of core/settings.py, and checked.

A parameter's descriptor carries its description, its range (which rclpy enforces) and its
choices (`ros2 param describe` shows them); a value the table refuses is a ConfigError.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
from rclpy.node import Node

from neucodex_ros.core.checkpoint import Checkpoint, load_checkpoint, pick_device
from neucodex_ros.core.settings import Param, Settings, Table


def declare(node: Node, table: Table, defaults: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Declare every parameter of `table` (`defaults` replace the table's); their values.

    A parameter declared already (a managed node configured again) keeps its value.
    """
    values = {}
    for param in table:
        if node.has_parameter(param.name):
            value = node.get_parameter(param.name).value
        else:
            default = (defaults or {}).get(param.name, param.default)
            value = node.declare_parameter(param.name, default,
                                           descriptor(param, default)).value
        values[param.name] = param.check(value)
    return values


def descriptor(param: Param, default: Any) -> ParameterDescriptor:
    """What `ros2 param describe` shows of a parameter, and the range rclpy enforces."""
    described = ParameterDescriptor(description=param.description, read_only=not param.dynamic)
    if param.choices is not None:
        described.additional_constraints = f'one of: {", ".join(param.choices)}'
    if param.low is not None:
        if isinstance(default, bool) or not isinstance(default, int | float):
            raise TypeError(f'parameter {param.name}: a range needs a number')
        if isinstance(default, int):
            described.integer_range = [IntegerRange(from_value=int(param.low),
                                                    to_value=int(param.high), step=1)]
        else:
            described.floating_point_range = [FloatingPointRange(from_value=float(param.low),
                                                                 to_value=float(param.high))]
    return described


def warn_unknown_parameters(node: Node) -> None:
    """Name every parameter given to the node (params file, -p) that it does not declare.

    rclpy ignores them silently, so a misspelt `image_topc:=/cam` would just not apply.
    (rclpy keeps what was given in Node._parameter_overrides; there is no public accessor.)
    """
    given = getattr(node, '_parameter_overrides', {})
    unknown = sorted(name for name in given if not node.has_parameter(name))
    if unknown:
        node.get_logger().warning(
            f'ignoring parameters this node does not have: {", ".join(unknown)} (misspelt? '
            '`ros2 param list` or the parameters file of this package lists the real ones)')


def load_model(settings: Settings) -> Checkpoint:
    """The checkpoint the COMMON settings name, on their device and thread count."""
    torch.set_num_threads(settings.torch_threads)
    return load_checkpoint(settings.checkpoint or None, str(pick_device(settings.device)))
