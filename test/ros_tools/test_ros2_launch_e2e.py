"""`ros2 launch neucodex_ros ...` and the `ros2` verbs, run for real on our nodes.

The tools come from ../shared/vendor/ros2 (test/ros2_tools.py); the test is the user: a plain
rclpy node of its own publishes a held-out real digit as a camera would and reads what the
robot stack reads (Prediction, vision_msgs/Classification), a terminal's Ctrl-C stops the
launch, and nothing may stay behind: no process, no /tmp/launch_params_* file, no file in
/dev/shm.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from ros2_tools import Tools, launch_params, launched, readme_commands, shm_names, until
from rosutil import READY, Robot, harness, node_pid

from neucodex_ros import shared_memory
from neucodex_ros.msg import Prediction
from neucodex_ros.resources import default_params_file
from neucodex_ros.shared_memory import SHM_DIR, is_segment

pytestmark = pytest.mark.ros

ROOT = Path(__file__).resolve().parents[2]
PIP_MARK = '<!-- test/ros_tools/test_ros2_launch_e2e.py runs this block as written -->'


@pytest.fixture(scope='module')
def env(ros2_tools: Tools) -> Iterator[dict[str, str]]:
    """A shell with ROS sourced; the ros2 daemon the verbs start is stopped afterwards."""
    environ = ros2_tools.environ()
    yield environ
    subprocess.run(['ros2', 'daemon', 'stop'], env=environ, capture_output=True, check=False)


#: What a `ros2` verb says of a node it has not discovered yet: a user runs it again.
NOT_YET = ('Node not found', 'Wait for service timed out')


def ros2(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """A `ros2` command as a user types it, again while it has not found the node yet."""
    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(['ros2', *args], env=env, capture_output=True, text=True,
                              timeout=120, check=False)

    return until(run, lambda result: not any(text in result.stdout + result.stderr
                                             for text in NOT_YET), f'ros2 {" ".join(args)}')


def locked_by(pid: int) -> set[str]:
    """The files in /dev/shm whose lock `pid` holds: its Fast DDS segment and ports."""
    held = [line.split() for line in Path('/proc/locks').read_text().splitlines()
            if '->' not in line]  # (not the waiters: `N: -> FLOCK ...`)
    inodes = {int(fields[5].rsplit(':', 1)[1]) for fields in held if fields[4] == str(pid)}
    return {path.name for path in SHM_DIR.iterdir() if path.stat().st_ino in inodes}


def test_split_launch_answers_a_camera_comes_back_after_a_kill_and_stops_on_ctrl_c(
        ros2_tools: Tools) -> None:
    """The README's pip way in: the venv's prefix sourced, then `ros2 launch` (as written)."""
    if Path(sys.prefix) != ROOT / '.venv':
        pytest.skip(f'the README sources .venv/; this Python is in {sys.prefix}')
    *sourced, command = readme_commands(PIP_MARK)
    assert command == 'ros2 launch neucodex_ros split.launch.py'
    env = ros2_tools.environ(underlay=False)  # the tools there, the venv's prefix not yet
    shm, params = shm_names(), launch_params()
    with launched(['bash', '-c', '\n'.join(['set -e', *sourced, f'exec {command}'])], env,
                  cwd=ROOT) as launch:
        launch.wait_for(READY)
        with harness('camera') as ros:
            robot = Robot(ros)
            prediction, classification, label = robot.answer()
            assert prediction.status == Prediction.STATUS_OK
            assert prediction.label == label, 'a held-out digit the shipped model knows'
            best = classification.results[0]
            assert (best.class_id, best.score) == (prediction.label_name,
                                                   pytest.approx(prediction.confidence))
            assert classification.header.frame_id == 'camera'
            # A node that dies is started again (respawn), and the new one removes what the
            # killed one left in /dev/shm before it adds its own.
            killed = len(launch.text)
            os.kill(node_pid(launch.text, 'edge_node'), signal.SIGKILL)
            launch.wait_for(r'\[edge_node-\d+\]: process has died', since=killed)
            launch.wait_for(r'\[edge_node-\d+\] \[INFO\] \[[\d.]+\] \[neucodex_ros\]: '
                            r'removed \d+ shared-memory files', since=killed)
            launch.wait_for(READY, since=killed)
            robot.predictions.clear()
            assert robot.answer()[0].status == Prediction.STATUS_OK
        output = launch.stop()
    interrupted = output[output.index('user interrupted with ctrl-c'):]
    for node in ('cloud_node', 'edge_node'):
        assert re.search(rf'\[{node}-\d+\]: process has finished cleanly', interrupted), node
    assert 'process started' not in interrupted, 'nothing respawns after Ctrl-C'
    assert 'Traceback' not in output
    assert launch_params() == params, 'launch_ros wrote a parameters file and left it'
    left = sorted(shm_names() - shm)
    assert not [name for name in left if is_segment(name)], f'segments left: {left}'
    # What stays are ports a process wrote to after their reader had stopped, which Fast DDS
    # makes again for the writer and nobody removes (a few 50 kB files): our nodes remove
    # them as they start, and `neucodex-ros split` once its nodes have stopped.
    shared_memory.sweep_settled()
    assert shm_names() <= shm, f'left in /dev/shm: {sorted(shm_names() - shm)}'


def test_edge_and_cloud_launch_files_under_a_lifecycle_manager(env: dict[str, str],
                                                               tmp_path: Path) -> None:
    """Their arguments: namespace, params file, checkpoint, camera topic, autostart:=false.

    `ros2 lifecycle` brings the nodes up, as a lifecycle manager would.
    """
    document = yaml.safe_load(default_params_file().read_text())
    document['/**/edge_node']['ros__parameters']['classification_top_k'] = 3
    params = tmp_path / 'robot.yaml'
    params.write_text(yaml.safe_dump(document))
    common = [f'params_file:={params}', 'checkpoint:=resnet18_digits', 'autostart:=false']
    with launched(['ros2', 'launch', 'neucodex_ros', 'cloud.launch.py', *common], env) as cloud, \
            launched(['ros2', 'launch', 'neucodex_ros', 'edge.launch.py', 'namespace:=robot1',
                      'image_topic:=/robot1/camera/image_raw', *common], env) as edge:
        for node in ('/cloud_node', '/robot1/edge_node'):
            until(lambda n=node: ros2(env, 'lifecycle', 'get', n),
                  lambda r: r.stdout.startswith('unconfigured'), f'{node} unconfigured')
            for transition in ('configure', 'activate'):
                result = ros2(env, 'lifecycle', 'set', node, transition)
                assert result.stdout.strip() == 'Transitioning successful', result
            assert ros2(env, 'lifecycle', 'get', node).stdout.startswith('active [3]')
        edge.wait_for(r'model \w+ \(resnet18, T=\d+')  # the checkpoint argument's model
        cloud.wait_for(r'model \w+ \(resnet18, 10 classes\)')
        with harness('camera') as ros:
            robot = Robot(ros, 'robot1', image='/robot1/camera/image_raw')
            prediction, classification, label = robot.answer()
        # SIGTERM to launch alone (systemd stopping a service): launch leaves the processes
        # it started running ("using SIGTERM can result in orphaned processes"); ours stop
        # with it, cleanly: nothing of theirs stays in /dev/shm
        node = node_pid(cloud.text, 'cloud_node')
        files = locked_by(node)
        os.kill(cloud.process.pid, signal.SIGTERM)
        cloud.stop()  # (asserts that every process of its group is gone)
        assert files and not any((SHM_DIR / name).exists() for name in files), files
        shared_memory.sweep_settled()  # launch's own segment: it does not stop its ROS
    assert prediction.status == Prediction.STATUS_OK
    assert len(classification.results) == 3, 'classification_top_k from the params file'
    assert classification.results[0].class_id == prediction.label_name
    assert prediction.label == label
    assert 'process has finished cleanly' in edge.text


def split_params(tmp_path: Path) -> Path:
    """config/split.yaml with the edges splitting every sample: the cloud's alpha decides."""
    document = yaml.safe_load(default_params_file().read_text())
    document['/**/edge_node']['ros__parameters']['placement'] = 'split'
    params = tmp_path / 'split.yaml'
    params.write_text(yaml.safe_dump(document))
    return params


def test_ros2_verbs_on_two_robots_in_namespaces_and_their_cloud(env: dict[str, str],
                                                                 tmp_path: Path) -> None:
    params = f'params_file:={split_params(tmp_path)}'
    with launched(['ros2', 'launch', 'neucodex_ros', 'split.launch.py', 'namespace:=robot1',
                   params], env) as one, \
            launched(['ros2', 'launch', 'neucodex_ros', 'edge.launch.py', 'namespace:=robot2',
                      params], env) as two, harness('camera') as ros:
        one.wait_for(READY)
        two.wait_for(READY)
        nodes = {'/cloud_node', '/robot1/edge_node', '/robot2/edge_node'}
        until(lambda: ros2(env, 'node', 'list'), lambda r: nodes <= set(r.stdout.split()),
              'ros2 node list')
        for node in nodes:
            assert ros2(env, 'lifecycle', 'get', node).stdout.strip() == 'active [3]', node
        assert ros2(env, 'pkg', 'executables', 'neucodex_ros').stdout.split() == [
            'neucodex_ros', 'cloud_node', 'neucodex_ros', 'edge_node', 'neucodex_ros',
            'fault_relay', 'neucodex_ros', 'neucodex-ros'], '`ros2 run` finds the launchers'

        diagnostics = ros2(env, 'topic', 'echo', '--once', '/diagnostics').stdout
        assert re.search(r'name: /(cloud_node|robot[12]/edge_node)\n', diagnostics), diagnostics
        assert re.search(r'- key: \w+\n\s+value: ', diagnostics), 'the counters'

        # `ros2 topic echo` prints the Classification of a frame the camera sends meanwhile
        robot = Robot(ros, 'robot1')
        echo = subprocess.Popen(['ros2', 'topic', 'echo', '--once', '/robot1/classification'],
                                env=env, stdout=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 120
            while echo.poll() is None:
                assert time.monotonic() < deadline, 'ros2 topic echo heard no Classification'
                robot.answer()
            echoed = echo.communicate()[0]
        finally:
            if echo.poll() is None:
                echo.send_signal(signal.SIGINT)
                echo.wait(timeout=60)
        assert re.search(r"frame_id: camera\nresults:\n- class_id: '\d'\n\s+score: [\d.e-]+",
                         echoed), echoed

        described = ros2(env, 'param', 'describe', '/cloud_node', 'alpha').stdout
        assert 'Description: Exit threshold' in described
        assert 'Min value: 0.0' in described and 'Max value: 1.0' in described
        described = ros2(env, 'param', 'describe', '/robot2/edge_node', 'placement').stdout
        assert 'one of: split, local, auto' in described and 'Read only: true' in described

        # alpha changes while running: at 1 every sample takes all T timesteps
        result = ros2(env, 'param', 'set', '/cloud_node', 'alpha', '1.0')
        assert result.stdout.strip() == 'Set parameter successful', result
        robot.predictions.clear()
        prediction = robot.answer()[0]
        assert (prediction.computed_on, prediction.timesteps_used) == (
            Prediction.COMPUTED_ON_SPLIT, prediction.num_timesteps)
        # a value out of its range is refused with the reason, and the value stays
        refused = ros2(env, 'param', 'set', '/cloud_node', 'alpha', '1.5')
        assert refused.stderr.strip() == ('Setting parameter failed: Parameter alpha out of '
                                          'range Min: 0.0, Max: 1.0, value: 1.5'), refused
        assert ros2(env, 'param', 'get', '/cloud_node', 'alpha').stdout.strip() == \
            'Double value is: 1.0'
        refused = ros2(env, 'param', 'set', '/robot1/edge_node', 'placement', 'local')
        assert 'Trying to set a read-only parameter: placement.' in refused.stderr, refused


def test_split_launch_on_event_camera_parameters_answers_a_replayed_bag(
        env: dict[str, str], shared_data: Path, tmp_path: Path) -> None:
    """`params_file:=.../events.yaml` and real N-MNIST recordings played from a bag."""
    bag = tmp_path / 'nmnist'
    cli = ['neucodex-ros']
    subprocess.run([*cli, 'convert', '--dataset', 'nmnist', '--data-dir',
                    str(shared_data / 'nmnist_small' / 'train'), '--part', 'test',
                    '--limit', '10', '--out', str(bag)], env=env, check=True,
                   capture_output=True)
    share = ros2(env, 'pkg', 'prefix', '--share', 'neucodex_ros').stdout.strip()
    with launched(['ros2', 'launch', 'neucodex_ros', 'split.launch.py',
                   f'params_file:={share}/config/events.yaml'], env) as launch:
        launch.wait_for(READY)
        score = tmp_path / 'score.json'
        played = subprocess.run([*cli, 'replay', str(bag), '--rate', '0.5',
                                 '--wait-for-subscribers', '60', '--score', '--json',
                                 str(score)], env=env, capture_output=True, text=True)
    assert played.returncode == 0, played.stdout + played.stderr
    report = yaml.safe_load(score.read_text())
    assert (report['labels'], report['unanswered']) == (10, 0), played.stdout
    assert report['correct'] >= 7, 'the shipped event model on held-out real recordings'
