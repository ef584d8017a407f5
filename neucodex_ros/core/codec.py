"""Spike tensor ⇄ PackedSpikes.data payloads.

`bitpack`: one bit per neuron, the tensor flattened in row-major (C, H, W) order, most
significant bit first, the last byte zero-padded (numpy.packbits). Exactly lossless.
"""

from __future__ import annotations

import numpy as np

from neucodex_ros.core.errors import CodecError

BITPACK = 'bitpack'
#: Encodings this module can decode.
ENCODINGS = (BITPACK,)


def packed_size(shape: tuple[int, ...]) -> int:
    """Bytes of a bitpack payload for a tensor of this shape."""
    return (int(np.prod(shape, dtype=np.int64)) + 7) // 8


def encode(spikes: np.ndarray, encoding: str = BITPACK) -> bytes:
    """Pack a binary spike tensor (bool, or numbers that are all 0/1) into a payload."""
    if encoding != BITPACK:
        raise CodecError(f'unknown spike encoding {encoding!r}; known: {list(ENCODINGS)}')
    if spikes.dtype != np.bool_:
        if not np.isin(spikes, (0, 1)).all():
            raise CodecError('spike tensor has values other than 0 and 1')
        spikes = spikes.astype(np.bool_)
    return np.packbits(spikes, axis=None).tobytes()


def decode(payload: bytes | bytearray | memoryview, shape: tuple[int, ...],
           encoding: str = BITPACK) -> np.ndarray:
    """Unpack a payload into a bool tensor of `shape`; any mismatch is a CodecError."""
    if encoding != BITPACK:
        raise CodecError(f'unknown spike encoding {encoding!r}; known: {list(ENCODINGS)}')
    if any(int(size) < 0 for size in shape):
        raise CodecError(f'negative size in shape {shape}')
    expected = packed_size(shape)
    data = np.frombuffer(payload, dtype=np.uint8)
    if data.size != expected:
        raise CodecError(f'bitpack payload of {data.size} bytes does not fit shape {shape} '
                         f'({expected} bytes expected)')
    count = int(np.prod(shape, dtype=np.int64))
    if count % 8 and data[-1] & (0xFF >> (count % 8)):
        raise CodecError('bitpack payload has non-zero padding bits (corrupt or wrong shape)')
    return np.unpackbits(data, count=count).astype(np.bool_).reshape(shape)
