#!/usr/bin/env python3
"""Fleet capacity: N robots at their frame rate against K clouds; samples/s, p50/p99, CPU.

The robots are light: one process replays the edge's real spikes of held-out digits (the
model's own head + encoder, coded as the edge codes them) with real exit handling: a hello
until a cloud takes the robot, then each sample's timesteps one at a time, each asking for a
verdict, until the final answer. What is measured is the clouds' capacity, not the edges'.
A robot has a new frame every 1/rate s (random phase) and works on one sample at a time; a
frame that arrives while one is waiting replaces it (dropped, as the edge's queue does).

For each robot count and each max_batch, after a warm-up: frames offered and answered per
second, dropped and unanswered frames, p50 / p99 latency (frame → answer), accuracy, and the
clouds' CPU seconds per answered sample. A load is sustained when ≥ 99% of its frames are
answered and p99 ≤ --p99 ms. Writes fleet.json, fleet.md and throughput.png to --out.

    .venv/bin/python scripts/fleet.py --robots 2 4 8 12 16 --max-batch 1 16 [--clouds 1]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

HELLO_PERIOD = 0.5
DEADLINE = 2.0  # seconds without an answer: the sample is unanswered, the robot asks again


@dataclass
class Robot:
    """One light robot: its frames, its sample in flight, what it measured."""

    source: str
    ready: bool = False
    hello: int = -1
    hello_sent: float = -1e9
    waiting: float | None = None  # capture time of the frame waiting
    sample: int = -1  # id of the sample in flight (-1: none)
    recording: int = 0
    captured: float = 0.0
    sent: float = 0.0
    results: list[tuple[float, float, bool]] = field(default_factory=list)  # (captured, ms, ok)
    offered: list[float] = field(default_factory=list)
    dropped: list[float] = field(default_factory=list)
    unanswered: list[float] = field(default_factory=list)


def record(checkpoint: Any, count: int) -> tuple[list[list[tuple[int, bytes]]], np.ndarray]:
    """The edge's coded timesteps (wire encoding, payload) of `count` held-out digits."""
    from neucodex_ros.core import codec
    from neucodex_ros.core.datasets.digits import camera_input, held_out_digits
    from neucodex_ros.core.inference import EdgeRunner

    images, labels = held_out_digits(count, seed=11)
    edge = EdgeRunner(checkpoint.model)
    recordings = []
    for image in images:
        edge.start(camera_input(image, checkpoint.config.in_channels,
                                checkpoint.config.input_size))
        previous, timesteps = None, []
        for _ in range(checkpoint.config.num_timesteps):
            spikes = edge.step()
            encoding, payload = codec.encode_auto(spikes, previous)
            timesteps.append((codec.WIRE_IDS[encoding], payload))
            previous = spikes
        recordings.append(timesteps)
    return recordings, labels


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    fields = Path(f'/proc/{pid}/stat').read_text().rsplit(')', 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf('SC_CLK_TCK')


def run_load(robots: int, rate: float, clouds: list[list[str]], recordings: list[Any],
             labels: np.ndarray, checkpoint: Any, warmup: float, seconds: float,
             seed: int) -> dict[str, Any]:
    """Start the clouds, drive `robots` robots for warmup + seconds, measure the last part."""
    import rclpy
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.node import Node

    from neucodex_ros.msg import ExitSignal, PackedSpikes
    from neucodex_ros.nodes.wire import model_fingerprint
    from neucodex_ros.processes import running
    from neucodex_ros.qos import stream_qos

    shape = checkpoint.model.split_shape
    model_id = model_fingerprint(checkpoint.model_id)
    num_timesteps = checkpoint.config.num_timesteps
    pick = random.Random(seed)
    with rclpy.init(), running(clouds) as processes:
        node = Node('fleet_robots')
        link = stream_qos(True, 64)
        publisher = node.create_publisher(PackedSpikes, 'spikes', link)
        fleet = [Robot(f'robot{n}') for n in range(robots)]
        by_source = {robot.source: robot for robot in fleet}
        ids = iter(range(time.time_ns() // 1000, 2**63))

        def send(robot: Robot, timestep: int, flags: int = PackedSpikes.FLAG_VERDICT) -> None:
            encoding, payload = recordings[robot.recording][timestep] if timestep >= 0 \
                else (0, b'')
            msg = PackedSpikes(sample_id=robot.hello if flags & PackedSpikes.FLAG_HELLO
                               else robot.sample, model_id=model_id, source_id=robot.source,
                               timestep=max(timestep, 0), num_timesteps=num_timesteps,
                               channels=shape[0], height=shape[1], width=shape[2],
                               encoding=encoding, flags=flags, data=payload)
            publisher.publish(msg)
            robot.sent = time.monotonic()

        def start(robot: Robot, now: float) -> None:
            if robot.ready and robot.sample < 0 and robot.waiting is not None:
                robot.captured, robot.waiting = robot.waiting, None
                robot.sample = next(ids)
                robot.recording = pick.randrange(len(recordings))
                send(robot, 0)

        def frame(robot: Robot) -> None:
            now = time.monotonic()
            robot.offered.append(now)
            if robot.waiting is not None:
                robot.dropped.append(robot.waiting)
            robot.waiting = now
            start(robot, now)

        def tick() -> None:
            now = time.monotonic()
            for robot in fleet:
                if robot.sample >= 0 and now - robot.sent > DEADLINE:
                    robot.unanswered.append(robot.captured)
                    robot.sample, robot.ready = -1, False
                if not robot.ready and now - robot.hello_sent > HELLO_PERIOD:
                    robot.hello, robot.hello_sent = next(ids), now
                    send(robot, -1, PackedSpikes.FLAG_HELLO)
                start(robot, now)

        def on_exit(msg: ExitSignal) -> None:
            robot = by_source.get(msg.source_id)
            if robot is None:
                return
            now = time.monotonic()
            if msg.reason == ExitSignal.REASON_READY:
                robot.ready = robot.ready or msg.sample_id == robot.hello
            elif msg.sample_id != robot.sample:
                return
            elif msg.reason == ExitSignal.REASON_CONTINUE:
                if msg.timesteps_used < num_timesteps:
                    send(robot, msg.timesteps_used)
            else:
                ok = msg.label == int(labels[robot.recording])
                robot.results.append((robot.captured, (now - robot.captured) * 1e3, ok))
                robot.sample = -1
            start(robot, now)

        node.create_subscription(ExitSignal, 'exit_signal', on_exit, link)
        node.create_timer(0.1, tick)
        executor = SingleThreadedExecutor()
        executor.add_node(node)
        deadline = time.monotonic() + 120
        while not all(r.ready for r in fleet):  # the clouds load their model, join, answer
            executor.spin_once(timeout_sec=0.05)
            if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
                raise RuntimeError('the clouds did not take every robot')
        for robot in fleet:  # each at its frame rate, from a random phase
            time.sleep(pick.random() / rate / robots)
            node.create_timer(1 / rate, lambda r=robot: frame(r))
        begin = time.monotonic() + warmup
        cpu_begin: list[float] | None = None
        while time.monotonic() < begin + seconds + DEADLINE:
            executor.spin_once(timeout_sec=0.05)
            if cpu_begin is None and time.monotonic() >= begin:
                cpu_begin = [cpu_seconds(p.pid) for p in processes]
                robots_cpu = cpu_seconds(os.getpid())
            if time.monotonic() >= begin + seconds and all(r.sample < 0 for r in fleet):
                break
        cpu = sum(cpu_seconds(p.pid) for p in processes) - sum(cpu_begin or [0.0])
        robots_cpu = cpu_seconds(os.getpid()) - robots_cpu
        node.destroy_node()

    def window(times: list[float]) -> int:
        return sum(begin <= t < begin + seconds for t in times)

    results = [x for r in fleet for x in r.results if begin <= x[0] < begin + seconds]
    latency = np.array([ms for _, ms, _ in results]) if results else np.array([np.nan])
    offered = sum(window(r.offered) for r in fleet)
    return {'robots': robots, 'rate': rate, 'offered_per_s': offered / seconds,
            'answered_per_s': len(results) / seconds,
            'answered_share': len(results) / max(offered, 1),
            'dropped': sum(window(r.dropped) for r in fleet),
            'unanswered': sum(window(r.unanswered) for r in fleet),
            'p50_ms': float(np.percentile(latency, 50)),
            'p99_ms': float(np.percentile(latency, 99)),
            'accuracy': float(np.mean([ok for _, _, ok in results])) if results else 0.0,
            'cloud_cpu_ms_per_sample': cpu * 1e3 / max(len(results), 1),
            'robots_cpu_share': robots_cpu / (time.monotonic() - begin)}


def main() -> int:
    """Sweep robots × max_batch; print a table, write json, markdown and a plot."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--robots', type=int, nargs='+', default=[2, 4, 8, 12, 16])
    parser.add_argument('--rate', type=float, default=5.0, help='frames per second per robot')
    parser.add_argument('--max-batch', type=int, nargs='+', default=[1, 16])
    parser.add_argument('--clouds', type=int, default=1)
    parser.add_argument('--batch-wait-ms', type=float, default=0.0,
                        help="the clouds' batch_wait_ms (batched runs)")
    parser.add_argument('--torch-threads', type=int, default=2)
    parser.add_argument('--checkpoint', default='resnet18_digits')
    parser.add_argument('--alpha', type=float, default=0.94)
    parser.add_argument('--warmup', type=float, default=5.0)
    parser.add_argument('--seconds', type=float, default=30.0)
    parser.add_argument('--p99', type=float, default=250.0, help='ms: the sustained limit')
    parser.add_argument('--out', type=Path, default=Path('docs/bench/fleet'))
    args = parser.parse_args()

    from neucodex_ros.core.checkpoint import load_checkpoint
    from neucodex_ros.processes import node_command

    checkpoint = load_checkpoint(args.checkpoint)
    recordings, labels = record(checkpoint, 200)
    rows = []
    for robots in args.robots:  # (the settings in turn at each load: the machine's speed drifts)
        for max_batch in args.max_batch:
            clouds = [node_command('cloud_node', name=f'cloud_{k}', parameters={
                'checkpoint': args.checkpoint, 'alpha': args.alpha, 'cloud_id': f'cloud{k}',
                'max_batch': max_batch, 'torch_threads': args.torch_threads,
                'batch_wait_ms': args.batch_wait_ms if max_batch > 1 else 0.0,
                'stats_period': 0.0}) for k in range(args.clouds)]
            row = {'max_batch': max_batch, 'clouds': args.clouds,
                   **run_load(robots, args.rate, clouds, recordings, labels, checkpoint,
                              args.warmup, args.seconds, seed=robots)}
            row['sustained'] = row['answered_share'] >= 0.99 and row['p99_ms'] <= args.p99
            rows.append(row)
            print(f"max_batch {max_batch:3d}  {robots:3d} robots: offered "
                  f"{row['offered_per_s']:6.1f}/s answered {row['answered_per_s']:6.1f}/s "
                  f"({row['answered_share']:.1%}), p50 {row['p50_ms']:6.0f} ms p99 "
                  f"{row['p99_ms']:6.0f} ms, accuracy {row['accuracy']:.1%}, cloud CPU "
                  f"{row['cloud_cpu_ms_per_sample']:5.1f} ms/sample, robots "
                  f"{row['robots_cpu_share']:.0%} of a core"
                  + ('  sustained' if row['sustained'] else ''), flush=True)
    write(rows, args)
    return 0


def write(rows: list[dict[str, Any]], args: argparse.Namespace) -> None:
    """fleet.json, fleet.md (table + the highest sustained load per max_batch), throughput.png."""
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    args.out.mkdir(parents=True, exist_ok=True)
    setting = {k: v for k, v in vars(args).items() if k != 'out'}
    (args.out / 'fleet.json').write_text(json.dumps({'setting': setting, 'rows': rows},
                                                    indent=1))
    lines = [f"# Fleet capacity: {args.checkpoint}, {args.clouds} cloud(s), "
             f"{args.rate:g} frames/s per robot, torch_threads {args.torch_threads}, "
             f"batch_wait_ms {args.batch_wait_ms:g}", '',
             '| max_batch | robots | offered /s | answered /s | answered | p50 ms | p99 ms '
             '| accuracy | cloud CPU ms/sample | sustained |',
             '|---|---|---|---|---|---|---|---|---|---|']
    for row in sorted(rows, key=lambda r: (r['max_batch'], r['robots'])):
        lines.append(f"| {row['max_batch']} | {row['robots']} | {row['offered_per_s']:.1f} | "
                     f"{row['answered_per_s']:.1f} | {row['answered_share']:.1%} | "
                     f"{row['p50_ms']:.0f} | {row['p99_ms']:.0f} | {row['accuracy']:.1%} | "
                     f"{row['cloud_cpu_ms_per_sample']:.1f} | "
                     f"{'yes' if row['sustained'] else 'no'} |")
    lines.append('')
    for max_batch in args.max_batch:
        best = max((r['answered_per_s'] for r in rows
                    if r['max_batch'] == max_batch and r['sustained']), default=0.0)
        full = max((r['answered_per_s'] for r in rows
                    if r['max_batch'] == max_batch and r['answered_share'] >= 0.99), default=0.0)
        lines.append(f'- max_batch {max_batch}: highest sustained load {best:.1f} samples/s '
                     f'(≥ 99% answered, p99 ≤ {args.p99:g} ms); highest load answered in '
                     f'full {full:.1f} samples/s (≥ 99% answered, any latency)')
    (args.out / 'fleet.md').write_text('\n'.join(lines) + '\n')
    figure, axes = plt.subplots(1, 2, figsize=(10, 4))
    for max_batch in args.max_batch:
        mine = [r for r in rows if r['max_batch'] == max_batch]
        label = 'unbatched' if max_batch == 1 else f'batched (max_batch {max_batch})'
        axes[0].plot([r['robots'] for r in mine], [r['answered_per_s'] for r in mine], 'o-',
                     label=label)
        axes[1].plot([r['robots'] for r in mine], [r['p99_ms'] for r in mine], 'o-',
                     label=label)
    robots = sorted({r['robots'] for r in rows})
    axes[0].plot(robots, [n * args.rate for n in robots], ':', color='grey', label='offered')
    axes[1].axhline(args.p99, ls=':', color='grey', label=f'{args.p99:g} ms')
    axes[0].set(xlabel='robots', ylabel='answered samples/s', title='throughput')
    axes[1].set(xlabel='robots', ylabel='p99 latency (ms)', title='p99 latency', yscale='log')
    for axis in axes:
        axis.legend()
        axis.grid(alpha=0.3)
    clouds = 'one cloud' if args.clouds == 1 else f'{args.clouds} clouds'
    figure.suptitle(f'{args.checkpoint} on {clouds}, {args.rate:g} frames/s per robot, '
                    f'torch_threads {args.torch_threads}')
    figure.tight_layout()
    figure.savefig(args.out / 'throughput.png', dpi=120)


if __name__ == '__main__':
    raise SystemExit(main())
