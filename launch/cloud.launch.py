"""Launch the cloud node (server side): spike tensors in, exit signals out.

Usage: ros2 launch neucodex_ros cloud.launch.py [params_file:=/path/to/split.yaml]
    [checkpoint:=my_model.pt] [autostart:=false] [namespace:=]

One cloud serves every robot of its model, whatever their namespaces: the link topics
(/spikes, /exit_signal, /clouds) are absolute. The node is a lifecycle node: with
autostart:=false a lifecycle manager brings it up.
"""

import os

from ament_index_python.packages import get_package_share_directory
from launch import LaunchDescription
from launch.actions import DeclareLaunchArgument, OpaqueFunction, SetEnvironmentVariable
from launch.substitutions import EnvironmentVariable, LaunchConfiguration
from launch_ros.actions import LifecycleNode
from launch_ros.parameter_descriptions import Parameter

from neucodex_ros.processes import launch_overrides, stopping_with_this_process


def cloud_node(context):
    """The node, configured from the parameters file and the launch arguments."""
    given = launch_overrides(*(LaunchConfiguration(argument).perform(context)
                               for argument in ('autostart', 'checkpoint'))).items()
    return [LifecycleNode(
        package='neucodex_ros', executable='cloud_node', name='cloud_node',
        namespace=LaunchConfiguration('namespace'),
        # as Parameters (-p rules), not a dict: launch_ros writes a dict into a
        # /tmp/launch_params_* file that it never removes
        parameters=[LaunchConfiguration('params_file'), *(Parameter(*item) for item in given)],
        output='screen', respawn=True, respawn_delay=2.0,  # a node that dies comes back
        additional_env=stopping_with_this_process())]  # ... and stops when launch ends


def generate_launch_description() -> LaunchDescription:
    """The cloud node, configured from the cloud_node section of a parameters file."""
    share = get_package_share_directory('neucodex_ros')
    default_params = os.path.join(share, 'config', 'split.yaml')
    # Camera-sized messages between processes (config/fastdds_large_data.xml says why);
    # a profile of your own in FASTDDS_DEFAULT_PROFILES_FILE wins.
    profile = os.path.join(share, 'config', 'fastdds_large_data.xml')
    return LaunchDescription([
        DeclareLaunchArgument('params_file', default_value=default_params,
                              description='YAML with a cloud_node section'),
        DeclareLaunchArgument('checkpoint', default_value='',
                              description="the model (the robots' own): a checkpoint file or "
                                          "a shipped model's name; '': the params file's"),
        DeclareLaunchArgument('autostart', default_value='true',
                              description='configure and activate at start; false: wait for '
                                          'a lifecycle manager'),
        DeclareLaunchArgument('namespace', default_value='',
                              description="the cloud node's namespace (its ~/stats); the link "
                                          'topics stay absolute'),
        SetEnvironmentVariable('FASTDDS_DEFAULT_PROFILES_FILE', EnvironmentVariable(
            'FASTDDS_DEFAULT_PROFILES_FILE', default_value=profile)),
        OpaqueFunction(function=cloud_node),
    ])
