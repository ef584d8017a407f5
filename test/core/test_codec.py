"""bitpack payloads: exactly lossless for any shape; wrong lengths are clear errors."""

from __future__ import annotations

import numpy as np
import pytest

from neucodex_ros.core import codec
from neucodex_ros.core.errors import CodecError

SHAPES = [(1, 1, 1), (1, 1, 7), (3, 5, 7), (4, 7, 7), (2, 3, 1), (16, 14, 14), (1, 1, 8),
          (5, 1, 9), (64, 32, 32), (0, 4, 4)]


@pytest.mark.parametrize('shape', SHAPES)
@pytest.mark.parametrize('rate', [0.0, 0.1, 0.5, 1.0])
def test_round_trip_is_exact(shape: tuple[int, ...], rate: float) -> None:
    spikes = np.random.default_rng(0).random(shape) < rate
    payload = codec.encode(spikes)
    assert len(payload) == codec.packed_size(shape) == (spikes.size + 7) // 8
    decoded = codec.decode(payload, shape)
    assert decoded.dtype == np.bool_ and decoded.shape == shape
    np.testing.assert_array_equal(decoded, spikes)


def test_accepts_0_1_numbers_and_rejects_other_values() -> None:
    spikes = np.array([[[0.0, 1.0, 1.0]]], dtype=np.float32)
    np.testing.assert_array_equal(codec.decode(codec.encode(spikes), (1, 1, 3)), spikes > 0)
    with pytest.raises(CodecError, match='other than 0 and 1'):
        codec.encode(np.array([0.5]))


@pytest.mark.parametrize('delta', [-1, 1, 5])
def test_length_mismatch_is_a_clear_error(delta: int) -> None:
    payload = codec.encode(np.ones((3, 5, 7), dtype=bool))
    wrong = payload + bytes(delta) if delta > 0 else payload[:delta]
    with pytest.raises(CodecError, match=r'does not fit shape \(3, 5, 7\)'):
        codec.decode(wrong, (3, 5, 7))


def test_padding_bits_must_be_zero() -> None:
    payload = bytearray(codec.encode(np.zeros((1, 1, 7), dtype=bool)))
    payload[-1] |= 1
    with pytest.raises(CodecError, match='padding'):
        codec.decode(bytes(payload), (1, 1, 7))


def test_unknown_encoding() -> None:
    with pytest.raises(CodecError, match="unknown spike encoding 'zip'"):
        codec.decode(b'\x00', (1, 1, 1), 'zip')
    with pytest.raises(CodecError, match="unknown spike encoding 'zip'"):
        codec.encode(np.zeros(1, bool), 'zip')
