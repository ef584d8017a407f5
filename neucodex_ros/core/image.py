"""Camera frames (sensor_msgs/Image fields) → model input, with numpy and OpenCV only."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import cv2
import numpy as np

from neucodex_ros.core.errors import ConfigError, ImageError

#: How a frame's shape meets the model's input shape: `stretch` to it (aspect lost), `crop`
#: the centre of the model's aspect, or `pad` (letterbox: the whole frame, black bars).
IMAGE_FITS = ('stretch', 'crop', 'pad')


@dataclass(frozen=True)
class ImageOptions:
    """How a camera frame is made to look like what the model was trained on.

    Applied in this order: the `roi` (x, y, width, height in frame pixels; zeros: the whole
    frame) is cut out, `invert`ed (dark on light → the light-on-dark the digits models
    learned), fitted to the model's aspect (`fit`, IMAGE_FITS) and resized.
    """

    roi: tuple[int, int, int, int] = (0, 0, 0, 0)
    fit: str = 'stretch'
    invert: bool = False

    def __post_init__(self) -> None:
        if len(self.roi) != 4 or min(self.roi) < 0 or (any(self.roi[2:]) and 0 in self.roi[2:]):
            raise ConfigError(f'roi is [x, y, width, height] >= 0 (width and height both 0: '
                              f'the whole frame), got {list(self.roi)}')
        if self.fit not in IMAGE_FITS:
            raise ConfigError(f'image fit must be one of {", ".join(IMAGE_FITS)}, '
                              f'got {self.fit!r}')

    def apply(self, image: np.ndarray, input_size: tuple[int, int],
              white: float) -> np.ndarray:
        """[H, W, C] pixels → [height, width, C] of `input_size`; `white` is full scale."""
        x, y, width, height = self.roi
        if width:
            if x + width > image.shape[1] or y + height > image.shape[0]:
                raise ImageError(f'roi {list(self.roi)} reaches outside the '
                                 f'{image.shape[1]}x{image.shape[0]} frame')
            image = image[y:y + height, x:x + width]
        if self.invert:
            image = (white - image).astype(image.dtype)
        rows, cols = image.shape[:2]
        out_h, out_w = input_size
        if self.fit == 'crop':  # the largest centred window of the model's aspect
            keep_h = min(rows, round(cols * out_h / out_w))
            keep_w = min(cols, round(rows * out_w / out_h))
            top, left = (rows - keep_h) // 2, (cols - keep_w) // 2
            return _resized(image[top:top + keep_h, left:left + keep_w], out_h, out_w)
        if self.fit == 'pad':  # the whole frame inside the model's aspect, black around it
            scale = min(out_h / rows, out_w / cols)
            inner_h, inner_w = max(1, round(rows * scale)), max(1, round(cols * scale))
            canvas = np.zeros((out_h, out_w, image.shape[2]), image.dtype)
            top, left = (out_h - inner_h) // 2, (out_w - inner_w) // 2
            canvas[top:top + inner_h, left:left + inner_w] = _resized(image, inner_h, inner_w)
            return canvas
        return _resized(image, out_h, out_w)


def _resized(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Area averaging when shrinking, bilinear interpolation when growing; [H, W, C] kept."""
    if image.shape[:2] == (height, width):
        return image
    shrinking = image.shape[0] >= height and image.shape[1] >= width
    resized = cv2.resize(np.ascontiguousarray(image), (width, height),
                         interpolation=cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR)
    return resized.reshape(height, width, -1)


#: Supported encodings → (channels, dtype, colour order).
class ColorOrder(StrEnum):
    """The channel order of a sensor_msgs/Image encoding."""

    MONO = 'mono'
    RGB = 'rgb'
    BGR = 'bgr'


ENCODINGS: dict[str, tuple[int, np.dtype, ColorOrder]] = {
    'mono8': (1, np.dtype(np.uint8), ColorOrder.MONO),
    'mono16': (1, np.dtype(np.uint16), ColorOrder.MONO),
    'rgb8': (3, np.dtype(np.uint8), ColorOrder.RGB),
    'bgr8': (3, np.dtype(np.uint8), ColorOrder.BGR),
    'rgba8': (4, np.dtype(np.uint8), ColorOrder.RGB),
    'bgra8': (4, np.dtype(np.uint8), ColorOrder.BGR),
    '32FC1': (1, np.dtype(np.float32), ColorOrder.MONO),  # in [0, 1]; outside is clipped
}
MAX_SIDE = 16384  # pixels; anything larger is a corrupt header, not a camera
MAX_PIXELS = 4096 * 4096  # default bound on width x height: a 12 MP camera fits


def check_size(width: int, height: int, max_pixels: int) -> None:
    """ImageError unless a width x height image is plausible and within max_pixels."""
    if not (0 < height <= MAX_SIDE and 0 < width <= MAX_SIDE):
        raise ImageError(f'image size {width}x{height} is empty or absurd')
    if width * height > max_pixels:
        raise ImageError(f'a {width}x{height} image is more than max_image_pixels '
                         f'({max_pixels}); raise it for such a camera')


def image_array(data: bytes | bytearray | memoryview, encoding: str, height: int, width: int,
                step: int, is_bigendian: bool = False,
                max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """View the raw bytes of an Image as [H, W, channels] pixels, validating every field."""
    if encoding not in ENCODINGS:
        raise ImageError(f'unsupported image encoding {encoding!r}; supported: '
                         f'{sorted(ENCODINGS)}')
    check_size(width, height, max_pixels)
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
                input_size: tuple[int, int],
                options: ImageOptions = ImageOptions()) -> np.ndarray:
    """[H, W, channels] pixels → float32 [in_channels, height, width] in [0, 1].

    Colour becomes grey for 1-channel models; grey is repeated for 3-channel (RGB) models.
    Then `options` cut, invert and fit it (ImageOptions).
    """
    channels, dtype, order = ENCODINGS[encoding]
    if dtype.kind == 'f':
        if not np.isfinite(pixels).all():
            raise ImageError(f'{encoding} image has NaN or infinite pixels')
        pixels, scale = np.clip(pixels, 0.0, 1.0), 1.0
    else:
        scale = float(np.iinfo(dtype).max)
    image = pixels[..., :3] if channels == 4 else pixels
    if in_channels == 1 and order != ColorOrder.MONO:
        code = cv2.COLOR_RGB2GRAY if order == ColorOrder.RGB else cv2.COLOR_BGR2GRAY
        image = cv2.cvtColor(image, code)
    elif in_channels == 3 and order == ColorOrder.MONO:
        image = np.repeat(image.reshape(*image.shape[:2], 1), 3, axis=2)
    elif in_channels == 3 and order == ColorOrder.BGR:
        image = image[..., ::-1]
    elif in_channels not in (1, 3):
        raise ImageError(f'a {in_channels}-channel model cannot take camera images')
    image = options.apply(image.reshape(image.shape[0], image.shape[1], -1), input_size,
                          scale)
    return np.ascontiguousarray(image.transpose(2, 0, 1), dtype=np.float32) / np.float32(scale)


def image_to_input(data: bytes | bytearray | memoryview, encoding: str, height: int,
                   width: int, step: int, in_channels: int, input_size: tuple[int, int],
                   is_bigendian: bool = False, max_pixels: int = MAX_PIXELS,
                   options: ImageOptions = ImageOptions()) -> np.ndarray:
    """The fields of a sensor_msgs/Image → float32 model input [C, H, W] in [0, 1]."""
    pixels = image_array(data, encoding, height, width, step, is_bigendian, max_pixels)
    return model_input(pixels, encoding, in_channels, input_size, options)


PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
#: JPEG start-of-frame markers (baseline, progressive, lossless, arithmetic): they carry the size.
JPEG_FRAME_MARKERS = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def compressed_size(data: bytes) -> tuple[int, int]:
    """(width, height) of a JPEG or PNG from its header, without decoding it.

    Read first so that a small file claiming a huge image is refused before it is decoded.
    """
    if data[:8] == PNG_SIGNATURE:
        if len(data) < 24 or data[12:16] != b'IHDR':
            raise ImageError('PNG without an IHDR header')
        return int.from_bytes(data[16:20], 'big'), int.from_bytes(data[20:24], 'big')
    if data[:2] != b'\xff\xd8':
        raise ImageError('compressed image is neither JPEG nor PNG')
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            raise ImageError(f'JPEG marker expected at byte {at}')
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # no length
            at += 2
            continue
        length = int.from_bytes(data[at + 2:at + 4], 'big')
        if marker in JPEG_FRAME_MARKERS:
            if length < 7 or at + 9 > len(data):
                raise ImageError('truncated JPEG frame header')
            return (int.from_bytes(data[at + 7:at + 9], 'big'),
                    int.from_bytes(data[at + 5:at + 7], 'big'))
        if marker in (0xD9, 0xDA) or length < 2:  # end, or scan data before any frame header
            break
        at += 2 + length
    raise ImageError('JPEG without a frame header (SOF)')


def compressed_to_input(data: bytes | bytearray | memoryview, in_channels: int,
                        input_size: tuple[int, int], max_pixels: int = MAX_PIXELS,
                        options: ImageOptions = ImageOptions()) -> np.ndarray:
    """A sensor_msgs/CompressedImage payload (JPEG, PNG) → float32 model input [C, H, W].

    The size its header claims is checked against `max_pixels` before anything is decoded.
    """
    data = bytes(data)
    width, height = compressed_size(data)
    check_size(width, height, max_pixels)
    buffer = np.frombuffer(data, dtype=np.uint8)
    pixels = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)  # (compressed_size refused empty data)
    if pixels is None:
        raise ImageError(f'compressed image of {buffer.size} bytes does not decode')
    pixels = pixels.reshape(pixels.shape[0], pixels.shape[1], -1)  # OpenCV: BGR(A) order
    encoding = {(1, np.uint8): 'mono8', (1, np.uint16): 'mono16', (3, np.uint8): 'bgr8',
                (4, np.uint8): 'bgra8'}.get((pixels.shape[2], pixels.dtype.type))
    if encoding is None:
        raise ImageError(f'compressed image of {pixels.shape[2]} channels of {pixels.dtype} '
                         'is not supported')
    return model_input(pixels, encoding, in_channels, input_size, options)
