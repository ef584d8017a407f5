"""A cloud killed mid-run: frames at a steady rate, the serving cloud SIGKILLed, each answer timed.

`neucodex-ros bench --kill-cloud-at N`: `--clouds` clouds (ids a, b, …) on the cloud host,
the edge (the params file, with `--edge` overrides) on the edge host held to `--edge-cpu`,
and a camera beside it playing `--samples` held-out digits at `--rate` frames per second.
When frame N goes out the camera SIGKILLs the cloud whose announcement claims the robot. For
every frame it records when its Prediction arrived, its status, and where it was computed
(here, or by which cloud: the final ExitSignal seen first); then the longest gap between
two consecutive answers, and the edge's counters (hedges, fallbacks, frames dropped).
Writes failover.json, failover.md and timeline.png (report.plot_failover) to `--out`.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from neucodex_ros import shared_memory
from neucodex_ros.bench.link import LinkConfig, TwoHosts, why_unavailable
from neucodex_ros.bench.modes import Options
from neucodex_ros.core.errors import ConfigError
from neucodex_ros.processes import node_command, running

SOURCE = 'robot0'
FINAL = (0, 1, 2)  # ExitSignal reasons that end a sample: CONFIDENT, REACHED_T, ERROR


def run_failover(options: Options) -> int:
    """Start the clouds and the edge, play the frames, kill the serving cloud; write the report."""
    from neucodex_ros.bench.report import failover_markdown, plot_failover
    from neucodex_ros.resources import default_params_file

    if options.kill_cloud_at is None or not 0 <= options.kill_cloud_at < options.samples:
        raise ConfigError(f'--kill-cloud-at must be 0 to --samples - 1 ({options.samples - 1})')
    params_file = (options.params_file or default_params_file()).resolve()
    reason = 'asked for (--loopback)' if options.loopback else why_unavailable()
    link = None if reason else LinkConfig(options.bandwidth, options.delay,
                                          edge_cpu=options.edge_cpu)
    where = f'loopback ({reason})' if link is None else \
        f'{link.bandwidth_mbit:g} Mbit/s, {link.delay_ms:g} ms, edge CPU {link.edge_cpu:g}'
    clouds = [chr(ord('a') + n) for n in range(options.clouds)]
    print(f'neucodex-ros bench: {len(clouds)} cloud(s), {options.samples} frames at '
          f'{options.rate:g}/s, the serving cloud killed at frame {options.kill_cloud_at}; '
          f'{where}', flush=True)
    common = {'checkpoint': options.checkpoint} if options.checkpoint else {}
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        hosts = stack.enter_context(TwoHosts(link)) if link is not None else None

        def on(host: str, command: list[str], limited: bool = True) -> list[str]:
            return command if hosts is None else hosts.command(command, host, limited)

        processes = stack.enter_context(running(
            [on('cloud', node_command('cloud_node', name=f'cloud_{cloud}',
                                      params_file=params_file,
                                      parameters=common | {'cloud_id': cloud}))
             for cloud in clouds]
            + [on('edge', node_command('edge_node', name='edge_node', params_file=params_file,
                                       parameters=common | {'source_id': SOURCE}
                                       | options.edge))]))
        spec = {'samples': options.samples, 'rate': options.rate,
                'kill_at': options.kill_cloud_at, 'timeout': options.timeout,
                'pids': {cloud: p.pid for cloud, p in zip(clouds, processes, strict=False)},
                'ready_file': str(Path(tmp) / 'ready'), 'go_file': str(Path(tmp) / 'go')}
        spec_file, out_file = Path(tmp) / 'spec.json', Path(tmp) / 'out.json'
        spec_file.write_text(json.dumps(spec))
        camera = stack.enter_context(subprocess.Popen(on('edge', [
            sys.executable, '-m', 'neucodex_ros.bench.failover', str(spec_file),
            str(out_file)], limited=False)))
        deadline = time.monotonic() + options.timeout * 4 + options.samples / options.rate + 60
        while camera.poll() is None:
            if Path(spec['ready_file']).exists() and not Path(spec['go_file']).exists():
                if hosts is not None and hosts.cpu_limit is not None:
                    hosts.cpu_limit[0].write_text(hosts.cpu_limit[1])  # from now on
                Path(spec['go_file']).touch()
            if processes[-1].poll() is not None or time.monotonic() > deadline:
                camera.kill()
                raise RuntimeError('the edge exited, or the frames took too long (see above)')
            time.sleep(0.1)
        shared_memory.sweep(now=time.time())  # (what the killed cloud left)
        if camera.returncode != 0:
            raise RuntimeError('the failover camera failed (see the log above)')
        result: dict[str, Any] = json.loads(out_file.read_text())
    report = summarise(result) | {'where': where, 'clouds': clouds,
                                  'edge': options.edge, 'params_file': params_file.name}
    out = options.out
    out.mkdir(parents=True, exist_ok=True)
    (out / 'failover.json').write_text(json.dumps(report, indent=2))
    text = failover_markdown(report)
    (out / 'failover.md').write_text(text)
    plot_failover(report, out / 'timeline.png')
    print(text)
    print(f'written: {out}/failover.json, failover.md, timeline.png')
    return 0


def summarise(result: dict[str, Any]) -> dict[str, Any]:
    """The counts and the gaps of the camera's records (times from the first frame sent)."""
    records = result['records']
    answered = sorted(r['answered'] for r in records if r['answered'] is not None)
    gaps = [b - a for a, b in zip(answered, answered[1:], strict=False)]
    longest = max(range(len(gaps)), key=gaps.__getitem__) if gaps else None
    statuses: dict[str, int] = {}
    for record in records:
        status = record['status'] or 'unanswered'
        statuses[status] = statuses.get(status, 0) + 1
    return {'records': records, 'killed': result['killed'], 'stats': result['stats'],
            'frames': len(records), 'answered': sum(r['status'] is not None for r in records),
            'ok': statuses.get('ok', 0), 'statuses': statuses,
            'answered_twice': sum(r['predictions'] > 1 for r in records),
            'longest_gap_s': None if longest is None else gaps[longest],
            'longest_gap_at_s': None if longest is None else answered[longest]}


def play(spec: dict[str, Any], out: Path) -> None:
    """The camera: wait for the nodes, play the frames, kill the serving cloud at its frame."""
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray

    from neucodex_ros.client import Observed, SplitClient
    from neucodex_ros.core.datasets.digits import held_out_digits
    from neucodex_ros.core.fleet import cloud_fingerprint
    from neucodex_ros.msg import CloudAnnounce, Prediction
    from neucodex_ros.qos import tool_qos

    images, labels = held_out_digits(spec['samples'], seed=34)
    with rclpy.init():
        client = SplitClient('failover_camera')
        claims: dict[str, list[str]] = {}
        stats: dict[str, str] = {}
        client.create_subscription(CloudAnnounce, '/clouds', lambda m: claims.__setitem__(
            m.cloud_id, list(m.sources)), tool_qos())
        client.create_subscription(DiagnosticArray, '/edge_node/stats', lambda m: stats.update(
            {v.key: v.value for v in m.status[0].values}), 10)
        client.wait_ready(spec['timeout'])
        client.spin_until(lambda: any(SOURCE in s for s in claims.values()), spec['timeout'],
                          'a cloud to announce that it serves the robot')
        Path(spec['ready_file']).touch()
        client.spin_until(lambda: Path(spec['go_file']).exists(), spec['timeout'], 'go')
        killed: dict[str, Any] = {}

        def publish(index: int) -> Observed:
            if index == spec['kill_at']:
                serving = next(c for c, s in claims.items() if SOURCE in s)
                os.kill(spec['pids'][serving], signal.SIGKILL)
                killed.update(cloud=serving, at=time.monotonic(), frame=index)
                print(f'failover camera: cloud {serving} killed at frame {index}', flush=True)
            return client.publish_frame(images[index], int(labels[index]))

        start = time.monotonic()
        frames = client.play(publish, spec['samples'], rate=spec['rate'],
                             timeout=spec['timeout'])
        stats.clear()
        client.spin_until(lambda: bool(stats), 10.0, "the edge's counters")
        names = {cloud_fingerprint(c): c for c in spec['pids']}

        def computed_by(frame: Observed) -> str | None:
            if frame.prediction is None:
                return None
            if frame.prediction.computed_on == Prediction.COMPUTED_ON_EDGE:
                return 'edge'
            finals = [e for e in frame.exits if e.reason in FINAL]
            return names.get(finals[0].cloud, 'cloud') if finals else 'cloud'

        records = [{'sent': f.sent - start,
                    'answered': None if f.answered is None else f.answered - start,
                    'status': None if f.prediction is None else f.prediction.status,
                    'correct': f.prediction is not None and f.prediction.label == f.label,
                    'computed_by': computed_by(f), 'predictions': f.predictions}
                   for f in frames]
        killed['at'] = killed.get('at', start) - start
        out.write_text(json.dumps({'records': records, 'killed': killed, 'stats': stats}))
        client.destroy_node()


def main() -> int:
    """`python -m neucodex_ros.bench.failover SPEC OUT` (run by run_failover)."""
    play(json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2]))
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
