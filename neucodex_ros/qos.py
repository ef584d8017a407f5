"""The QoS of every topic the package publishes or hears, built in one place.

Every stream keeps a bounded history (KEEP_LAST) and is volatile: a late joiner does not want
old samples. Only reliability and depth differ: the link's (spikes, exit signals,
predictions) come from the nodes' `reliable` and `qos_depth`, the sensor input's from
`input_reliable` and `queue_size`, and the tools' (replay, the scorer, the client's event
packets) are reliable and deep, so that a burst is not lost.

The nodes' endpoints also take ROS 2's standard per-topic overrides (OVERRIDES), set at
start like any read-only parameter, e.g. in a params file:
`qos_overrides./image.subscription.reliability: best_effort`.
"""

from __future__ import annotations

from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy
from rclpy.qos_overriding_options import QoSOverridingOptions

#: History of the tools' endpoints: a replayed bag or a scorer must not lose a burst.
TOOL_DEPTH = 1000

#: reliability, history and depth of a node's publisher or subscription, as
#: `qos_overrides.<topic>.<publisher|subscription>.<policy>` parameters.
OVERRIDES = QoSOverridingOptions.with_default_policies()


def stream_qos(reliable: bool, depth: int) -> QoSProfile:
    """KEEP_LAST `depth`, volatile; reliable or best effort."""
    return QoSProfile(history=HistoryPolicy.KEEP_LAST, depth=depth,
                      reliability=ReliabilityPolicy.RELIABLE if reliable
                      else ReliabilityPolicy.BEST_EFFORT,
                      durability=DurabilityPolicy.VOLATILE)


def tool_qos() -> QoSProfile:
    """Reliable and TOOL_DEPTH deep."""
    return stream_qos(True, TOOL_DEPTH)
