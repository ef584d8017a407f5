"""The ROS-free core: model, codec, exit policy, data, training. Nothing here imports rclpy."""

__all__: list[str] = []
