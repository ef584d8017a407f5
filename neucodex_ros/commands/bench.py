"""`neucodex-ros bench`: NeuCODEX against every baseline, on the same held-out samples.

Each mode runs the real nodes as separate processes over real rclpy, on the same held-out
digits (`--input images`) or their simulated DVS recordings (`--input events`):

  edge_only       the whole SNN on the edge for all T; nothing sent
  cloud_only      the raw input sent (images as JPEG quality 90, as image_transport's
                  compressed transport would; events as their EventPackets); the whole SNN
                  in the cloud for all T
  split_float     the head on the edge, its features sent as float32 every timestep, all T
  spikebottlenet  head + encoder on the edge, spikes bit-packed, all T, no early exit
  neucodex        head + encoder, spikes in the configured codec, early exit at the
                  configured α (the params file's)

Two hosts: as root on Linux the edge and the cloud run in two network namespaces joined by
an emulated link (neucodex_ros/bench/link.py; default 10 Mbit/s, 20 ms one way) and the edge
is held to 25% of one core; elsewhere, or with --loopback, everything runs on loopback
without limits, and the JSON says so. Bytes are serialized messages that cross the link,
both ways; latency runs from a sample's capture to its Prediction arriving at the robot;
edge energy comes from the energy model over the same samples (compute of the layers the
edge ran, for the timesteps it ran, + radio energy of the bytes it sent).
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HELP = 'compare NeuCODEX with edge-only, cloud-only and split baselines over a two-host link'


@dataclass(frozen=True)
class Mode:
    """One deployment: what the edge node runs, where, and what the cloud node does."""

    name: str
    edge: dict[str, Any]  # edge_node parameters
    cloud: dict[str, Any] | None  # cloud_node parameters; None: no cloud node
    edge_node_host: str = 'edge'  # cloud-only runs the whole network on the cloud host


MODES = (
    Mode('edge_only', {'layers': 'all'}, None),
    Mode('cloud_only', {'layers': 'all'}, None, edge_node_host='cloud'),
    Mode('split_float', {'layers': 'head', 'encoding': 'float32'}, {'alpha': 1.0}),
    Mode('spikebottlenet', {'layers': 'split', 'encoding': 'bitpack'}, {'alpha': 1.0}),
    Mode('neucodex', {'layers': 'split'}, {}),
)
JPEG_QUALITY = 90
# Seconds of quiet that close an event window (the camera pauses after each sample), the same
# in every mode: above the 75 ms a 25% CPU quota can hold the edge, or a window would be cut
# while its last packets wait. It is part of every event latency.
FLUSH_AFTER = 0.25


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `bench`."""
    parser.add_argument('--input', choices=('images', 'events'), default='images',
                        help='held-out digits as camera images (the shipped digits model), or '
                             'their simulated DVS recordings (the shipped event model)')
    parser.add_argument('--samples', type=int, default=100,
                        help='held-out samples per mode (default %(default)s)')
    parser.add_argument('--modes', default=','.join(m.name for m in MODES),
                        help='comma-separated subset of the modes (default: all)')
    parser.add_argument('--bandwidth', type=float, default=10.0,
                        help='link bandwidth, Mbit/s (default %(default)s)')
    parser.add_argument('--delay', type=float, default=20.0,
                        help='one-way link delay, ms (default %(default)s)')
    parser.add_argument('--edge-cpu', type=float, default=0.25,
                        help='CPU share of one core for the edge; 0: unlimited '
                             '(default %(default)s)')
    parser.add_argument('--sweep', default='',
                        help='also measure latency at these bandwidths, Mbit/s (e.g. 1,10,100)')
    parser.add_argument('--sweep-samples', type=int, default=20,
                        help='samples per mode and bandwidth of the sweep (default %(default)s)')
    parser.add_argument('--loopback', action='store_true',
                        help='one host, no link emulation or CPU limit (also without root)')
    parser.add_argument('--radio', default='low-power-2.4ghz',
                        help='radio energy per bit: a preset of core/energy.py or nJ/bit')
    parser.add_argument('--params-file', type=Path, default=None,
                        help='node parameters (default: config/split.yaml, or '
                             'config/events.yaml for events)')
    parser.add_argument('--timeout', type=float, default=30.0,
                        help='seconds to wait for the nodes, and for each answer')
    parser.add_argument('--out', type=Path, default=Path('bench_results'),
                        help='folder for bench.json, bench.md and the plots')


def run(args: argparse.Namespace) -> int:
    """Run every mode, then write JSON, markdown and plots."""
    from neucodex_ros.bench.link import LinkConfig, why_unavailable
    from neucodex_ros.resources import default_params_file, events_params_file

    modes = [m for m in MODES if m.name in args.modes.split(',')]
    if not modes:
        print(f'no known mode in {args.modes!r}', file=sys.stderr)
        return 2
    params_file = (args.params_file or (events_params_file() if args.input == 'events'
                                        else default_params_file())).resolve()
    link = LinkConfig(args.bandwidth, args.delay, edge_cpu=args.edge_cpu)
    reason = 'asked for (--loopback)' if args.loopback else why_unavailable()
    if reason:
        print(f'neucodex-ros bench: one host, loopback, no CPU limit: {reason}', flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    results = {mode.name: run_mode(mode, args, params_file, None if reason else link,
                                   args.samples) for mode in modes}
    sweep: dict[str, dict[str, Any]] = {}
    for bandwidth in [float(b) for b in args.sweep.split(',') if b] if not reason else []:
        swept = LinkConfig(bandwidth, args.delay, edge_cpu=args.edge_cpu)
        sweep[f'{bandwidth:g}'] = {
            mode.name: latency_summary(run_mode(mode, args, params_file, swept,
                                                args.sweep_samples)['records'])
            for mode in modes}
    report = summarise(results, args, params_file, link, reason, sweep)
    (args.out / 'bench.json').write_text(json.dumps(report, indent=2))
    (args.out / 'bench.md').write_text(markdown(report))
    plot(report, args.out)
    print(markdown(report))
    print(f'written: {args.out}/bench.json, bench.md, bytes_vs_accuracy.png'
          + (', latency_vs_bandwidth.png' if sweep else ''))
    return 0


def run_mode(mode: Mode, args: argparse.Namespace, params_file: Path,
             link: Any | None, samples: int) -> dict[str, Any]:
    """Start the mode's nodes (on their hosts), play the samples, stop the nodes."""
    from neucodex_ros.bench.link import TwoHosts
    from neucodex_ros.processes import node_command, running

    edge = {'input_reliable': True, 'queue_size': 100} | mode.edge
    if args.input == 'events':
        edge['flush_after'] = FLUSH_AFTER
    elif mode.edge_node_host == 'cloud':
        edge['input'] = 'compressed'
    label = f'{mode.name} ({"loopback" if link is None else f"{link.bandwidth_mbit:g} Mbit/s"})'
    print(f'neucodex-ros bench: {label}, {samples} samples', flush=True)
    with ExitStack() as stack, tempfile.TemporaryDirectory() as tmp:
        hosts = stack.enter_context(TwoHosts(link)) if link is not None else None

        def on(host: str, command: list[str]) -> list[str]:
            return command if hosts is None else hosts.command(command, host)

        commands = [on(mode.edge_node_host, node_command('edge_node', name='edge_node',
                                                         params_file=params_file,
                                                         parameters=edge))]
        if mode.cloud is not None:
            commands.append(on('cloud', node_command('cloud_node', name='cloud_node',
                                                     params_file=params_file,
                                                     parameters=mode.cloud)))
        processes = stack.enter_context(running(commands))
        spec = {'input': args.input, 'samples': samples, 'timeout': args.timeout,
                'split': mode.cloud is not None, 'period_us': 350_000,
                'jpeg_quality': JPEG_QUALITY if mode.edge_node_host == 'cloud'
                and args.input == 'images' else None,
                # then the input and the Prediction cross the link
                'on_server': mode.edge_node_host == 'cloud',
                'edge_pid': processes[0].pid if mode.edge_node_host == 'edge' else None,
                'settle': 0.05 + (0 if link is None else 2 * link.delay_ms / 1e3)}
        spec_file, out_file = Path(tmp) / 'spec.json', Path(tmp) / 'out.json'
        spec_file.write_text(json.dumps(spec))
        camera = on('edge', [sys.executable, '-m', 'neucodex_ros.bench.camera',
                             str(spec_file), str(out_file)])
        player = stack.enter_context(subprocess.Popen(camera))
        deadline = time.monotonic() + args.timeout * (samples + 4) + 60
        while player.poll() is None:
            if any(p.poll() is not None for p in processes) or time.monotonic() > deadline:
                player.kill()
                raise RuntimeError(f'{label}: a node process exited, or the samples took too '
                                   'long (see the log above)')
            time.sleep(0.2)
        if player.returncode != 0:
            raise RuntimeError(f'{label}: the camera failed (see the log above)')
        return json.loads(out_file.read_text())


def latency_summary(records: list[dict[str, Any]]) -> dict[str, float | None]:
    """p50 / p95 latency (ms) and accuracy of some records."""
    import numpy as np

    latencies = [r['latency_ms'] for r in records if r['latency_ms'] is not None]
    return {'latency_p50_ms': float(np.percentile(latencies, 50)) if latencies else None,
            'latency_p95_ms': float(np.percentile(latencies, 95)) if latencies else None,
            'accuracy': sum(r['predicted'] == r['label'] for r in records) / len(records)}


def edge_operations(input_kind: str, samples: int, checkpoint: Any) -> dict[str, Any]:
    """Per-sample, per-timestep operation counts of the layers each mode runs on the edge."""
    import numpy as np
    import torch
    from spikingjelly.activation_based import functional

    from neucodex_ros.commands.demo import DvsRecordings
    from neucodex_ros.core.digits import held_out_digits
    from neucodex_ros.core.energy import OpCounter
    from neucodex_ros.core.image import image_to_input
    from neucodex_ros.core.training import as_sequence
    from neucodex_ros.core.windows import FrameSpec, Window, window_frames

    model, config = checkpoint.model.eval(), checkpoint.config
    images, _ = held_out_digits(samples)
    if input_kind == 'images':
        inputs = [image_to_input(image.tobytes(), 'mono8', *image.shape, image.shape[1],
                                 config.in_channels, config.input_size) for image in images]
    else:
        recordings = DvsRecordings(images)
        spec = FrameSpec(config.num_timesteps, config.input_size,
                         checkpoint.data.get('split_by', 'time'),
                         checkpoint.data.get('fit', 'area'))
        inputs = [window_frames(Window(recordings[i], None, recordings.sensor_size), spec)
                  for i in range(samples)]
    counters = {'all': OpCounter(model), 'split': OpCounter(model.edge_modules()),
                'head': OpCounter(model.head)}
    batch = torch.as_tensor(np.stack(inputs))
    with torch.no_grad(), counters['all'].counting(), counters['split'].counting(), \
            counters['head'].counting():
        functional.reset_net(model)
        model(as_sequence(batch, config.num_timesteps))
    return {name: counter.counts() for name, counter in counters.items()}


def summarise(results: dict[str, dict[str, Any]], args: argparse.Namespace, params_file: Path,
              link: Any, loopback_reason: str | None,
              sweep: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The JSON: config, one object per mode, the sweep."""
    from collections import Counter

    import numpy as np
    import yaml

    from neucodex_ros.core.checkpoint import load_checkpoint
    from neucodex_ros.core.energy import EnergyConfig, compute_energy_j, radio_energy_j

    params = yaml.safe_load(params_file.read_text())
    checkpoint = load_checkpoint(params['cloud_node']['ros__parameters'].get('checkpoint')
                                 or None)
    steps = checkpoint.config.num_timesteps
    energy = EnergyConfig.with_radio(float(args.radio) if args.radio[0].isdigit()
                                     else args.radio)
    ops = edge_operations(args.input, args.samples, checkpoint)
    layers = {'edge_only': 'all', 'cloud_only': None, 'split_float': 'head',
              'spikebottlenet': 'split', 'neucodex': 'split'}
    modes: dict[str, Any] = {}
    for name, result in results.items():
        records = result['records']
        ok = [r for r in records if r['status'] == 'ok']
        up = np.array([r['bytes_up'] for r in records], dtype=float)
        down = np.array([r['bytes_down'] for r in records], dtype=float)
        computed = np.array([steps if layers[name] == 'all' else r['timesteps_sent']
                             for r in records])
        joules = radio_energy_j(up * 8, energy)
        if layers[name] is not None:
            joules = joules + compute_energy_j(ops[layers[name]], computed, energy)
        codecs = Counter(c for r in records for c in r['codecs'])
        modes[name] = {  # + accuracy and latency from latency_summary
            'mean_timesteps': float(np.mean([r['timesteps_used'] for r in ok])) if ok else None,
            'mean_timesteps_computed_on_edge': float(computed.mean())
            if layers[name] is not None else 0.0,
            'bytes_per_sample': float((up + down).mean()),
            'bytes_up_per_sample': float(up.mean()),
            'bytes_down_per_sample': float(down.mean()),
            'payload_bytes_per_sample': float(np.mean([r['payload_bytes'] for r in records])),
            'edge_energy_j': float(joules.mean()),
            'edge_cpu_ms_per_sample': result['edge_cpu_s'] / len(records) * 1e3,
            'codec_mix': {c: n / max(sum(codecs.values()), 1) for c, n in codecs.items()},
            'lost': sum(r['status'] == 'lost' for r in records),
            'failed': sum(r['status'] not in ('ok', 'lost') for r in records),
            'samples': len(records),
            'predicted': [r['predicted'] for r in records],
        } | latency_summary(records)
    for mode in modes.values():
        if 'edge_only' in modes:
            mode['energy_saving_vs_edge_only'] = 1 - mode['edge_energy_j'] / \
                modes['edge_only']['edge_energy_j']
        if 'split_float' in modes and mode['bytes_up_per_sample']:
            mode['compression_vs_split_float'] = \
                modes['split_float']['bytes_up_per_sample'] / mode['bytes_up_per_sample']
    return {
        'config': {
            'input': args.input, 'samples': args.samples, 'model_id': checkpoint.model_id,
            'num_timesteps': steps, 'params_file': str(params_file),
            'alpha': params['cloud_node']['ros__parameters']['alpha'],
            'encoding': params['edge_node']['ros__parameters'].get('encoding'),
            'link': {'two_hosts': loopback_reason is None,
                     'bandwidth_mbit': link.bandwidth_mbit if not loopback_reason else None,
                     'delay_ms': link.delay_ms if not loopback_reason else None,
                     'queue_packets': link.queue_packets if not loopback_reason else None,
                     'loopback_reason': loopback_reason},
            'edge_cpu_share': link.edge_cpu if not loopback_reason else None,
            'radio_nj_per_bit': energy.radio_nj_per_bit, 'jpeg_quality': JPEG_QUALITY,
            'machine': f'{platform.machine()}, {platform.system()} {platform.release()}',
            'date': time.strftime('%Y-%m-%d %H:%M'),
        },
        'modes': modes,
        'sweep': sweep,
    }


def markdown(report: dict[str, Any]) -> str:
    """The table of modes."""
    c, link = report['config'], report['config']['link']
    where = (f'two hosts, {link["bandwidth_mbit"]:g} Mbit/s, {link["delay_ms"]:g} ms one way, '
             f'edge at {c["edge_cpu_share"]:.0%} of one core') if link['two_hosts'] else \
        f'loopback ({link["loopback_reason"]})'
    lines = [f'{c["samples"]} held-out {c["input"]}, model {c["model_id"]} (T = '
             f'{c["num_timesteps"]}), {where}:', '',
             '| mode | accuracy | timesteps | bytes / sample | vs split-float | edge energy | '
             'saving vs edge-only | latency p50 / p95 | edge CPU / sample |',
             '|---|---|---|---|---|---|---|---|---|']
    for name, m in report['modes'].items():
        def opt(key: str, fmt: str, m: dict[str, Any] = m) -> str:
            return format(m[key], fmt) if m.get(key) is not None else '–'
        lines.append(f'| {name} | {m["accuracy"]:.1%} | {opt("mean_timesteps", ".2f")} | '
                     f'{m["bytes_per_sample"]:,.0f} | {opt("compression_vs_split_float", ",.1f")}'
                     f'{"x" if m.get("compression_vs_split_float") else ""} | '
                     f'{m["edge_energy_j"] * 1e6:.2f} µJ | '
                     f'{opt("energy_saving_vs_edge_only", "+.1%")} | '
                     f'{opt("latency_p50_ms", ".1f")} / {opt("latency_p95_ms", ".1f")} ms | '
                     f'{m["edge_cpu_ms_per_sample"]:.1f} ms |')
    return '\n'.join(lines) + '\n'


def plot(report: dict[str, Any], out: Path) -> None:
    """bytes_vs_accuracy.png, and latency_vs_bandwidth.png with a sweep."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, m in report['modes'].items():
        ax.scatter(max(m['bytes_per_sample'], 1), m['accuracy'] * 100, s=40)
        ax.annotate(name, (max(m['bytes_per_sample'], 1), m['accuracy'] * 100),
                    textcoords='offset points', xytext=(5, 4), fontsize=8)
    ax.set(xscale='log', xlabel='bytes on the link per sample (both ways; edge-only: 0, '
           'drawn at 1)', ylabel='accuracy (%)', title='Bytes against accuracy')
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / 'bytes_vs_accuracy.png', dpi=120)
    plt.close(fig)
    if not report['sweep']:
        return
    fig, ax = plt.subplots(figsize=(6, 4))
    bandwidths = sorted(report['sweep'], key=float)
    for name in report['modes']:
        p50 = [report['sweep'][b][name]['latency_p50_ms'] for b in bandwidths]
        ax.plot([float(b) for b in bandwidths], p50, marker='o', label=name)
    ax.set(xscale='log', yscale='log', xlabel='link bandwidth (Mbit/s)',
           ylabel='latency p50 (ms)', title='Latency against bandwidth')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out / 'latency_vs_bandwidth.png', dpi=120)
    plt.close(fig)
