"""`neucodex-ros demo`: the split on held-out real digits, end to end over ROS 2.

Starts a cloud node and an edge node as separate processes (real rclpy over Fast DDS), then
plays camera: publishes held-out MNIST digits as sensor_msgs/Image on `image` at a set rate,
matches every Prediction to its image by the capture stamp, and measures the spike traffic
on `spikes`. Prints accuracy, timesteps, bytes and compression; --json writes the same.

`--events` plays an event camera instead: each digit goes through the DVS simulator (three
saccades, as N-MNIST was recorded) and out as evt3 EventPackets on `events`, to the shipped
event model (config/events.yaml).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from neucodex_ros.commands.options import ranged

if TYPE_CHECKING:
    from neucodex_ros.client import Observed
    from neucodex_ros.core.checkpoint import Checkpoint

HELP = 'run edge and cloud nodes on held-out real digits and report accuracy and traffic'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `demo`."""
    from neucodex_ros.core.placement import Placement

    parser.add_argument('--samples', type=ranged(int, 1, 1000), default=200,
                        help='held-out digits to send (1..1000, default %(default)s)')
    parser.add_argument('--rate', type=ranged(float, 0, low_open=True), default=10.0,
                        help='images per second (default %(default)s)')
    parser.add_argument('--alpha', type=ranged(float, 0, 1), default=None,
                        help="exit threshold for the cloud, 0..1 (default: the params file's)")
    parser.add_argument('--events', action='store_true',
                        help='an event camera: simulated DVS recordings of the digits')
    parser.add_argument('--params-file', type=Path, default=None,
                        help='YAML keyed by node name (default: config/split.yaml, or '
                             'config/events.yaml with --events)')
    parser.add_argument('--timeout', type=float, default=30.0,
                        help='seconds to wait for the nodes, and for answers after the last '
                             'image (default %(default)s)')
    parser.add_argument('--placement', choices=tuple(Placement), default=Placement.SPLIT,
                        help="the edge's placement: split shows the split at work on every "
                             "sample; auto is the params file's default for robots: each "
                             'sample where the edge measures it faster (default %(default)s)')
    parser.add_argument('--json', type=Path, default=None, help='also write the results here')


def run(args: argparse.Namespace) -> int:
    """Start the nodes, send the digits, collect the answers, report."""
    from tqdm import tqdm

    from neucodex_ros.client import Observed, Playlist, session
    from neucodex_ros.core import topics
    from neucodex_ros.core.checkpoint import load_checkpoint
    from neucodex_ros.processes import node_command
    from neucodex_ros.resources import default_params_file, events_params_file, read_params_file

    params_file = (args.params_file or (events_params_file() if args.events
                                        else default_params_file())).resolve()
    sections = read_params_file(params_file)
    cloud_params, edge_params = sections['cloud_node'], sections['edge_node']
    alpha = cloud_params['alpha'] if args.alpha is None else args.alpha
    checkpoint = load_checkpoint(cloud_params.get('checkpoint') or None)
    commands = [node_command('cloud_node', name='cloud_node', params_file=params_file,
                             parameters={'alpha': alpha}),
                # The demo's camera publishes reliably, so the edge may subscribe reliably.
                node_command('edge_node', name='edge_node', params_file=params_file,
                             parameters={'input_reliable': True, 'placement': args.placement,
                                         'alpha': alpha})]
    playlist = Playlist.held_out(args.samples, args.events,
                                 round(edge_params.get('window_duration', 0.35) * 1e6))
    print(f'neucodex-ros demo: starting cloud_node and edge_node ({params_file.name}, '
          f'alpha {alpha}, placement {args.placement})', flush=True)
    with session('neucodex_demo', commands, args.timeout,
                 probe=lambda client: playlist.publish(client, 0),
                 reliable=cloud_params.get('reliable', True),
                 depth=cloud_params.get('qos_depth', 64),
                 events_topic=edge_params.get('events_topic', topics.EVENTS) if args.events
                 else None) as running, \
            tqdm(total=len(playlist.labels), desc='digits', unit='sample',
                 mininterval=0.5) as bar:
        def progress(done: list[Observed]) -> None:
            bar.set_postfix(accuracy=f'{accuracy(done):.1%}', refresh=False)
            bar.update(len(done) - bar.n)

        client = running.client
        sent = client.play(lambda i: playlist.publish(client, i, int(playlist.labels[i])),
                           len(playlist.labels), rate=args.rate, timeout=args.timeout,
                           alive=running.alive, answered=Observed.answered_with_spikes
                           if args.placement == 'split' else Observed.answered_at_all,
                           progress=progress)
    results = summarise(sent, checkpoint, alpha, raw_image_bytes=playlist.raw_bytes(),
                        input_kind='events' if args.events else 'image')
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0 if results['unanswered'] == 0 else 1


def accuracy(records: list[Observed]) -> float:
    """Share of answered records whose label is right."""
    answered = [r for r in records if r.prediction is not None]
    return sum(r.prediction.label == r.label for r in answered) / max(len(answered), 1)


def summarise(records: list[Observed], checkpoint: Checkpoint, alpha: float,
              raw_image_bytes: float, input_kind: str = 'image') -> dict[str, Any]:
    """The demo's numbers (the JSON object); failed or missing answers count as wrong."""
    from collections import Counter

    import numpy as np

    from neucodex_ros.core.codec import ENCODINGS, packed_size
    from neucodex_ros.core.figures import compression_per_sample, feature_bits
    from neucodex_ros.core.scoring import OK, UNANSWERED, outcome_counts

    statuses = [UNANSWERED if r.prediction is None else r.prediction.status for r in records]
    ok = [r for r, status in zip(records, statuses, strict=True) if status == OK]
    payloads = [sum(len(m.data) for m in r.spikes) for r in records]
    head_neurons = int(np.prod(checkpoint.model.head_shape))
    payload = float(np.mean(payloads))
    mix = Counter(ENCODINGS[m.encoding] for r in records for m in r.spikes)
    messages = sum(mix.values())
    bitpack = float(np.mean([len(r.spikes) for r in records])) \
        * packed_size(checkpoint.model.split_shape)
    return {
        'samples': len(records),
        'accuracy': sum(r.prediction.label == r.label for r in ok) / len(records),
        'mean_timesteps': float(np.mean([r.prediction.timesteps_used for r in ok]))
        if ok else 0.0,
        'num_timesteps': checkpoint.config.num_timesteps,
        'mean_timesteps_sent': float(np.mean([len(r.spikes) for r in records])),
        'bytes_per_sample': payload,
        'bitpack_bytes_per_sample': bitpack,
        'codec_mix': {name: count / messages for name, count in mix.most_common()},
        'wire_bytes_per_sample': float(np.mean([r.spike_wire_bytes for r in records])),
        'compression_per_timestep': checkpoint.model.compression,
        'compression_per_sample': compression_per_sample(head_neurons, payload * 8)
        if payload else None,  # (None: nothing sent, every sample answered on the edge)
        'split_features_float32_bits': feature_bits(head_neurons),
        'raw_image_bytes': raw_image_bytes,
        'input': input_kind,
        'alpha': alpha,
        'computed_on': dict(Counter(r.prediction.computed_on for r in ok)),
        **outcome_counts(statuses),
        'model_id': checkpoint.model_id,
        'per_sample': [{'label': r.label,
                        'predicted': None if r.prediction is None else r.prediction.label,
                        'timesteps_used': None if r.prediction is None
                        else r.prediction.timesteps_used,
                        'status': status, 'payload_bytes': size}
                       for r, status, size in zip(records, statuses, payloads, strict=True)],
    }


WHERE = {'both': 'split', 'edge': 'on the edge alone'}  # Prediction.computed_on


def print_table(results: dict[str, Any]) -> None:
    """The summary as a small table."""
    rows = [
        ('samples', f'{results["samples"]} held-out real MNIST digits'
                    + (' (simulated DVS recordings)' if results['input'] == 'events' else '')),
        ('accuracy', f'{results["accuracy"]:.1%}'),
        ('mean timesteps used', f'{results["mean_timesteps"]:.2f} / {results["num_timesteps"]}'
                                f' (edge sent {results["mean_timesteps_sent"]:.2f})'),
        ('bytes sent per sample', f'{results["bytes_per_sample"]:.1f} spike payload '
                                  f'({results["wire_bytes_per_sample"]:.0f} on the wire with '
                                  'message headers)'),
        ('codec mix', ', '.join(f'{name} {share:.0%}'
                                for name, share in results['codec_mix'].items())
         + f' ({results["bitpack_bytes_per_sample"] / max(results["bytes_per_sample"], 1e-9):.2f}x'
         ' smaller than bitpack)' if results['codec_mix'] else 'none: no spikes were sent'),
        ('compression', f'{results["compression_per_timestep"]:,.0f}x per timestep, '
                        + (f'{results["compression_per_sample"]:,.0f}x per sample'
                           if results['compression_per_sample'] else 'none sent')
                        + f' (float32 features at the split: '
                        f'{results["split_features_float32_bits"]:,} bits)'),
        ('raw input', f'{results["raw_image_bytes"]:.0f} bytes ' + (
            '(the events, evt3)' if results['input'] == 'events' else '(mono8 28x28)')),
        ('alpha', f'{results["alpha"]:g}'),
        ('answered where', ', '.join(f'{WHERE.get(place, place)} {count}' for place, count
                                     in sorted(results['computed_on'].items()))),
        ('unanswered / failed', f'{results["unanswered"]} / {results["failed"]}'),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f'{name:<{width}}  {value}')
