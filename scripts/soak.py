#!/usr/bin/env python3
"""Soak: one cloud node and four edge nodes at their input rate, for minutes; nothing lost?

Each edge (its own source_id and image topic) gets held-out real digits at --rate frames per
second for --minutes. Prints samples sent, answered, unanswered and failed, the p50 / p99 latency
(capture → Prediction), and each process's resident memory after the warm-up minute and at
the end: growth must stay under 5%.

    .venv/bin/python scripts/soak.py [--minutes 10] [--rate 5] [--edges 4]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from neucodex_ros.client import Observed


def rss_kib(pid: int) -> int:
    """Resident memory of a process, KiB."""
    for line in Path(f'/proc/{pid}/status').read_text().splitlines():
        if line.startswith('VmRSS:'):
            return int(line.split()[1])
    return 0


def main() -> int:
    """Run, measure, print; exit 1 if a sample went unanswered or memory grew by 5% or more."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--minutes', type=float, default=10.0)
    parser.add_argument('--rate', type=float, default=5.0, help='frames per second per edge')
    parser.add_argument('--edges', type=int, default=4)
    parser.add_argument('--warmup', type=float, default=60.0, help='seconds before the first '
                        'memory reading')
    args = parser.parse_args()

    import numpy as np

    from neucodex_ros.client import session
    from neucodex_ros.core.datasets.digits import held_out_digits
    from neucodex_ros.msg import Prediction
    from neucodex_ros.processes import node_command

    topics = [f'image_{n}' for n in range(args.edges)]
    commands = [node_command('cloud_node', name='cloud_node')] + [
        node_command('edge_node', name=f'edge_node_{n}',
                     parameters={'source_id': f'robot{n}', 'image_topic': topic,
                                 'input_reliable': True})
        for n, topic in enumerate(topics)]
    images, labels = held_out_digits(1000)
    memory_start: list[int] | None = None
    with session('soak', commands, 60.0, image_topics=topics) as running:
        start = time.monotonic()

        def publish(index: int) -> Observed:  # the edges in turn
            nonlocal memory_start
            if memory_start is None and time.monotonic() - start >= args.warmup:
                memory_start = [rss_kib(p.pid) for p in running.processes]
            return running.client.publish_frame(images[index % 1000], int(labels[index % 1000]),
                                                index % args.edges)

        rate = args.rate * args.edges
        try:
            sent = running.client.play(publish, round(args.minutes * 60 * rate), rate=rate,
                                       timeout=30.0, alive=running.alive)
        except RuntimeError as err:  # a node process exited
            print(f'stopped: {err}')
            return 1
        memory_end = [rss_kib(p.pid) for p in running.processes]
    answered = [o for o in sent if o.prediction is not None]
    unanswered = len(sent) - len(answered)
    failed = sum(o.prediction.status != Prediction.STATUS_OK for o in answered)
    duplicates = sum(o.predictions > 1 for o in answered)
    latency = np.array([(o.answered - o.sent) * 1e3 for o in answered])
    print(f'{args.edges} edges x {args.rate:g} frames/s for {args.minutes:g} min: '
          f'{len(sent)} samples sent, {len(answered)} answered, {unanswered} unanswered, '
          f'{failed} failed, '
          f'{duplicates} answered more than once')
    if len(latency):
        print(f'latency p50 {np.percentile(latency, 50):.1f} ms, '
              f'p99 {np.percentile(latency, 99):.1f} ms')
    names = ['cloud_node'] + [f'edge_node_{n}' for n in range(args.edges)]
    growth_ok = True
    for name, before, after in zip(names, memory_start or memory_end, memory_end, strict=True):
        growth = (after - before) / before if before else 0.0
        growth_ok &= growth < 0.05
        print(f'  {name:<12} RSS {before / 1024:.1f} MiB after warm-up -> {after / 1024:.1f} MiB '
              f'({growth:+.1%})')
    return 0 if unanswered == 0 and duplicates == 0 and growth_ok else 1


if __name__ == '__main__':
    sys.exit(main())
