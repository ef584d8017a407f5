"""A bad link between four edges and one cloud: every sample still gets exactly one outcome.

Real processes: a cloud node, four edge nodes (robot0..robot3, each on its own image topic)
and the fault relay between them, which drops, duplicates, reorders and delays PackedSpikes
and ExitSignals by seeded rules. The camera matches every Prediction to its image by the
capture stamp. A Prediction whose sample lost no timestep must equal the offline model's
answer for that very image: a timestep counted twice, or spikes of another sample or
source, would change it.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
import rclpy
from rclpy.context import Context
from rosutil import Stats, counter, watch_stats
from test_split_e2e import offline_reference, pixels_of

from neucodex_ros.client import Observed, SplitClient
from neucodex_ros.core.checkpoint import Checkpoint, load_checkpoint
from neucodex_ros.core.datasets.digits import held_out_digits
from neucodex_ros.msg import Prediction
from neucodex_ros.processes import node_command, running
from neucodex_ros.qos import stream_qos

pytestmark = pytest.mark.ros

EDGES = 4
ALPHA = 0.99
NODES = ['cloud_node', 'fault_relay'] + [f'edge_node_{n}' for n in range(EDGES)]

# (relay, edge, cloud parameters) per link; the clean reliable link's cloud waits long
# enough for a reordered timestep that none is ever lost, so every answer must be exact.
LINKS = {
    'reliable, reordered and repeated': (
        {'reliable': True, 'duplicate': 0.3, 'reorder': 0.3, 'delay': 0.005, 'seed': 1},
        {'reliable': True, 'deadline': 10.0},
        {'reliable': True, 'reorder_wait': 1.0, 'sample_timeout': 5.0}),
    'reliable, lossy': (
        {'reliable': True, 'drop': 0.15, 'duplicate': 0.15, 'reorder': 0.15, 'seed': 2},
        {'reliable': True, 'deadline': 1.5},
        {'reliable': True, 'reorder_wait': 0.1, 'sample_timeout': 0.5}),
    'best effort, lossy': (
        {'reliable': False, 'drop': 0.15, 'duplicate': 0.15, 'reorder': 0.15, 'seed': 3},
        {'reliable': False, 'deadline': 1.5},
        {'reliable': False, 'reorder_wait': 0.1, 'sample_timeout': 0.5}),
}


@pytest.fixture(scope='module')
def checkpoint() -> Checkpoint:
    return load_checkpoint()


@pytest.fixture(params=list(LINKS), scope='module')
def link(request: pytest.FixtureRequest) -> Iterator[tuple[str, SplitClient, Any, Counter]]:
    """The nodes around a faulty link and a camera on all four image topics.

    Also yields the ~/stats of every node and the count of Predictions per sample.
    """
    relay, edge, cloud = LINKS[request.param]
    edge = edge | {'queue_size': 100, 'input_reliable': True, 'placement': 'split',
                   'spikes_topic': 'edge/spikes',
                   'exit_topic': 'edge/exit_signal'}
    commands = [node_command('cloud_node', name='cloud_node', parameters=cloud | {'alpha': ALPHA}),
                node_command('fault_relay', name='fault_relay', parameters=relay)]
    commands += [node_command('edge_node', name=f'edge_node_{n}',
                              parameters=edge | {'source_id': f'robot{n}',
                                                 'image_topic': f'image_{n}'})
                 for n in range(EDGES)]
    context = Context()
    rclpy.init(context=context)
    with running(commands) as processes:
        client = SplitClient('camera', image_topics=[f'image_{n}' for n in range(EDGES)],
                             reliable=edge['reliable'], context=context)
        stats = watch_stats(client, NODES)
        # every Prediction by sample, the probes of wait_ready included
        predictions: Counter[tuple[str, int]] = Counter()
        client.create_subscription(
            Prediction, 'prediction',
            lambda m: predictions.update([(m.source_id, m.sample_id)]),
            stream_qos(edge['reliable'], 64))

        def alive() -> bool:
            return all(p.poll() is None for p in processes)

        try:
            client.wait_ready(90.0, alive)
            yield request.param, client, stats, predictions
        finally:
            client.destroy_node()
            rclpy.try_shutdown(context=context)


def quiet(stats: Stats) -> bool:
    """Every node reported, every frame became a sample, and every sample was answered."""
    return len(stats) == len(NODES) and counter(stats, 'cloud_node', 'open_samples') == 0 \
        and all(counter(stats, e, 'pending_samples') == 0
                and counter(stats, e, 'samples_started') == counter(stats, e, 'frames_received')
                for e in NODES[2:])


def samples_started(stats: Stats) -> int:
    return sum(counter(stats, e, 'samples_started') for e in NODES[2:])


def test_every_sample_gets_exactly_one_outcome(link, checkpoint: Checkpoint) -> None:
    name, client, stats, predictions = link
    images, labels = held_out_digits(15 * EDGES, seed=11)
    observed: list[Observed] = []
    for n, (image, label) in enumerate(zip(images, labels, strict=True)):
        observed.append(client.publish_frame(image, int(label), topic=n % EDGES))
        client.pause(0.05)
    client.spin_until(lambda: all(o.prediction is not None for o in observed), 60.0,
                      'a Prediction for every image')
    client.pause(2.0)  # anything late or repeated would arrive now
    assert [o.predictions for o in observed] == [1] * len(observed), 'exactly one each'

    exact = 0
    for n, o in enumerate(observed):
        answer = o.prediction
        assert answer.source_id == f'robot{n % EDGES}'
        assert answer.timesteps_used + answer.timesteps_lost <= answer.num_timesteps
        if answer.status != 'ok':
            assert answer.label == -1 and answer.computed_on == ''
            assert answer.status in ('cloud_unavailable', 'timeout', 'lost'), answer.status
            continue
        assert answer.timesteps_used >= 1
        if answer.timesteps_lost == 0:  # then nothing but the right timesteps, once each
            reference = offline_reference(checkpoint, pixels_of(images[n]), ALPHA)
            assert (answer.label, answer.timesteps_used) == \
                (reference.label, reference.timesteps_used), f'image {n}'
            np.testing.assert_allclose(answer.probabilities, reference.probabilities,
                                       rtol=1e-5, atol=1e-6)
            exact += 1

    client.spin_until(lambda: quiet(stats) and samples_started(stats) == len(predictions),
                      15.0, 'the counters to settle')
    assert max(predictions.values()) == 1, 'every sample the edges started: one Prediction'
    assert counter(stats, 'fault_relay', 'PackedSpikes_duplicated') > 0
    assert counter(stats, 'cloud_node', 'repeated_timesteps') > 0, 'repeats were seen'
    if name == 'reliable, reordered and repeated':
        assert exact == len(observed), 'a clean link loses nothing: every answer exact'
        assert counter(stats, 'cloud_node', 'timesteps_lost') == 0
    else:
        assert counter(stats, 'fault_relay', 'PackedSpikes_dropped') > 0
        assert counter(stats, 'cloud_node', 'timesteps_lost') > 0, 'the rule was exercised'
        assert exact >= len(observed) // 3, f'only {exact} samples lost nothing'
    print(f'{name}: {exact}/{len(observed)} exact, statuses '
          f'{sorted({o.prediction.status for o in observed})}, cloud {stats["cloud_node"]}')
