"""Camera frames → model input: encodings, sizes, strides, and clear errors."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from neucodex_ros.core.errors import ImageError
from neucodex_ros.core.image import compressed_size, compressed_to_input, image_to_input

RNG = np.random.default_rng(0)


def as_message(pixels: np.ndarray, padding: int = 0) -> tuple[bytes, int]:
    """Rows of pixels with `padding` extra bytes each, as a driver may send them."""
    rows = pixels.reshape(pixels.shape[0], -1).view(np.uint8)
    padded = np.concatenate([rows, np.zeros((rows.shape[0], padding), np.uint8)], axis=1)
    return padded.tobytes(), padded.shape[1]


def test_mono8_at_model_size_is_scaled_only() -> None:
    pixels = RNG.integers(0, 256, (28, 28), dtype=np.uint8)
    data, step = as_message(pixels)
    x = image_to_input(data, 'mono8', 28, 28, step, 1, (28, 28))
    assert x.dtype == np.float32 and x.shape == (1, 28, 28)
    np.testing.assert_array_equal(x[0], pixels.astype(np.float32) / 255)


@pytest.mark.parametrize('encoding', ['rgb8', 'bgr8', 'rgba8', 'bgra8'])
def test_colour_becomes_grey_and_is_resized(encoding: str) -> None:
    rgb = RNG.integers(0, 256, (60, 90, 3), dtype=np.uint8)
    pixels = rgb if encoding.startswith('rgb') else rgb[..., ::-1]
    if encoding.endswith('a8'):
        pixels = np.concatenate([pixels, np.full((60, 90, 1), 7, np.uint8)], axis=2)
    data, step = as_message(np.ascontiguousarray(pixels), padding=3)
    x = image_to_input(data, encoding, 60, 90, step, 1, (28, 28))
    grey = cv2.resize(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), (28, 28),
                      interpolation=cv2.INTER_AREA)
    np.testing.assert_allclose(x[0] * 255, grey, atol=1.0)


def test_mono16_big_endian_and_small_images_grow() -> None:
    pixels = RNG.integers(0, 65536, (10, 12), dtype=np.uint16)
    data, step = as_message(pixels.astype('>u2'))
    x = image_to_input(data, 'mono16', 10, 12, step, 1, (10, 12), is_bigendian=True)
    np.testing.assert_allclose(x[0], pixels / 65535, rtol=1e-6)
    assert image_to_input(data, 'mono16', 10, 12, step, 1, (28, 28),
                          is_bigendian=True).shape == (1, 28, 28)


def test_mono_feeds_a_colour_model() -> None:
    data, step = as_message(RNG.integers(0, 256, (32, 32), dtype=np.uint8))
    x = image_to_input(data, 'mono8', 32, 32, step, 3, (32, 32))
    assert x.shape == (3, 32, 32) and (x[0] == x[2]).all()


def test_float_images_are_intensities_clipped_to_0_1() -> None:
    pixels = RNG.uniform(-0.5, 1.5, (28, 28)).astype(np.float32)
    data, step = as_message(pixels)
    x = image_to_input(data, '32FC1', 28, 28, step, 1, (28, 28))
    np.testing.assert_array_equal(x[0], np.clip(pixels, 0, 1))


def float_image(value: float) -> bytes:
    pixels = np.full((28, 28), 0.5, dtype=np.float32)
    pixels[3, 4] = value
    return pixels.tobytes()


@pytest.mark.parametrize('kwargs, message', [
    ({'encoding': 'yuv422'}, 'unsupported image encoding'),
    ({'encoding': '32FC1', 'step': 112, 'data': float_image(np.nan)}, 'NaN or infinite'),
    ({'encoding': '32FC1', 'step': 112, 'data': float_image(-np.inf)}, 'NaN or infinite'),
    ({'height': 0}, 'empty or absurd'),
    ({'width': 100000}, 'empty or absurd'),
    ({'step': 27}, 'less than a mono8 row'),
    ({'data': bytes(28 * 27)}, 'image data has 756 bytes'),
])
def test_bad_images_are_clear_errors(kwargs: dict, message: str) -> None:
    fields = {'data': bytes(28 * 28), 'encoding': 'mono8', 'height': 28, 'width': 28,
              'step': 28, 'in_channels': 1, 'input_size': (28, 28)} | kwargs
    with pytest.raises(ImageError, match=message):
        image_to_input(**fields)


@pytest.mark.parametrize('extension', ['.png', '.jpg'])
def test_compressed_images_decode_like_raw_ones(extension: str) -> None:
    """PNG is lossless: exactly the raw frame's input; JPEG (quality 90) stays close."""
    rng = np.random.default_rng(3)
    grey = cv2.GaussianBlur((rng.random((40, 60)) * 255).astype(np.uint8), (5, 5), 2)
    colour = np.stack([grey, 255 - grey, grey // 2], axis=2)
    for pixels, encoding, step in ((grey, 'mono8', 60), (colour, 'bgr8', 180)):
        _, data = cv2.imencode(extension, pixels, [cv2.IMWRITE_JPEG_QUALITY, 90])
        raw = image_to_input(pixels.tobytes(), encoding, 40, 60, step, 1, (28, 28))
        decoded = compressed_to_input(data.tobytes(), 1, (28, 28))
        if extension == '.png':
            np.testing.assert_array_equal(decoded, raw)
        else:
            assert np.abs(decoded - raw).mean() < 0.02


def test_undecodable_compressed_images_are_clear_errors() -> None:
    for data in (b'', b'not an image', bytes(100)):
        with pytest.raises(ImageError, match='neither JPEG nor PNG'):
            compressed_to_input(data, 1, (28, 28))
    _, jpeg = cv2.imencode('.jpg', np.full((40, 40), 128, np.uint8))
    header_only = jpeg.tobytes()[:200]  # the size is there, the scan is cut off
    with pytest.raises(ImageError, match='does not decode'):
        compressed_to_input(header_only[:len(header_only) // 2 * 2], 1, (28, 28))


def test_compressed_size_is_read_from_the_header() -> None:
    pixels = np.random.default_rng(0).integers(0, 256, (30, 50, 3), dtype=np.uint8)
    for extension in ('.png', '.jpg'):
        _, data = cv2.imencode(extension, pixels)
        assert compressed_size(data.tobytes()) == (50, 30)
    _, progressive = cv2.imencode('.jpg', pixels, [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    assert compressed_size(progressive.tobytes()) == (50, 30)


def test_a_small_file_claiming_a_huge_image_is_refused_before_decoding() -> None:
    _, png = cv2.imencode('.png', np.zeros((8, 8), np.uint8))
    claims_huge = bytearray(png.tobytes())
    claims_huge[16:24] = (16000).to_bytes(4, 'big') + (16000).to_bytes(4, 'big')  # IHDR
    with pytest.raises(ImageError, match='max_image_pixels'):
        compressed_to_input(bytes(claims_huge), 1, (28, 28))
    _, jpeg = cv2.imencode('.jpg', np.zeros((5000, 4000), np.uint8))  # 20 MP, a few kB
    with pytest.raises(ImageError, match='max_image_pixels'):
        compressed_to_input(jpeg.tobytes(), 1, (28, 28))
    assert compressed_to_input(jpeg.tobytes(), 1, (28, 28), max_pixels=20_000_000).shape == \
        (1, 28, 28)


@pytest.mark.parametrize('data', [b'', b'GIF89a' + bytes(20), b'\x89PNG\r\n\x1a\n' + bytes(4),
                                  b'\xff\xd8\xff\xe0\x00', b'\xff\xd8\xff\xda\x00\x08' + bytes(8),
                                  b'\xff\xd8\x00\x00\x00\x00'])
def test_compressed_headers_that_say_nothing_are_refused(data: bytes) -> None:
    with pytest.raises(ImageError):
        compressed_size(data)


# --- ImageOptions: roi, invert, and keeping the aspect -------------------------------------

def test_roi_cuts_out_the_region_before_anything_else() -> None:
    from neucodex_ros.core.image import ImageOptions

    frame = np.zeros((60, 80), np.uint8)
    frame[10:38, 20:48] = RNG.integers(0, 256, (28, 28), dtype=np.uint8)
    data, step = as_message(frame)
    x = image_to_input(data, 'mono8', 60, 80, step, 1, (28, 28),
                       options=ImageOptions(roi=(20, 10, 28, 28)))
    np.testing.assert_array_equal(x[0], frame[10:38, 20:48].astype(np.float32) / 255)
    with pytest.raises(ImageError, match='outside'):
        image_to_input(data, 'mono8', 60, 80, step, 1, (28, 28),
                       options=ImageOptions(roi=(60, 10, 28, 28)))


def test_invert_turns_dark_on_light_into_light_on_dark() -> None:
    from neucodex_ros.core.image import ImageOptions

    pixels = RNG.integers(0, 256, (28, 28), dtype=np.uint8)
    data, step = as_message(pixels)
    x = image_to_input(data, 'mono8', 28, 28, step, 1, (28, 28),
                       options=ImageOptions(invert=True))
    np.testing.assert_allclose(x[0], 1 - pixels.astype(np.float32) / 255, atol=1e-6)


def test_crop_keeps_the_centre_and_pad_keeps_the_whole_frame() -> None:
    from neucodex_ros.core.image import ImageOptions

    frame = np.full((40, 80), 255, np.uint8)  # a 2:1 frame, a square in the middle
    frame[:, 20:60] = np.arange(40, dtype=np.uint8)[:, None] * 6
    data, step = as_message(frame)
    crop = image_to_input(data, 'mono8', 40, 80, step, 1, (20, 20),
                          options=ImageOptions(fit='crop'))
    expected = cv2.resize(frame[:, 20:60], (20, 20), interpolation=cv2.INTER_AREA)
    np.testing.assert_allclose(crop[0], expected / 255, atol=1e-6)
    pad = image_to_input(data, 'mono8', 40, 80, step, 1, (20, 20),
                         options=ImageOptions(fit='pad'))
    assert (pad[0, :5] == 0).all() and (pad[0, 15:] == 0).all()  # black bars above, below
    np.testing.assert_allclose(pad[0, 5:15], cv2.resize(frame, (20, 10),
                                                        interpolation=cv2.INTER_AREA) / 255,
                               atol=1e-6)


@pytest.mark.parametrize('options', [dict(roi=(0, 0, 10, 0)), dict(roi=(-1, 0, 5, 5)),
                                     dict(roi=(0, 0, 5)), dict(fit='letterbox')])
def test_image_options_that_cannot_work_are_refused(options: dict) -> None:
    from neucodex_ros.core.errors import ConfigError
    from neucodex_ros.core.image import ImageOptions

    with pytest.raises(ConfigError):
        ImageOptions(**options)


def test_a_camera_like_frame_classifies_once_inverted_and_cropped() -> None:
    """Dark digits on white paper in a 4:3 frame, read by the shipped digits model.

    It learned white digits on black filling a square: it reads these with invert + crop,
    and not without.
    """
    import torch

    from neucodex_ros.core.checkpoint import load_checkpoint
    from neucodex_ros.core.datasets.digits import held_out_digits
    from neucodex_ros.core.image import ImageOptions
    from neucodex_ros.core.training import predict_logits

    model = load_checkpoint('digits_snn').model
    images, labels = held_out_digits(100, seed=3)

    def accuracy(options: ImageOptions) -> float:
        inputs = []
        for digit in images:
            frame = np.full((120, 160), 255, np.uint8)  # white paper, 4:3
            frame[4:116, 24:136] = 255 - cv2.resize(digit, (112, 112))  # a dark digit
            data, step = as_message(frame)
            inputs.append(image_to_input(data, 'mono8', 120, 160, step, 1, (28, 28),
                                         options=options))
        logits, _ = predict_logits(model, torch.as_tensor(np.stack(inputs)))
        return float((logits.mean(0).argmax(-1) == labels).mean())

    assert accuracy(ImageOptions(fit='crop', invert=True)) >= 0.9
    assert accuracy(ImageOptions()) < 0.5  # as it came from the camera
