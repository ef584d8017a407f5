"""An event camera's packets → samples (core/events/stream.py), without ROS."""

from __future__ import annotations

import numpy as np

from neucodex_ros.core.events import make_events
from neucodex_ros.core.events.codecs import encode_evt3
from neucodex_ros.core.events.frames import FrameSpec
from neucodex_ros.core.events.stream import MAX_WINDOWS_PER_PACKET, EventStream
from neucodex_ros.core.events.windows import EventWindower

SIDE = 34


def packet_of(count: int, start_us: int, seed: int = 0) -> bytes:
    rng = np.random.default_rng(seed)
    return encode_evt3(make_events(rng.integers(0, SIDE, count), rng.integers(0, SIDE, count),
                                   rng.integers(0, 2, count),
                                   start_us + np.sort(rng.integers(0, 1000, count))))


def stream(max_pixels: int = SIDE * SIDE) -> EventStream:
    return EventStream(EventWindower('count', count=100, min_events=10),
                       FrameSpec(num_timesteps=4, input_size=(SIDE, SIDE)), max_pixels)


def feed(events: EventStream, seq: int, data: bytes, side: int = SIDE,
         encoding: str = 'evt3', stamp: int = 0):
    return events.packet(seq, encoding, data, side, side, 0, False, stamp, f'cam{stamp}')


def test_windows_become_samples_with_the_stamp_of_their_first_packet() -> None:
    events = stream()
    done, logs = feed(events, 0, packet_of(150, 0), stamp=7)
    assert logs == [] and len(done) == 1
    assert done[0].frames.shape == (4, 2, SIDE, SIDE) and done[0].stamp == 7
    assert done[0].frames.sum() == 100  # every event of the window binned once
    done, _ = feed(events, 1, packet_of(60, 2000, seed=1), stamp=8)
    assert [sample.stamp for sample in done] == [7]  # the second window began in packet 7
    assert events.counters['events_received'] == 210 and events.counters['windows'] == 2
    assert [s.frame_id for s in events.flush()[0]] == ['cam8']  # the 10 left: its own


def test_a_gap_in_seq_is_counted_and_a_jump_back_starts_a_new_stream() -> None:
    events = stream()
    feed(events, 5, packet_of(50, 0))
    feed(events, 8, packet_of(20, 2000))
    assert events.counters['packets_missed'] == 2
    done, _ = feed(events, 1, packet_of(20, 0))  # back: the driver restarted
    assert events.counters['stream_restarts'] == 1 and len(done) == 1  # the open window
    assert events.counters['packets_missed'] == 2


def test_bad_packets_are_rejected_counted_and_the_stream_goes_on() -> None:
    events = stream()
    done, logs = feed(events, 0, packet_of(150, 0), side=SIDE + 1)  # too large a sensor
    assert done == [] and events.counters['packets_rejected_sensor_too_large'] == 1
    assert logs and logs[0].warning and 'max_sensor_pixels' in logs[0].text
    _, logs = feed(events, 1, b'\x00\xb0', encoding='evt3')
    _, logs2 = feed(events, 2, b'', encoding='bayer')
    assert events.counters['packets_rejected'] == 2 and logs and logs2
    done, _ = feed(events, 3, packet_of(150, 0))
    assert len(done) == 1


def test_a_window_the_spec_cannot_bin_is_rejected_not_fatal() -> None:
    events = EventStream(EventWindower('count', count=100, min_events=10),
                         FrameSpec(num_timesteps=4, input_size=(SIDE, SIDE), fit='pool'),
                         64 * 64)
    done, logs = events.packet(0, 'evt3', packet_of(150, 0), 50, 50, 0, False, 0, '')
    assert done == [] and events.counters['windows_rejected'] == 1 and logs


def test_time_that_goes_back_starts_the_windows_again_and_says_so() -> None:
    events = EventStream(EventWindower('duration', duration_us=1000, min_events=1),
                         FrameSpec(num_timesteps=4, input_size=(SIDE, SIDE)), SIDE * SIDE)
    feed(events, 0, packet_of(50, 5_000_000))
    done, logs = feed(events, 1, packet_of(50, 4_000_000, seed=1))  # 1 s back
    assert len(done) == 1 and events.counters['time_went_back'] == 1
    assert any('event time went back' in log.text for log in logs)
    assert events.flush()[0][0].frames.sum() == 50  # the new window: only the later events


def test_one_packet_makes_at_most_a_few_samples_its_newest() -> None:
    events = EventStream(EventWindower('duration', duration_us=1000, min_events=1),
                         FrameSpec(num_timesteps=4, input_size=(SIDE, SIDE)), SIDE * SIDE)
    rng = np.random.default_rng(3)
    count = 2180  # ten events in each of 218 windows
    data = encode_evt3(make_events(rng.integers(0, SIDE, count), rng.integers(0, SIDE, count),
                                   rng.integers(0, 2, count), np.arange(count) * 100))
    done, _ = feed(events, 0, data, stamp=1)
    assert len(done) == MAX_WINDOWS_PER_PACKET
    assert events.counters['windows_skipped'] == 217 - MAX_WINDOWS_PER_PACKET
    assert [s.frames.sum() for s in done] == [10] * MAX_WINDOWS_PER_PACKET
