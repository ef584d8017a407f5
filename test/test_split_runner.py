"""`neucodex-ros split` starts the nodes of a params file and Ctrl-C stops them all."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest
from rosutil import harness

pytestmark = pytest.mark.ros


def test_split_starts_both_nodes_and_stops_them_on_ctrl_c() -> None:
    runner = subprocess.Popen([sys.executable, '-m', 'neucodex_ros.cli', 'split'],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        with harness() as h:
            h.spin_until(lambda: {'edge_node', 'cloud_node'} <= set(h.node.get_node_names()),
                         60.0, 'edge_node and cloud_node in the ROS graph')
        runner.send_signal(signal.SIGINT)
        output, _ = runner.communicate(timeout=60)
    finally:
        if runner.poll() is None:
            runner.kill()
    assert runner.returncode == 0, output
    assert 'edge summary' in output and 'cloud summary' in output  # both shut down cleanly
    assert 'Traceback' not in output


def test_split_refuses_unknown_sections(tmp_path) -> None:
    params = tmp_path / 'bad.yaml'
    params.write_text('camera_node:\n  ros__parameters: {}\n')
    result = subprocess.run([sys.executable, '-m', 'neucodex_ros.cli', 'split', '--params-file',
                             str(params)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and 'camera_node' in result.stderr
