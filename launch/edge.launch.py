"""Launch the edge node (robot side): camera images in, spike tensors out.

Usage: ros2 launch neucodex_ros edge.launch.py [params_file:=/path/to/split.yaml]
    [image_topic:=/camera/image_raw] [events_topic:=/camera/events]

The two topic arguments remap the edge's default input names (`image` and its `/compressed`,
`/event_camera/events`), so a camera plugs in without a parameters file of one's own.
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
        DeclareLaunchArgument('image_topic', default_value='image',
                              description='sensor_msgs/Image input (CompressedImage: '
                                          'this topic + /compressed)'),
        DeclareLaunchArgument('events_topic', default_value='/event_camera/events',
                              description='event_camera_msgs/EventPacket input'),
        SetEnvironmentVariable('FASTDDS_DEFAULT_PROFILES_FILE', EnvironmentVariable(
            'FASTDDS_DEFAULT_PROFILES_FILE', default_value=profile)),
        Node(package='neucodex_ros', executable='edge_node', name='edge_node',
             parameters=[LaunchConfiguration('params_file')], output='screen',
             remappings=[
                 ('image', LaunchConfiguration('image_topic')),
                 ('image/compressed', [LaunchConfiguration('image_topic'), '/compressed']),
                 ('/event_camera/events', LaunchConfiguration('events_topic'))],
             respawn=True, respawn_delay=2.0),  # a node that dies comes back
    ])
