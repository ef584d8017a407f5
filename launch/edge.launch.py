"""Launch the edge node (robot side): camera images in, spike tensors out.

Usage: ros2 launch neucodex_ros edge.launch.py [params_file:=/path/to/split.yaml]
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def generate_launch_description() -> LaunchDescription:
    """The edge node, configured from the edge_node section of a parameters file."""
    default_params = os.path.join(get_package_share_directory('neucodex_ros'), 'config',
                                  'split.yaml')
    return LaunchDescription([
        DeclareLaunchArgument('params_file', default_value=default_params,
                              description='YAML with an edge_node section'),
        Node(package='neucodex_ros', executable='edge_node', name='edge_node',
             parameters=[LaunchConfiguration('params_file')], output='screen'),
    ])
