"""N-MNIST / N-Caltech101 `.bin` files (ATIS sensor, Orchard et al. 2015).

Each event is 5 bytes, big-endian bit fields: x (8 bits), y (8 bits), polarity (1 bit, 1 =
ON) and timestamp (23 bits, µs). An event with y = 240 is not a pixel but a timestamp
overflow marker: every later timestamp is 2^13 µs later (the reference reader's rule).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neucodex_ros.core.errors import EventError
from neucodex_ros.core.events import EVENT_DTYPE, make_events

OVERFLOW_Y = 240
OVERFLOW_STEP_US = 1 << 13
LOCAL_MAX_US = (1 << 23) - 1  # the timestamp field's largest value


def read_atis_bin(path: Path) -> np.ndarray:
    """Events of one `.bin` file, EVENT_DTYPE, overflow markers applied and removed."""
    raw = np.fromfile(path, dtype=np.uint8)
    if raw.size % 5:
        raise EventError(f'{path}: {raw.size} bytes is not a whole number of 5-byte events')
    fields = raw.reshape(-1, 5).astype(np.int64)
    y = fields[:, 1]
    overflow = y == OVERFLOW_Y
    t = ((fields[:, 2] & 0x7F) << 16) | (fields[:, 3] << 8) | fields[:, 4]
    t = t + np.cumsum(overflow) * OVERFLOW_STEP_US
    keep = ~overflow
    return make_events(fields[keep, 0], y[keep], fields[keep, 2] >> 7, t[keep])


def write_atis_bin(path: Path, events: np.ndarray) -> None:
    """Write events (x < 256, y < 240, t ≥ 0 in order) as a `.bin` file.

    Timestamps that do not fit the 23-bit field get overflow markers in front, as many as
    the reader's rule needs; files of less than 8.4 s (all of N-MNIST) have none.
    """
    events = np.asarray(events, dtype=EVENT_DTYPE)
    t = events['t'].astype(np.int64)
    if (events['x'] > 255).any() or (events['y'] >= OVERFLOW_Y).any():
        raise EventError('ATIS .bin holds x < 256 and y < 240 only')
    if len(t) and (t[0] < 0 or (np.diff(t) < 0).any()):
        raise EventError('ATIS .bin needs non-negative timestamps in order')
    markers_before = np.maximum(0, -(-(t - LOCAL_MAX_US) // OVERFLOW_STEP_US))
    local = t - markers_before * OVERFLOW_STEP_US
    rows = np.tile(np.array([0, OVERFLOW_Y, 0, 0, 0], np.uint8),
                   (len(t) + int(markers_before[-1] if len(t) else 0), 1))
    packed = rows[np.arange(len(t)) + markers_before]
    packed[:, 0] = events['x']
    packed[:, 1] = events['y']
    packed[:, 2] = ((events['p'] > 0).astype(np.uint8) << 7) | ((local >> 16) & 0x7F)
    packed[:, 3] = (local >> 8) & 0xFF
    packed[:, 4] = local & 0xFF
    rows[np.arange(len(t)) + markers_before] = packed
    Path(path).write_bytes(rows.tobytes())
