"""The README's flows, run as written: so the commands a newcomer copies cannot drift.

The bag flow (split, convert, replay --score) is read from the README block marked for this
test and run command by command in a scratch folder that sees the repository's config/.
"""

from __future__ import annotations

import json
import re
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import yaml
from rosutil import kill

from neucodex_ros.resources import node_sections

pytestmark = pytest.mark.ros

ROOT = Path(__file__).resolve().parents[2]
MARK = '<!-- test/commands/test_readme_flows_e2e.py runs this block as written -->'
CLI = [sys.executable, '-m', 'neucodex_ros.cli']


def readme_block(mark: str) -> list[list[str]]:
    """The commands of the bash block right after `mark` in the README."""
    text = (ROOT / 'README.md').read_text()
    assert mark in text, 'the README lost the block this test runs'
    block = re.search(r'```bash\n(.*?)```', text[text.index(mark):], re.S)
    assert block is not None
    return [shlex.split(line, comments=True) for line in block.group(1).splitlines()
            if line.strip()]


def command(words: list[str]) -> list[str]:
    assert words[0] == 'neucodex-ros', words
    return CLI + words[1:]


class Background:
    """A long-running command whose output lines are collected as they come."""

    def __init__(self, words: list[str], cwd: Path) -> None:
        self.process = subprocess.Popen(words, cwd=cwd, stdout=subprocess.PIPE,
                                        stderr=subprocess.STDOUT, text=True)
        self.lines: list[str] = []
        self.reader = threading.Thread(target=lambda: self.lines.extend(self.process.stdout),
                                       daemon=True)
        self.reader.start()

    @property
    def text(self) -> str:
        return ''.join(list(self.lines))

    def wait_for(self, mark: str, timeout: float = 120.0) -> None:
        """Until a line holds `mark` (fails when the process exits or after `timeout`)."""
        deadline = time.monotonic() + timeout
        while mark not in self.text:
            assert self.process.poll() is None, f'exited before {mark!r}:\n{self.text}'
            assert time.monotonic() < deadline, f'no {mark!r}:\n{self.text}'
            time.sleep(0.05)

    def stop(self) -> str:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=90)
        except subprocess.TimeoutExpired:
            kill(self.process)
        self.reader.join(timeout=10)
        return self.text


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    """A scratch folder where `config/...` is the repository's."""
    (tmp_path / 'config').symlink_to(ROOT / 'config')
    return tmp_path


def run(words: list[str], cwd: Path) -> str:
    result = subprocess.run(words, cwd=cwd, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_the_readme_bag_flow_answers_and_scores_every_converted_sample(workdir: Path) -> None:
    split_words, convert_words, replay_words = readme_block(MARK)
    assert split_words[:2] == ['neucodex-ros', 'split'] and convert_words[1] == 'convert'
    limit = int(convert_words[convert_words.index('--limit') + 1])
    run(command(convert_words), workdir)
    split = Background(command(split_words), workdir)
    try:
        split.wait_for('takes samples')  # the README says to wait for this line
        # as written, plus a record to read and patience for a loaded machine (it stops
        # waiting as soon as every sample is answered)
        output = run(command(replay_words) + ['--json', 'score.json', '--answer-wait', '300'],
                     workdir)
        # The status line reports them too: those it heard. Its subscriber, like any, misses
        # what was sent before it had matched the publisher (in some runs here the first one
        # or two), so it is not held to every sample.
        split.wait_for(' answered · accuracy ')
    finally:
        log = split.stop()
    score = json.loads((workdir / 'score.json').read_text())
    assert score['labels'] == limit, output
    assert score['answered'] == score['labelled'] == limit, output  # every sample, once
    assert score['unanswered'] == 0 and score['repeated_answers'] == 0
    assert score['statuses'] == {'ok': limit}, output
    assert score['accuracy'] >= 0.6, output  # the shipped event model: ~0.9 on these
    assert 1 <= score['mean_timesteps_used'] <= score['num_timesteps']
    assert score['latency_p50_s'] is not None and score['latency_p50_s'] > 0
    assert f'{limit} answered · accuracy' in output
    assert 'Traceback' not in log, log


def test_split_overrides_and_remaps_reach_the_nodes_and_watch_shows_the_answers(
        workdir: Path) -> None:
    """-p and -r on split, -r on replay, and `watch` on the remapped Prediction topic."""
    run(CLI + ['convert', '--dataset', 'digits_dvs', '--limit', '10', '--out', 'bag'], workdir)
    split = Background(CLI + ['split', '--params-file', 'config/events.yaml', '--ros-args',
                              '-p', 'edge_node.events_topic:=/cam/events',
                              '-p', 'edge_node.source_id:=robot7',
                              '-r', 'edge_node:prediction:=/robot/digit'], workdir)
    watch = Background(CLI + ['watch', '--prediction-topic', '/robot/digit', '--count', '10',
                              '--stats-period', '1'], workdir)
    try:
        split.wait_for('takes samples')
        # what the edge sends before watch has matched it is lost to watch
        watch.wait_for('watch: hearing 1 publisher(s) on /robot/digit')
        output = run(CLI + ['replay', 'bag', '-r', '/event_camera/events:=/cam/events',
                            '--wait-for-subscribers', '60',
                            '--score', '--prediction-topic', '/robot/digit', '--json',
                            'score.json', '--answer-wait', '300'], workdir)
        watch.wait_for('watch: 10 answered')
        seen = watch.stop()
    finally:
        watch.stop()
        log = split.stop()
    score = json.loads((workdir / 'score.json').read_text())
    assert score['answered'] == score['labelled'] == 10, output + log
    answers = [line for line in seen.splitlines() if line.startswith('robot7 #')]
    assert len(answers) == 10, seen  # the -p reached the edge: its answers carry robot7
    # Each answer whose label watch heard is marked (a label sent before watch had discovered
    # the replay is lost to it, as to any late subscriber: so not necessarily all ten).
    verdicts = sum('✓' in line or '✗' in line for line in answers)
    labelled = re.search(r'watch: 10 answered · accuracy \S+ of (\d+) labelled', seen)
    assert labelled is not None and verdicts == int(labelled.group(1)) >= 1, seen
    assert '[/edge_node] ' in seen and 'samples_answered=' in seen, seen  # ~/stats found
    assert 'ignoring parameters' not in log, log


OWN_DATA_MARK = ('<!-- test/commands/test_readme_flows_e2e.py runs this block (own data) as '
                 'written -->')


def test_the_readme_own_data_flow_trains_calibrates_and_serves_named_classes(
        workdir: Path) -> None:
    """Class folders of one's own → train → evaluate → calibrate → split: answers by name."""
    import cv2
    import numpy as np
    from rclpy.qos import QoSProfile
    from rosutil import harness
    from sensor_msgs.msg import Image

    rng = np.random.default_rng(0)
    classes = ['cup', 'mug', 'pen']
    for index, name in enumerate(classes):  # one bright stripe per class, in noise
        (workdir / 'my_data' / name).mkdir(parents=True)
        for number in range(12):
            image = rng.integers(0, 60, (48, 48, 3), dtype=np.uint8)
            image[:, 16 * index:16 * index + 16] = 255
            cv2.imwrite(str(workdir / 'my_data' / name / f'{number:04}.png'), image)
    train, evaluate, calibrate, split_words = readme_block(OWN_DATA_MARK)
    run(command(train) + ['--epochs', '2'], workdir)  # (fewer epochs than a real run)
    assert '%' in run(command(evaluate), workdir)
    run(command(calibrate), workdir)
    written = node_sections(yaml.safe_load((workdir / 'mine.yaml').read_text()))
    for node in ('edge_node', 'cloud_node'):
        assert written[node]['checkpoint'] == str(workdir / 'mine.pt')
    split = Background(command(split_words), workdir)
    watch = Background(CLI + ['watch', '--count', '1', '--stats-period', '0'], workdir)
    try:
        split.wait_for('takes samples')  # the edge found a cloud of its model
        watch.wait_for('watch: hearing 1 publisher(s) on /prediction')
        frame = np.zeros((64, 64, 3), np.uint8)
        frame[:, 21:42] = 255
        with harness('camera') as camera:
            publisher = camera.node.create_publisher(Image, 'image', QoSProfile(depth=10))
            camera.spin_until(lambda: publisher.get_subscription_count() > 0, 60, 'the edge')
            message = Image(height=64, width=64, encoding='rgb8', step=64 * 3,
                            data=frame.tobytes())
            deadline = time.monotonic() + 120
            # a frame sent before the edge has matched us may be lost: send until answered
            while 'watch: 1 answered' not in watch.text:
                assert time.monotonic() < deadline, watch.text
                message.header.stamp = camera.node.get_clock().now().to_msg()
                publisher.publish(message)
                time.sleep(1.0)
        seen = watch.stop()
    finally:
        watch.stop()
        log = split.stop()
    answer = next(line for line in seen.splitlines() if line.startswith('robot0 #'))
    assert re.search(r": \d '(cup|mug|pen)' ", answer), answer  # the class name came along
    assert 'Traceback' not in log, log
