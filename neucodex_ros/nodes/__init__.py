"""ROS 2 nodes: thin rclpy adapters over the ROS-free core."""

__all__: list[str] = []
