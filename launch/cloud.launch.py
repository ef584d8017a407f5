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


def overrides(context):
    """The `autostart` and, when given, `checkpoint` parameters, over the parameters file's.

    As Parameters (`-p` rules) rather than a dict, for which launch_ros would write a
    /tmp/launch_params_* file that it never removes.
    """
    autostart = LaunchConfiguration('autostart').perform(context).lower() in ('true', '1')
    checkpoint = LaunchConfiguration('checkpoint').perform(context)
    return [Parameter('autostart', autostart)] + (
        [Parameter('checkpoint', checkpoint)] if checkpoint else [])


def cloud_node(context):
    """The node, configured from the parameters file and the launch arguments."""
    return [LifecycleNode(
        package='neucodex_ros', executable='cloud_node', name='cloud_node',
        namespace=LaunchConfiguration('namespace'),
        parameters=[LaunchConfiguration('params_file'), *overrides(context)],
        output='screen', respawn=True, respawn_delay=2.0,  # a node that dies comes back
        # and stops when launch ends, however it ends (neucodex_ros/processes.py)
        additional_env={'NEUCODEX_STOP_WITH': str(os.getpid())})]


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
