"""Fast DDS's files in /dev/shm that no running process uses, and their removal.

Fast DDS, the middleware of these nodes, gives every participant a shared-memory segment
(`fastdds_<16 characters>`: 64 MiB under config/fastdds_large_data.xml, 0.5 MiB by default)
and every port a process listens on a small one (`fastdds_port<N>`, with the semaphore
`sem.fastdds_port<N>_mutex`). The owner holds a lock file beside each with flock(2) while it
runs (`_el`; `_sl` for a port that several processes read); a process that writes to a port
whose reader died makes the port again, without a lock. A process that exits cleanly removes
what it owns; one that is killed cannot, and its files stay in /dev/shm, which is RAM.

The rule, `fastdds shm clean`'s lock rule and one more: a segment is left over when no
process holds its lock (a reader may still map a dead writer's segment: it keeps its mapping),
a port when no process holds a lock of it and none has it mapped. A writer that still maps a
dead reader's port makes it again by name once it finds the reader gone, and a new process may
then listen on it; removed from under that writer, the port was made anew by the next
listener, and the writer went on pushing into the old one for a second or more (a new cloud
then missed the others' announcements). Fast DDS locks a segment's name before it creates the
segment, but creates a port just before it locks or maps it, so nothing younger than MIN_AGE
counts: that moment is microseconds, not a second. Processes whose memory maps this user
cannot read are taken not to use the files: Fast DDS's ports are shared across users only if
they run ROS together.
"""

from __future__ import annotations

import fcntl
import os
import re
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import NamedTuple

SHM_DIR = Path('/dev/shm')
MIN_AGE = 1.0  # seconds a file must exist before its lock or mapping tells anything

#: A segment's file (group 1) or lock file; a port's file, lock files or semaphore (group 2).
_SEGMENT = re.compile(r'(fastdds_[0-9a-z]{16})(_el)?')
_PORT = re.compile(r'(?:sem\.)?(fastdds_port\d{1,5})(_el|_sl|_mutex)?')


class Leftover(NamedTuple):
    """The files of one segment or port that no running process uses."""

    files: tuple[Path, ...]


class Swept(NamedTuple):
    """What sweep() removed."""

    files: int
    bytes: int

    def line(self) -> str:
        """One line for a log, or '' when nothing was removed."""
        if not self.files:
            return ''
        return (f'removed {self.files} shared-memory files ({self.bytes / 2**20:.1f} MiB) from '
                f'{SHM_DIR} that Fast DDS processes which no longer run had left (as '
                '`fastdds shm clean` does)')


def held(lock: Path) -> bool:
    """Whether some process holds `lock` (flock, shared or exclusive); gone counts as held.

    Asked as Fast DDS asks it: by trying to take the lock exclusively, without waiting.
    """
    try:
        fd = os.open(lock, os.O_RDONLY)
    except OSError:
        return True  # gone (its owner removed it) or not ours to open: leave it
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)  # (and with it our lock)
    return False


def mapped(directory: Path) -> set[str]:
    """Names of the files in `directory` that some process (one we may look at) has mapped."""
    prefix = f'{directory.resolve()}/'
    names: set[str] = set()
    for entry in Path('/proc').iterdir():
        if not entry.name.isdigit():
            continue
        try:
            with (entry / 'maps').open() as maps:
                for line in maps:
                    if prefix in line:
                        names.add(line.rstrip('\n').split(prefix, 1)[1].removesuffix(
                            ' (deleted)'))
        except OSError:
            continue  # gone, or not ours to read
    return names


def _modified(path: Path) -> float | None:
    """When a file was last changed (time.time()), or None if it is gone."""
    try:
        return path.stat().st_mtime
    except OSError:
        return None


def is_segment(name: str) -> bool:
    """Whether `name` is a participant's segment or its lock (not a port, not another file)."""
    return _SEGMENT.fullmatch(name) is not None


def _group(name: str) -> tuple[str, bool] | None:
    """The segment or port a file belongs to, and whether the file is a lock."""
    if match := _SEGMENT.fullmatch(name):
        return match[1], match[2] is not None
    if (match := _PORT.fullmatch(name)) and name.startswith('sem.') == (match[2] == '_mutex'):
        return match[1], match[2] in ('_el', '_sl')
    return None


def leftovers(directory: Path = SHM_DIR, *, now: float,
              min_age: float = MIN_AGE) -> list[Leftover]:
    """The segments and ports in `directory` that no running process uses (the module's rule).

    `now` is time.time(); files younger than `min_age` are taken to be in use.
    """
    try:
        names = sorted(entry.name for entry in os.scandir(directory))
    except OSError:
        return []
    files: dict[str, list[Path]] = {}  # a segment's or port's, its locks last
    locks: dict[str, list[Path]] = {}
    young: set[str] = set()
    for name in names:
        if (found := _group(name)) is None:
            continue
        group, is_lock = found
        path = directory / name
        modified = _modified(path)  # (None: removed meanwhile, its owner is at work)
        if modified is None or now - modified < min_age:
            young.add(group)
        (locks if is_lock else files).setdefault(group, []).append(path)
    in_use: set[str] | None = None  # mapped files, read once if needed
    result = []
    for group in sorted(files.keys() | locks.keys()):
        group_locks = locks.get(group, [])
        if group in young or any(held(lock) for lock in group_locks):
            continue
        if not group.startswith('fastdds_port'):  # a segment
            if not group_locks:
                continue  # without its lock: being made or removed
        else:  # a port
            in_use = mapped(directory) if in_use is None else in_use
            if any(path.name in in_use for path in files.get(group, [])):
                continue  # a writer still uses it
        result.append(Leftover((*files.get(group, []), *group_locks)))
    return result


def remove(found: Iterable[Leftover]) -> Swept:
    """Remove the files of `found`, locks last (those another user owns stay)."""
    count = size = 0
    for leftover in found:
        for path in leftover.files:
            try:
                bytes_ = path.stat().st_size
                path.unlink()
            except OSError:
                continue
            count += 1
            size += bytes_
    return Swept(count, size)


def sweep(directory: Path = SHM_DIR, *, now: float) -> Swept:
    """Remove every leftover of a process that is gone from `directory`."""
    return remove(leftovers(directory, now=now))


def sweep_settled(directory: Path = SHM_DIR, *, clock: Callable[[], float] = time.time,
                  sleep: Callable[[float], None] = time.sleep) -> Swept:
    """sweep(), once what looks left over is MIN_AGE old (at most MIN_AGE from now).

    For a process whose children have all stopped: the last of them may have made a port a
    moment ago, when it wrote to one that had stopped before it.
    """
    times = [stamp for leftover in leftovers(directory, now=clock(), min_age=0.0)
             for path in leftover.files if (stamp := _modified(path)) is not None]
    if times:
        sleep(max(0.0, max(times) + MIN_AGE - clock()))
    return sweep(directory, now=clock())
