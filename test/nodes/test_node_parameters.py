"""Every key of the params file is a parameter the node declares, with a description."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest
import yaml
from rclpy.qos import ReliabilityPolicy
from rosutil import harness

from neucodex_ros.nodes.cloud_node import CloudNode
from neucodex_ros.nodes.edge_node import EdgeNode
from neucodex_ros.processes import CONFIG_ERROR, node_command
from neucodex_ros.resources import node_sections

ROOT = Path(__file__).resolve().parents[2]
PARAMS_FILES = [ROOT / 'config' / name for name in ('split.yaml', 'resnet18.yaml', 'events.yaml')]
BUILT_IN = {'use_sim_time', 'start_type_description_service'}

pytestmark = pytest.mark.ros


@pytest.mark.parametrize('params_file', PARAMS_FILES, ids=[p.name for p in PARAMS_FILES])
@pytest.mark.parametrize('node_class', [EdgeNode, CloudNode], ids=['edge_node', 'cloud_node'])
def test_params_file_matches_the_declared_parameters(node_class: type, params_file: Path) -> None:
    section = node_sections(yaml.safe_load(params_file.read_text()))[
        node_class.__name__.replace('Node', '_node').lower()]
    with harness() as h:
        node = node_class(context=h.context,
                          cli_args=['--ros-args', '--params-file', str(params_file)])
        try:
            declared = {name for name in node._parameters
                        if name not in BUILT_IN and not name.startswith('qos_overrides.')}
            assert set(section) == declared, 'the YAML sets exactly the declared parameters'
            for name, value in section.items():
                assert node.get_parameter(name).value == value, name
            for descriptor in node.describe_parameters(sorted(declared)):
                assert len(descriptor.description) > 15, f'{descriptor.name} is undocumented'
        finally:
            node.destroy_node()


def test_qos_is_overridden_the_standard_way() -> None:
    """`qos_overrides.<topic>.<publisher|subscription>.<policy>`, as in any ROS 2 stack."""
    overrides = {'/image.subscription.reliability': 'reliable',  # best effort by default
                 '/image.subscription.depth': '50', '/spikes.publisher.depth': '7'}
    with harness() as h:
        node = EdgeNode(context=h.context, cli_args=['--ros-args', *[
            arg for name, value in overrides.items()
            for arg in ('-p', f'qos_overrides.{name}:={value}')]])
        try:
            assert node.input_sub.qos_profile.reliability == ReliabilityPolicy.RELIABLE
            assert node.input_sub.qos_profile.depth == 50
            assert node.spikes_pub.qos_profile.depth == 7
            assert node.get_parameter('qos_overrides./exit_signal.subscription.reliability'
                                      ).value == 'reliable'  # the link's own default
        finally:
            node.destroy_node()


def node_output(*ros_args: str, until: str) -> tuple[int | None, str]:
    """Run an edge node process with ROS arguments until it prints `until` or exits."""
    command = node_command('edge_node', name='edge_node')[:3] + ['--ros-args', *ros_args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               text=True)
    lines = []
    try:
        for line in process.stdout:  # ends when the process exits
            lines.append(line)
            if until in line:
                break
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
        process.wait(timeout=60)
    return process.returncode, ''.join(lines)


@pytest.mark.ros
def test_a_value_out_of_range_is_one_line_and_a_configuration_error() -> None:
    code, output = node_output('-p', 'alpha:=1.5', until='\x00')
    assert code == CONFIG_ERROR, output
    assert 'alpha out of range' in output and 'Traceback' not in output, output


@pytest.mark.ros
def test_a_radio_that_is_no_preset_nor_a_number_is_a_configuration_error() -> None:
    code, output = node_output('-p', 'radio:=loud', until='\x00')
    assert code == CONFIG_ERROR, output
    assert "radio must be one of ('low-power-2.4ghz', 'wifi-phone', 'none') or nJ per bit >= 0, " \
        "got 'loud'" in output and 'Traceback' not in output, output


@pytest.mark.ros
def test_misspelt_parameters_are_named() -> None:
    code, output = node_output('-p', 'image_topc:=/cam', until='ignoring parameters')
    assert 'ignoring parameters this node does not have: image_topc' in output, output
