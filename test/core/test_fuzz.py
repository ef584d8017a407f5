"""Fuzzing the decoders that the nodes feed with network input.

Any bytes give a result or the module's own clear error: never another exception, a crash or
an out-of-bounds result.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from neucodex_ros.core import codec
from neucodex_ros.core.errors import CodecError, EventError, ImageError
from neucodex_ros.core.events.codecs import DECODERS, make_decoder
from neucodex_ros.core.image import ENCODINGS, compressed_to_input, image_to_input

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FUZZ
@given(encoding=st.sampled_from(sorted(DECODERS)), packets=st.lists(st.binary(max_size=256),
                                                                    min_size=1, max_size=4),
       width=st.integers(0, 2000), height=st.integers(0, 2000),
       time_base=st.integers(0, 2**63 - 1))
def test_event_decoders(encoding: str, packets: list[bytes], width: int, height: int,
                        time_base: int) -> None:
    """A stream of random packets into one decoder (it keeps state between them)."""
    decoder = make_decoder(encoding)
    for data in packets:
        try:
            decoded = decoder.decode(data, width, height, time_base)
        except EventError:
            continue
        events = decoded.events
        assert ((events['x'] < width) & (events['y'] < height)).all()
        assert (events['p'] <= 1).all()


@FUZZ
@given(encoding=st.sampled_from(codec.ENCODINGS), payload=st.binary(max_size=300),
       shape=st.tuples(st.integers(0, 5), st.integers(0, 12), st.integers(0, 12)),
       seed=st.integers(0, 1000))
def test_spike_payload_decoding(encoding: str, payload: bytes, shape: tuple[int, int, int],
                                seed: int) -> None:
    previous = np.random.default_rng(seed).random(shape) < 0.3
    try:
        spikes = codec.decode(payload, shape, encoding, previous)
    except CodecError:
        return
    assert spikes.dtype == np.bool_ and spikes.shape == shape


@FUZZ
@given(encoding=st.sampled_from([*ENCODINGS, '32FC1', 'yuv422', '']),
       data=st.binary(max_size=2000), height=st.integers(0, 40), width=st.integers(0, 40),
       step=st.integers(0, 200), big=st.booleans())
def test_image_messages(encoding: str, data: bytes, height: int, width: int, step: int,
                        big: bool) -> None:
    try:
        pixels = image_to_input(data, encoding, height, width, step, 1, (28, 28), big)
    except ImageError:
        return
    assert pixels.shape == (1, 28, 28) and pixels.dtype == np.float32
    assert np.isfinite(pixels).all() and pixels.min() >= 0 and pixels.max() <= 1


@FUZZ
@given(data=st.binary(max_size=600))
def test_compressed_image_messages(data: bytes) -> None:
    try:
        pixels = compressed_to_input(data, 1, (28, 28))
    except ImageError:
        return
    assert pixels.shape == (1, 28, 28) and np.isfinite(pixels).all()
