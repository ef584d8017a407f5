"""`neucodex-ros demo`: the split on held-out real digits, end to end over ROS 2.

Starts a cloud node and an edge node as separate processes (real rclpy over Fast DDS), then
plays camera: publishes held-out MNIST digits as sensor_msgs/Image on `image` at a set rate,
matches every Prediction to its image by the capture stamp, and measures the spike traffic
on `spikes`. Prints accuracy, timesteps, bytes and compression; --json writes the same.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HELP = 'run edge and cloud nodes on held-out real digits and report accuracy and traffic'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `demo`."""
    parser.add_argument('--samples', type=int, default=200,
                        help='held-out digits to send (1..1000, default %(default)s)')
    parser.add_argument('--rate', type=float, default=10.0,
                        help='images per second (default %(default)s)')
    parser.add_argument('--alpha', type=float, default=None,
                        help='exit threshold for the cloud (default: the params file\'s)')
    parser.add_argument('--params-file', type=Path, default=None,
                        help='YAML keyed by node name (default: config/split.yaml)')
    parser.add_argument('--timeout', type=float, default=15.0,
                        help='seconds to wait for the nodes, and for answers after the last '
                             'image (default %(default)s)')
    parser.add_argument('--json', type=Path, default=None, help='also write the results here')


@dataclass
class Traffic:
    """What was observed for one image."""

    label: int
    prediction: Any = None  # neucodex_ros.msg.Prediction
    payload_bytes: int = 0
    wire_bytes: int = 0
    timesteps_sent: set[int] = field(default_factory=set)


def run(args: argparse.Namespace) -> int:
    """Start the nodes, send the digits, collect the answers, report."""
    import rclpy
    import yaml
    from rclpy.executors import SingleThreadedExecutor
    from rclpy.serialization import deserialize_message
    from sensor_msgs.msg import Image
    from tqdm import tqdm

    from neucodex_ros.core.checkpoint import load_checkpoint
    from neucodex_ros.core.digits import held_out_digits
    from neucodex_ros.msg import PackedSpikes, Prediction
    from neucodex_ros.nodes.common import link_qos
    from neucodex_ros.processes import node_command, running
    from neucodex_ros.resources import default_params_file

    params_file = (args.params_file or default_params_file()).resolve()
    params = yaml.safe_load(params_file.read_text())
    cloud_params = params['cloud_node']['ros__parameters']
    alpha = cloud_params['alpha'] if args.alpha is None else args.alpha
    link = link_qos(cloud_params.get('reliable', True), cloud_params.get('qos_depth', 64))
    checkpoint = load_checkpoint(cloud_params.get('checkpoint') or None)
    images, labels = held_out_digits(args.samples)
    commands = [node_command('cloud_node', name='cloud_node', params_file=params_file,
                             parameters={'alpha': alpha}),
                # The demo's camera publishes reliably: a reliable image subscription then
                # gets every frame, even those sent while discovery is still settling.
                node_command('edge_node', name='edge_node', params_file=params_file,
                             parameters={'image_reliable': True})]

    traffic: dict[tuple[int, int], Traffic] = {}
    print(f'neucodex-ros demo: starting cloud_node and edge_node ({params_file.name}, '
          f'alpha {alpha})', flush=True)
    progress = tqdm(total=len(labels), desc='digits', unit='sample', delay=0.5,
                    mininterval=0.5)

    def on_prediction(msg: Prediction) -> None:
        record = traffic.get((msg.header.stamp.sec, msg.header.stamp.nanosec))
        if record is not None and record.prediction is None:
            record.prediction = msg
            progress.update()
            done = [r for r in traffic.values() if r.prediction is not None]
            progress.set_postfix(accuracy=f'{accuracy(done):.1%}', refresh=False)

    def on_spikes(raw: bytes) -> None:
        msg = deserialize_message(raw, PackedSpikes)
        record = traffic.get((msg.header.stamp.sec, msg.header.stamp.nanosec))
        if record is not None:
            record.payload_bytes += len(msg.data)
            record.wire_bytes += len(raw)
            record.timesteps_sent.add(msg.timestep)

    with rclpy.init(), running(commands) as processes:
        node = rclpy.create_node('neucodex_demo')
        image_pub = node.create_publisher(Image, 'image', 10)
        prediction_sub = node.create_subscription(Prediction, 'prediction', on_prediction, link)
        spikes_sub = node.create_subscription(PackedSpikes, 'spikes', on_spikes, link, raw=True)
        executor = SingleThreadedExecutor()
        executor.add_node(node)

        def spin_until(condition: Any, seconds: float) -> bool:
            deadline = time.monotonic() + seconds
            while not condition() and time.monotonic() < deadline:
                if any(p.poll() is not None for p in processes):
                    raise SystemExit('neucodex-ros demo: a node process exited; see its log')
                executor.spin_once(timeout_sec=0.02)
            return bool(condition())

        ready = spin_until(lambda: image_pub.get_subscription_count() > 0
                           and prediction_sub.get_publisher_count() > 0
                           and spikes_sub.get_publisher_count() > 0, args.timeout)
        if not ready:
            print('neucodex-ros demo: the nodes did not come up in time', file=sys.stderr)
            return 1
        period = 1.0 / args.rate
        last_stamp = 0
        for image, label in zip(images, labels, strict=True):
            started = time.monotonic()
            stamp = max(time.time_ns(), last_stamp + 1)
            last_stamp = stamp
            msg = Image(height=28, width=28, encoding='mono8', step=28, data=image.tobytes())
            msg.header.stamp.sec, msg.header.stamp.nanosec = divmod(stamp, 10**9)
            msg.header.frame_id = 'demo_camera'
            traffic[divmod(stamp, 10**9)] = Traffic(label=int(label))
            image_pub.publish(msg)
            spin_until(lambda: False, max(0.0, period - (time.monotonic() - started)))
        spin_until(lambda: all(r.prediction is not None for r in traffic.values()),
                   args.timeout)
        progress.close()

    results = summarise(list(traffic.values()), checkpoint, alpha, raw_image_bytes=28 * 28)
    print_table(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    return 0 if results['lost'] == 0 else 1


def accuracy(records: list[Traffic]) -> float:
    """Share of answered records whose label is right."""
    answered = [r for r in records if r.prediction is not None]
    return sum(r.prediction.label == r.label for r in answered) / max(len(answered), 1)


def summarise(records: list[Traffic], checkpoint: Any, alpha: float,
              raw_image_bytes: int) -> dict[str, Any]:
    """The demo's numbers (the JSON object); failed or missing answers count as wrong."""
    import numpy as np

    answered = [r for r in records if r.prediction is not None]
    ok = [r for r in answered if r.prediction.status == 'ok']
    channels, height, width = checkpoint.model.head_shape
    float_bits = channels * height * width * 32
    payload = float(np.mean([r.payload_bytes for r in records]))
    return {
        'samples': len(records),
        'accuracy': sum(r.prediction.label == r.label for r in ok) / len(records),
        'mean_timesteps': float(np.mean([r.prediction.timesteps_used for r in ok])) if ok
        else 0.0,
        'num_timesteps': checkpoint.config.num_timesteps,
        'mean_timesteps_sent': float(np.mean([len(r.timesteps_sent) for r in records])),
        'bytes_per_sample': payload,
        'wire_bytes_per_sample': float(np.mean([r.wire_bytes for r in records])),
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
                        'payload_bytes': r.payload_bytes} for r in records],
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
