"""Event streams → frames: the input of an SNN on event-camera data.

Events are a numpy structured array of EVENT_DTYPE: `x`, `y` (pixels), `p` (polarity, 1 = ON,
0 = OFF) and `t` (µs, int64). A sample of events becomes T frames of 2 polarity channels
(OFF, ON), each pixel counting its events, split by time (equal durations) or by count
(equal numbers of events); the frames are then fitted to the model input by pooling,
area resizing or cropping. Everything is vectorised numpy: no per-event Python loop.
"""

from __future__ import annotations

import cv2
import numpy as np

from neucodex_ros.core.errors import EventError

EVENT_DTYPE = np.dtype([('x', '<u2'), ('y', '<u2'), ('p', 'u1'), ('t', '<i8')])
SPLIT_BY = ('time', 'count')
#: A forward `seq` jump of more packets than this is a new stream, not packets missed (a
#: driver at 1 kHz sends this many in about a minute).
MAX_SEQ_GAP = 1 << 16
FIT_MODES = ('pool', 'area', 'crop')


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


def events_to_frames(events: np.ndarray, sensor_size: tuple[int, int], num_frames: int,
                     split_by: str = 'time') -> np.ndarray:
    """Bin events into float32 frames [num_frames, 2, height, width] of event counts.

    Events out of time order (a camera whose clock went back, a stream reordered, a peer
    sending nonsense) are put back in order first, by a stable sort: the frames are those of
    the events as they happened, whatever order they came in.

    Args:
        events: EVENT_DTYPE array.
        sensor_size: (height, width) of the sensor area the coordinates live in.
        num_frames: T.
        split_by: 'time' (equal durations between the first and last event) or 'count'
            (equal numbers of events).

    Raises:
        EventError: coordinates outside the sensor area, or an unknown split_by.
    """
    height, width = sensor_size
    frames = np.zeros((num_frames, 2, height, width), dtype=np.float32)
    if split_by not in SPLIT_BY:
        raise EventError(f'split_by must be one of {SPLIT_BY}, got {split_by!r}')
    if len(events) == 0:
        return frames
    if not in_time_order(events):
        events = events[np.argsort(events['t'], kind='stable')]
    x, y = events['x'].astype(np.int64), events['y'].astype(np.int64)
    outside = (x >= width) | (y >= height)
    if outside.any():
        raise EventError(f'{int(outside.sum())} events lie outside the {width}x{height} '
                         'sensor area')
    if split_by == 'time':
        t = events['t'] - events['t'][0]
        frame = t * num_frames // (int(t[-1]) + 1)
    else:
        frame = np.arange(len(events), dtype=np.int64) * num_frames // len(events)
    polarity = (events['p'] > 0).astype(np.int64)
    index = ((frame * 2 + polarity) * height + y) * width + x
    counts = np.bincount(index, minlength=frames.size)
    return counts.reshape(frames.shape).astype(np.float32)


def fit_frames(frames: np.ndarray, output_size: tuple[int, int], mode: str = 'area') -> np.ndarray:
    """Fit frames [..., H, W] to output_size (h, w).

    'pool' sums k×k blocks (needs H = k·h and W = k·w, counts stay counts); 'area' resizes by
    area averaging (any size); 'crop' takes the centre (zero-padding what is missing).
    """
    height, width = frames.shape[-2:]
    out_h, out_w = output_size
    if (height, width) == (out_h, out_w):
        return frames
    if mode == 'pool':
        if height % out_h or width % out_w or height // out_h != width // out_w:
            raise EventError(f'pool needs one integer factor from {width}x{height} to '
                             f'{out_w}x{out_h}; use area or crop')
        k = height // out_h
        return frames.reshape(*frames.shape[:-2], out_h, k, out_w, k).sum(axis=(-3, -1))
    if mode == 'area':
        flat = frames.reshape(-1, height, width)
        # OpenCV's area resize takes at most 4 channels at a time
        resized = np.concatenate([
            cv2.resize(np.ascontiguousarray(flat[i:i + 4].transpose(1, 2, 0)), (out_w, out_h),
                       interpolation=cv2.INTER_AREA).reshape(out_h, out_w, -1).transpose(2, 0, 1)
            for i in range(0, len(flat), 4)])
        return resized.reshape(*frames.shape[:-2], out_h, out_w)
    if mode == 'crop':
        out = np.zeros((*frames.shape[:-2], out_h, out_w), dtype=frames.dtype)
        top, left = (height - out_h) // 2, (width - out_w) // 2
        src = frames[..., max(top, 0):max(top, 0) + out_h, max(left, 0):max(left, 0) + out_w]
        dst_top, dst_left = max(-top, 0), max(-left, 0)
        out[..., dst_top:dst_top + src.shape[-2], dst_left:dst_left + src.shape[-1]] = src
        return out
    raise EventError(f'fit mode must be one of {FIT_MODES}, got {mode!r}')
