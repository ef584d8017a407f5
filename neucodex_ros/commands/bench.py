"""`neucodex-ros bench`: NeuCODEX against every baseline, on the same held-out samples.

Each mode runs the real nodes as separate processes over real rclpy, on the same held-out
digits (`--input images`) or their simulated DVS recordings (`--input events`):

  edge_only       the whole SNN on the edge for all T; nothing sent
  edge_only_exit  the whole SNN on the edge with the same early exit (α) run there: the
                  strongest thing a robot can do alone
  cloud_only      the raw input sent (images as JPEG quality 90, as image_transport's
                  compressed transport would; events as their EventPackets); the whole SNN
                  in the cloud for all T
  split_float     the head on the edge, its features sent as float32 every timestep, all T
  spikebottlenet  head + encoder on the edge, spikes bit-packed, all T, no early exit
  neucodex        head + encoder, spikes in the configured codec, timesteps paced by the
                  edge's pacing rule, early exit at α (`placement: split`: always split)
  neucodex_auto   the same, with `placement: auto`: each sample split or run whole on the
                  edge, whichever the edge measures faster; what the cloud does not answer
                  by the deadline, the edge answers itself

Two hosts: as root on Linux the edge and the cloud run in two network namespaces joined by
an emulated link (neucodex_ros/bench/link.py; default 10 Mbit/s, 20 ms one way) and the edge
is held to 25% of one core; elsewhere, or with --loopback, everything runs on loopback
without limits, and the JSON says so. Bytes are counted three ways per sample: the spike
payloads, the serialized messages that cross the link (both ways), and on two hosts every
IP byte the link relay forwards, by topic and kind (data, heartbeats, acknowledgements;
discovery apart, per second). Edge energy = compute of the layers the edge ran, for the
timesteps it ran, + radio: the link bytes it sent and received (on loopback, the message
bytes). Latency runs from a sample's capture to its Prediction arriving at the robot.

Sweeps, `--sweep-samples` each point: `--sweep` bandwidths (every mode); `--grid-cpu` ×
`--grid-delay` (NeuCODEX against edge_only_exit: where the split beats local early exit);
`--pacing-sweep` (NeuCODEX under several pacings: the trade-off of timestep_cost).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import platform
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

from neucodex_ros.core.errors import ConfigError

HELP = 'compare NeuCODEX with edge-only, cloud-only and split baselines over a two-host link'


@dataclass(frozen=True)
class Mode:
    """One deployment: what the edge node runs, where, and what the cloud node does."""

    name: str
    edge: dict[str, Any]  # edge_node parameters
    cloud: dict[str, Any] | None  # cloud_node parameters; None: no cloud node
    early_exit: bool  # the exit threshold is the run's α (else 1: all T)
    edge_node_host: str = 'edge'  # cloud-only runs the whole network on the cloud host

    @property
    def layers(self) -> str | None:
        """What the robot computes: edge_node's `layers`, or None when it computes nothing."""
        return None if self.edge_node_host == 'cloud' else self.edge['layers']


MODES = (
    Mode('edge_only', {'layers': 'all'}, None, early_exit=False),
    Mode('edge_only_exit', {'layers': 'all'}, None, early_exit=True),
    Mode('cloud_only', {'layers': 'all'}, None, early_exit=False, edge_node_host='cloud'),
    Mode('split_float', {'layers': 'head', 'encoding': 'float32', 'placement': 'split'}, {},
         early_exit=False),
    Mode('spikebottlenet', {'layers': 'split', 'encoding': 'bitpack', 'placement': 'split'},
         {}, early_exit=False),
    Mode('neucodex', {'layers': 'split', 'placement': 'split'}, {}, early_exit=True),
    Mode('neucodex_auto', {'layers': 'split', 'placement': 'auto'}, {}, early_exit=True),
)
MODE_BY_NAME = {mode.name: mode for mode in MODES}
JPEG_QUALITY = 90
SCHEDULED_PERIOD = 0.35  # s: at least this between samples' starts on a --link-schedule
# Seconds of quiet that close an event window (the camera pauses after each sample), the same
# in every mode: above the 75 ms a 25% CPU quota can hold the edge, or a window would be cut
# while its last packets wait. It is part of every event latency.
FLUSH_AFTER = 0.25


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `bench`."""
    from neucodex_ros.core.radio import DEFAULT_RADIO, RADIO_HELP, radio

    parser.add_argument('--input', choices=('images', 'events'), default='images',
                        help='held-out digits as camera images, or their simulated DVS '
                             'recordings (default %(default)s)')
    parser.add_argument('--checkpoint', default=None,
                        help="model for both nodes: a shipped model's name or a .pt path "
                             "(default: the params file's)")
    parser.add_argument('--alpha', type=float, default=None,
                        help="exit threshold of the early-exit modes (default: the params "
                             "file's cloud alpha)")
    parser.add_argument('--samples', type=int, default=100,
                        help='held-out samples per mode (default %(default)s)')
    parser.add_argument('--modes', default=','.join(m.name for m in MODES),
                        help='comma-separated subset of the modes (default: all)')
    parser.add_argument('--bandwidth', type=float, default=10.0,
                        help='link bandwidth, Mbit/s (default %(default)s)')
    parser.add_argument('--delay', type=float, default=20.0,
                        help='one-way link delay, ms (default %(default)s)')
    parser.add_argument('--link-schedule', default='', metavar='PHASES',
                        help="the link changes while the modes run, from each mode's first "
                             "sample on: e.g. '30s, 10s down, 30s 1mbit 150ms, 30s' (each phase "
                             'a duration and what differs from --bandwidth / --delay: Nmbit, '
                             'Nms, N%% random loss or down; the last phase holds); plotted as '
                             'latency_over_time.png (default: a steady link)')
    parser.add_argument('--edge-cpu', type=float, default=0.25,
                        help='CPU share of one core for the edge; 0: unlimited '
                             '(default %(default)s)')
    parser.add_argument('--edge', action='append', default=[], metavar='KEY=VALUE',
                        help="an edge_node parameter for the split modes, e.g. "
                             "timestep_cost=0 (repeatable)")
    parser.add_argument('--sweep', default='',
                        help='also measure latency at these bandwidths, Mbit/s (e.g. 1,10,100)')
    parser.add_argument('--grid-cpu', default='',
                        help='with --grid-delay: NeuCODEX and edge_only_exit at every edge CPU '
                             'share × one-way delay (e.g. 0.1,0.25,1)')
    parser.add_argument('--grid-delay', default='', help='one-way delays of the grid, ms')
    parser.add_argument('--pacing-sweep', default='',
                        help="NeuCODEX under these pacings: 'clock' or a timestep_cost in s "
                             '(e.g. clock,0,0.01,0.05,1e6)')
    parser.add_argument('--sweep-samples', type=int, default=20,
                        help='samples per mode and point of every sweep (default %(default)s)')
    parser.add_argument('--loopback', action='store_true',
                        help='one host, no link emulation or CPU limit (also without root)')
    parser.add_argument('--radio', type=radio, default=DEFAULT_RADIO, help=RADIO_HELP)
    parser.add_argument('--params-file', type=Path, default=None,
                        help='node parameters (default: config/split.yaml, or '
                             'config/events.yaml for events)')
    parser.add_argument('--timeout', type=float, default=30.0,
                        help='seconds to wait for the nodes, and for each answer')
    parser.add_argument('--out', type=Path, default=Path('bench_results'),
                        help='folder for bench.json, bench.md and the plots')


def _floats(text: str) -> list[float]:
    return [float(value) for value in text.split(',') if value]


@dataclass(frozen=True)
class Run:
    """What every mode of this benchmark shares."""

    args: argparse.Namespace
    params_file: Path
    alpha: float
    checkpoint: str | None  # overrides the params file's
    edge_overrides: dict[str, Any]


def run(args: argparse.Namespace) -> int:
    """Run every mode and sweep, then write JSON, markdown and plots."""
    import yaml

    from neucodex_ros.bench.link import LinkConfig, parse_schedule, why_unavailable
    from neucodex_ros.resources import default_params_file, events_params_file, node_sections

    modes = [m for m in MODES if m.name in args.modes.split(',')]
    if not modes:
        print(f'no known mode in {args.modes!r}', file=sys.stderr)
        return 2
    params_file = (args.params_file or (events_params_file() if args.input == 'events'
                                        else default_params_file())).resolve()
    params = node_sections(yaml.safe_load(params_file.read_text()))
    edge_overrides = {}
    for item in args.edge:
        key, _, value = item.partition('=')
        edge_overrides[key] = yaml.safe_load(value)
    bench = Run(args, params_file, args.alpha if args.alpha is not None
                else float(params['cloud_node']['alpha']),
                args.checkpoint, edge_overrides)
    try:
        schedule = parse_schedule(args.link_schedule, args.bandwidth, args.delay) \
            if args.link_schedule else ()
    except ValueError as err:
        raise ConfigError(f'--link-schedule: {err}') from err
    link = LinkConfig(args.bandwidth, args.delay, edge_cpu=args.edge_cpu, schedule=schedule)
    steady = replace(link, schedule=())  # the sweeps measure steady links
    reason = 'asked for (--loopback)' if args.loopback else why_unavailable()
    if reason:
        print(f'neucodex-ros bench: one host, loopback, no CPU limit: {reason}', flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    results = {mode.name: run_mode(bench, mode, None if reason else link, args.samples)
               for mode in modes}
    sweeps: dict[str, Any] = {'bandwidth': {}, 'grid': [], 'pacing': [], 'skipped': []}

    def sweep_point(runs: dict[str, Any]) -> dict[str, Any] | None:
        """Run a sweep point's modes; None (and the reason kept) if one fails."""
        try:
            return {name: run() for name, run in runs.items()}
        except RuntimeError as err:  # one point must not cost the whole run
            print(f'neucodex-ros bench: point skipped: {err}', flush=True)
            sweeps['skipped'].append(str(err))
            return None

    if not reason:
        for bandwidth in _floats(args.sweep):
            point = replace(steady, bandwidth_mbit=bandwidth)
            runs = sweep_point({mode.name: partial(run_mode, bench, mode, point,
                                                   args.sweep_samples) for mode in modes})
            if runs:
                sweeps['bandwidth'][f'{bandwidth:g}'] = runs
        for cpu in _floats(args.grid_cpu):
            for delay in _floats(args.grid_delay):
                point = replace(steady, edge_cpu=cpu, delay_ms=delay)
                runs = sweep_point({name: partial(run_mode, bench, MODE_BY_NAME[name], point,
                                                  args.sweep_samples)
                                    for name in ('neucodex', 'edge_only_exit')})
                if runs:
                    sweeps['grid'].append({'edge_cpu': cpu, 'delay_ms': delay} | runs)
    for pacing in [p for p in args.pacing_sweep.split(',') if p]:
        edge = {'pacing': 'clock'} if pacing == 'clock' else \
            {'pacing': 'adaptive', 'timestep_cost': float(pacing)}
        paced = replace(bench, edge_overrides=bench.edge_overrides | edge)
        runs = sweep_point({'neucodex': partial(run_mode, paced, MODE_BY_NAME['neucodex'],
                                                None if reason else steady,
                                                args.sweep_samples)})
        if runs:
            sweeps['pacing'].append({'pacing': pacing} | runs)
    report = summarise(results, sweeps, bench, link, reason)
    (args.out / 'bench.json').write_text(json.dumps(report, indent=2))
    (args.out / 'bench.md').write_text(markdown(report))
    written = plot(report, args.out)
    print(markdown(report))
    print(f'written: {args.out}/bench.json, bench.md, ' + ', '.join(written))
    return 0


def run_mode(bench: Run, mode: Mode, link: Any | None, samples: int) -> dict[str, Any]:
    """Start the mode's nodes (on their hosts), play the samples, stop the nodes.

    Returns the camera's records and the edge's CPU time, and on two hosts what the link
    carried in each sample's time window.
    """
    from neucodex_ros.bench.link import TwoHosts, per_window
    from neucodex_ros.core import topics
    from neucodex_ros.processes import node_command, running

    args = bench.args
    alpha = bench.alpha if mode.early_exit else 1.0
    common = {'checkpoint': bench.checkpoint} if bench.checkpoint else {}
    edge = common | {'input_reliable': True, 'queue_size': 100} | mode.edge
    if mode.layers in ('split', 'head'):
        edge |= bench.edge_overrides
    edge['alpha'] = alpha  # of what the edge answers itself
    if args.input == 'events':  # the camera publishes where the drivers do
        edge |= {'flush_after': FLUSH_AFTER, 'events_topic': topics.EVENTS}
    elif mode.edge_node_host == 'cloud':
        edge['input'] = 'compressed'
    where = 'loopback' if link is None else \
        f'{link.bandwidth_mbit:g} Mbit/s, {link.delay_ms:g} ms, edge CPU {link.edge_cpu:g}'
    label = f'{mode.name} ({where})'
    print(f'neucodex-ros bench: {label}, {samples} samples', flush=True)
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
        spec = {'input': args.input, 'samples': samples, 'timeout': args.timeout,
                'split': mode.cloud is not None, 'heard_file': str(heard_file),
                # on a changing link every mode meets each phase with samples at the same
                # pace (one at a time still: each sample's link bytes are its own)
                'every': SCHEDULED_PERIOD if link is not None and link.schedule else 0.0,
                'always_split': mode.edge.get('placement') == 'split',
                'period_us': 350_000,
                'jpeg_quality': JPEG_QUALITY if mode.edge_node_host == 'cloud'
                and args.input == 'images' else None,
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
        deadline = time.monotonic() + args.timeout * (samples + 4) + 60
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


def edge_operations(input_kind: str, samples: int, checkpoint: Any) -> dict[str, Any]:
    """Per-sample, per-timestep operation counts of the layers each mode runs on the edge."""
    import numpy as np
    import torch

    from neucodex_ros.core.datasets.digits import (
        DvsRecordings,
        camera_input,
        held_out_digits,
        held_out_indices,
    )
    from neucodex_ros.core.events.frames import FrameSpec, event_frames
    from neucodex_ros.core.inference import edge_op_counts
    from neucodex_ros.core.training import as_sequence

    model, config = checkpoint.model.eval(), checkpoint.config
    images, _ = held_out_digits(samples)
    if input_kind == 'images':
        inputs = [camera_input(image, config.in_channels, config.input_size)
                  for image in images]
    else:
        recordings = DvsRecordings(held_out_indices(samples))
        spec = FrameSpec.from_record(checkpoint.data, config.num_timesteps, config.input_size)
        inputs = [event_frames(recordings[i], recordings.sensor_size, spec)
                  for i in range(samples)]
    batches = (torch.as_tensor(np.stack(inputs[start:start + 50]))  # a ResNet-18 at once
               for start in range(0, samples, 50))  # would be GBs
    return edge_op_counts(model, (as_sequence(batch, config.num_timesteps)
                                  for batch in batches))


def latency_summary(records: list[dict[str, Any]]) -> dict[str, float | None]:
    """p50 / p95 latency (ms) and accuracy of some records."""
    import numpy as np

    latencies = [r['latency_ms'] for r in records if r['latency_ms'] is not None]
    return {'latency_p50_ms': float(np.percentile(latencies, 50)) if latencies else None,
            'latency_p95_ms': float(np.percentile(latencies, 95)) if latencies else None,
            'accuracy': sum(r['predicted'] == r['label'] for r in records) / len(records)}


def summarise_mode(mode: Mode, result: dict[str, Any], ops: dict[str, Any],
                   steps: int, energy: Any) -> dict[str, Any]:
    """One mode's numbers: accuracy, latency, timesteps, bytes three ways, CPU, energy."""
    from collections import Counter

    import numpy as np

    from neucodex_ros.core.energy import OpCounts, compute_energy_j, radio_energy_j
    from neucodex_ros.core.scoring import outcome_counts

    records, link = result['records'], result['link']
    n = len(records)
    ok = [r for r in records if r['status'] == 'ok']
    # The edge computed the timesteps it sent, and those it used where it decided itself
    # (every sample of layers all; with placement auto, those it ran or fell back on).
    here = np.array([(r['timesteps_used'] or steps) if mode.layers == 'all'
                     or (mode.layers is not None and r['computed_on'] == 'edge') else 0
                     for r in records])
    sent_steps = np.array([0 if mode.layers == 'all' else r['timesteps_sent'] for r in records])
    computed = here + sent_steps
    message = {'up': np.array([r['bytes_up'] for r in records], dtype=float),
               'down': np.array([r['bytes_down'] for r in records], dtype=float)}
    radio_bytes = message
    if link is not None:
        radio_bytes = {way: np.array([sum(sum(kinds.values()) for kinds in s[way].values())
                                      for s in link['samples']], dtype=float)
                       for way in ('up', 'down')}
    compute = np.zeros(n)
    if mode.layers is not None:
        for layers, timesteps in (('all', here), (mode.layers, sent_steps)):
            if timesteps.any():  # (no timesteps, no energy)
                layer_ops = ops[layers]
                compute = compute + compute_energy_j(
                    OpCounts(layer_ops.macs[:, :n], layer_ops.sops[:, :n]), timesteps, energy)
    sent = radio_energy_j(radio_bytes['up'] * 8, energy)
    received = radio_energy_j(0.0, energy, radio_bytes['down'] * 8)
    radio = sent + received
    codecs = Counter(c for r in records for c in r['codecs'])
    summary = {
        'samples': n,
        'mean_timesteps': float(np.mean([r['timesteps_used'] for r in ok])) if ok else None,
        'mean_timesteps_computed_on_edge': float(computed.mean()) if mode.layers else 0.0,
        'resends_per_sample': float(np.mean([r.get('resends', 0) for r in records])),
        'payload_bytes_per_sample': float(np.mean([r['payload_bytes'] for r in records])),
        'message_bytes_per_sample': {way: float(v.mean()) for way, v in message.items()},
        'link_bytes_per_sample': None if link is None else
        {way: float(v.mean()) for way, v in radio_bytes.items()},
        'link_breakdown': None if link is None else _mean_breakdown(link['samples']),
        'discovery_bytes_per_s': None if link is None else link['discovery_bytes_per_s'],
        'discovery_bytes_whole_run': None if link is None else link['discovery_bytes'],
        'link_dropped_bytes': None if link is None else link['dropped_bytes'],
        'edge_compute_energy_j': float(compute.mean()),
        'edge_radio_energy_j': float(radio.mean()),
        'edge_radio_energy_sent_j': float(np.mean(sent)),
        'edge_radio_energy_received_j': float(np.mean(received)),
        'edge_energy_j': float((compute + radio).mean()),
        'edge_cpu_ms_per_sample': result['edge_cpu_s'] / n * 1e3,
        'codec_mix': {c: k / max(sum(codecs.values()), 1) for c, k in codecs.items()},
        **outcome_counts(r['status'] for r in records),
        'computed_on': dict(Counter(r['computed_on'] for r in records if r['computed_on'])),
        'predicted': [r['predicted'] for r in records],
    }
    if (start := result.get('schedule_start')) is not None:  # on a scheduled link
        summary['timeline'] = [{'t_s': r['window'][0] - start, 'latency_ms': r['latency_ms'],
                                'status': r['status'], 'computed_on': r['computed_on'],
                                'correct': r['predicted'] == r['label'],
                                'edge_energy_j': float(compute[i] + radio[i])}
                               for i, r in enumerate(records)]
    return summary | latency_summary(records)


def by_phase(timeline: list[dict[str, Any]], schedule: list[dict[str, Any]]
             ) -> list[dict[str, Any]]:
    """A scheduled run's samples per phase of the link (by capture time; the last phase holds).

    Each phase: samples, ok, accuracy, latency p50 / p95 of the answered, the share answered
    on the edge, the mean edge energy with radio; after an outage also `split_again_s`, from
    the link's return to the capture of the first sample the cloud answered.
    """
    import numpy as np

    ends = np.cumsum([p['seconds'] for p in schedule])
    where = [min(int(np.searchsorted(ends, p['t_s'], side='right')), len(schedule) - 1)
             for p in timeline]
    phases = []
    for index, phase in enumerate(schedule):
        points = [p for p, i in zip(timeline, where, strict=True) if i == index]
        latencies = [p['latency_ms'] for p in points if p['latency_ms'] is not None]
        summary: dict[str, Any] = {
            'phase': _phase_text(phase), 'samples': len(points),
            'ok': sum(p['status'] == 'ok' for p in points),
            'accuracy': float(np.mean([p['correct'] for p in points])) if points else None,
            'latency_p50_ms': float(np.percentile(latencies, 50)) if latencies else None,
            'latency_p95_ms': float(np.percentile(latencies, 95)) if latencies else None,
            'on_edge': float(np.mean([p['computed_on'] == 'edge' for p in points]))
            if points else None,
            'edge_energy_j': float(np.mean([p['edge_energy_j'] for p in points]))
            if points else None}
        if phase['down']:
            back = ends[index]
            split = [p['t_s'] - back for p in timeline
                     if p['t_s'] >= back and p['computed_on'] == 'both' and p['status'] == 'ok']
            summary['split_again_s'] = min(split) if split else None
        phases.append(summary)
    return phases


def _mean_breakdown(samples: list[dict[str, Any]]) -> dict[str, dict[str, dict[str, float]]]:
    """Per direction, topic and kind: mean link bytes per sample."""
    out: dict[str, dict[str, dict[str, float]]] = {'up': {}, 'down': {}}
    for sample in samples:
        for way in ('up', 'down'):
            for topic, kinds in sample[way].items():
                for kind, size in kinds.items():
                    slot = out[way].setdefault(topic, {})
                    slot[kind] = slot.get(kind, 0.0) + size / len(samples)
    return out


def _savings(modes: dict[str, dict[str, Any]]) -> None:
    """Edge energy saving against each edge-only mode, with and without the radio."""
    for name in ('edge_only', 'edge_only_exit'):
        if name not in modes:
            continue
        base = modes[name]
        for mode in modes.values():
            mode[f'energy_saving_vs_{name}'] = {
                'compute_only': 1 - mode['edge_compute_energy_j'] / base['edge_compute_energy_j'],
                'with_radio': 1 - mode['edge_energy_j'] / base['edge_energy_j']}


def summarise(results: dict[str, dict[str, Any]], sweeps: dict[str, Any], bench: Run,
              link: Any, loopback_reason: str | None) -> dict[str, Any]:
    """The JSON: config, one object per mode, the sweeps."""
    import yaml

    from neucodex_ros.core.checkpoint import load_checkpoint
    from neucodex_ros.core.energy import EnergyConfig
    from neucodex_ros.core.figures import wire_reduction
    from neucodex_ros.resources import node_sections, shown_path

    args = bench.args
    params = node_sections(yaml.safe_load(bench.params_file.read_text()))
    checkpoint = load_checkpoint(bench.checkpoint or params['cloud_node'].get('checkpoint')
                                 or None)
    steps = checkpoint.config.num_timesteps
    energy = EnergyConfig.with_radio(args.radio)
    ops = edge_operations(args.input, max(args.samples, args.sweep_samples), checkpoint)

    def modes_of(runs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
        out = {name: summarise_mode(MODE_BY_NAME[name], result, ops, steps, energy)
               for name, result in runs.items()}
        _savings(out)
        return out

    modes = modes_of(results)
    for mode in modes.values():
        if 'timeline' in mode:
            mode['phases'] = by_phase(mode['timeline'],
                                      [dataclasses.asdict(p) for p in link.schedule])
    if 'split_float' in modes:
        for mode in modes.values():
            up = mode['message_bytes_per_sample']['up']
            mode['wire_reduction_vs_split_float'] = wire_reduction(
                modes['split_float']['message_bytes_per_sample']['up'], up)
    two_hosts = loopback_reason is None
    edge_params = params['edge_node'] | bench.edge_overrides
    return {
        'config': {
            'input': args.input, 'samples': args.samples, 'model_id': checkpoint.model_id,
            'model': checkpoint.path.stem, 'backbone': checkpoint.config.backbone,
            'num_timesteps': steps, 'params_file': shown_path(bench.params_file),
            'alpha': bench.alpha, 'encoding': edge_params.get('encoding'),
            'pacing': edge_params.get('pacing', 'adaptive'),
            'timestep_cost': edge_params.get('timestep_cost'),
            'link': {'two_hosts': two_hosts,
                     'bandwidth_mbit': link.bandwidth_mbit if two_hosts else None,
                     'delay_ms': link.delay_ms if two_hosts else None,
                     'queue_packets': link.queue_packets if two_hosts else None,
                     'schedule': [dataclasses.asdict(p) for p in link.schedule]
                     if two_hosts else [],
                     'loopback_reason': loopback_reason},
            'edge_cpu_share': link.edge_cpu if two_hosts else None,
            'radio_nj_per_bit': {'sent': energy.radio_nj_per_bit,
                                 'received': energy.radio_rx_nj_per_bit},
            'jpeg_quality': JPEG_QUALITY, 'sweep_samples': args.sweep_samples,
            'machine': f'{platform.machine()}, {platform.system()} {platform.release()}',
            'date': time.strftime('%Y-%m-%d %H:%M'),
        },
        'modes': modes,
        'sweeps': {
            'bandwidth': {bw: modes_of(runs) for bw, runs in sweeps['bandwidth'].items()},
            'grid': [{k: v for k, v in point.items() if not isinstance(v, dict)}
                     | modes_of({k: v for k, v in point.items() if isinstance(v, dict)})
                     for point in sweeps['grid']],
            'pacing': [{'pacing': point['pacing']} | modes_of({'neucodex': point['neucodex']})
                       for point in sweeps['pacing']],
            'skipped': sweeps['skipped'],
        },
    }


def _fmt(value: float | None, spec: str, suffix: str = '') -> str:
    return '–' if value is None else format(value, spec) + suffix


def _where(c: dict[str, Any]) -> str:
    link = c['link']
    if not link['two_hosts']:
        return f'loopback ({link["loopback_reason"]})'
    steady = f'{link["bandwidth_mbit"]:g} Mbit/s, {link["delay_ms"]:g} ms one way'
    if link.get('schedule'):
        steady = 'the link scheduled: ' + ', '.join(_phase_text(p) for p in link['schedule'])
    return f'two hosts, {steady}, edge at {c["edge_cpu_share"]:.0%} of one core'


def _phase_text(phase: dict[str, Any]) -> str:
    """A scheduled phase as its --link-schedule words say it."""
    if phase['down']:
        return f'{phase["seconds"]:g} s down'
    loss = f' {phase["loss"]:.0%} loss' if phase['loss'] else ''
    return f'{phase["seconds"]:g} s {phase["bandwidth_mbit"]:g} Mbit/s {phase["delay_ms"]:g} ms' \
        + loss


def markdown(report: dict[str, Any]) -> str:
    """The tables: modes; bytes; and the sweeps that were run."""
    from neucodex_ros.core.figures import saving_text

    c, modes = report['config'], report['modes']
    pacing = c['pacing'] if c['pacing'] == 'clock' else \
        f'adaptive pacing, timestep_cost {c["timestep_cost"]:g} s'
    lines = [f'{c["samples"]} held-out {c["input"]}, model {c["model"]} ({c["backbone"]}, '
             f'{c["model_id"]}, T = {c["num_timesteps"]}, α = {c["alpha"]:g}, {pacing}), '
             f'{_where(c)}; radio {c["radio_nj_per_bit"]["sent"]:g} nJ/bit sent, '
             f'{c["radio_nj_per_bit"]["received"]:g} received:', '',
             '| mode | accuracy | timesteps used | computed on edge | latency p50 / p95 | '
             'edge CPU / sample | edge energy: compute | + radio | saving vs edge_only '
             '(compute / with radio) | vs edge_only_exit |',
             '|---|---|---|---|---|---|---|---|---|---|']
    for name, m in modes.items():
        def saving(base: str, m: dict[str, Any] = m) -> str:
            s = m.get(f'energy_saving_vs_{base}')
            return '–' if s is None else \
                f'{saving_text(s["compute_only"])} / {saving_text(s["with_radio"])}'
        lines.append(
            f'| {name} | {m["accuracy"]:.1%} | {_fmt(m["mean_timesteps"], ".2f")} | '
            f'{m["mean_timesteps_computed_on_edge"]:.2f} | '
            f'{_fmt(m["latency_p50_ms"], ".1f")} / {_fmt(m["latency_p95_ms"], ".1f")} ms | '
            f'{m["edge_cpu_ms_per_sample"]:.1f} ms | {m["edge_compute_energy_j"] * 1e6:.2f} µJ | '
            f'{m["edge_energy_j"] * 1e6:.2f} µJ | {saving("edge_only")} | '
            f'{saving("edge_only_exit")} |')
    lines += ['', 'Bytes per sample: spike payloads, serialized messages and IP bytes on the '
              'link (up = edge → cloud; link bytes exclude discovery, given per second):', '',
              '| mode | payload | messages up / down | link up / down | link up: data / '
              'heartbeat / acknack | link down: data / heartbeat / acknack | discovery up / '
              'down |', '|---|---|---|---|---|---|---|']
    for name, m in modes.items():
        message, link = m['message_bytes_per_sample'], m['link_bytes_per_sample']
        kinds = {way: _kinds(m['link_breakdown'], way) for way in ('up', 'down')}
        discovery = m['discovery_bytes_per_s']
        lines.append(
            f'| {name} | {m["payload_bytes_per_sample"]:,.1f} | '
            f'{message["up"]:,.0f} / {message["down"]:,.0f} | '
            + (f'{link["up"]:,.0f} / {link["down"]:,.0f}' if link else '–') + ' | '
            + ' | '.join(' / '.join(f'{v:,.0f}' for v in kinds[way]) if link else '–'
                         for way in ('up', 'down')) + ' | '
            + (f'{discovery["up"]:,.0f} / {discovery["down"]:,.0f} B/s' if discovery else '–')
            + ' |')
    if any('phases' in m for m in modes.values()):
        lines += ['', 'Per phase of the scheduled link (by capture time): samples answered ok, '
                  'accuracy, latency p50 / p95, share answered on the edge, edge energy with '
                  'radio; after an outage, seconds from the link back to the first sample the '
                  'cloud answered:', '',
                  '| mode | phase | ok | accuracy | latency p50 / p95 | on edge | edge energy | '
                  'split again after |', '|---|---|---|---|---|---|---|---|']
        for name, m in modes.items():
            for p in m.get('phases', []):
                again = '' if 'split_again_s' not in p else \
                    _fmt(p['split_again_s'], '.1f', ' s')
                lines.append(
                    f'| {name} | {p["phase"]} | {p["ok"]}/{p["samples"]} | '
                    f'{_fmt(p["accuracy"], ".1%")} | {_fmt(p["latency_p50_ms"], ".1f")} / '
                    f'{_fmt(p["latency_p95_ms"], ".1f")} ms | {_fmt(p["on_edge"], ".0%")} | '
                    + _fmt(None if p['edge_energy_j'] is None else p['edge_energy_j'] * 1e6,
                           '.2f', ' µJ')
                    + f' | {again} |')
    sweeps = report['sweeps']
    if sweeps['pacing']:
        lines += ['', f'Pacing ({c["sweep_samples"]} samples each, NeuCODEX):', '',
                  '| pacing | timesteps used | computed on edge | latency p50 / p95 | '
                  'edge CPU / sample | edge energy (with radio) | link bytes up / down |',
                  '|---|---|---|---|---|---|---|']
        for point in sweeps['pacing']:
            m = point['neucodex']
            link = m['link_bytes_per_sample'] or m['message_bytes_per_sample']
            label = point['pacing'] if point['pacing'] == 'clock' else \
                f'adaptive, timestep_cost {float(point["pacing"]):g} s'
            lines.append(f'| {label} | {_fmt(m["mean_timesteps"], ".2f")} | '
                         f'{m["mean_timesteps_computed_on_edge"]:.2f} | '
                         f'{_fmt(m["latency_p50_ms"], ".1f")} / '
                         f'{_fmt(m["latency_p95_ms"], ".1f")} ms | '
                         f'{m["edge_cpu_ms_per_sample"]:.1f} ms | '
                         f'{m["edge_energy_j"] * 1e6:.2f} µJ | '
                         f'{link["up"]:,.0f} / {link["down"]:,.0f} |')
    if sweeps['grid']:
        lines += ['', f'NeuCODEX against edge_only_exit ({c["sweep_samples"]} samples each): '
                  'latency p50 and edge energy with radio:', '',
                  '| edge CPU | one-way delay | NeuCODEX p50 | edge_only_exit p50 | '
                  'faster | NeuCODEX energy | edge_only_exit energy |',
                  '|---|---|---|---|---|---|---|']
        for point in sweeps['grid']:
            split, local = point['neucodex'], point['edge_only_exit']
            lines.append(f'| {point["edge_cpu"]:.0%} | {point["delay_ms"]:g} ms | '
                         f'{_fmt(split["latency_p50_ms"], ".1f")} ms | '
                         f'{_fmt(local["latency_p50_ms"], ".1f")} ms | '
                         f'{_faster(split, local)} | {split["edge_energy_j"] * 1e6:.2f} µJ | '
                         f'{local["edge_energy_j"] * 1e6:.2f} µJ |')
    if sweeps.get('skipped'):
        lines += ['', 'Sweep points skipped (a mode failed there):', '']
        lines += [f'- {reason}' for reason in sweeps['skipped']]
    return '\n'.join(lines) + '\n'


def _kinds(breakdown: dict[str, Any] | None, way: str) -> list[float]:
    """Data, heartbeat and acknack bytes of one direction, summed over topics."""
    if breakdown is None:
        return []
    return [sum(kinds.get(kind, 0.0) for kinds in breakdown[way].values())
            for kind in ('data', 'heartbeat', 'acknack')]


def _faster(split: dict[str, Any], local: dict[str, Any]) -> str:
    if split['latency_p50_ms'] is None or local['latency_p50_ms'] is None:
        return '–'
    ratio = local['latency_p50_ms'] / split['latency_p50_ms']
    return f'NeuCODEX {ratio:.2f}x' if ratio >= 1 else f'edge_only_exit {1 / ratio:.2f}x'


def plot(report: dict[str, Any], out: Path) -> list[str]:
    """The figures: bytes_vs_accuracy.png, and the ones of what was run.

    latency_over_time.png on a scheduled link; latency_vs_bandwidth.png and
    split_vs_local.png with sweeps.
    """
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    import numpy as np

    written = ['bytes_vs_accuracy.png']
    fig, ax = plt.subplots(figsize=(6, 4))
    for name, m in report['modes'].items():
        counted = m['link_bytes_per_sample'] or m['message_bytes_per_sample']
        size = max(counted['up'] + counted['down'], 1)
        ax.scatter(size, m['accuracy'] * 100, s=40)
        ax.annotate(name, (size, m['accuracy'] * 100), textcoords='offset points',
                    xytext=(5, 4), fontsize=8)
    measured = 'IP bytes on the link' if report['config']['link']['two_hosts'] \
        else 'serialized message bytes'
    ax.set(xscale='log', xlabel=f'{measured} per sample, both ways (edge-only: 0, drawn at 1)',
           ylabel='accuracy (%)', title='Bytes against accuracy')
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / 'bytes_vs_accuracy.png', dpi=120)
    plt.close(fig)
    if any('timeline' in m for m in report['modes'].values()):
        written.append('latency_over_time.png')
        _plot_timeline(report, out / 'latency_over_time.png')
    sweeps = report['sweeps']
    if sweeps['bandwidth']:
        written.append('latency_vs_bandwidth.png')
        fig, ax = plt.subplots(figsize=(6, 4))
        bandwidths = sorted(sweeps['bandwidth'], key=float)
        for name in report['modes']:
            p50 = [sweeps['bandwidth'][b][name]['latency_p50_ms'] for b in bandwidths]
            ax.plot([float(b) for b in bandwidths], p50, marker='o', label=name)
        ax.set(xscale='log', yscale='log', xlabel='link bandwidth (Mbit/s)',
               ylabel='latency p50 (ms)', title='Latency against bandwidth')
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        fig.tight_layout()
        fig.savefig(out / 'latency_vs_bandwidth.png', dpi=120)
        plt.close(fig)
    if sweeps['grid']:
        written.append('split_vs_local.png')
        cpus = sorted({p['edge_cpu'] for p in sweeps['grid']})
        delays = sorted({p['delay_ms'] for p in sweeps['grid']})
        fig, axes = plt.subplots(1, 2, figsize=(12, 4.8))
        for ax, key, title in (
                (axes[0], 'latency_p50_ms', 'latency p50: edge_only_exit ÷ NeuCODEX'),
                (axes[1], 'edge_energy_j', 'edge energy: edge_only_exit ÷ NeuCODEX')):
            ratio = np.full((len(cpus), len(delays)), np.nan)
            for p in sweeps['grid']:
                split, local = p['neucodex'][key], p['edge_only_exit'][key]
                if split and local:
                    ratio[cpus.index(p['edge_cpu']), delays.index(p['delay_ms'])] = local / split
            image = ax.imshow(np.log2(ratio), cmap='RdBu', vmin=-3, vmax=3, origin='lower',
                              aspect='auto')
            for (i, j), value in np.ndenumerate(ratio):
                dark = abs(np.log2(value)) > 1.5  # white text on the deep colours
                ax.text(j, i, f'{value:.2f}x', ha='center', va='center', fontsize=9,
                        color='white' if dark else 'black')
            ax.set(xticks=range(len(delays)), xticklabels=[f'{d:g}' for d in delays],
                   yticks=range(len(cpus)), yticklabels=[f'{c:.0%}' for c in cpus],
                   xlabel='one-way delay (ms)', title=title)
        axes[0].set_ylabel('edge CPU (share of one core)')
        fig.colorbar(image, ax=axes, label='log2 ratio (blue: NeuCODEX better)')
        fig.suptitle(f'{report["config"]["model"]}: where the split beats local early exit',
                     y=1.03)
        fig.savefig(out / 'split_vs_local.png', dpi=120, bbox_inches='tight')
        plt.close(fig)
    return written


def _plot_timeline(report: dict[str, Any], path: Path) -> None:
    """Latency and place of each sample of each mode over the link's schedule, phases shaded."""
    import matplotlib.pyplot as plt

    modes = {name: m['timeline'] for name, m in report['modes'].items() if m.get('timeline')}
    fig, (ax, where) = plt.subplots(2, 1, figsize=(9, 5.5), sharex=True,
                                    gridspec_kw={'height_ratios': [3, 1.2]})
    start = 0.0
    for phase in report['config']['link']['schedule']:
        if phase['down'] or phase['loss'] or phase['bandwidth_mbit'] \
                != report['config']['link']['bandwidth_mbit']:
            for axis in (ax, where):
                axis.axvspan(start, start + phase['seconds'], alpha=0.15,
                             color='red' if phase['down'] else 'grey', lw=0)
            ax.text(start, 1.0, ' ' + _phase_text(phase), transform=ax.get_xaxis_transform(),
                    va='top', fontsize=7)
        start += phase['seconds']
    top = max((p['latency_ms'] or 0 for timeline in modes.values() for p in timeline),
              default=1.0) * 1.5
    for row, (name, timeline) in enumerate(modes.items()):
        answered = [(p['t_s'], p['latency_ms']) for p in timeline if p['status'] == 'ok']
        failed = [p['t_s'] for p in timeline if p['status'] != 'ok']
        line = ax.plot(*zip(*answered, strict=True), marker='.', lw=0.8, label=name)[0] \
            if answered else None
        color = line.get_color() if line else None
        ax.scatter(failed, [top] * len(failed), marker='x', s=25, color=color,
                   label=f'{name}: not ok ({len(failed)})' if failed else None)
        for place, marker in (('both', '|'), ('edge', 'o')):
            times = [p['t_s'] for p in timeline if p['computed_on'] == place]
            where.scatter(times, [row] * len(times), marker=marker, s=14, color=color,
                          facecolors='none' if place == 'edge' else None, lw=0.8)
    ax.set(yscale='log', ylabel='latency, capture → Prediction (ms)',
           title=f'{report["config"]["model"]} on a changing link (x: no ok answer)')
    where.set(yticks=range(len(modes)), yticklabels=list(modes), ylim=(-0.6, len(modes) - 0.4),
              xlabel='seconds since the schedule started',
              title='answered where: | split (edge + cloud), o on the edge alone')
    where.title.set_fontsize(8)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)
