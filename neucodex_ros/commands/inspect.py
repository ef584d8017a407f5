"""`neucodex-ros inspect BAG`: what the EventPacket topics of a bag hold, fully decoded.

Works on any rosbag2 folder (sqlite3 or mcap; an empty storage_identifier is tolerated),
with no ROS install: per EventPacket topic the encoding, sensor size, packet count, ON and
OFF events, rising and falling trigger edges, first and last event time and the event rate.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = 'decode the EventPacket topics of a bag and print their counts'
JSON_KEYS = ('topic', 'encoding', 'width', 'height', 'packets', 'events_on', 'events_off',
             'triggers_rising', 'triggers_falling', 't_first_us', 't_last_us')


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `inspect`."""
    parser.add_argument('bag', type=Path, help='rosbag2 folder')
    parser.add_argument('--json', action='store_true',
                        help='print a JSON list, one object per EventPacket topic')


def run(args: argparse.Namespace) -> int:
    """Decode and print."""
    from neucodex_ros.core.events.bags import event_topic_stats

    stats = event_topic_stats(args.bag)
    if args.json:
        print(json.dumps([{key: getattr(s, key) for key in JSON_KEYS}
                          | {'event_rate_per_s': s.event_rate,
                             'rejected_packets': s.rejected_packets} for s in stats],
                         indent=2))
        return 0
    if not stats:
        print(f'{args.bag}: no event_camera_msgs/msg/EventPacket topics')
    for s in stats:
        duration = (s.t_last_us - s.t_first_us) / 1e6 if s.t_first_us is not None else 0.0
        rows = [('encoding', s.encoding), ('sensor', f'{s.width} x {s.height}'),
                ('packets', f'{s.packets:,} ({s.rejected_packets} could not be decoded)'),
                ('events', f'{s.events:,}: {s.events_on:,} ON, {s.events_off:,} OFF'),
                ('triggers', f'{s.triggers_rising:,} rising, {s.triggers_falling:,} falling'),
                ('time (µs)', f'{s.t_first_us} .. {s.t_last_us} ({duration:.3f} s)'),
                ('event rate', f'{s.event_rate / 1e3:,.1f} k events/s')]
        print(s.topic)
        for name, value in rows:
            print(f'  {name:<11} {value}')
    return 0
