#!/usr/bin/env python3
"""Event cameras, measured: decoder counts and speed on the real bags, the event model's accuracy.

Prints, for the real recordings in ../shared/data:
  * every EventPacket bag decoded: ON / OFF events, trigger edges, time span, and the decode
    speed in events/s on one core against the recording's own event rate (target: >= 20x);
  * the AEDAT4 recording's event count;
  * the shipped event model (nmnist_events) on the held-out part of the real N-MNIST samples
    (never trained on): accuracy at full T and with early exit at config/events.yaml's α,
    and on held-out simulated digits (what `neucodex-ros demo --events` plays).

    .venv/bin/python scripts/event_report.py [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / 'shared' / 'data'


def decode_seconds(bag: Path, repeats: int = 5) -> float:
    """Best time of a fresh decoder over all of a bag's packets (read beforehand)."""
    import time

    from neucodex_ros.core.events.bags import EVENT_PACKET, deserialize, open_bag
    from neucodex_ros.core.events.codecs import make_decoder

    with open_bag(bag) as reader:
        packets = [deserialize(raw, EVENT_PACKET) for c, _, raw in reader.messages()
                   if c.msgtype == EVENT_PACKET]
    best = float('inf')
    for _ in range(repeats):
        decoder = make_decoder(packets[0].encoding)
        start = time.perf_counter()
        for msg in packets:
            decoder.decode(msg.events, msg.width, msg.height, msg.time_base, msg.is_bigendian)
        best = min(best, time.perf_counter() - start)
    return best


def decoder_report() -> list[dict]:
    """Decode every bag: the counts, and the decoder's speed (CDR reading excluded)."""
    from neucodex_ros.core.events.bags import event_topic_stats

    rows = []
    for bag in sorted((DATA / 'bags').iterdir()):
        for stats in event_topic_stats(bag):
            speed = stats.events / decode_seconds(bag)
            rows.append({'bag': bag.name, 'topic': stats.topic, 'encoding': stats.encoding,
                         'packets': stats.packets, 'events_on': stats.events_on,
                         'events_off': stats.events_off,
                         'triggers_rising': stats.triggers_rising,
                         'triggers_falling': stats.triggers_falling,
                         'rejected_packets': stats.rejected_packets,
                         'duration_s': (stats.t_last_us - stats.t_first_us) / 1e6,
                         'event_rate_per_s': stats.event_rate,
                         'decode_events_per_s': speed,
                         'times_real_time': speed / stats.event_rate})
    return rows


def model_report(alpha: float) -> list[dict]:
    """The shipped event model on held-out real N-MNIST and held-out simulated digits."""
    from neucodex_ros.core.checkpoint import load_checkpoint
    from neucodex_ros.core.datasets import DataOptions, load_dataset
    from neucodex_ros.core.exit_policy import exit_summary
    from neucodex_ros.core.training import predict_logits

    checkpoint = load_checkpoint('nmnist_events')
    options = DataOptions.from_record(checkpoint.data, checkpoint.config.num_timesteps)
    rows = []
    for name, root in (('nmnist', DATA / 'nmnist_small' / 'train'), ('digits_dvs', None)):
        samples, _ = load_dataset(name, root, 'test', options)
        logits, labels = predict_logits(checkpoint.model, samples)
        full = exit_summary(logits, labels, 1.0)
        early = exit_summary(logits, labels, alpha)
        rows.append({'dataset': name, 'samples': len(labels),
                     'accuracy_full_T': full['accuracy'],
                     'accuracy_early_exit': early['accuracy'], 'alpha': alpha,
                     'mean_timesteps': early['mean_timesteps'],
                     'num_timesteps': checkpoint.config.num_timesteps})
    return rows


def main() -> int:
    """Measure and print."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--json', type=Path, default=None)
    args = parser.parse_args()
    if not DATA.is_dir():
        print(f'needs the real recordings in {DATA}', file=sys.stderr)
        return 2
    torch.set_num_threads(1)
    from neucodex_ros.core.datasets.aedat4 import read_aedat4
    from neucodex_ros.resources import events_params_file, read_params_file

    alpha = read_params_file(events_params_file())['cloud_node'][
        'alpha']
    decoders = decoder_report()
    aedat4 = {path.name: len(read_aedat4(path)[0]) for path in sorted((DATA / 'aedat4').iterdir())}
    models = model_report(alpha)

    print('Decoders (one core; decode time only, best of 5)')
    for r in decoders:
        print(f"  {r['bag']:<18} {r['encoding']:<8} {r['packets']:>4} packets  "
              f"ON {r['events_on']:>7,}  OFF {r['events_off']:>7,}  triggers rising "
              f"{r['triggers_rising']:,} / falling {r['triggers_falling']:,}  "
              f"rejected {r['rejected_packets']}")
        print(f"  {'':<18} {r['duration_s']:.3f} s at {r['event_rate_per_s'] / 1e3:,.0f} k ev/s; "
              f"decoded at {r['decode_events_per_s'] / 1e6:.1f} M ev/s = "
              f"{r['times_real_time']:.0f}x real time")
    for name, count in aedat4.items():
        print(f'  {name}: {count:,} events (AEDAT4, dv-processing)')
    print(f'Event model nmnist_events (held-out test parts, early exit at alpha {alpha:g})')
    for r in models:
        print(f"  {r['dataset']:<11} {r['samples']:>4} samples: full T {r['accuracy_full_T']:.1%}, "
              f"early exit {r['accuracy_early_exit']:.1%} at {r['mean_timesteps']:.2f} / "
              f"{r['num_timesteps']} timesteps")
    if args.json:
        args.json.write_text(json.dumps({'decoders': decoders, 'aedat4': aedat4,
                                         'event_model': models}, indent=2))
    return 0


if __name__ == '__main__':
    sys.exit(main())
