"""Fast DDS's shared-memory files: what a killed process leaves, and who removes it.

The rule (neucodex_ros/shared_memory.py) on files made here, with locks held by this process;
then real node processes: a clean stop leaves nothing, a SIGKILLed node's files are removed by
the next node that starts, which says so once.
"""

from __future__ import annotations

import fcntl
import mmap
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from ros2_tools import shm_names
from rosutil import kill

from neucodex_ros.processes import node_command
from neucodex_ros.shared_memory import MIN_AGE, is_segment, leftovers, sweep, sweep_settled

SEGMENT = 'fastdds_0123456789abcdef'


def make(directory: Path, *names: str, size: int = 10, age: float = 60.0) -> None:
    """Files as Fast DDS makes them, `age` seconds old."""
    stamp = time.time() - age
    for name in names:
        path = directory / name
        path.write_bytes(b'\0' * (0 if name.endswith(('_el', '_sl')) else size))
        os.utime(path, (stamp, stamp))


@contextmanager
def holding(lock: Path, how: int = fcntl.LOCK_EX) -> Iterator[None]:
    """Hold a lock file as a running Fast DDS process does."""
    fd = os.open(lock, os.O_RDONLY)
    try:
        fcntl.flock(fd, how | fcntl.LOCK_NB)
        yield
    finally:
        os.close(fd)


def test_a_segment_and_a_port_nobody_holds_are_removed_with_their_lock_and_semaphore(
        tmp_path: Path) -> None:
    make(tmp_path, SEGMENT, f'{SEGMENT}_el', 'fastdds_port7411', 'fastdds_port7411_el',
         'sem.fastdds_port7411_mutex', size=1000)
    found = leftovers(tmp_path, now=time.time())
    assert [[p.name for p in f.files] for f in found] == [
        [SEGMENT, f'{SEGMENT}_el'],
        ['fastdds_port7411', 'sem.fastdds_port7411_mutex', 'fastdds_port7411_el']]
    swept = sweep(tmp_path, now=time.time())
    assert (swept.files, swept.bytes) == (5, 3000)
    assert shm_names(tmp_path) == set()
    assert 'removed 5 shared-memory files' in swept.line()
    assert [is_segment(name) for name in (SEGMENT, f'{SEGMENT}_el', 'fastdds_port7411',
                                          'sem.fastdds_port7411_mutex')] == [True, True,
                                                                             False, False]


def test_what_a_running_process_holds_stays(tmp_path: Path) -> None:
    make(tmp_path, SEGMENT, f'{SEGMENT}_el', 'fastdds_port7411', 'fastdds_port7411_sl',
         'sem.fastdds_port7411_mutex')
    with holding(tmp_path / f'{SEGMENT}_el'), \
            holding(tmp_path / 'fastdds_port7411_sl', fcntl.LOCK_SH):
        assert leftovers(tmp_path, now=time.time()) == []
        assert sweep(tmp_path, now=time.time()).line() == ''
    assert len(shm_names(tmp_path)) == 5
    assert len(leftovers(tmp_path, now=time.time())) == 2  # once let go


def test_a_port_with_two_locks_is_left_while_either_is_held(tmp_path: Path) -> None:
    make(tmp_path, 'fastdds_port26661', 'fastdds_port26661_el', 'fastdds_port26661_sl')
    with holding(tmp_path / 'fastdds_port26661_sl', fcntl.LOCK_SH):
        assert leftovers(tmp_path, now=time.time()) == []
    (found,) = leftovers(tmp_path, now=time.time())
    assert [p.name for p in found.files] == ['fastdds_port26661', 'fastdds_port26661_el',
                                             'fastdds_port26661_sl']


def test_a_lock_younger_than_min_age_is_not_trusted(tmp_path: Path) -> None:
    """A port is created a moment before it is locked: its fresh lock file proves nothing."""
    make(tmp_path, 'fastdds_port7411', 'fastdds_port7411_el', age=0.0)
    now = (tmp_path / 'fastdds_port7411_el').stat().st_mtime
    assert leftovers(tmp_path, now=now + MIN_AGE / 2) == []
    assert len(leftovers(tmp_path, now=now + MIN_AGE)) == 1


@pytest.mark.parametrize('lock', [None, 'fastdds_port7411_el'])
def test_a_port_stays_while_a_writer_has_it_mapped(tmp_path: Path, lock: str | None) -> None:
    """Its reader gone (its lock free) or never there (a writer made it again): the map says.

    A dead reader's port is made again by the writers that still map it; removed from under
    them, a new reader of that port would not hear them for a while.
    """
    make(tmp_path, 'fastdds_port7411', 'sem.fastdds_port7411_mutex', *filter(None, [lock]),
         size=4096)
    with (tmp_path / 'fastdds_port7411').open('r+b') as file, \
            mmap.mmap(file.fileno(), 4096):
        assert leftovers(tmp_path, now=time.time()) == []
    (found,) = leftovers(tmp_path, now=time.time())
    assert [p.name for p in found.files] == ['fastdds_port7411', 'sem.fastdds_port7411_mutex',
                                             *filter(None, [lock])]


def test_other_files_are_never_touched(tmp_path: Path) -> None:
    others = ('lttng-ust-wait-6', 'fastdds_0123456789abcdef', 'fastdds_shortid_el',
              'fastdds_0123456789ABCDEF_el', 'fastdds_port7411_mutex', 'sem.fastdds_port7411',
              'fast_datasharing_01.0f.aa.bb.cc.dd.ee.ff.00.11.22.33.44.55.66.77_0.0.1.1',
              'fastdds_port7411_xl', 'fastdds_port123456', 'myapp_el')
    make(tmp_path, *others)
    assert leftovers(tmp_path, now=time.time()) == []
    assert sweep(tmp_path, now=time.time()).files == 0
    assert shm_names(tmp_path) == set(others)


def test_a_missing_directory_has_no_leftovers(tmp_path: Path) -> None:
    assert leftovers(tmp_path / 'absent', now=time.time()) == []


def test_sweep_settled_waits_until_the_newest_leftover_is_min_age_old(tmp_path: Path) -> None:
    """The last process to stop may have made a port a moment ago: it goes too, a bit later."""
    make(tmp_path, SEGMENT, f'{SEGMENT}_el', age=60.0)
    make(tmp_path, 'fastdds_port7411', 'sem.fastdds_port7411_mutex', age=0.25)
    clock = [time.time()]
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    assert sweep(tmp_path, now=clock[0]).files == 2  # the old segment only
    swept = sweep_settled(tmp_path, clock=lambda: clock[0], sleep=sleep)
    assert slept == [pytest.approx(MIN_AGE - 0.25, abs=0.05)]
    assert swept.files == 2 and shm_names(tmp_path) == set()
    assert sweep_settled(tmp_path, clock=lambda: clock[0], sleep=sleep).files == 0
    assert len(slept) == 1, 'nothing to wait for'


LEAKY_NODE = '''
import os, signal, time
import rclpy
from rclpy.context import Context
from rclpy.event_handler import PublisherEventCallbacks
from std_msgs.msg import String
from neucodex_ros.nodes.managed import GuardedNode
from neucodex_ros.nodes.spin import spin

peer_context = Context()

def make():
    node = GuardedNode('publisher', 'test')
    rclpy.init(context=peer_context)  # a second participant, whose subscriptions match ...
    peer = rclpy.create_node('peer', context=peer_context)

    def matched(info):  # ... and the first of three events stops the node, two untaken
        if rclpy.ok(context=peer_context):
            peer.destroy_node()
            rclpy.try_shutdown(context=peer_context)
            os.kill(os.getpid(), signal.SIGINT)

    events = PublisherEventCallbacks(matched=matched)
    publishers = [node.create_publisher(String, f't{i}', 10, event_callbacks=events)
                  for i in range(3)]
    for i in range(3):
        peer.create_subscription(String, f't{i}', lambda msg: None, 10)
    while not all(p.get_subscription_count() for p in publishers):
        time.sleep(0.01)
    return node

spin(make)
'''


@pytest.mark.ros
def test_a_node_stopped_with_callbacks_still_ready_leaves_nothing(tmp_path: Path) -> None:
    """Rclpy's executor holds what its last wait found in use: spin() lets it go first.

    Without that, such a node's participant outlived the node, and its files outlived it.
    """
    script = tmp_path / 'leaky_node.py'
    script.write_text(LEAKY_NODE)
    before = shm_names()
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    assert 'test summary' in result.stderr, result.stderr
    # (ports may stay, made by a writer: shared_memory.py; the node's segment may not)
    left = [name for name in shm_names() - before if is_segment(name)]
    assert not left, left


def segments() -> set[str]:
    """The participants' segments (and their locks) in /dev/shm."""
    return {name for name in shm_names() if is_segment(name)}


@pytest.mark.ros
@pytest.mark.parametrize('stop', ['SIGINT', 'SIGTERM', 'a bad parameter'])
def test_a_node_removes_its_own_segment_however_it_stops(stop: str) -> None:
    """A lifecycle node's participant goes with it (rclpy's mixin keeps it: common.py)."""
    before = segments()
    bad = {'alpha': 1.5} if stop == 'a bad parameter' else {}
    process = subprocess.Popen(node_command('cloud_node', parameters=bad),
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        if not bad:
            deadline = time.monotonic() + 60
            while not segments() - before:  # its participant is up
                assert time.monotonic() < deadline and process.poll() is None
                time.sleep(0.05)
            process.send_signal(getattr(signal, stop))
        output, _ = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            kill(process)
    assert process.returncode == (2 if bad else 0), output
    assert 'out of range' in output if bad else 'cloud summary' in output, output
    assert segments() == before, f'left {sorted(segments() - before)}'
