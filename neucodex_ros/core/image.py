"""Camera frames (sensor_msgs/Image fields) → model input, with numpy and OpenCV only."""

from __future__ import annotations

import cv2
import numpy as np

from neucodex_ros.core.errors import ImageError

#: Supported encodings → (channels, dtype, colour order).
ENCODINGS: dict[str, tuple[int, np.dtype, str]] = {
    'mono8': (1, np.dtype(np.uint8), 'mono'),
    'mono16': (1, np.dtype(np.uint16), 'mono'),
    'rgb8': (3, np.dtype(np.uint8), 'rgb'),
    'bgr8': (3, np.dtype(np.uint8), 'bgr'),
    'rgba8': (4, np.dtype(np.uint8), 'rgb'),
    'bgra8': (4, np.dtype(np.uint8), 'bgr'),
    '32FC1': (1, np.dtype(np.float32), 'mono'),  # intensities in [0, 1]; outside is clipped
}
MAX_SIDE = 16384  # pixels; anything larger is a corrupt header, not a camera


def image_array(data: bytes | bytearray | memoryview, encoding: str, height: int, width: int,
                step: int, is_bigendian: bool = False) -> np.ndarray:
    """View the raw bytes of an Image as [H, W, channels] pixels, validating every field."""
    if encoding not in ENCODINGS:
        raise ImageError(f'unsupported image encoding {encoding!r}; supported: '
                         f'{sorted(ENCODINGS)}')
    if not (0 < height <= MAX_SIDE and 0 < width <= MAX_SIDE):
        raise ImageError(f'image size {width}x{height} is empty or absurd')
    channels, dtype, _ = ENCODINGS[encoding]
    row_bytes = width * channels * dtype.itemsize
    if step < row_bytes:
        raise ImageError(f'step {step} is less than a {encoding} row of {width} pixels '
                         f'({row_bytes} bytes)')
    buffer = np.frombuffer(data, dtype=np.uint8)
    if buffer.size != step * height:
        raise ImageError(f'image data has {buffer.size} bytes, step x height is '
                         f'{step * height}')
    rows = buffer.reshape(height, step)[:, :row_bytes]
    pixels = np.ascontiguousarray(rows).view(dtype.newbyteorder('>' if is_bigendian else '<'))
    return pixels.reshape(height, width, channels).astype(dtype.newbyteorder('='), copy=False)


def model_input(pixels: np.ndarray, encoding: str, in_channels: int,
                input_size: tuple[int, int]) -> np.ndarray:
    """[H, W, channels] pixels → float32 [in_channels, height, width] in [0, 1].

    Colour becomes grey for 1-channel models; grey is repeated for 3-channel (RGB) models.
    Resizing uses area averaging when shrinking and bilinear interpolation when growing.
    """
    channels, dtype, order = ENCODINGS[encoding]
    if dtype.kind == 'f':
        if not np.isfinite(pixels).all():
            raise ImageError(f'{encoding} image has NaN or infinite pixels')
        pixels, scale = np.clip(pixels, 0.0, 1.0), 1.0
    else:
        scale = float(np.iinfo(dtype).max)
    image = pixels[..., :3] if channels == 4 else pixels
    if in_channels == 1 and order != 'mono':
        code = cv2.COLOR_RGB2GRAY if order == 'rgb' else cv2.COLOR_BGR2GRAY
        image = cv2.cvtColor(image, code)
    elif in_channels == 3 and order == 'mono':
        image = np.repeat(image.reshape(*image.shape[:2], 1), 3, axis=2)
    elif in_channels == 3 and order == 'bgr':
        image = image[..., ::-1]
    elif in_channels not in (1, 3):
        raise ImageError(f'a {in_channels}-channel model cannot take camera images')
    image = image.reshape(image.shape[0], image.shape[1], -1)
    height, width = input_size
    if image.shape[:2] != (height, width):
        shrinking = image.shape[0] >= height and image.shape[1] >= width
        image = cv2.resize(np.ascontiguousarray(image), (width, height),
                           interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
        image = image.reshape(height, width, -1)
    return np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32) / np.float32(scale)


def image_to_input(data: bytes | bytearray | memoryview, encoding: str, height: int,
                   width: int, step: int, in_channels: int, input_size: tuple[int, int],
                   is_bigendian: bool = False) -> np.ndarray:
    """The fields of a sensor_msgs/Image → float32 model input [C, H, W] in [0, 1]."""
    pixels = image_array(data, encoding, height, width, step, is_bigendian)
    return model_input(pixels, encoding, in_channels, input_size)


def compressed_to_input(data: bytes | bytearray | memoryview, in_channels: int,
                        input_size: tuple[int, int]) -> np.ndarray:
    """A sensor_msgs/CompressedImage payload (JPEG, PNG) → float32 model input [C, H, W]."""
    buffer = np.frombuffer(bytes(data), dtype=np.uint8)
    pixels = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED) if buffer.size else None
    if pixels is None:
        raise ImageError(f'compressed image of {buffer.size} bytes does not decode')
    pixels = pixels.reshape(pixels.shape[0], pixels.shape[1], -1)  # OpenCV: BGR(A) order
    encoding = {(1, np.uint8): 'mono8', (1, np.uint16): 'mono16', (3, np.uint8): 'bgr8',
                (4, np.uint8): 'bgra8'}.get((pixels.shape[2], pixels.dtype.type))
    if encoding is None:
        raise ImageError(f'compressed image of {pixels.shape[2]} channels of {pixels.dtype} '
                         'is not supported')
    return model_input(pixels, encoding, in_channels, input_size)
