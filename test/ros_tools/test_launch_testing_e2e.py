"""launch_test_split.py, the way a ROS package tests its launch files, run by `launch_test`."""

from __future__ import annotations

import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from ros2_tools import Tools

from neucodex_ros import shared_memory

pytestmark = pytest.mark.ros

HERE = Path(__file__).resolve().parent


def test_the_launch_testing_test_of_split_launch_passes(ros2_tools: Tools,
                                                         tmp_path: Path) -> None:
    report = tmp_path / 'launch_test.xml'
    result = subprocess.run(['launch_test', str(HERE / 'launch_test_split.py'),
                             '--junit-xml', str(report)], env=ros2_tools.environ(),
                            capture_output=True, text=True, timeout=600, check=False)
    shared_memory.sweep_settled()  # (what launch leaves: test_ros2_launch_e2e.py says why)
    assert result.returncode == 0, result.stdout + result.stderr
    cases = {case.get('name'): [child.tag for child in case]
             for case in ET.parse(report).getroot().iter('testcase')}
    assert cases == {name: [] for name in (
        'test_the_edge_finds_the_cloud', 'test_a_digit_gets_a_prediction_and_a_classification',
        'test_every_node_exits_with_0', 'test_each_says_what_it_did')}, cases
