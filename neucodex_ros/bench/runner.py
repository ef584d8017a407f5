"""Running one mode: its nodes on their hosts, the camera playing the samples, the link counted.

Two hosts: as root on Linux the edge and the cloud run in two network namespaces joined by
an emulated link (link.py; default 10 Mbit/s, 20 ms one way) and the edge is held to 25% of
one core; elsewhere, or with `loopback`, everything runs on loopback without limits. Bytes are
counted three ways per sample: the spike payloads, the serialized messages that cross the
link (both ways), and on two hosts every IP byte the link relay forwards, by topic and kind.
Latency runs from a sample's capture to its Prediction arriving at the robot.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from neucodex_ros.bench.link import LinkConfig, TwoHosts, per_window
from neucodex_ros.bench.modes import FLUSH_AFTER, JPEG_QUALITY, SCHEDULED_PERIOD, Mode, Run
from neucodex_ros.core import topics
from neucodex_ros.processes import node_command, running


def run_mode(bench: Run, mode: Mode, link: LinkConfig | None, samples: int,
             first: int = 0) -> dict[str, Any]:
    """Start the mode's nodes (on their hosts), play samples first … first + samples − 1, stop.

    Returns the camera's records and the edge's CPU time, and on two hosts what the link
    carried in each sample's time window.
    """
    options = bench.options
    alpha = bench.alpha if mode.early_exit else 1.0
    common = {'checkpoint': options.checkpoint} if options.checkpoint else {}
    edge = common | {'input_reliable': True, 'queue_size': 100} | mode.edge
    if mode.layers in ('split', 'head'):
        edge |= bench.edge_overrides
    edge['alpha'] = alpha  # of what the edge answers itself
    if options.input == 'events':  # the camera publishes where the drivers do
        edge |= {'flush_after': FLUSH_AFTER, 'events_topic': topics.EVENTS}
    elif mode.edge_node_host == 'cloud':
        edge['input'] = 'compressed'
    where = 'loopback' if link is None else \
        f'{link.bandwidth_mbit:g} Mbit/s, {link.delay_ms:g} ms, edge CPU {link.edge_cpu:g}'
    label = f'{mode.name} ({where})'
    print(f'neucodex-ros bench: {label}, samples {first}–{first + samples - 1}', flush=True)
    hosts = TwoHosts(link) if link is not None else None
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        if hosts is not None:
            stack.enter_context(hosts)

        def on(host: str, command: list[str], limited: bool = True) -> list[str]:
            return command if hosts is None else hosts.command(command, host, limited)

        commands = [on(mode.edge_node_host, node_command('edge_node', name='edge_node',
                                                         params_file=bench.params_file,
                                                         parameters=edge))]
        if mode.cloud is not None:
            commands.append(on('cloud', node_command(
                'cloud_node', name='cloud_node', params_file=bench.params_file,
                parameters=common | mode.cloud | {'alpha': alpha})))
        processes = stack.enter_context(running(commands))
        verdicts_file, heard_file = Path(tmp) / 'verdicts.json', Path(tmp) / 'heard'
        if mode.cloud is not None:  # beside the cloud: its ExitSignals cross nothing to it
            recorder = stack.enter_context(running([on('cloud', [
                sys.executable, '-m', 'neucodex_ros.bench.camera', '--verdicts',
                str(verdicts_file), str(heard_file)])]))
            processes = processes + recorder
        spec = {'input': options.input, 'samples': samples, 'first': first,
                'timeout': options.timeout,
                'split': mode.cloud is not None, 'heard_file': str(heard_file),
                # on a changing link every mode meets each phase with samples at the same
                # pace (one at a time still: each sample's link bytes are its own)
                'every': SCHEDULED_PERIOD if link is not None and link.schedule else 0.0,
                'always_split': mode.edge.get('placement') == 'split',
                # (a schedule runs from the first sample recorded: no warm-up before it)
                'warmup': 0 if link is not None and link.schedule else options.warmup,
                'cascade': mode.edge.get('placement') == 'cascade',
                'period_us': 350_000,
                'jpeg_quality': JPEG_QUALITY if mode.edge_node_host == 'cloud'
                and options.input == 'images' else None,
                # then the input and the Prediction cross the link
                'on_server': mode.edge_node_host == 'cloud',
                'edge_pid': processes[0].pid if mode.edge_node_host == 'edge' else None,
                # the camera says when the nodes are up; from then the edge is CPU-limited
                'ready_file': str(Path(tmp) / 'ready'), 'go_file': str(Path(tmp) / 'go'),
                'settle': 0.05 + (0 if link is None else 2 * link.delay_ms / 1e3)}
        spec_file, out_file = Path(tmp) / 'spec.json', Path(tmp) / 'out.json'
        spec_file.write_text(json.dumps(spec))
        camera = on('edge', [sys.executable, '-m', 'neucodex_ros.bench.camera',
                             str(spec_file), str(out_file)], limited=False)
        player = stack.enter_context(subprocess.Popen(camera))
        deadline = time.monotonic() + options.timeout * (samples + 4) + 60
        schedule_start = None
        while player.poll() is None:
            if not Path(spec['go_file']).exists() and Path(spec['ready_file']).exists():
                if hosts is not None and hosts.cpu_limit is not None:
                    hosts.cpu_limit[0].write_text(hosts.cpu_limit[1])
                if hosts is not None and link.schedule:
                    schedule_start = hosts.start_schedule()
                Path(spec['go_file']).touch()
            if any(p.poll() is not None for p in processes) or time.monotonic() > deadline:
                player.kill()
                raise RuntimeError(f'{label}: a node process exited, or the samples took too '
                                   'long (see the log above)')
            time.sleep(0.2)
        if player.returncode != 0:
            raise RuntimeError(f'{label}: the camera failed (see the log above)')
        result: dict[str, Any] = json.loads(out_file.read_text())
        result['schedule_start'] = schedule_start
        stack.close()  # stops the nodes and the recorder, which then writes its file
        if mode.cloud is not None:
            add_verdict_bytes(result['records'], json.loads(verdicts_file.read_text()))
    result['link'] = None if hosts is None else per_window(
        hosts.link_records(), [r['window'] for r in result['records']])
    return result


def add_verdict_bytes(records: list[dict[str, Any]], verdicts: list[list[Any]]) -> None:
    """Add each sample's ExitSignals (serialized bytes, as recorded) to its bytes_down."""
    sizes: dict[int, int] = {}
    for source, sample_id, size in verdicts:
        if source == 'robot0':
            sizes[sample_id] = sizes.get(sample_id, 0) + size
    for record in records:
        record['bytes_down'] += sizes.get(record['sample_id'], 0)
