"""Launch the NeuCODEX split on one machine: the cloud node and the edge node.

Usage: ros2 launch neucodex_ros split.launch.py [params_file:=/path/to/split.yaml]
    [image_topic:=/camera/image_raw] [events_topic:=/camera/events]

On two machines, run edge.launch.py on the robot and cloud.launch.py on the server, with the
same ROS_DOMAIN_ID.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration


def generate_launch_description() -> LaunchDescription:
    """cloud.launch.py and edge.launch.py, sharing one parameters file."""
    share = get_package_share_directory('neucodex_ros')
    forward = {'params_file': LaunchConfiguration('params_file')}.items()
    edge_inputs = {name: LaunchConfiguration(name)
                   for name in ('params_file', 'image_topic', 'events_topic')}.items()
    return LaunchDescription([
        DeclareLaunchArgument('params_file',
                              default_value=os.path.join(share, 'config', 'split.yaml'),
                              description='YAML with edge_node and cloud_node sections'),
        DeclareLaunchArgument('image_topic', default_value='image',
                              description="the edge's sensor_msgs/Image input"),
        DeclareLaunchArgument('events_topic', default_value='/event_camera/events',
                              description="the edge's event_camera_msgs/EventPacket input"),
        IncludeLaunchDescription(PythonLaunchDescriptionSource(
            os.path.join(share, 'launch', 'cloud.launch.py')), launch_arguments=forward),
        IncludeLaunchDescription(PythonLaunchDescriptionSource(
            os.path.join(share, 'launch', 'edge.launch.py')), launch_arguments=edge_inputs),
    ])
