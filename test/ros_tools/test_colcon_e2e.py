"""The README's colcon recipe, run as written: a workspace built with colcon answers an image.

The pip venv stands in for /opt/ros/kilted. The lines that cannot run here have stand-ins
(STAND_INS, as the README says); every other line runs as written, in one bash, and the
launch it ends with is stopped as a terminal's Ctrl-C stops it.
"""

from __future__ import annotations

import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from ros2_tools import Tools, launched, readme_commands
from rosutil import READY, Robot, harness, node_pid

from neucodex_ros import shared_memory
from neucodex_ros.msg import Prediction

pytestmark = pytest.mark.ros

ROOT = Path(__file__).resolve().parents[2]
MARK = '<!-- test/ros_tools/test_colcon_e2e.py runs this block as written -->'
COPY_IGNORE = ('.venv', '.git', 'build', 'install', 'log', '__pycache__', '*.egg-info',
               '.pytest_cache', '.ruff_cache', '.mypy_cache', '.hypothesis')


def stand_ins(workspace: Path) -> dict[str, str]:
    """A line's start → what runs instead ('' for nothing): what cannot run here."""
    return {
        'source /opt/ros/': '',  # the environment is the venv's ROS, already sourced
        'mkdir -p ~/ros2_ws/src': f'cd {shlex.quote(str(workspace))}',  # a copy, not a clone
        'rosdep install': '',  # its index is out of reach; the README says which keys exist
        'python3 -m venv': '',  # the project's .venv is that venv ...
        'source venv/bin/activate': f'source {shlex.quote(sys.prefix)}/bin/activate',
        'pip install -r': '',  # ... with requirements-ros.txt's packages in it
    }


def script(workspace: Path) -> str:
    """The README's lines with their stand-ins; the launch replaces the shell."""
    replaced = stand_ins(workspace)
    lines = ['set -e']
    for line in readme_commands(MARK):
        start = next((key for key in replaced if line.startswith(key)), None)
        lines.append(line if start is None else replaced.pop(start))
    assert not replaced, f'the README lost lines this test stands in for: {list(replaced)}'
    *steps, launch = [line for line in lines if line]
    assert launch == 'ros2 launch neucodex_ros split.launch.py', launch
    return '\n'.join([*steps, 'echo "package at $(ros2 pkg prefix neucodex_ros)"',
                      f'exec {launch}'])


def test_the_readme_colcon_recipe_builds_a_workspace_that_answers_an_image(
        ros2_tools: Tools, tmp_path: Path) -> None:
    workspace = tmp_path / 'ros2_ws'
    shutil.copytree(ROOT, workspace / 'src' / 'neucodex_ros',
                    ignore=shutil.ignore_patterns(*COPY_IGNORE))
    env = ros2_tools.environ()
    env['PATH'] += f':{ros2_tools.colcon.parent}'  # colcon from PyPI
    install = workspace / 'install' / 'neucodex_ros'
    with launched(['bash', '-c', script(workspace)], env) as launch:
        launch.wait_for(READY, timeout=600)  # (colcon builds first)
        assert f'package at {install}\n' in launch.text, 'the install, not the venv'
        for node in ('cloud_node', 'edge_node'):
            command = Path(f'/proc/{node_pid(launch.text, node)}/cmdline').read_bytes()
            assert command.split(b'\0')[1] == str(install / 'lib' / 'neucodex_ros' / node).encode()
        with harness('camera') as ros:
            prediction, _, label = Robot(ros).answer()
    shared_memory.sweep_settled()  # (what launch leaves: test_ros2_launch_e2e.py says why)
    assert (prediction.status, prediction.label) == (Prediction.STATUS_OK, label)
    assert 'Summary: 1 package finished' in launch.text
    assert (install / 'lib' / 'neucodex_ros' / 'edge_node').read_text().startswith(
        f'#!{sys.prefix}/bin/python')  # the venv's Python, found by CMake
    # A distribution without event_camera_msgs or vision_msgs: the README's other line finds ours
    listed = subprocess.run([str(ros2_tools.colcon), 'list', '--names-only', '--base-paths',
                             'src', 'src/neucodex_ros/interfaces'], cwd=workspace, env=env,
                            capture_output=True, text=True, check=True).stdout.split()
    assert sorted(listed) == ['event_camera_msgs', 'neucodex_ros', 'vision_msgs']
