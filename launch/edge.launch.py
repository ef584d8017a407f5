"""Launch the edge node (robot side): camera images in, spike tensors out.

Usage: ros2 launch neucodex_ros edge.launch.py [params_file:=/path/to/split.yaml]
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, SetEnvironmentVariable
from launch.substitutions import EnvironmentVariable, LaunchConfiguration
from launch_ros.actions import Node


def generate_launch_description() -> LaunchDescription:
    """The edge node, configured from the edge_node section of a parameters file."""
    share = get_package_share_directory('neucodex_ros')
    default_params = os.path.join(share, 'config', 'split.yaml')
    # Camera-sized messages between processes (config/fastdds_large_data.xml says why);
    # a profile of your own in FASTDDS_DEFAULT_PROFILES_FILE wins.
    profile = os.path.join(share, 'config', 'fastdds_large_data.xml')
    return LaunchDescription([
        DeclareLaunchArgument('params_file', default_value=default_params,
                              description='YAML with an edge_node section'),
        SetEnvironmentVariable('FASTDDS_DEFAULT_PROFILES_FILE', EnvironmentVariable(
            'FASTDDS_DEFAULT_PROFILES_FILE', default_value=profile)),
        Node(package='neucodex_ros', executable='edge_node', name='edge_node',
             parameters=[LaunchConfiguration('params_file')], output='screen',
             respawn=True, respawn_delay=2.0),  # a node that dies comes back
    ])
