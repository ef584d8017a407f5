"""Launch the NeuCODEX split: the edge node (robot side) and the cloud node (server side).

    ros2 launch neucodex_ros split.launch.py [params_file:=/path/to/split.yaml]

On separate machines, launch each node on its own host with the same ROS_DOMAIN_ID.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument
from launch.substitutions import LaunchConfiguration
from launch_ros.actions import Node


def generate_launch_description() -> LaunchDescription:
    """The edge and cloud nodes, both configured from one parameters file."""
    default_params = os.path.join(get_package_share_directory('neucodex_ros'), 'config',
                                  'split.yaml')
    params_file = LaunchConfiguration('params_file')
    return LaunchDescription([
        DeclareLaunchArgument('params_file', default_value=default_params,
                              description='YAML keyed by node name (edge_node, cloud_node)'),
        Node(package='neucodex_ros', executable='cloud_node', name='cloud_node',
             parameters=[params_file], output='screen'),
        Node(package='neucodex_ros', executable='edge_node', name='edge_node',
             parameters=[params_file], output='screen'),
    ])
