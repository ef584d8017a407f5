"""Launch the NeuCODEX split on one machine: the cloud node and the edge node.

Usage: ros2 launch neucodex_ros split.launch.py [params_file:=/path/to/split.yaml]
    [checkpoint:=my_model.pt] [namespace:=robot1] [autostart:=false]
    [image_topic:=/camera/image_raw] [events_topic:=/camera/events] [remappings:='a:=b']

On two machines, run edge.launch.py on the robot and cloud.launch.py on the server, with the
same ROS_DOMAIN_ID.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, GroupAction, IncludeLaunchDescription
from launch.launch_description_sources import PythonLaunchDescriptionSource
from launch.substitutions import LaunchConfiguration


def generate_launch_description() -> LaunchDescription:
    """cloud.launch.py and edge.launch.py, sharing one parameters file and model."""
    share = get_package_share_directory('neucodex_ros')
    shared = ('params_file', 'checkpoint', 'autostart')
    # (the namespace is the robot's: the cloud stays at the root, where every robot finds it)
    cloud_arguments = {'namespace': '', **{name: LaunchConfiguration(name)
                                           for name in shared}}.items()
    edge_arguments = {name: LaunchConfiguration(name) for name in (
        *shared, 'namespace', 'image_topic', 'events_topic', 'remappings')}.items()
    return LaunchDescription([
        DeclareLaunchArgument('params_file',
                              default_value=os.path.join(share, 'config', 'split.yaml'),
                              description='YAML with edge_node and cloud_node sections'),
        DeclareLaunchArgument('checkpoint', default_value='',
                              description="the model of both nodes: a checkpoint file or a "
                                          "shipped model's name; '': the params file's"),
        DeclareLaunchArgument('autostart', default_value='true',
                              description='configure and activate at start; false: wait for '
                                          'a lifecycle manager'),
        DeclareLaunchArgument('namespace', default_value='',
                              description="the robot's namespace (the cloud stays at the "
                                          'root and serves any)'),
        DeclareLaunchArgument('image_topic', default_value='image',
                              description="the edge's sensor_msgs/Image input"),
        DeclareLaunchArgument('events_topic', default_value='/event_camera/events',
                              description="the edge's event_camera_msgs/EventPacket input"),
        DeclareLaunchArgument('remappings', default_value='',
                              description="more remappings of the edge's, FROM:=TO separated "
                                          'by spaces'),
        # each in a scope of its own: the arguments one include sets stay out of the other
        *(GroupAction([IncludeLaunchDescription(PythonLaunchDescriptionSource(
            os.path.join(share, 'launch', f'{side}.launch.py')), launch_arguments=arguments)])
          for side, arguments in (('cloud', cloud_arguments), ('edge', edge_arguments))),
    ])
