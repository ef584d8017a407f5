"""Two hosts on one Linux machine: an edge and a cloud network namespace joined by a link.

Each namespace gets a point-to-point TUN device; a relay process (`relay`, below) holds both
and forwards every IP packet across after the link's serialization time at its bandwidth
(FIFO, tail drop beyond `queue_packets`) plus its one-way delay, each direction on its own.
A relay instead of `tc netem` on a veth pair because kernels without sch_netem exist (this
project's CI machine answers "Specified qdisc kind is unknown"); the relay shapes both
bandwidth and delay the same way everywhere. DDS runs over UDP only across it
(FASTDDS_BUILTIN_TRANSPORTS=UDPv4: Fast DDS would otherwise use shared memory between
processes of one machine and bypass the link) and discovers the other side by multicast
and by ROS_STATIC_PEERS.

The relay also accounts for every byte it forwards: each packet is dissected into its RTPS
submessages (bench/rtps.py) and recorded with its time, direction, topic and kind, so that
the benchmark can say what each sample cost on the link (data, heartbeats, acknowledgements;
discovery apart); `TwoHosts.link_records()` reads them once the hosts are torn down.

The link may follow a schedule (`Phase`s: bandwidth, delay, random loss, outage, each for a
while), started when the samples start (`TwoHosts.start_schedule`); a dropped packet, lost
to loss or outage, is recorded as 'dropped' like a tail drop.

The edge node can be held to a share of one CPU with a cgroup (v1 `cpu` or v2), standing
in for an embedded board; the bench writes the limit (`TwoHosts.cpu_limit`: a cgroup file and
its text) once the nodes are up, so that what is measured is the board's work, not Python
importing torch at a tenth of a core.
Everything needs root; `why_unavailable()` says why not otherwise.
"""

from __future__ import annotations

import ctypes
import dataclasses
import fcntl
import heapq
import json
import math
import os
import random
import re
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from bisect import bisect_left
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from neucodex_ros.bench.rtps import DISCOVERY, NETWORK, UNKNOWN, Dissector

EDGE_IP, CLOUD_IP = '10.201.0.1', '10.201.0.2'
TUN = 'nxlink'
_TUNSETIFF, _IFF_TUN, _IFF_NO_PI, _CLONE_NEWNET = 0x400454CA, 0x0001, 0x1000, 0x40000000


@dataclass(frozen=True)
class Phase:
    """A stretch of a scheduled link: its state for `seconds`."""

    seconds: float
    bandwidth_mbit: float
    delay_ms: float  # one way
    loss: float = 0.0  # share of packets dropped at random, each way
    down: bool = False  # an outage: every packet is dropped


_PHASE_WORD = re.compile(r'(?P<value>[0-9.]+)(?P<unit>s|mbit|ms|%)$')


def parse_schedule(text: str, bandwidth_mbit: float, delay_ms: float) -> tuple[Phase, ...]:
    """Phases from e.g. '30s, 10s down, 30s 1mbit 150ms 2%, 30s'.

    Each comma-separated phase names its duration and what differs from the given bandwidth
    and delay: `Nmbit`, `Nms`, `N%` (random loss) or `down`. The last phase holds after the
    schedule ends.

    Raises:
        ValueError: a phase without a duration, or a word that is none of these.
    """
    phases = []
    for part in (p.strip() for p in text.split(',')):
        values: dict[str, float] = {}
        down = False
        for word in part.split():
            if word == 'down':
                down = True
            elif match := _PHASE_WORD.match(word):
                values[match['unit']] = float(match['value'])
            else:
                raise ValueError(f'link phase {part!r}: cannot read {word!r} (Ns, Nmbit, Nms, '
                                 'N% or down)')
        if 's' not in values:
            raise ValueError(f'link phase {part!r} has no duration (e.g. 30s)')
        phases.append(Phase(values['s'], values.get('mbit', bandwidth_mbit),
                            values.get('ms', delay_ms), values.get('%', 0.0) / 100, down))
    return tuple(phases)


def phase_at(phases: Sequence[Phase], elapsed: float) -> Phase:
    """The phase `elapsed` seconds into the schedule (the last one holds after it)."""
    for phase in phases:
        if elapsed < phase.seconds:
            return phase
        elapsed -= phase.seconds
    return phases[-1]


@dataclass(frozen=True)
class LinkConfig:
    """The emulated link and the edge's CPU."""

    bandwidth_mbit: float = 10.0
    delay_ms: float = 20.0  # one way
    queue_packets: int = 1000
    edge_cpu: float = 0.25  # share of one core; 0: unlimited
    schedule: tuple[Phase, ...] = ()  # none: bandwidth and delay throughout


#: One forwarded part of a packet: (time.monotonic() at the relay, 'up' (edge → cloud) or
#: 'down', topic, kind, bytes); see bench/rtps.py. Dropped packets have kind 'dropped'.
LinkRecord = tuple[float, str, str, str, int]


def per_window(records: list[LinkRecord], windows: list[list[float]]) -> dict[str, Any]:
    """What the link carried in each time window (a sample's), and around them.

    Returns `samples`: per window {'up': {topic: {kind: bytes}}, 'down': ...} without
    discovery and network chatter; and over the span from the first window's start to the
    last one's end, `discovery_bytes_per_s` {'up', 'down'} (both of those) and
    `dropped_bytes` (tail drops, any topic); and `discovery_bytes` {'up', 'down'} over the
    whole run, the nodes' start included (a few samples may fall between announcements).
    """
    ordered = sorted(records)
    times = [r[0] for r in ordered]
    samples = []
    for start, end in windows:
        sample: dict[str, dict[str, dict[str, int]]] = {'up': {}, 'down': {}}
        for _, way, topic, kind, size in ordered[bisect_left(times, start):
                                                bisect_left(times, end)]:
            if topic not in (DISCOVERY, NETWORK) and kind != 'dropped':
                kinds = sample[way].setdefault(topic, {})
                kinds[kind] = kinds.get(kind, 0) + size
        samples.append(sample)
    span = (windows[0][0], windows[-1][1]) if windows else (0.0, 0.0)
    inside = ordered[bisect_left(times, span[0]):bisect_left(times, span[1])]
    seconds = max(span[1] - span[0], 1e-9)

    def discovery(parts: list[LinkRecord], way: str) -> int:
        return sum(r[4] for r in parts
                   if r[1] == way and r[2] in (DISCOVERY, NETWORK) and r[3] != 'dropped')

    return {'samples': samples,
            'discovery_bytes_per_s': {way: discovery(inside, way) / seconds
                                      for way in ('up', 'down')},
            'discovery_bytes': {way: discovery(ordered, way) for way in ('up', 'down')},
            'dropped_bytes': sum(r[4] for r in inside if r[3] == 'dropped')}


def why_unavailable() -> str | None:
    """None if namespaces, TUN devices and cgroups can be set up here; else the reason."""
    if sys.platform != 'linux':
        return 'network namespaces need Linux'
    if os.geteuid() != 0:
        return 'network namespaces, TUN devices and cgroups need root'
    if shutil.which('ip') is None:
        return "the 'ip' tool (iproute2) is missing"
    if not Path('/dev/net/tun').exists():
        return '/dev/net/tun is missing'
    return None


def _run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, text=True)


class TwoHosts:
    """Namespaces, the relay and the CPU limit; `with TwoHosts(config) as hosts: ...`."""

    def __init__(self, config: LinkConfig) -> None:
        reason = why_unavailable()
        if reason:
            raise RuntimeError(f'cannot emulate two hosts: {reason}')
        self.config = config
        tag = f'{os.getpid()}'
        self.edge_ns, self.cloud_ns = f'nx_edge_{tag}', f'nx_cloud_{tag}'
        self.cgroup: Path | None = None
        self.cpu_limit: tuple[Path, str] | None = None  # write this text there to limit
        self._relay: subprocess.Popen[str] | None = None
        self._cgroup_tag = f'neucodex_edge_{tag}'
        self._log = Path(tempfile.gettempdir()) / f'neucodex_link_{tag}_{id(self)}.json'
        self._records: list[LinkRecord] | None = None  # the relay's, once torn down

    def __enter__(self) -> TwoHosts:
        try:
            for ns in (self.edge_ns, self.cloud_ns):
                _run('ip', 'netns', 'add', ns)
                _run('ip', 'netns', 'exec', ns, 'ip', 'link', 'set', 'lo', 'up')
                # no IPv6 autoconfiguration chatter on the link (DDS runs over IPv4)
                subprocess.run(['ip', 'netns', 'exec', ns, 'sh', '-c', 'echo 1 > '
                                '/proc/sys/net/ipv6/conf/default/disable_ipv6'],
                               capture_output=True, check=False)
                _run('ip', 'netns', 'exec', ns, 'ip', 'tuntap', 'add', 'dev', TUN, 'mode', 'tun')
            c = self.config
            self._relay = subprocess.Popen(
                [sys.executable, '-m', 'neucodex_ros.bench.link', self.edge_ns, self.cloud_ns,
                 str(c.bandwidth_mbit), str(c.delay_ms), str(c.queue_packets),
                 str(self._log), json.dumps([dataclasses.astuple(p) for p in c.schedule])],
                stdout=subprocess.PIPE, text=True)
            if self._relay.stdout is None or self._relay.stdout.readline().strip() != 'ready':
                raise RuntimeError('the link relay did not start')
            for ns, ip, peer in ((self.edge_ns, EDGE_IP, CLOUD_IP),
                                 (self.cloud_ns, CLOUD_IP, EDGE_IP)):
                _run('ip', 'netns', 'exec', ns, 'ip', 'addr', 'add', ip, 'peer', peer, 'dev', TUN)
                _run('ip', 'netns', 'exec', ns, 'ip', 'link', 'set', TUN, 'up', 'multicast', 'on')
                _run('ip', 'netns', 'exec', ns, 'ip', 'route', 'add', '224.0.0.0/4', 'dev', TUN)
            if c.edge_cpu > 0:
                self.cgroup, self.cpu_limit = _make_cpu_cgroup(self._cgroup_tag, c.edge_cpu)
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self._relay is not None and self._relay.poll() is None:
            self._relay.send_signal(signal.SIGTERM)
            self._relay.wait(timeout=10)
        try:  # (read now, so that the file goes whether or not anyone asks for them)
            self._records = [tuple(r) for r in json.loads(self._log.read_text())]  # type: ignore[misc]
        except (OSError, ValueError):
            self._records = None
        self._log.unlink(missing_ok=True)
        for ns in (self.edge_ns, self.cloud_ns):
            subprocess.run(['ip', 'netns', 'del', ns], capture_output=True)
        if self.cgroup is not None:
            for _ in range(50):  # a cgroup can be removed once its processes are gone
                try:
                    self.cgroup.rmdir()
                    break
                except OSError:
                    time.sleep(0.1)

    def start_schedule(self) -> float:
        """Start the link's schedule now; when (time.monotonic())."""
        if self._relay is None:
            raise RuntimeError('the link relay is not running')
        self._relay.send_signal(signal.SIGUSR1)
        return time.monotonic()

    def link_records(self) -> list[LinkRecord]:
        """Everything the relay forwarded or dropped (after the `with` block); see LinkRecord."""
        if self._records is None:
            raise RuntimeError(f'the link relay left no records in {self._log}')
        return self._records

    def command(self, cmd: Sequence[str], host: str, limited: bool = True) -> list[str]:
        """`cmd` run on the 'edge' (its namespace; its CPU limit if `limited`) or the 'cloud'.

        ROS processes there talk DDS over UDP only, with the other side as a static peer.
        Each wrapper execs the next, so the command keeps the process id of the launch.
        """
        ns = self.edge_ns if host == 'edge' else self.cloud_ns
        env = ['FASTDDS_BUILTIN_TRANSPORTS=UDPv4', 'ROS_AUTOMATIC_DISCOVERY_RANGE=SUBNET',
               f'ROS_STATIC_PEERS={CLOUD_IP if host == "edge" else EDGE_IP}']
        wrapped = ['ip', 'netns', 'exec', ns, 'env', *env, *cmd]
        if host == 'edge' and limited and self.cgroup is not None:
            procs = self.cgroup / 'cgroup.procs'
            wrapped = ['sh', '-c', f'echo $$ > {procs} && exec "$@"', 'sh', *wrapped]
        return wrapped


def _make_cpu_cgroup(name: str, share: float) -> tuple[Path, tuple[Path, str]]:
    """A cgroup (v1 cpu or v2) and the (file, text) limiting it to `share` of one CPU."""
    period = 100_000
    v1 = Path('/sys/fs/cgroup/cpu')
    if (v1 / 'cpu.cfs_quota_us').exists():
        group = v1 / name
        group.mkdir()
        (group / 'cpu.cfs_period_us').write_text(str(period))
        return group, (group / 'cpu.cfs_quota_us', str(round(period * share)))
    group = Path('/sys/fs/cgroup') / name
    group.mkdir()
    return group, (group / 'cpu.max', f'{round(period * share)} {period}')


@contextmanager
def _in_namespace(ns: str) -> Iterator[None]:
    """Run the block with this thread in another network namespace."""
    libc = ctypes.CDLL(None, use_errno=True)
    with open('/proc/self/ns/net') as home, open(f'/var/run/netns/{ns}') as target:
        if libc.setns(target.fileno(), _CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f'setns into {ns}')
        try:
            yield
        finally:
            libc.setns(home.fileno(), _CLONE_NEWNET)


def _open_tun(ns: str) -> int:
    with _in_namespace(ns):
        fd = os.open('/dev/net/tun', os.O_RDWR)
        fcntl.ioctl(fd, _TUNSETIFF, struct.pack('16sH', TUN.encode(), _IFF_TUN | _IFF_NO_PI))
    return fd


def relay(edge_ns: str, cloud_ns: str, bandwidth_mbit: float, delay_ms: float,
          queue_packets: int, log: Path, schedule: Sequence[Phase] = ()) -> None:
    """Forward packets between the namespaces' TUN devices until SIGTERM; then write the log.

    With a schedule, from SIGUSR1 on the link follows it (loss drawn from a fixed seed).
    """
    steady = Phase(math.inf, bandwidth_mbit, delay_ms)
    scheduled_from: float | None = None
    lose = random.Random(0)
    edge_fd, cloud_fd = _open_tun(edge_ns), _open_tun(cloud_ns)
    other = {edge_fd: cloud_fd, cloud_fd: edge_fd}
    direction = {edge_fd: 'up', cloud_fd: 'down'}
    dissector = Dissector()
    records: list[Any] = []
    link_free = {edge_fd: 0.0, cloud_fd: 0.0}  # when each direction's wire is idle again
    queued: dict[int, deque[float]] = {edge_fd: deque(), cloud_fd: deque()}  # when each leaves
    arrivals: list[tuple[float, int, int, int, bytes]] = []  # (time, order, from, to, packet)
    order = 0
    running = True

    def stop(*_: object) -> None:
        nonlocal running
        running = False

    def start_schedule(*_: object) -> None:
        nonlocal scheduled_from
        scheduled_from = time.monotonic()

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGUSR1, start_schedule)
    print('ready', flush=True)
    while running:
        now = time.monotonic()
        timeout = max(0.0, arrivals[0][0] - now) if arrivals else 0.2
        try:
            readable, _, _ = select.select(list(other), [], [], timeout)
        except InterruptedError:
            continue
        now = time.monotonic()
        for fd in readable:
            packet = os.read(fd, 65536)
            while queued[fd] and queued[fd][0] <= now:
                queued[fd].popleft()
            parts = dissector.parts(packet)
            phase = steady if scheduled_from is None or not schedule else \
                phase_at(schedule, now - scheduled_from)
            # tail drop (the link's buffer is full), an outage, or random loss
            if len(queued[fd]) >= queue_packets or phase.down or (
                    phase.loss and lose.random() < phase.loss):
                records.append((now, direction[fd], parts[0][0] if parts else UNKNOWN,
                                'dropped', len(packet)))
                continue
            records += [(now, direction[fd], topic, kind, size) for topic, kind, size in parts]
            sent = max(now, link_free[fd]) + len(packet) * 8 / (phase.bandwidth_mbit * 1e6)
            link_free[fd] = sent
            queued[fd].append(sent)
            order += 1
            heapq.heappush(arrivals, (sent + phase.delay_ms / 1e3, order, fd, other[fd],
                                      packet))
        now = time.monotonic()
        while arrivals and arrivals[0][0] <= now:
            _, _, _, target, packet = heapq.heappop(arrivals)
            try:
                os.write(target, packet)
            except OSError:
                pass  # the other side is going down
    partial = log.with_suffix('.tmp')
    partial.write_text(json.dumps(records))
    partial.replace(log)


if __name__ == '__main__':
    relay(sys.argv[1], sys.argv[2], float(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]),
          Path(sys.argv[6]), [Phase(*p) for p in json.loads(sys.argv[7])])
