"""placement cascade over real processes: the robot answers the easy digits, the cloud the rest.

The cloud goes on from the spikes the robot already made, sent with the next timestep in one
bundle (core/edge_loop.py). The answer of
every sample is the whole network's early exit at α, wherever it was computed: the cloud's
decoder and tail run on the spikes the robot's whole network made at the split.
"""

from __future__ import annotations

import numpy as np
import pytest
import rclpy
import torch
from rosutil import counter, watch_stats

from neucodex_ros.client import SplitClient
from neucodex_ros.core.checkpoint import load_checkpoint
from neucodex_ros.core.datasets.digits import held_out_digits
from neucodex_ros.core.exit_policy import exit_points
from neucodex_ros.core.training import predict_logits
from neucodex_ros.msg import Prediction
from neucodex_ros.processes import node_command, running

pytestmark = pytest.mark.ros

ALPHA = 0.99  # the shipped digits model decides about 60% of these in its first timestep


def test_cascade_answers_easy_samples_here_and_the_cloud_finishes_the_rest() -> None:
    images, labels = held_out_digits(60, seed=7)
    model = load_checkpoint().model
    logits, _ = predict_logits(model, torch.as_tensor(images[:, None] / np.float32(255)))
    used, expected = exit_points(logits, ALPHA)
    edge = {'placement': 'cascade', 'cascade_timesteps': 1, 'alpha': ALPHA, 'queue_size': 100,
            'input_reliable': True, 'timestep_cost': 1e6}
    commands = [node_command('cloud_node', name='cloud_node', parameters={'alpha': ALPHA}),
                node_command('edge_node', name='edge_node', parameters=edge)]
    with rclpy.init(), running(commands) as processes:
        client = SplitClient('cascade_test')
        stats = watch_stats(client, ['edge_node'])

        def alive() -> bool:
            return all(p.poll() is None for p in processes)

        client.spin_until(lambda: counter(stats, 'edge_node', 'cloud_ready') == 1, 60.0,
                          'the edge to have a cloud', alive)
        observed = client.play(lambda n: client.publish_frame(images[n], int(labels[n])),
                               len(images), rate=None, timeout=30.0, alive=alive)
        client.spin_until(lambda: counter(stats, 'edge_node', 'samples_answered')
                          >= len(images), 10.0, 'the edge counting its answers', alive)
    assert all(o.predictions == 1 and o.prediction.status == 'ok' for o in observed)
    here = [o.prediction.computed_on == Prediction.COMPUTED_ON_EDGE for o in observed]
    got = [(o.prediction.label, o.prediction.timesteps_used) for o in observed]
    # (the cloud may batch samples; float sums in another order could flip one near α)
    differ = [n for n, pair in enumerate(got) if pair != (expected[n], used[n])]
    assert len(differ) <= 2, [(n, got[n], (expected[n], used[n])) for n in differ]
    assert [h for n, h in enumerate(here) if n not in differ] == \
        [u == 1 for n, u in enumerate(used) if n not in differ]
    assert 10 < sum(here) < 50  # both kinds of sample, for this test to mean anything
    assert counter(stats, 'edge_node', 'samples_escalated') == len(images) - sum(here)
    # (each escalated sample's first message: its timestep run here and the next, bundled)
    assert counter(stats, 'edge_node', 'bundles_sent') == len(images) - sum(here)
