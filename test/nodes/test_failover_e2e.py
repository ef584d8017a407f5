"""A cloud SIGKILLed mid-run, real processes: no frame waits for the fixed deadline.

The edges' `deadline` is set far beyond the time the test waits for answers, so every frame
is answered only if the edge noticed the dead cloud from its measured round trip or the
fleet's announcements (core/deadline.py, core/fleet.py rule 8): by answering here under
`auto`, or by moving to the next cloud under `split` (a hedge). Exactly one Prediction per
frame, none failed. The numbers (gaps, answered share at 10 frames/s) are the bench's:
`neucodex-ros bench --kill-cloud-at` (README).
"""

from __future__ import annotations

import pytest
import rclpy
from rosutil import counter, kill, watch_stats

from neucodex_ros.client import Observed, SplitClient
from neucodex_ros.core.datasets.digits import held_out_digits
from neucodex_ros.core.fleet import cloud_fingerprint
from neucodex_ros.msg import CloudAnnounce, Prediction
from neucodex_ros.processes import node_command, running
from neucodex_ros.qos import tool_qos

pytestmark = pytest.mark.ros

IMAGES, LABELS = held_out_digits(60, seed=35)
FRAMES, KILL_AT = 60, 20
NEVER = 600.0  # seconds: the edges' fixed deadline, never reached here
ANSWERS_WITHIN = 60.0  # seconds the test waits for the last answers


def cloud(name: str) -> list[str]:
    return node_command('cloud_node', name=f'cloud_{name}', parameters={'cloud_id': name})


def edge(placement: str) -> list[str]:
    return node_command('edge_node', parameters={
        'source_id': 'robot0', 'placement': placement, 'deadline': NEVER,
        'input_reliable': True, 'queue_size': FRAMES})  # (a slow machine drops no frame)


def play_and_kill(clouds: list[str], placement: str) -> tuple[list[Observed], str, dict]:
    """Frames at 10/s; the cloud serving robot0 SIGKILLed as frame KILL_AT goes out."""
    with rclpy.init(), running([cloud(c) for c in clouds] + [edge(placement)]) as processes:
        client = SplitClient('failover_test')
        stats = watch_stats(client, ['edge_node'])
        claims: dict[str, list[str]] = {}
        client.create_subscription(CloudAnnounce, '/clouds', lambda m: claims.__setitem__(
            m.cloud_id, list(m.sources)), tool_qos())
        client.wait_ready(120.0)
        client.spin_until(lambda: any('robot0' in s for s in claims.values()), 30.0,
                          'a cloud serving robot0')
        killed = ''

        def publish(index: int) -> Observed:
            nonlocal killed
            if index == KILL_AT:
                killed = next(c for c, s in claims.items() if 'robot0' in s)
                kill(processes[clouds.index(killed)])
            return client.publish_frame(IMAGES[index], int(LABELS[index]))

        frames = client.play(publish, FRAMES, rate=10.0, timeout=ANSWERS_WITHIN)
        client.pause(1.0)  # (a second answer would come now)
        client.spin_until(lambda: counter(stats, 'edge_node', 'samples_answered') >= FRAMES,
                          10.0, "the edge's counters")
        return frames, killed, stats['edge_node']


def test_auto_answers_here_when_its_only_cloud_dies() -> None:
    frames, _, stats = play_and_kill(['a'], 'auto')
    assert [f.prediction is not None for f in frames] == [True] * FRAMES
    assert [f.prediction.status for f in frames] == ['ok'] * FRAMES
    assert [f.predictions for f in frames] == [1] * FRAMES
    after = [f.prediction.computed_on for f in frames[KILL_AT + 5:]]
    assert after == [Prediction.COMPUTED_ON_EDGE] * len(after)
    assert int(stats.get('answers_repeated', 0)) == 0
    # it noticed: a split sample in flight fell back, or the cloud went unheard
    assert int(stats.get('samples_fallen_back', 0)) + int(stats.get('clouds_lost', 0)) >= 1


def test_split_moves_to_the_next_cloud_when_its_cloud_dies() -> None:
    frames, killed, stats = play_and_kill(['a', 'b'], 'split')
    assert [f.prediction is not None for f in frames] == [True] * FRAMES
    assert [f.prediction.status for f in frames] == ['ok'] * FRAMES
    assert [f.predictions for f in frames] == [1] * FRAMES
    assert all(f.prediction.computed_on == Prediction.COMPUTED_ON_SPLIT for f in frames)
    other = cloud_fingerprint('b' if killed == 'a' else 'a')
    finals = [[e.cloud for e in f.exits if e.reason != e.REASON_CONTINUE] for f in frames]
    assert all(other in clouds for clouds in finals[KILL_AT + 5:])  # the other cloud's answers
    assert int(stats.get('answers_repeated', 0)) == 0
    assert int(stats.get('hedges_sent', 0)) + int(stats.get('clouds_lost', 0)) >= 1
