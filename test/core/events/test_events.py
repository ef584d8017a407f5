"""Binning events into frames, and fitting frames to the model input."""

from __future__ import annotations

import numpy as np
import pytest

from neucodex_ros.core.datasets import DataOptions
from neucodex_ros.core.errors import EventError
from neucodex_ros.core.events import MAX_SEQ_GAP, in_time_order, make_events, packets_missed
from neucodex_ros.core.events.frames import FrameSpec, event_frames, events_to_frames, fit_frames


def test_split_by_time_and_by_count() -> None:
    # t:   0   10  20  30  90  (x, y) = (0, 0) for all; polarity ON, OFF, ON, ON, OFF
    events = make_events([0] * 5, [0] * 5, [1, 0, 1, 1, 0], [0, 10, 20, 30, 90])
    by_time = events_to_frames(events, (2, 3), 2, 'time')  # halves of 0..90
    assert by_time[:, :, 0, 0].tolist() == [[1, 3], [1, 0]]  # [frame][OFF, ON]
    by_count = events_to_frames(events, (2, 3), 2, 'count')  # 5 events → 3 | 2
    assert by_count[:, :, 0, 0].tolist() == [[1, 2], [1, 1]]
    assert by_time.sum() == by_count.sum() == 5


def test_positions_and_empty() -> None:
    events = make_events([2, 1], [1, 0], [1, 1], [5, 5])
    frames = events_to_frames(events, (2, 3), 1)
    assert frames[0, 1].tolist() == [[0, 1, 0], [0, 0, 1]]
    assert not events_to_frames(make_events([], [], [], []), (2, 3), 4).any()


def test_outside_the_sensor_is_an_error() -> None:
    with pytest.raises(EventError, match='1 events lie outside the 3x2 sensor'):
        events_to_frames(make_events([3], [0], [0], [0]), (2, 3), 1)
    with pytest.raises(EventError, match='split_by'):
        events_to_frames(make_events([0], [0], [0], [0]), (2, 3), 1, 'random')


def test_fit_modes() -> None:
    frames = np.arange(2 * 4 * 6, dtype=np.float32).reshape(2, 4, 6)
    pooled = fit_frames(frames, (2, 3), 'pool')
    assert pooled[0, 0, 0] == frames[0, :2, :2].sum() and pooled.sum() == frames.sum()
    area = fit_frames(frames, (2, 3), 'area')
    np.testing.assert_allclose(area, pooled / 4)
    many = np.random.default_rng(0).random((10, 2, 48, 64)).astype(np.float32)  # T=10 frames
    np.testing.assert_allclose(fit_frames(many, (12, 16), 'area'),
                               fit_frames(many, (12, 16), 'pool') / 16, rtol=1e-5)
    crop = fit_frames(frames, (2, 2), 'crop')
    np.testing.assert_array_equal(crop, frames[:, 1:3, 2:4])
    padded = fit_frames(frames, (6, 6), 'crop')
    np.testing.assert_array_equal(padded[:, 1:5], frames)
    with pytest.raises(EventError, match='pool needs one integer factor'):
        fit_frames(frames, (3, 3), 'pool')


def test_packets_missed_counts_gaps_and_calls_leaps_a_new_stream() -> None:
    assert packets_missed(None, 7) == 0  # the first packet
    assert packets_missed(7, 8) == 0
    assert packets_missed(7, 10) == 2
    assert packets_missed(7, 7 + MAX_SEQ_GAP + 1) == MAX_SEQ_GAP
    assert packets_missed(7, 7) is None  # repeated: a new stream
    assert packets_missed(7, 3) is None  # back: the driver restarted
    assert packets_missed(0, 2**64 - 1) is None  # a leap no driver makes


def test_events_out_of_time_order_are_binned_as_they_happened() -> None:
    ordered = make_events([0, 1, 2, 3], [0, 1, 2, 3], [1, 0, 1, 1], [0, 10, 20, 90])
    shuffled = ordered[[3, 1, 0, 2]]
    assert not in_time_order(shuffled) and in_time_order(ordered)
    for split_by in ('time', 'count'):
        np.testing.assert_array_equal(events_to_frames(shuffled, (4, 4), 2, split_by),
                                      events_to_frames(ordered, (4, 4), 2, split_by))


def test_a_folder_of_bags_is_refused_naming_the_bags_in_it(tmp_path) -> None:
    from neucodex_ros.core.errors import EventError
    from neucodex_ros.core.events.bags import open_bag

    for name in ('run1', 'run2'):
        (tmp_path / name).mkdir()
        (tmp_path / name / 'metadata.yaml').write_text('')
    with pytest.raises(EventError, match=r'holds 2: give one of .*run1, .*run2'), \
            open_bag(tmp_path):
        pass


def test_event_frames_roi_and_fit() -> None:
    events = make_events([100, 101, 300], [50, 51, 200], [1, 0, 1], [0, 10, 20])
    whole = event_frames(events, (480, 640), FrameSpec(2, (48, 64), fit='pool'))
    assert whole.shape == (2, 2, 48, 64) and whole.sum() == 3
    roi = event_frames(events, (480, 640), FrameSpec(2, (4, 4), fit='pool', roi=(96, 48, 8, 8)))
    assert roi.sum() == 2  # the event at (300, 200) lies outside the region
    assert roi[0, 1, 1, 2] == 1 and roi[1, 0, 1, 2] == 1


def test_frame_spec_is_kept_by_a_checkpoint_and_read_back() -> None:
    options = DataOptions(FrameSpec(6, (28, 28), 'count', 'crop'), seed=3)
    record = options.record('nmnist')
    assert record == {'dataset': 'nmnist', 'split_by': 'count', 'fit': 'crop',
                      'input_size': [28, 28], 'seed': 3}
    assert DataOptions.from_record(record, 6) == options
    assert FrameSpec.from_record(record, 6, (34, 34)).input_size == (34, 34)  # the model's
    assert FrameSpec.from_record({}, 4) == FrameSpec()  # checkpoints from before the record
    with pytest.raises(EventError, match='input size'):
        event_frames(make_events([0], [0], [1], [0]), (2, 2), FrameSpec())
