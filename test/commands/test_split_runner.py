"""`neucodex-ros split` starts the nodes of a params file and Ctrl-C stops them all."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from ros2_tools import shm_names

from neucodex_ros import shared_memory
from neucodex_ros.processes import PARENT_VARIABLE
from neucodex_ros.resources import events_params_file

pytestmark = pytest.mark.ros

# The last lines each node logs at the end of its constructor: the node is fully up.
STARTED = ('sends spikes of shape', 'expects spikes of shape')


def wait_for(lines: list[str], runner: subprocess.Popen, condition, what: str) -> None:
    """Poll the runner's output until condition(text) holds (60 s, or the runner exits)."""
    deadline = time.monotonic() + 60
    while not condition(''.join(list(lines))):
        assert time.monotonic() < deadline, f'no {what}:\n' + ''.join(lines)
        assert runner.poll() is None, 'the runner exited:\n' + ''.join(lines)
        time.sleep(0.05)


def node_pids(runner: subprocess.Popen) -> dict[str, int]:
    """The runner's children by node executable."""
    children = Path(f'/proc/{runner.pid}/task/{runner.pid}/children').read_text().split()
    pids = {}
    for pid in map(int, children):
        command = Path(f'/proc/{pid}/cmdline').read_bytes().decode(errors='replace')
        for node in ('edge_node', 'cloud_node'):
            if f'nodes.{node}' in command:
                pids[node] = pid
    return pids


def started(mark: str, times: int = 1):
    return lambda text: text.count(mark) >= times


def split() -> tuple[subprocess.Popen[str], list[str], threading.Thread]:
    """`neucodex-ros split` once both nodes are up, its output lines as they come, their reader."""
    runner = subprocess.Popen([sys.executable, '-m', 'neucodex_ros.cli', 'split'],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(runner.stdout), daemon=True)
    reader.start()
    try:
        wait_for(lines, runner, lambda text: all(mark in text for mark in STARTED),
                 'start of both nodes')
    except BaseException:
        runner.send_signal(signal.SIGINT)
        runner.wait(timeout=90)
        raise
    return runner, lines, reader


@pytest.fixture
def shm() -> set[str]:
    """/dev/shm as the test finds it, without what earlier tests' processes left there."""
    shared_memory.sweep_settled()
    return shm_names()


def test_split_starts_both_nodes_restarts_a_dead_one_and_stops_them_on_ctrl_c(
        shm: set[str]) -> None:
    """... and leaves /dev/shm as it was: the restarted node removes what the killed one left."""
    runner, lines, reader = split()
    try:
        before = node_pids(runner)
        os.kill(before['edge_node'], signal.SIGKILL)  # dies without a word
        wait_for(lines, runner, started(STARTED[0], 2), 'restarted edge')
        after = node_pids(runner)
        assert after['cloud_node'] == before['cloud_node'], 'the cloud went on'
        assert after['edge_node'] != before['edge_node']
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
    assert 'edge_node exited with code -9; starting it again' in output, output
    assert 'edge summary' in output and 'cloud summary' in output, output  # clean shutdown
    assert 'Traceback' not in output, output
    restarted = output[output.index('edge_node exited with code -9'):]
    swept = re.search(r'\[neucodex_ros\]: removed \d+ shared-memory files \(([\d.]+) MiB\)',
                      restarted)
    assert swept and float(swept[1]) >= 64, 'the restarted edge removes the 64 MiB segment'
    assert shm_names() == shm, f'added {shm_names() - shm}, removed {shm - shm_names()}'


def test_nodes_stop_when_split_is_killed_and_a_new_split_starts_afresh(
        shm: set[str]) -> None:
    """SIGKILL stops `split` before it can stop its nodes: they stop by themselves."""
    runner, lines, reader = split()
    try:
        nodes = node_pids(runner)
        runner.kill()
        runner.wait()
        reader.join(timeout=60)  # the nodes share its output: it ends when they have
        assert not reader.is_alive(), 'the nodes run on'
        assert all(not Path(f'/proc/{pid}').exists() or Path(f'/proc/{pid}/stat').read_text()
                   .split()[2] == 'Z' for pid in nodes.values())
        output = ''.join(lines)
        assert 'edge summary' in output and 'cloud summary' in output, 'each stopped cleanly'
        runner, lines, reader = split()  # again: a robot's supervisor starts it afresh
        runner.send_signal(signal.SIGINT)
        runner.wait(timeout=90)
        reader.join(timeout=10)
    finally:
        if runner.poll() is None:
            runner.kill()
    assert runner.returncode == 0, ''.join(lines)
    assert shm_names() == shm, f'added {shm_names() - shm}, removed {shm - shm_names()}'


def test_split_stops_when_a_node_cannot_start_as_configured(tmp_path) -> None:
    params = tmp_path / 'bad.yaml'
    params.write_text('cloud_node:\n  ros__parameters: {}\n'
                      'edge_node:\n  ros__parameters: {layers: everything}\n')
    result = subprocess.run([sys.executable, '-m', 'neucodex_ros.cli', 'split', '--params-file',
                             str(params)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr  # (a user's mistake)
    assert 'edge_node cannot start' in result.stderr, result.stderr
    assert 'starting it again' not in result.stderr, 'a configuration error is not retried'
    assert 'Traceback' not in result.stderr, result.stderr


def test_an_override_out_of_range_stops_split_with_status_2_and_no_traceback() -> None:
    result = subprocess.run([sys.executable, '-m', 'neucodex_ros.cli', 'split', '-p',
                             'cloud_node.alpha:=1.5'], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    assert 'cloud_node cannot start' in result.stderr and 'alpha' in result.stderr
    assert 'Traceback' not in result.stdout + result.stderr, result.stderr


@pytest.mark.parametrize('seconds', [0.5, 1.5])
def test_ctrl_c_while_the_nodes_start_stops_them_without_a_traceback(seconds: float) -> None:
    runner = subprocess.Popen([sys.executable, '-m', 'neucodex_ros.cli', 'split'],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(runner.stdout), daemon=True)
    reader.start()
    wait_for(lines, runner, lambda text: 'starting cloud_node' in text, 'start line')
    time.sleep(seconds)  # (the nodes are importing torch)
    runner.send_signal(signal.SIGINT)
    assert runner.wait(timeout=60) == 0
    reader.join(timeout=10)
    assert 'Traceback' not in ''.join(lines), ''.join(lines)


def test_split_refuses_unknown_sections(tmp_path) -> None:
    params = tmp_path / 'bad.yaml'
    params.write_text('camera_node:\n  ros__parameters: {}\n')
    result = subprocess.run([sys.executable, '-m', 'neucodex_ros.cli', 'split', '--params-file',
                             str(params)], capture_output=True, text=True, timeout=60)
    assert result.returncode == 2 and 'camera_node' in result.stderr


def test_an_edge_without_input_says_where_it_listens() -> None:
    """The events config listens where drivers and `convert` publish, and says so when quiet."""
    runner = subprocess.Popen([sys.executable, '-m', 'neucodex_ros.cli', 'split',
                               '--params-file', str(events_params_file())],
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(runner.stdout), daemon=True)
    reader.start()
    try:
        wait_for(lines, runner, lambda text: 'no input on' in text, 'warning about no input')
    finally:
        runner.send_signal(signal.SIGINT)
        runner.wait(timeout=90)
        reader.join(timeout=10)
    warning = next(line for line in lines if 'no input on' in line)
    assert '/event_camera/events (EventPacket)' in warning, warning
    assert ''.join(lines).count('no input on') == 1, 'said once'


CHILD = ('import ctypes, os, signal; from neucodex_ros.processes import stop_with_parent; '
         'stop = stop_with_parent(os.environ); got = ctypes.c_int(); '
         'ctypes.CDLL(None).prctl(2, ctypes.byref(got), 0, 0, 0); '  # PR_GET_PDEATHSIG
         'print(stop, signal.Signals(got.value).name if got.value else None)')


def child_says(parent: str | None) -> str:
    env = dict(os.environ)
    env.pop(PARENT_VARIABLE, None)
    if parent is not None:
        env[PARENT_VARIABLE] = parent
    return subprocess.run([sys.executable, '-c', CHILD], env=env, capture_output=True,
                          text=True, check=True).stdout.strip()


def test_a_node_started_by_a_process_stops_when_that_process_ends() -> None:
    """stop_with_parent: its parent's death is the node's SIGTERM; a parent already gone, a stop."""
    assert child_says(str(os.getpid())) == 'False SIGTERM'  # this process started it
    assert child_says(None) == 'False None'  # started by hand: nothing changes
    gone = subprocess.Popen(['true'])
    gone.wait()  # (its pid is free now)
    assert child_says(str(gone.pid)) == 'True None'
    assert child_says('1') == 'False None', 'a process that is not its parent: left alone'


def test_watch_on_a_topic_nobody_publishes_names_the_prediction_topics_that_exist() -> None:
    import rclpy

    from neucodex_ros.msg import Prediction
    from neucodex_ros.qos import stream_qos

    with rclpy.init():
        node = rclpy.create_node('a_robot')
        node.create_publisher(Prediction, '/robot7/prediction', stream_qos(True, 10))
        watch = subprocess.Popen([sys.executable, '-m', 'neucodex_ros.cli', 'watch',
                                  '--prediction-topic', '/predictions'],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            said = ''
            deadline = time.monotonic() + 60
            while 'nobody publishes' not in said and time.monotonic() < deadline:
                rclpy.spin_once(node, timeout_sec=0.1)
                if watch.poll() is not None:
                    break
                said = watch.stderr.readline() if watch.stderr else ''
        finally:
            watch.send_signal(signal.SIGINT)
            watch.communicate(timeout=30)
            node.destroy_node()
    assert 'nobody publishes on /predictions' in said and '/robot7/prediction' in said, said
