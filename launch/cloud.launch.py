"""Launch the cloud node (server side): spike tensors in, exit signals and predictions out.

Usage: ros2 launch neucodex_ros cloud.launch.py [params_file:=/path/to/split.yaml]
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def generate_launch_description() -> LaunchDescription:
    """The cloud node, configured from the cloud_node section of a parameters file."""
    default_params = os.path.join(get_package_share_directory('neucodex_ros'), 'config',
                                  'split.yaml')
    return LaunchDescription([
        DeclareLaunchArgument('params_file', default_value=default_params,
                              description='YAML with a cloud_node section'),
        Node(package='neucodex_ros', executable='cloud_node', name='cloud_node',
             parameters=[LaunchConfiguration('params_file')], output='screen'),
    ])
