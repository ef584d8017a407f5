"""Every key of the params file is a parameter the node declares, with a description."""

from __future__ import annotations

import signal
import subprocess
from pathlib import Path

import pytest
import yaml
from rosutil import harness

from neucodex_ros.core.codec import is_temporal
from neucodex_ros.core.errors import ConfigError
from neucodex_ros.core.pacing import AdaptivePacing
from neucodex_ros.nodes.cloud_node import CloudNode
from neucodex_ros.nodes.edge_node import EdgeNode
from neucodex_ros.processes import CONFIG_ERROR, node_command

ROOT = Path(__file__).resolve().parents[2]
PARAMS_FILES = [ROOT / 'config' / name for name in ('split.yaml', 'resnet18.yaml', 'events.yaml')]
BUILT_IN = {'use_sim_time', 'start_type_description_service'}

pytestmark = pytest.mark.ros


@pytest.mark.parametrize('params_file', PARAMS_FILES, ids=[p.name for p in PARAMS_FILES])
@pytest.mark.parametrize('node_class', [EdgeNode, CloudNode], ids=['edge_node', 'cloud_node'])
def test_params_file_matches_the_declared_parameters(node_class: type, params_file: Path) -> None:
    section = yaml.safe_load(params_file.read_text())[node_class.__name__.replace(
        'Node', '_node').lower()]['ros__parameters']
    with harness() as h:
        node = node_class(context=h.context,
                          cli_args=['--ros-args', '--params-file', str(params_file)])
        try:
            declared = {name for name in node._parameters if name not in BUILT_IN}
            assert set(section) == declared, 'the YAML sets exactly the declared parameters'
            for name, value in section.items():
                assert node.get_parameter(name).value == value, name
            for descriptor in node.describe_parameters(sorted(declared)):
                assert len(descriptor.description) > 15, f'{descriptor.name} is undocumented'
        finally:
            node.destroy_node()


@pytest.mark.parametrize('encoding, reliable, accepted', [
    ('rice-temporal', False, False), ('zstd-temporal', False, False), ('rice', False, True),
    ('auto', False, True), ('rice-temporal', True, True), ('zip', True, False)])
def test_edge_codec_setting(encoding: str, reliable: bool, accepted: bool) -> None:
    """A temporal codec needs the previous timestep at the cloud: only over a reliable link."""
    with harness() as h:
        args = ['--ros-args', '-p', f'encoding:={encoding}', '-p', f'reliable:={reliable}']
        if not accepted:
            with pytest.raises(ConfigError, match='reliable: true' if encoding != 'zip'
                               else 'encoding must be auto'):
                EdgeNode(context=h.context, cli_args=args)
            return
        node = EdgeNode(context=h.context, cli_args=args)
        try:
            assert all(reliable or not is_temporal(name) for name in node.codecs)
        finally:
            node.destroy_node()


@pytest.mark.parametrize('pacing, accepted', [('adaptive', True), ('clock', True),
                                              ('fast', False)])
def test_edge_pacing_setting(pacing: str, accepted: bool) -> None:
    with harness() as h:
        args = ['--ros-args', '-p', f'pacing:={pacing}']
        if not accepted:
            with pytest.raises(ConfigError, match='pacing must be one of'):
                EdgeNode(context=h.context, cli_args=args)
            return
        node = EdgeNode(context=h.context, cli_args=args)
        try:
            assert isinstance(node.pacing, AdaptivePacing) == (pacing == 'adaptive')
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
def test_misspelt_parameters_are_named() -> None:
    code, output = node_output('-p', 'image_topc:=/cam', until='ignoring parameters')
    assert 'ignoring parameters this node does not have: image_topc' in output, output


@pytest.mark.parametrize('params_file', PARAMS_FILES, ids=[p.name for p in PARAMS_FILES])
def test_the_encoding_comment_lists_every_codec(params_file: Path) -> None:
    """The YAML's comment on `encoding` names every value the node takes (drift check)."""
    from neucodex_ros.core import codec

    lines = params_file.read_text().splitlines()
    start = next(i for i, line in enumerate(lines) if line.strip().startswith('encoding:'))
    comment = ' '.join(lines[start:start + 4])
    for name in (codec.AUTO, *codec.ENCODINGS):
        assert f' {name} ' in comment.replace('|', ' ').replace('(', ' '), name


def test_the_readme_names_every_parameter_of_the_shipped_files() -> None:
    """README drift check: each parameter of a shipped params file is named in the README."""
    readme = (ROOT / 'README.md').read_text()
    for params_file in PARAMS_FILES:
        for node, section in yaml.safe_load(params_file.read_text()).items():
            for name in section['ros__parameters']:
                assert f'`{name}' in readme, f'{params_file.name}: {node}.{name}'
