"""What the robot saw and what it answered, as one picture for RViz or Foxglove.

The picture is the input as the camera gave it (an event window: its events, ON green and
OFF red, at the model's resolution) scaled up by a whole factor until its shorter side is at
least MIN_SIDE pixels (every input pixel a block of equal pixels), with a band across the top:
the input darkened under a line of text or two. Below the band it is the input, untouched.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import cv2
import numpy as np

from neucodex_ros.core.image import ENCODINGS, ColorOrder

MIN_SIDE = 240  # pixels: a 28x28 digit is shown 9x
ON_COLOUR = np.array([64, 220, 64], dtype=np.float32)
OFF_COLOUR = np.array([240, 64, 64], dtype=np.float32)
FONT = cv2.FONT_HERSHEY_SIMPLEX


def camera_rgb(pixels: np.ndarray, encoding: str) -> np.ndarray:
    """[H, W, channels] pixels of an Image encoding (core.image.image_array) → uint8 RGB."""
    _, dtype, order = ENCODINGS[encoding]
    if dtype.kind == 'f':
        image = np.clip(np.nan_to_num(pixels), 0.0, 1.0) * 255.0
    else:
        image = pixels.astype(np.float32) * (255.0 / np.iinfo(dtype).max)
    image = np.rint(image).astype(np.uint8)[..., :3]  # (alpha dropped)
    if order == ColorOrder.MONO:
        return np.repeat(image.reshape(*image.shape[:2], 1), 3, axis=2)
    return np.ascontiguousarray(image[..., ::-1] if order == ColorOrder.BGR else image)


def decoded_rgb(pixels: np.ndarray) -> np.ndarray:
    """What cv2.imdecode gave (grey, BGR or BGRA; 8 or 16 bit) → uint8 RGB."""
    image = pixels if pixels.dtype == np.uint8 else (pixels >> 8).astype(np.uint8)
    if image.ndim == 2:
        return np.repeat(image[..., None], 3, axis=2)
    return np.ascontiguousarray(image[..., 2::-1])


def events_rgb(frames: np.ndarray) -> np.ndarray:
    """Event frames [T, 2 (OFF, ON), H, W] → uint8 RGB, brighter where more events were."""
    counts = frames.sum(axis=0, dtype=np.float32)  # [2, H, W]
    scale = max(float(counts.max()), 1.0)
    off, on = counts[0] / scale, counts[1] / scale
    image = on[..., None] * ON_COLOUR + off[..., None] * OFF_COLOUR
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


def scale_factor(height: int, width: int) -> int:
    """The whole factor that brings the shorter side to MIN_SIDE (1 if it already is)."""
    return max(1, -(-MIN_SIDE // max(min(height, width), 1)))


@dataclass(frozen=True)
class Layout:
    """Where annotated() puts its text on a picture `width` pixels wide."""

    font_scale: float
    thickness: int
    text_height: int  # pixels above the baseline
    line_height: int

    @classmethod
    def for_width(cls, width: int) -> Layout:
        """Text about 1/40 of the width high, legible on any picture."""
        font_scale = max(width / 640, 0.4)
        thickness = max(1, round(font_scale * 1.5))
        (_, text_height), baseline = cv2.getTextSize('Ag', FONT, font_scale, thickness)
        return cls(font_scale, thickness, text_height, text_height + baseline + 4)

    def band(self, lines: int, height: int) -> int:
        """Rows of the band under `lines` of text, on a picture `height` rows high."""
        return min(self.line_height * lines + 4, height)


def annotated(rgb: np.ndarray, lines: Sequence[str]) -> np.ndarray:
    """The picture: `rgb` scaled up (scale_factor) under a band with `lines` of text."""
    factor = scale_factor(*rgb.shape[:2])
    picture = np.repeat(np.repeat(rgb, factor, axis=0), factor, axis=1)
    layout = Layout.for_width(picture.shape[1])
    picture[:layout.band(len(lines), picture.shape[0])] //= 4
    for row, line in enumerate(lines):
        cv2.putText(picture, line, (4, 4 + layout.text_height + row * layout.line_height),
                    FONT, layout.font_scale, (255, 255, 255), layout.thickness, cv2.LINE_AA)
    return picture


def answer_lines(label_name: str, confidence: float, used: int, num_timesteps: int,
                 computed_on: str, status: str) -> list[str]:
    """What the picture says about a sample's answer."""
    if not label_name:
        return [f'no answer: {status}']
    return [f'{label_name}  {confidence:.0%}', f'{used}/{num_timesteps} timesteps, '
            f'{computed_on}']
