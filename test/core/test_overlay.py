"""core/overlay: the input, scaled up whole, under a band of text; the rest untouched."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from neucodex_ros.core.datasets.digits import held_out_digits
from neucodex_ros.core.image import image_array
from neucodex_ros.core.overlay import (
    MIN_SIDE,
    Layout,
    annotated,
    answer_lines,
    camera_rgb,
    decoded_rgb,
    events_rgb,
    scale_factor,
)


def test_a_digit_is_scaled_whole_and_kept_below_the_band() -> None:
    image = held_out_digits(1, seed=0)[0][0]
    rgb = camera_rgb(image_array(image.tobytes(), 'mono8', 28, 28, 28), 'mono8')
    lines = answer_lines('7', 0.987, 2, 4, 'split: robot + cloud', 'ok')
    picture = annotated(rgb, lines)
    factor = scale_factor(28, 28)
    assert factor * 28 >= MIN_SIDE and picture.shape == (28 * factor, 28 * factor, 3)
    band = Layout.for_width(picture.shape[1]).band(len(lines), picture.shape[0])
    expected = np.repeat(np.repeat(rgb, factor, axis=0), factor, axis=1)
    assert np.array_equal(picture[band:], expected[band:])
    assert (picture[:band] == 255).any() and not np.array_equal(picture[:band], expected[:band])
    assert lines == ['7  99%', '2/4 timesteps, split: robot + cloud']


def test_a_failed_sample_says_why() -> None:
    assert answer_lines('', 0.0, 0, 4, '', 'cloud_unavailable') == [
        'no answer: cloud_unavailable']


@pytest.mark.parametrize('encoding, pixel, rgb', [
    ('rgb8', [10, 20, 30], [10, 20, 30]), ('bgr8', [10, 20, 30], [30, 20, 10]),
    ('bgra8', [10, 20, 30, 40], [30, 20, 10]), ('mono16', [65535], [255, 255, 255]),
    ('32FC1', [0.5], [128, 128, 128])])
def test_camera_encodings_become_rgb(encoding: str, pixel: list[float], rgb: list[int]) -> None:
    dtype = {'mono16': np.uint16, '32FC1': np.float32}.get(encoding, np.uint8)
    pixels = np.array([[pixel]], dtype=dtype)
    assert camera_rgb(pixels, encoding).tolist() == [[rgb]]


def test_decoded_frames_become_rgb() -> None:
    bgr = np.array([[[30, 20, 10]]], np.uint8)
    _, png = cv2.imencode('.png', bgr)
    assert decoded_rgb(cv2.imdecode(png, cv2.IMREAD_UNCHANGED)).tolist() == [[[10, 20, 30]]]
    assert decoded_rgb(np.array([[7]], np.uint8)).tolist() == [[[7, 7, 7]]]


def test_events_show_on_green_off_red_and_nothing_black() -> None:
    frames = np.zeros((4, 2, 3, 3), np.float32)
    frames[:, 1, 0, 0] = 1  # ON at (0, 0) in every frame
    frames[0, 0, 2, 2] = 1  # one OFF at (2, 2)
    rgb = events_rgb(frames)
    assert rgb[0, 0, 1] > rgb[0, 0, 0] and rgb[2, 2, 0] > rgb[2, 2, 1]
    assert rgb[1, 1].tolist() == [0, 0, 0]
    assert rgb[0, 0].sum() > rgb[2, 2].sum(), 'more events, brighter'
