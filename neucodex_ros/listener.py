"""Listens to a running split and scores it: Predictions and SampleLabels into a Scoreboard.

Not a node of the split but its audience, for pip users without `ros2 topic echo`:
`neucodex-ros watch` prints what it hears, `neucodex-ros split` prints a status line from it,
and `neucodex-ros replay --score` scores a bag with it. Matching and figures are in
core/scoring.py.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import rclpy
from rclpy.event_handler import (
    QoSRequestedIncompatibleQoSInfo,
    QoSSubscriptionMatchedInfo,
    SubscriptionEventCallbacks,
)
from rclpy.node import Node

from neucodex_ros.core.scoring import Answer, Scoreboard, Truth
from neucodex_ros.msg import Prediction, SampleLabel
from neucodex_ros.qos import tool_qos


def stamp_ns(stamp: object) -> int:
    """A builtin_interfaces/Time as integer nanoseconds."""
    return stamp.sec * 10**9 + stamp.nanosec  # type: ignore[attr-defined]


class Scorer(Node):
    """Fills `board` from the Prediction topic and, if given, the SampleLabel topic.

    `clock` stamps arrivals (the caller's clock for Truth.ended); `on_prediction` sees each
    Prediction after it was recorded. `matched` counts the publishers each subscription has
    matched: what they send before that is lost to it, as to any late subscriber.
    """

    def __init__(self, prediction_topic: str, label_topic: str | None,
                 clock: Callable[[], float],
                 on_prediction: Callable[[Prediction], None] = lambda msg: None,
                 name: str = 'neucodex_scorer') -> None:
        super().__init__(name)
        self.board = Scoreboard()
        self._clock = clock
        self._on_prediction = on_prediction
        self.matched: dict[str, int] = {}
        self.create_subscription(Prediction, prediction_topic, self._prediction, tool_qos(),
                                 event_callbacks=self._events(prediction_topic))
        if label_topic:
            self.create_subscription(SampleLabel, label_topic, self._label, tool_qos(),
                                     event_callbacks=self._events(label_topic))

    def _events(self, topic: str) -> SubscriptionEventCallbacks:
        def incompatible(info: QoSRequestedIncompatibleQoSInfo) -> None:
            self.get_logger().warning(
                f'a publisher on {topic} is best effort and cannot be heard reliably; set its '
                'node\'s reliable: true to score it')

        def matched(info: QoSSubscriptionMatchedInfo) -> None:
            self.matched[topic] = info.current_count
        return SubscriptionEventCallbacks(incompatible_qos=incompatible, matched=matched)

    def pause(self, seconds: float) -> None:
        """Take what arrives for `seconds` (the global executor spins this node alone)."""
        end = time.monotonic() + seconds
        while (left := end - time.monotonic()) > 0:
            rclpy.spin_once(self, timeout_sec=left)

    def _prediction(self, msg: Prediction) -> None:
        self.board.answer(Answer(stamp_ns(msg.header.stamp), msg.label, msg.status,
                                 msg.timesteps_used, msg.num_timesteps, msg.bytes_received,
                                 self._clock()))
        self._on_prediction(msg)

    def _label(self, msg: SampleLabel) -> None:
        self.board.expect(Truth(stamp_ns(msg.header.stamp), msg.label))
