"""Camera messages → the model's input: a frame, or an event window, waiting to be a sample."""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from builtin_interfaces.msg import Time
from sensor_msgs.msg import CompressedImage, Image

from neucodex_ros.core.configs import ModelConfig
from neucodex_ros.core.events.stream import EventSample
from neucodex_ros.core.image import compressed_to_input, image_array, image_to_input
from neucodex_ros.core.overlay import camera_rgb, decoded_rgb, events_rgb
from neucodex_ros.core.settings import EdgeSettings


@dataclass
class Frame:
    """A converted camera frame or event window waiting to become a sample."""

    stamp: Time
    frame_id: str
    pixels: np.ndarray  # model input: [C, H, W] (an image) or [T, C, H, W] (event frames)
    picture: np.ndarray | None = None  # uint8 RGB of the input, for the annotated picture


def image_frame(msg: Image | CompressedImage, settings: EdgeSettings, config: ModelConfig,
                picture: bool) -> Frame:
    """A camera frame as model input (ImageError if it cannot be one), with its picture."""
    if isinstance(msg, CompressedImage):
        pixels = compressed_to_input(msg.data, config.in_channels, config.input_size,
                                     settings.max_image_pixels, settings.image_options)
    else:
        pixels = image_to_input(msg.data, msg.encoding, msg.height, msg.width, msg.step,
                                config.in_channels, config.input_size, bool(msg.is_bigendian),
                                settings.max_image_pixels, settings.image_options)
    rgb = None
    if picture and isinstance(msg, CompressedImage):  # (a valid frame by now)
        rgb = decoded_rgb(cv2.imdecode(np.frombuffer(msg.data, np.uint8), cv2.IMREAD_UNCHANGED))
    elif picture:
        rgb = camera_rgb(image_array(msg.data, msg.encoding, msg.height, msg.width, msg.step,
                                     bool(msg.is_bigendian), settings.max_image_pixels),
                         msg.encoding)
    return Frame(msg.header.stamp, msg.header.frame_id, pixels, rgb)


def window_frame(sample: EventSample, picture: bool) -> Frame:
    """An event window's T frames as model input, with a picture of its events."""
    return Frame(sample.stamp, sample.frame_id, sample.frames,
                 events_rgb(sample.frames) if picture else None)
