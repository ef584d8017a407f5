"""A DVS simulator: still images → event streams, recorded the way N-MNIST was.

N-MNIST (Orchard et al. 2015) put each MNIST digit on a monitor in front of an ATIS sensor
(34×34 crop) that made three saccades along a triangle, ~100 ms each. This module moves the
image along the same path over a 34×34 sensor and lets every pixel act as a DVS pixel: it
emits an ON (OFF) event each time its log intensity rose (fell) by its contrast threshold
since its last event. Thresholds differ from pixel to pixel (mismatch), a pixel stays silent
for a refractory period after an event, and background-activity noise fires at random.
Event times are interpolated within each simulation step, so streams are time-ordered µs.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from neucodex_ros.core.events import EVENT_DTYPE, make_events

#: The three saccades (pixels of image motion), a triangle back to the start, as in N-MNIST.
SACCADES = ((0.0, 0.0), (3.5, 7.0), (7.0, 0.0), (0.0, 0.0))


@dataclass(frozen=True)
class DvsConfig:
    """Sensor and recording parameters (defaults give N-MNIST-like streams: ~4k events)."""

    sensor_size: tuple[int, int] = (34, 34)  # (height, width)
    saccade_us: int = 100_000
    step_us: int = 1_000  # simulation step; events are interpolated inside it
    threshold: float = 0.7  # mean log-intensity contrast threshold (ON and OFF)
    threshold_mismatch: float = 0.07  # per-pixel standard deviation of the thresholds
    refractory_us: int = 1_000
    noise_hz: float = 0.5  # background activity per pixel
    blur: float = 0.7  # optics: Gaussian sigma (pixels); 0 disables
    floor: float = 0.05  # dark level added before the log (a monitor's black is not 0)


def _render(image: np.ndarray, offset: tuple[float, float], size: tuple[int, int],
            blur: float) -> np.ndarray:
    """The sensor's view of the image shifted by offset (x, y), sub-pixel, bilinear."""
    height, width = size
    top, left = (height - image.shape[0]) // 2 - 3, (width - image.shape[1]) // 2 - 3
    matrix = np.array([[1, 0, left + offset[0]], [0, 1, top + offset[1]]], dtype=np.float32)
    view = cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=0.0)
    return cv2.GaussianBlur(view, (0, 0), blur) if blur > 0 else view


def simulate(image: np.ndarray, rng: np.random.Generator,
             config: DvsConfig = DvsConfig()) -> np.ndarray:
    """One recording of a still image (uint8 or [0, 1] float, H×W grey) → EVENT_DTYPE events.

    Vectorised over pixels; the Python loop runs over simulation steps only.
    """
    image = np.asarray(image)
    if image.ndim != 2:
        raise ValueError(f'simulate() takes one grey image [H, W], got shape {image.shape}')
    picture = image.astype(np.float32) / (255.0 if image.dtype == np.uint8 else 1.0)
    size = config.sensor_size
    thresholds = np.clip(rng.normal(config.threshold, config.threshold_mismatch, (2, *size)),
                         0.05, None).astype(np.float32)  # [OFF, ON]
    reference = np.log(config.floor + _render(picture, SACCADES[0], size, config.blur))
    ready_at = np.zeros(size, np.int64)  # refractory: a pixel may fire again from this time
    steps_per_saccade = config.saccade_us // config.step_us
    chunks = []
    for saccade in range(len(SACCADES) - 1):
        start, end = np.array(SACCADES[saccade]), np.array(SACCADES[saccade + 1])
        for step in range(1, steps_per_saccade + 1):
            t0 = (saccade * steps_per_saccade + step - 1) * config.step_us
            # the pan-tilt unit speeds up and slows down: a cosine profile per saccade
            progress = (1 - np.cos(np.pi * step / steps_per_saccade)) / 2
            position = start + (end - start) * progress
            level = np.log(config.floor + _render(picture, tuple(position), size, config.blur))
            change = level - reference
            polarity = (change > 0).astype(np.int64)
            crossings = np.floor(np.abs(change) / np.where(polarity, thresholds[1],
                                                            thresholds[0])).astype(np.int64)
            firing = (crossings > 0) & (ready_at <= t0 + config.step_us)
            if not firing.any():
                continue
            ys, xs = np.nonzero(firing)
            # where within the step the first crossing happened (linear in log intensity)
            fraction = np.clip(thresholds[polarity[ys, xs], ys, xs]
                               / np.abs(change[ys, xs]), 0.0, 1.0)
            t = np.maximum(t0 + (fraction * config.step_us).astype(np.int64), ready_at[ys, xs])
            chunks.append(make_events(xs, ys, polarity[ys, xs], t))
            # one event per refractory period; a larger change keeps the pixel firing
            reference[ys, xs] += np.where(polarity[ys, xs], 1, -1) \
                * thresholds[polarity[ys, xs], ys, xs]
            ready_at[ys, xs] = t + config.refractory_us
    duration = (len(SACCADES) - 1) * config.saccade_us
    noise_count = rng.poisson(config.noise_hz * size[0] * size[1] * duration / 1e6)
    chunks.append(make_events(rng.integers(0, size[1], noise_count),
                              rng.integers(0, size[0], noise_count),
                              rng.integers(0, 2, noise_count),
                              rng.integers(0, duration, noise_count)))
    events = np.concatenate(chunks) if chunks else np.empty(0, EVENT_DTYPE)
    return events[np.argsort(events['t'], kind='stable')]
