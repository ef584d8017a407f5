"""Test-wide set-up: an exclusive ROS_DOMAIN_ID per test session, local-only discovery."""

from __future__ import annotations

import fcntl
import os
import random
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest


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
def ros_domain() -> Iterator[int]:
    """Give this session (and the processes it starts) a ROS domain of its own."""
    domain, fd = _claim_domain()
    saved = {k: os.environ.get(k) for k in ('ROS_DOMAIN_ID', 'ROS_AUTOMATIC_DISCOVERY_RANGE')}
    os.environ['ROS_DOMAIN_ID'] = str(domain)
    os.environ['ROS_AUTOMATIC_DISCOVERY_RANGE'] = 'LOCALHOST'
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
