"""Event stream → windows → T frames, and the DVS simulator."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from spikingjelly.activation_based import functional
from tiny_data import random_events

from neucodex_ros.core.errors import EventError
from neucodex_ros.core.events import make_events
from neucodex_ros.core.events.dvs import DvsConfig, simulate
from neucodex_ros.core.events.frames import events_to_frames
from neucodex_ros.core.events.windows import EventWindower
from neucodex_ros.core.inference import EdgeRunner
from neucodex_ros.core.model import ModelConfig, SplitSNN

RNG = np.random.default_rng(3)


def packets_of(events: np.ndarray, count: int) -> list[np.ndarray]:
    cuts = np.sort(RNG.choice(np.arange(1, len(events)), count - 1, replace=False))
    return np.split(events, cuts)


def test_duration_windows_follow_the_grid_whatever_the_packets() -> None:
    events = random_events(RNG, 20_000, 480, 640, duration_us=2_000_000)
    windower = EventWindower('duration', duration_us=300_000)
    windows = []
    for n, packet in enumerate(packets_of(events, 97)):
        windows += windower.push(packet, stamp=n, sensor_size=(480, 640))
    windows += windower.flush()
    slots = events['t'] // 300_000
    expected = [events[slots == s] for s in np.unique(slots)]
    assert len(windows) == len(expected) == 7
    for window, chunk in zip(windows, expected, strict=True):
        assert (window.events == chunk).all()
    assert windows[0].stamp == 0 and windows[1].stamp > 0  # the packet of the first event


def test_count_windows_and_min_events() -> None:
    events = random_events(RNG, 10_050, 34, 34)
    windower = EventWindower('count', count=1000, min_events=100)
    windows = [w for p in packets_of(events, 13) for w in windower.push(p, 0, (34, 34))]
    windows += windower.flush()
    assert [len(w.events) for w in windows] == [1000] * 10
    assert windower.dropped == 1  # the last 50 events
    assert (np.concatenate([w.events for w in windows]) == events[:10_000]).all()


def test_a_sensor_change_closes_the_window() -> None:
    windower = EventWindower('duration', duration_us=1_000_000)
    assert windower.push(make_events([1], [1], [1], [10]), 'a', (34, 34)) == []
    [window] = windower.push(make_events([2], [2], [0], [20]), 'b', (480, 640))
    assert window.sensor_size == (34, 34) and window.stamp == 'a'


def test_bad_window_settings() -> None:
    with pytest.raises(EventError, match='window mode'):
        EventWindower('frames')
    with pytest.raises(EventError, match='positive'):
        EventWindower('duration', duration_us=0)


def test_edge_runner_feeds_one_frame_per_timestep() -> None:
    config = ModelConfig(in_channels=2, input_size=(34, 34), num_timesteps=4, split_after=1,
                         bottleneck_channels=2, v_threshold=0.05)
    model = SplitSNN(config).eval()
    frames = events_to_frames(random_events(RNG, 4000, 34, 34), (34, 34), 4) * 10
    runner = EdgeRunner(model)
    runner.start(frames)
    stepped = np.stack([runner.step() for _ in range(4)])
    functional.reset_net(model)
    with torch.no_grad():
        whole = model.edge_forward(torch.from_numpy(frames)[:, None])[:, 0].numpy() > 0
    assert stepped.any() and (stepped == whole).all()


def test_simulator_makes_n_mnist_like_streams() -> None:
    image = np.zeros((28, 28), np.uint8)
    image[6:22, 12:16] = 255  # a "1"
    events = simulate(image, np.random.default_rng(0))
    assert (np.diff(events['t']) >= 0).all()
    assert 0 <= events['t'].min() and events['t'].max() < 300_000  # three 100 ms saccades
    assert events['x'].max() < 34 and events['y'].max() < 34
    assert 0.3 < events['p'].mean() < 0.7
    thirds = np.histogram(events['t'], bins=3, range=(0, 300_000))[0]
    assert (thirds > 200).all()  # every saccade moves edges
    quiet = simulate(np.zeros((28, 28), np.uint8), np.random.default_rng(0),
                     DvsConfig(noise_hz=0.0))
    assert len(quiet) == 0  # a blank scene gives nothing but noise
