"""`neucodex-ros split` starts the nodes of a params file and Ctrl-C stops them all."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time

import pytest

pytestmark = pytest.mark.ros

# The last lines each node logs at the end of its constructor: the node is fully up.
STARTED = ('sends spikes of shape', 'expects spikes of shape')


def test_split_starts_both_nodes_and_stops_them_on_ctrl_c() -> None:
    runner = subprocess.Popen([sys.executable, '-m', 'neucodex_ros.cli', 'split'],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(runner.stdout), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 60
        while not all(any(mark in line for line in list(lines)) for mark in STARTED):
            assert time.monotonic() < deadline, 'the nodes did not start:\n' + ''.join(lines)
            assert runner.poll() is None, 'the runner exited:\n' + ''.join(lines)
            time.sleep(0.05)
        runner.send_signal(signal.SIGINT)
        try:  # the runner gives each node 30 s to stop before it kills it
            runner.wait(timeout=90)
        except subprocess.TimeoutExpired:
            pytest.fail('the runner did not stop:\n' + ''.join(lines))
        reader.join(timeout=10)
    finally:
        if runner.poll() is None:
            runner.kill()
    output = ''.join(lines)
    assert runner.returncode == 0, output
    assert 'edge summary' in output and 'cloud summary' in output, output  # clean shutdown
    assert 'Traceback' not in output, output


def test_split_refuses_unknown_sections(tmp_path) -> None:
    params = tmp_path / 'bad.yaml'
    params.write_text('camera_node:\n  ros__parameters: {}\n')
    result = subprocess.run([sys.executable, '-m', 'neucodex_ros.cli', 'split', '--params-file',
                             str(params)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and 'camera_node' in result.stderr
