"""Test-wide set-up and what every session must leave as it found.

Each session gets a ROS_DOMAIN_ID of its own with local-only discovery, and its own ROS log
folder. When it ends, no process it started may run on (every one has its domain in its
environment), /dev/shm may hold no Fast DDS segment it added that no process holds (a test
that SIGKILLs a node removes what the node left: rosutil.kill), and no /tmp/launch_params_*
file may have been added.

Every test fails if a node it ran counted a callback error (a callback that raised: the
node logs it and goes on, so nothing else would notice), unless marked `callback_errors`.
"""

from __future__ import annotations

import fcntl
import os
import random
import re
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from ros2_tools import Tools, install, launch_params, missing_reason, processes_in, shm_names

from neucodex_ros import shared_memory
from neucodex_ros.shared_memory import MIN_AGE, is_segment, leftovers

#: What a node prints when a callback raised (its log line, its summary's counter).
CALLBACK_ERROR = re.compile(r'failed and was skipped \(callback_errors=\d+|'
                            r'callback_errors=[1-9]\d*')


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    """Fail a passing test whose nodes (in its process or its children) had a callback raise."""
    outcome = yield
    report = outcome.get_result()
    if report.passed and report.when in ('call', 'teardown') \
            and item.get_closest_marker('callback_errors') is None \
            and (found := CALLBACK_ERROR.search(report.capstdout + report.capstderr)):
        report.outcome = 'failed'
        report.longrepr = (f'a node counted a callback error ({found.group(0)!r} in the output '
                           'above): the log says which callback raised and why')


def _claim_domain() -> tuple[int, int]:
    """Lock a ROS domain id no other test session on this host holds; returns (id, fd)."""
    lock_dir = Path(tempfile.gettempdir())
    candidates = list(range(1, 233))  # Fast DDS refuses 233 and above
    random.shuffle(candidates)
    for domain in candidates:
        fd = os.open(lock_dir / f'neucodex_ros_test_domain_{domain}.lock',
                     os.O_CREAT | os.O_RDWR, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        return domain, fd
    raise RuntimeError('every ROS domain id 1..232 is held by another test session')


@pytest.fixture(scope='session', autouse=True)
def ros_domain(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    """Give this session (and the processes it starts) a ROS domain and log folder of its own."""
    domain, fd = _claim_domain()
    names = ('ROS_DOMAIN_ID', 'ROS_AUTOMATIC_DISCOVERY_RANGE', 'ROS_LOG_DIR')
    saved = {k: os.environ.get(k) for k in names}
    os.environ['ROS_DOMAIN_ID'] = str(domain)
    os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
    os.environ['ROS_LOG_DIR'] = str(tmp_path_factory.mktemp('ros_log'))
    try:
        yield domain
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        os.close(fd)


SHARED_DATA = Path(__file__).resolve().parents[2] / 'shared' / 'data'


@pytest.fixture
def shared_data() -> Path:
    """../shared/data, the real sensor recordings (never part of the repository)."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f'needs the real recordings in {SHARED_DATA} (not part of the repository)')
    return SHARED_DATA


@pytest.fixture(scope='session', autouse=True)
def left_as_found(ros_domain: int) -> Iterator[None]:
    """No process of this session runs on after it, and /dev/shm keeps only what it had."""
    before, params = shm_names(), launch_params()
    yield
    deadline = time.monotonic() + 60.0  # (a process stopped last may still be exiting)
    while (running := processes_in(ros_domain)) and time.monotonic() < deadline:
        time.sleep(0.2)
    for line in running:  # fail, and leave nothing all the same
        os.kill(int(line.split()[0]), signal.SIGKILL)
    segments = [path.name for leftover in leftovers(now=time.time() + MIN_AGE)
                for path in leftover.files if path.name not in before and is_segment(path.name)]
    # Ports that a process wrote to after their reader had stopped stay, even when every
    # process stopped cleanly (neucodex_ros/shared_memory.py); the nodes and `neucodex-ros`
    # remove them, and so does the session for the processes it ran itself.
    shared_memory.sweep_settled()
    assert not running, f'processes this session started still ran: {running}'
    assert not segments, f'participants\' segments that nobody holds were left: {segments}'
    assert launch_params() == params, \
        'launch_ros wrote parameters files (dicts in `parameters`) and left them'


@pytest.fixture(scope='session')
def ros2_tools() -> Tools:
    """The ROS 2 user's tools (ros2 launch, the ros2 verbs, colcon): test/ros2_tools.py."""
    if reason := missing_reason():
        pytest.skip(reason)
    return install()
