"""`neucodex-ros demo`: the split on held-out real digits, end to end over ROS 2.

Starts a cloud node and an edge node as separate processes (real rclpy over Fast DDS), then
plays camera: publishes held-out MNIST digits as sensor_msgs/Image on `image` at a set rate,
matches every Prediction to its image by the capture stamp, and measures the spike traffic
on `spikes`. Prints accuracy, timesteps, bytes and compression; --json writes the same.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from neucodex_ros.core.checkpoint import Checkpoint
    from neucodex_ros.nodes.split_client import Observed

HELP = 'run edge and cloud nodes on held-out real digits and report accuracy and traffic'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `demo`."""
    parser.add_argument('--samples', type=int, default=200,
                        help='held-out digits to send (1..1000, default %(default)s)')
    parser.add_argument('--rate', type=float, default=10.0,
                        help='images per second (default %(default)s)')
    parser.add_argument('--alpha', type=float, default=None,
                        help="exit threshold for the cloud (default: the params file's)")
    parser.add_argument('--params-file', type=Path, default=None,
                        help='YAML keyed by node name (default: config/split.yaml)')
    parser.add_argument('--timeout', type=float, default=30.0,
                        help='seconds to wait for the nodes, and for answers after the last '
                             'image (default %(default)s)')
    parser.add_argument('--json', type=Path, default=None, help='also write the results here')


def run(args: argparse.Namespace) -> int:
    """Start the nodes, send the digits, collect the answers, report."""
    import rclpy
    import yaml
    from tqdm import tqdm

    from neucodex_ros.core.checkpoint import load_checkpoint
    from neucodex_ros.core.digits import held_out_digits
    from neucodex_ros.nodes.split_client import SplitClient
    from neucodex_ros.processes import node_command, running
    from neucodex_ros.resources import default_params_file

    params_file = (args.params_file or default_params_file()).resolve()
    cloud_params = yaml.safe_load(params_file.read_text())['cloud_node']['ros__parameters']
    alpha = cloud_params['alpha'] if args.alpha is None else args.alpha
    checkpoint = load_checkpoint(cloud_params.get('checkpoint') or None)
    images, labels = held_out_digits(args.samples)
    commands = [node_command('cloud_node', name='cloud_node', params_file=params_file,
                             parameters={'alpha': alpha}),
                # The demo's camera publishes reliably, so the edge may subscribe reliably.
                node_command('edge_node', name='edge_node', params_file=params_file,
                             parameters={'image_reliable': True})]
    print(f'neucodex-ros demo: starting cloud_node and edge_node ({params_file.name}, '
          f'alpha {alpha})', flush=True)
    sent: list[Observed] = []
    with rclpy.init(), running(commands) as processes:
        client = SplitClient('neucodex_demo', reliable=cloud_params.get('reliable', True),
                             depth=cloud_params.get('qos_depth', 64))

        def alive() -> bool:
            return all(process.poll() is None for process in processes)

        client.wait_ready(args.timeout, alive)
        with tqdm(total=len(labels), desc='digits', unit='sample', mininterval=0.5) as bar:
            def all_answered() -> bool:
                done = [o for o in sent if o.prediction is not None]
                if len(done) > bar.n:
                    bar.set_postfix(accuracy=f'{accuracy(done):.1%}', refresh=False)
                    bar.update(len(done) - bar.n)
                # Nothing orders a Prediction against the spikes it was made from (they come
                # from different writers), so the spikes are awaited too, not only the answer.
                return len(done) == len(labels) and all(
                    len(o.spikes) >= o.prediction.timesteps_used for o in done)

            for image, label in zip(images, labels, strict=True):
                sent.append(client.publish_frame(image, int(label)))
                next_frame = sent[-1].sent + 1.0 / args.rate
                client.spin_until(lambda t=next_frame: all_answered() or time.monotonic() >= t,
                                  10.0, 'the next frame', alive)
            try:
                client.spin_until(all_answered, args.timeout, 'the last answers', alive)
            except TimeoutError:
                pass  # reported as lost below
    results = summarise(sent, checkpoint, alpha, raw_image_bytes=28 * 28)
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0 if results['lost'] == 0 else 1


def accuracy(records: list[Observed]) -> float:
    """Share of answered records whose label is right."""
    answered = [r for r in records if r.prediction is not None]
    return sum(r.prediction.label == r.label for r in answered) / max(len(answered), 1)


def summarise(records: list[Observed], checkpoint: Checkpoint, alpha: float,
              raw_image_bytes: int) -> dict[str, Any]:
    """The demo's numbers (the JSON object); failed or missing answers count as wrong."""
    import numpy as np

    answered = [r for r in records if r.prediction is not None]
    ok = [r for r in answered if r.prediction.status == 'ok']
    payloads = [sum(len(m.data) for m in r.spikes) for r in records]
    channels, height, width = checkpoint.model.head_shape
    float_bits = channels * height * width * 32
    payload = float(np.mean(payloads))
    return {
        'samples': len(records),
        'accuracy': sum(r.prediction.label == r.label for r in ok) / len(records),
        'mean_timesteps': float(np.mean([r.prediction.timesteps_used for r in ok]))
        if ok else 0.0,
        'num_timesteps': checkpoint.config.num_timesteps,
        'mean_timesteps_sent': float(np.mean([len(r.spikes) for r in records])),
        'bytes_per_sample': payload,
        'wire_bytes_per_sample': float(np.mean([r.spike_wire_bytes for r in records])),
        'compression_ratio': float_bits / (payload * 8) if payload else float('inf'),
        'split_features_float32_bits': float_bits,
        'raw_image_bytes': raw_image_bytes,
        'alpha': alpha,
        'lost': len(records) - len(answered),
        'failed': len(answered) - len(ok),
        'model_id': checkpoint.model_id,
        'per_sample': [{'label': r.label,
                        'predicted': None if r.prediction is None else r.prediction.label,
                        'timesteps_used': None if r.prediction is None
                        else r.prediction.timesteps_used,
                        'status': 'lost' if r.prediction is None else r.prediction.status,
                        'payload_bytes': size} for r, size in zip(records, payloads, strict=True)],
    }


def print_table(results: dict[str, Any]) -> None:
    """The summary as a small table."""
    rows = [
        ('samples', f'{results["samples"]} held-out real MNIST digits'),
        ('accuracy', f'{results["accuracy"]:.1%}'),
        ('mean timesteps used', f'{results["mean_timesteps"]:.2f} / {results["num_timesteps"]}'
                                f' (edge sent {results["mean_timesteps_sent"]:.2f})'),
        ('bytes sent per sample', f'{results["bytes_per_sample"]:.1f} spike payload '
                                  f'({results["wire_bytes_per_sample"]:.0f} on the wire with '
                                  'message headers)'),
        ('compression vs float32', f'{results["compression_ratio"]:.0f}x (float32 features '
                                   f'at the split: {results["split_features_float32_bits"]:,} '
                                   'bits)'),
        ('raw image', f'{results["raw_image_bytes"]} bytes (mono8 28x28)'),
        ('alpha', f'{results["alpha"]:g}'),
        ('lost / failed', f'{results["lost"]} / {results["failed"]}'),
    ]
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f'{name:<{width}}  {value}')
