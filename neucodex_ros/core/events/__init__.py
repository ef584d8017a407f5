"""Event cameras: events as arrays, and the modules that decode, window and bin them.

Events are a numpy structured array of EVENT_DTYPE: `x`, `y` (pixels), `p` (polarity, 1 = ON,
0 = OFF) and `t` (µs, int64). Everything is vectorised numpy: no per-event Python loop.

| module      | what                                                                  |
|-------------|-----------------------------------------------------------------------|
| codecs.py   | event_camera_msgs packet encodings (evt3, mono, trigger) ↔ events     |
| windows.py  | a stream of packets → windows of events, one per sample               |
| frames.py   | events → the model's T frames (FrameSpec: the one record of how)      |
| dvs.py      | a DVS simulator: still images → N-MNIST-like recordings               |
| bags.py     | rosbag2 folders of EventPackets and SampleLabels, without ROS         |
"""

from __future__ import annotations

import numpy as np

EVENT_DTYPE = np.dtype([('x', '<u2'), ('y', '<u2'), ('p', 'u1'), ('t', '<i8')])
#: A forward `seq` jump of more packets than this is a new stream, not packets missed (a
#: driver at 1 kHz sends this many in about a minute).
MAX_SEQ_GAP = 1 << 16


def packets_missed(last_seq: int | None, seq: int) -> int | None:
    """Packets missed between a stream's last `seq` and this one; None: a new stream.

    A `seq` that goes back, or jumps ahead by more than MAX_SEQ_GAP, starts a new stream
    (the driver restarted, a bag started over, or a peer sent nonsense): decoding starts
    afresh and nothing counts as missed.
    """
    if last_seq is None:
        return 0
    gap = seq - last_seq - 1
    return gap if 0 <= gap <= MAX_SEQ_GAP else None


def make_events(x: np.ndarray, y: np.ndarray, p: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Assemble an EVENT_DTYPE array from its columns."""
    events = np.empty(len(x), dtype=EVENT_DTYPE)
    events['x'], events['y'], events['p'], events['t'] = x, y, p, t
    return events


def split_at_multiples(events: np.ndarray, period_us: int) -> list[np.ndarray]:
    """Events (in time order) cut where their time crosses a multiple of period_us.

    That is how a driver cuts its stream into packets; no piece is empty.
    """
    if not len(events):
        return []
    return np.split(events, np.flatnonzero(np.diff(events['t'] // period_us)) + 1)


def in_time_order(events: np.ndarray) -> bool:
    """Whether no event is earlier than the one before it."""
    t = events['t']
    return bool(np.all(t[1:] >= t[:-1]))
