"""Test helper process: republish every message of one type from one topic to another."""

from __future__ import annotations

import importlib
import sys

import rclpy
from rclpy.executors import ExternalShutdownException
from rclpy.qos import DurabilityPolicy, HistoryPolicy, QoSProfile, ReliabilityPolicy


def main() -> None:
    """echo_node.py PACKAGE.msg.Type IN_TOPIC OUT_TOPIC."""
    type_path, in_topic, out_topic = sys.argv[1:4]
    module_name, type_name = type_path.rsplit('.', 1)
    msg_type = getattr(importlib.import_module(module_name), type_name)
    qos = QoSProfile(history=HistoryPolicy.KEEP_ALL, reliability=ReliabilityPolicy.RELIABLE,
                     durability=DurabilityPolicy.TRANSIENT_LOCAL)
    try:
        with rclpy.init():
            node = rclpy.create_node('echo')
            publisher = node.create_publisher(msg_type, out_topic, qos)
            node.create_subscription(msg_type, in_topic, publisher.publish, qos)
            rclpy.spin(node)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass


if __name__ == '__main__':
    main()
