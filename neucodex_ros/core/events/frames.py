"""Events → frames: the input of an SNN on event-camera data, made one way everywhere.

A sample of events becomes T frames of 2 polarity channels (OFF, ON), each pixel counting its
events, split by time (equal durations) or by count (equal numbers of events); the frames are
then fitted to the model input by pooling, area resizing or cropping. `FrameSpec` is the one
record of those settings: datasets read with it, the edge bins its windows with it, and a
checkpoint keeps it (`record`) so that both do what the model was trained on.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from neucodex_ros.core.errors import EventError
from neucodex_ros.core.events import EVENT_DTYPE, in_time_order

SPLIT_BY = ('time', 'count')
FIT_MODES = ('pool', 'area', 'crop')


@dataclass(frozen=True)
class FrameSpec:
    """How events become model input: T frames [T, 2, H, W]."""

    num_timesteps: int = 4
    input_size: tuple[int, int] | None = None  # (height, width); None: the dataset's default
    split_by: str = 'time'  # 'time' or 'count'
    fit: str = 'area'  # to the input size: 'area', 'pool' or 'crop'
    roi: tuple[int, int, int, int] = (0, 0, 0, 0)  # x, y, width, height; zeros: whole sensor

    def record(self) -> dict[str, Any]:
        """What a checkpoint keeps of it (the model's config holds T and the input size)."""
        return {'split_by': self.split_by, 'fit': self.fit,
                'input_size': list(self.input_size) if self.input_size else None}

    @classmethod
    def from_record(cls, record: dict[str, Any], num_timesteps: int,
                    input_size: tuple[int, int] | None = None) -> FrameSpec:
        """The spec a checkpoint's data record was made with; input_size overrides its own."""
        size = input_size or record.get('input_size')
        return cls(num_timesteps, (int(size[0]), int(size[1])) if size else None,
                   record.get('split_by', 'time'), record.get('fit', 'area'))


def in_sensor(events: np.ndarray, sensor_size: tuple[int, int]) -> np.ndarray:
    """The events that lie on the sensor (height, width).

    Recordings carry a few beyond it (N-MNIST's saccades reach x = 34 on a 34-wide sensor):
    they are dropped, the same way for training, conversion and the edge.
    """
    height, width = sensor_size
    return events[(events['x'] < width) & (events['y'] < height)]


def event_frames(events: np.ndarray, sensor_size: tuple[int, int],
                 spec: FrameSpec) -> np.ndarray:
    """A sample's events → float32 frames [T, 2, H, W], the one way for every caller.

    Region of interest, then what lies outside the sensor dropped, binned, fitted to
    spec.input_size.

    Raises:
        EventError: no input size, or settings events_to_frames / fit_frames refuse.
    """
    if spec.input_size is None:
        raise EventError('event_frames needs the model input size')
    x0, y0, roi_w, roi_h = spec.roi
    if roi_w and roi_h:
        keep = ((events['x'] >= x0) & (events['x'] < x0 + roi_w)
                & (events['y'] >= y0) & (events['y'] < y0 + roi_h))
        shifted = np.empty(int(keep.sum()), EVENT_DTYPE)
        shifted[:] = events[keep]
        shifted['x'] -= x0
        shifted['y'] -= y0
        events, sensor_size = shifted, (roi_h, roi_w)
    frames = events_to_frames(in_sensor(events, sensor_size), sensor_size, spec.num_timesteps,
                              spec.split_by)
    return fit_frames(frames, spec.input_size, spec.fit)


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
        import cv2  # here: option parsers import FrameSpec, and should answer at once

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
