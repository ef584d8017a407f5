"""Launch the edge node (robot side): camera images or events in, spike tensors out.

Usage: ros2 launch neucodex_ros edge.launch.py [namespace:=robot1]
    [params_file:=/path/to/split.yaml] [checkpoint:=my_model.pt] [autostart:=false]
    [image_topic:=/camera/image_raw] [events_topic:=/camera/events]
    [remappings:='prediction:=/robot1/answers other:=/x']

In a namespace the robot's own topics (image, prediction, classification, ~/stats) move into
it while the link to the cloud (/spikes, /exit_signal) stays shared: robots in /robot1,
/robot2 ... use one cloud. The topic arguments remap the edge's default input names (`image`
and its `/compressed`, `/event_camera/events`), so a camera plugs in without a parameters file
of one's own. The node is a lifecycle node: with autostart:=false a lifecycle manager brings
it up.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch.substitutions import EnvironmentVariable, LaunchConfiguration
from launch_ros.actions import LifecycleNode
from launch_ros.parameter_descriptions import Parameter

from neucodex_ros.processes import launch_overrides, stopping_with_this_process


def edge_node(context):
    """The node, with the arguments that are only set when given (checkpoint, remappings)."""
    given = launch_overrides(*(LaunchConfiguration(argument).perform(context)
                               for argument in ('autostart', 'checkpoint'))).items()
    extra = [tuple(rule.split(':=', 1))
             for rule in LaunchConfiguration('remappings').perform(context).split()]
    return [LifecycleNode(
        package='neucodex_ros', executable='edge_node', name='edge_node',
        namespace=LaunchConfiguration('namespace'),
        # as Parameters (-p rules), not a dict: launch_ros writes a dict into a
        # /tmp/launch_params_* file that it never removes
        parameters=[LaunchConfiguration('params_file'), *(Parameter(*item) for item in given)],
        output='screen',
        remappings=[
            ('image', LaunchConfiguration('image_topic')),
            ('image/compressed', [LaunchConfiguration('image_topic'), '/compressed']),
            ('/event_camera/events', LaunchConfiguration('events_topic')), *extra],
        respawn=True, respawn_delay=2.0,  # a node that dies comes back
        additional_env=stopping_with_this_process())]  # ... and stops when launch ends


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
        DeclareLaunchArgument('namespace', default_value='',
                              description="this robot's namespace, e.g. robot1 (its source_id "
                                          'too, unless the params file sets one)'),
        DeclareLaunchArgument('checkpoint', default_value='',
                              description="the model: a checkpoint file or a shipped model's "
                                          "name; '': the params file's"),
        DeclareLaunchArgument('autostart', default_value='true',
                              description='configure and activate at start; false: wait for '
                                          'a lifecycle manager'),
        DeclareLaunchArgument('image_topic', default_value='image',
                              description='sensor_msgs/Image input (CompressedImage: '
                                          'this topic + /compressed)'),
        DeclareLaunchArgument('events_topic', default_value='/event_camera/events',
                              description='event_camera_msgs/EventPacket input'),
        DeclareLaunchArgument('remappings', default_value='',
                              description='more remappings, FROM:=TO separated by spaces'),
        SetEnvironmentVariable('FASTDDS_DEFAULT_PROFILES_FILE', EnvironmentVariable(
            'FASTDDS_DEFAULT_PROFILES_FILE', default_value=profile)),
        OpaqueFunction(function=edge_node),
    ])
