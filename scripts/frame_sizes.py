#!/usr/bin/env python3
"""Camera-sized frames through the split: do they all arrive, and how long does each take?

Starts a cloud node and an edge node with the default parameters (config/split.yaml, plus a
queue deep enough that no frame is dropped for being early) and plays held-out real digits,
scaled up to each frame size as rgb8 sensor_msgs/Image, at --rate frames per second from a
camera-like publisher of each reliability. Prints, per size and reliability: frames sent,
answered ok, accuracy and latency (publish → Prediction) p50 / p95, and the edge's count of
input the middleware lost.

Like every neucodex-ros command, it runs this process (the camera) and the nodes with the
Fast DDS profile for large data unless FASTDDS_DEFAULT_PROFILES_FILE names another;
--no-profile shows what a camera driver without it does.

    .venv/bin/python scripts/frame_sizes.py [--sizes 640x480,1920x1080] [--frames 30]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

RELIABILITIES = ('reliable', 'best_effort')


def size(text: str) -> tuple[int, int]:
    """'640x480' → (640, 480)."""
    width, height = (int(part) for part in text.lower().split('x'))
    return width, height


def main() -> int:
    """Run every size × reliability; print a table (or JSON); exit 1 if a frame went unanswered."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--sizes', default='640x480,1280x960,1920x1080,4000x3000',
                        help='comma-separated WIDTHxHEIGHT')
    parser.add_argument('--reliability', default=','.join(RELIABILITIES),
                        help='comma-separated publisher reliabilities')
    parser.add_argument('--frames', type=int, default=30, help='frames per size and reliability')
    parser.add_argument('--rate', type=float, default=15.0, help='frames per second')
    parser.add_argument('--wait', type=float, default=60.0,
                        help='seconds to wait for the answers of one run')
    parser.add_argument('--no-profile', action='store_true',
                        help='leave Fast DDS at its defaults (the failure this script guards)')
    parser.add_argument('--json', action='store_true', help='print JSON instead of a table')
    args = parser.parse_args()
    reliabilities = args.reliability.split(',')
    if not set(reliabilities) <= set(RELIABILITIES):
        parser.error(f'--reliability: choose from {RELIABILITIES}')
    sizes = [size(text) for text in args.sizes.split(',')]

    from neucodex_ros.resources import PROFILE_VARIABLES, use_large_data_profile

    if args.no_profile:
        for name in PROFILE_VARIABLES:
            os.environ.pop(name, None)
    else:
        use_large_data_profile(os.environ)  # before rclpy: this process is the camera

    import cv2
    import numpy as np
    import rclpy
    from diagnostic_msgs.msg import DiagnosticArray

    from neucodex_ros.client import SplitClient
    from neucodex_ros.core.datasets.digits import held_out_digits
    from neucodex_ros.processes import node_command, running
    from neucodex_ros.qos import stream_qos
    from neucodex_ros.resources import default_params_file

    params = default_params_file()
    commands = [node_command('cloud_node', name='cloud_node', params_file=params),
                node_command('edge_node', name='edge_node', params_file=params,
                             parameters={'queue_size': 1000, 'deadline': args.wait})]
    images, labels = held_out_digits(args.frames)
    results = []
    with rclpy.init(), running(commands) as processes:
        def alive() -> bool:
            return all(p.poll() is None for p in processes)

        edge_stats: dict[str, str] = {}
        for reliability in reliabilities:
            client = SplitClient(f'camera_{reliability}',
                                 image_qos=stream_qos(reliability == 'reliable', 10))
            client.create_subscription(
                DiagnosticArray, '/edge_node/stats', lambda m: edge_stats.update(
                    {v.key: v.value for v in m.status[0].values}), 10)
            client.wait_ready(120.0, alive)
            for width, height in sizes:
                lost_before = int(edge_stats.get('input_lost', 0))
                frames = [cv2.cvtColor(cv2.resize(image, (width, height),
                                                  interpolation=cv2.INTER_LINEAR),
                                       cv2.COLOR_GRAY2RGB) for image in images]
                sent, next_frame = [], time.monotonic()
                for frame, label in zip(frames, labels, strict=True):
                    client.spin_until(lambda t=next_frame: time.monotonic() >= t, 10.0,
                                      'the next frame', alive)
                    sent.append(client.publish_frame(frame, int(label)))
                    next_frame += 1.0 / args.rate
                try:
                    client.spin_until(lambda s=sent: all(o.prediction is not None for o in s),
                                      args.wait, 'the answers', alive)
                except TimeoutError:
                    pass
                client.pause(1.5)  # a stats period: the edge's input_lost is current
                ok = [o for o in sent if o.prediction is not None
                      and o.prediction.status == 'ok']
                latency = np.array([o.answered - o.sent for o in ok]) * 1e3
                results.append({
                    'size': f'{width}x{height}', 'reliability': reliability,
                    'megabytes': round(width * height * 3 / 1e6, 2), 'sent': len(sent),
                    'answered_ok': len(ok),
                    'accuracy': round(float(np.mean([o.prediction.label == o.label
                                                     for o in ok])), 3) if ok else None,
                    'latency_ms_p50': round(float(np.percentile(latency, 50)), 1)
                    if ok else None,
                    'latency_ms_p95': round(float(np.percentile(latency, 95)), 1)
                    if ok else None,
                    'edge_input_lost': int(edge_stats.get('input_lost', 0)) - lost_before})
                client.observed.clear()
            client.destroy_node()
    if args.json:
        print(json.dumps(results))
    else:
        print(f'{"size":>10} {"publisher":>11} {"MB":>5} {"sent":>5} {"ok":>4} {"acc":>6} '
              f'{"p50 ms":>7} {"p95 ms":>7} {"input lost":>10}')
        for r in results:
            print(f'{r["size"]:>10} {r["reliability"]:>11} {r["megabytes"]:>5} {r["sent"]:>5} '
                  f'{r["answered_ok"]:>4} {r["accuracy"]!s:>6} {r["latency_ms_p50"]!s:>7} '
                  f'{r["latency_ms_p95"]!s:>7} {r["edge_input_lost"]:>10}')
    return 0 if all(r['answered_ok'] == r['sent'] for r in results) else 1


if __name__ == '__main__':
    sys.exit(main())
