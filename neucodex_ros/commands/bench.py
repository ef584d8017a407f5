"""`neucodex-ros bench`: NeuCODEX against every baseline, on the same held-out samples.

The library is neucodex_ros/bench/ (modes.py says what each mode runs, runner.py how one is
run over two hosts or loopback, summary.py and report.py what is reported); this command
parses its options and runs the suite. Sweeps, `--sweep-samples` each point: `--sweep`
bandwidths (every mode); `--grid-cpu` × `--grid-delay` (NeuCODEX against edge_only_exit:
where the split beats local early exit); `--pacing-sweep` (NeuCODEX under several pacings).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import yaml

from neucodex_ros.bench.modes import MODES, Options
from neucodex_ros.core.errors import ConfigError
from neucodex_ros.core.radio import DEFAULT_RADIO, RADIO_HELP, radio

HELP = 'compare NeuCODEX with edge-only, cloud-only and split baselines over a two-host link'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `bench`."""
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
    parser.add_argument('--rounds', type=int, default=1,
                        help='play the samples in this many rounds, every mode in turn in each, '
                             "so that the machine's drifting speed meets every mode alike "
                             '(default %(default)s)')
    parser.add_argument('--warmup', type=int, default=5,
                        help='samples every mode plays first, not recorded, once the edge is '
                             "held to its CPU share: what placement auto learnt while the "
                             'nodes started at full speed is then what it measures under the '
                             'limit; 0 on a --link-schedule (default %(default)s)')
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
    parser.add_argument('--kill-cloud-at', type=int, default=None, metavar='FRAME',
                        help='instead of the modes: frames at --rate to the edge of the params '
                        'file (with --edge), --clouds clouds; SIGKILL the one serving the robot '
                        'when this frame goes out; report every answer on a timeline')
    parser.add_argument('--clouds', type=int, default=2, help='--kill-cloud-at: clouds (1-8)')
    parser.add_argument('--rate', type=float, default=10.0,
                        help='--kill-cloud-at: frames per second')
    parser.add_argument('--out', type=Path, default=Path('bench_results'),
                        help='folder for bench.json, bench.md and the plots')


def _floats(text: str) -> tuple[float, ...]:
    return tuple(float(value) for value in text.split(',') if value)


def run(args: argparse.Namespace) -> int:
    """Run every mode and sweep asked for, then write JSON, markdown and plots."""
    from neucodex_ros.bench.suite import run_suite  # (torch: not for `--help`)

    edge = {key: yaml.safe_load(value) for key, _, value in
            (item.partition('=') for item in args.edge)}
    options = Options(
        input=args.input, samples=args.samples, rounds=args.rounds, warmup=args.warmup,
        modes=tuple(args.modes.split(',')),
        checkpoint=args.checkpoint, alpha=args.alpha, bandwidth=args.bandwidth,
        delay=args.delay, link_schedule=args.link_schedule, edge_cpu=args.edge_cpu, edge=edge,
        sweep=_floats(args.sweep), grid_cpu=_floats(args.grid_cpu),
        grid_delay=_floats(args.grid_delay),
        pacing_sweep=tuple(p for p in args.pacing_sweep.split(',') if p),
        sweep_samples=args.sweep_samples, loopback=args.loopback, radio=args.radio,
        params_file=args.params_file, timeout=args.timeout, out=args.out,
        kill_cloud_at=args.kill_cloud_at, clouds=args.clouds, rate=args.rate)
    if args.kill_cloud_at is not None:
        if not 1 <= args.clouds <= 8 or args.rate <= 0:
            raise ConfigError('--clouds must be 1 to 8 and --rate > 0')
        from neucodex_ros.bench.failover import run_failover
        return run_failover(options)
    return run_suite(options)
