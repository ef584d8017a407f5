"""Spike payload codecs: exactly lossless on any map; corruption is an error, never a tensor.

Property tests over shapes, firing rates and structured maps, plus the spike maps of the
shipped models on real data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from spikingjelly.activation_based import functional

from neucodex_ros.core import codec
from neucodex_ros.core.errors import CodecError

SHAPES = [(1, 1, 1), (1, 1, 7), (3, 5, 7), (4, 7, 7), (2, 3, 1), (16, 14, 14), (1, 1, 8),
          (5, 1, 9), (64, 32, 32), (0, 4, 4)]
CODED = [name for name in codec.SPIKE_CODECS if name != codec.BITPACK]  # with a CRC
NMNIST = Path(__file__).resolve().parents[3] / 'shared' / 'data' / 'nmnist_small' / 'train'


def round_trip(spikes: np.ndarray, encoding: str, previous: np.ndarray | None) -> bytes:
    payload = codec.encode(spikes, encoding, previous)
    decoded = codec.decode(payload, spikes.shape, encoding, previous)
    assert decoded.dtype == np.bool_ and decoded.shape == spikes.shape
    np.testing.assert_array_equal(decoded, spikes)
    return payload


@pytest.mark.parametrize('shape', SHAPES)
@pytest.mark.parametrize('rate', [0.0, 0.1, 0.5, 1.0])
@pytest.mark.parametrize('encoding', codec.ENCODINGS)
def test_round_trip_is_exact(shape: tuple[int, ...], rate: float, encoding: str) -> None:
    rng = np.random.default_rng(0)
    spikes, previous = rng.random(shape) < rate, rng.random(shape) < 0.2
    payload = round_trip(spikes, encoding, previous)
    if encoding == codec.BITPACK:
        assert len(payload) == codec.packed_size(shape) == (spikes.size + 7) // 8
    if encoding == codec.FLOAT32:
        assert len(payload) == 4 * spikes.size


@st.composite
def spike_maps(draw: st.DrawFn) -> np.ndarray:
    """Random, clustered, striped, all-zero/all-one maps of any small shape."""
    shape = draw(st.tuples(st.integers(0, 6), st.integers(1, 20), st.integers(1, 20)))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    kind = draw(st.sampled_from(['uniform', 'blocks', 'stripes', 'constant']))
    rate = draw(st.floats(0.0, 1.0))
    if kind == 'uniform':
        return rng.random(shape) < rate
    if kind == 'blocks':  # clusters: a coarse random map upsampled
        coarse = rng.random((shape[0], shape[1] // 3 + 1, shape[2] // 3 + 1)) < rate
        return coarse.repeat(3, 1).repeat(3, 2)[:, :shape[1], :shape[2]]
    if kind == 'stripes':
        return np.broadcast_to((np.arange(shape[2]) % draw(st.integers(1, 5))) == 0,
                               shape).copy()
    return np.full(shape, rate >= 0.5)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spikes=spike_maps(), flips=st.floats(0.0, 1.0), seed=st.integers(0, 1000))
def test_every_codec_is_lossless_on_any_map(spikes: np.ndarray, flips: float,
                                            seed: int) -> None:
    """The previous timestep: this one with a share of its neurons flipped."""
    previous = spikes ^ (np.random.default_rng(seed).random(spikes.shape) < flips)
    sizes = {name: len(round_trip(spikes, name, previous)) for name in codec.SPIKE_CODECS}
    round_trip(spikes, codec.FLOAT32, previous)
    name, payload = codec.encode_auto(spikes, previous)
    assert len(payload) == min(sizes.values()) and sizes[name] == len(payload)
    np.testing.assert_array_equal(codec.decode(payload, spikes.shape, name, previous), spikes)


@settings(max_examples=100, deadline=None)
@given(spikes=spike_maps(), seed=st.integers(0, 1000))
def test_corrupt_payloads_are_errors(spikes: np.ndarray, seed: int) -> None:
    """Every truncation; a flip of any single bit; a random burst within one byte."""
    rng = np.random.default_rng(seed)
    previous = rng.random(spikes.shape) < 0.3
    for encoding in CODED:
        payload = codec.encode(spikes, encoding, previous)
        for length in range(len(payload)):
            with pytest.raises(CodecError):
                codec.decode(payload[:length], spikes.shape, encoding, previous)
        for bit in range(8 * len(payload)):
            corrupt = bytearray(payload)
            corrupt[bit // 8] ^= 0x80 >> (bit % 8)
            with pytest.raises(CodecError):
                codec.decode(bytes(corrupt), spikes.shape, encoding, previous)
        corrupt = bytearray(payload)
        corrupt[rng.integers(len(payload))] ^= int(rng.integers(1, 256))
        with pytest.raises(CodecError):
            codec.decode(bytes(corrupt), spikes.shape, encoding, previous)
        with pytest.raises(CodecError):
            codec.decode(payload + b'\x00', spikes.shape, encoding, previous)


@pytest.mark.parametrize('rate', [0.02, 0.05, 0.1, 0.2])
def test_rice_stays_near_the_entropy_bound(rate: float) -> None:
    """Uniform firing on 10,000 neurons, against the entropy at the map's own firing rate."""
    spikes = np.random.default_rng(1).random((4, 50, 50)) < rate
    bits = 8 * len(codec.encode(spikes, codec.RICE)) / spikes.size
    p = spikes.mean()
    entropy = -(p * np.log2(p) + (1 - p) * np.log2(1 - p))
    assert entropy < bits < 1.04 * entropy


def test_temporal_codecs_need_the_previous_timestep() -> None:
    spikes = np.zeros((2, 3, 3), dtype=bool)
    for encoding in (codec.RICE_TEMPORAL, codec.ZSTD_TEMPORAL):
        assert codec.is_temporal(encoding)
        with pytest.raises(CodecError, match='previous timestep, which is missing'):
            codec.encode(spikes, encoding)
        payload = codec.encode(spikes, encoding, spikes)
        with pytest.raises(CodecError, match='previous timestep, which is missing'):
            codec.decode(payload, spikes.shape, encoding)
        with pytest.raises(CodecError, match='previous timestep has 8 neurons'):
            codec.decode(payload, spikes.shape, encoding, np.zeros(8, bool))
    name, _ = codec.encode_auto(spikes)  # no previous: self-contained codecs only
    assert not codec.is_temporal(name)


def test_accepts_0_1_numbers_and_rejects_other_values() -> None:
    spikes = np.array([[[0.0, 1.0, 1.0]]], dtype=np.float32)
    for encoding in codec.ENCODINGS:
        np.testing.assert_array_equal(
            codec.decode(codec.encode(spikes, encoding, spikes), (1, 1, 3), encoding, spikes),
            spikes > 0)
    with pytest.raises(CodecError, match='other than 0 and 1'):
        codec.encode(np.array([0.5]))


@pytest.mark.parametrize('delta', [-1, 1, 5])
def test_bitpack_length_mismatch_is_a_clear_error(delta: int) -> None:
    payload = codec.encode(np.ones((3, 5, 7), dtype=bool))
    wrong = payload + bytes(delta) if delta > 0 else payload[:delta]
    with pytest.raises(CodecError, match='105 neurons'):
        codec.decode(wrong, (3, 5, 7))


def test_bitpack_padding_bits_must_be_zero() -> None:
    payload = bytearray(codec.encode(np.zeros((1, 1, 7), dtype=bool)))
    payload[-1] |= 1
    with pytest.raises(CodecError, match='padding'):
        codec.decode(bytes(payload), (1, 1, 7))


def test_unknown_encoding() -> None:
    with pytest.raises(CodecError, match="unknown spike encoding 'zip'"):
        codec.decode(b'\x00', (1, 1, 1), 'zip')
    with pytest.raises(CodecError, match="unknown spike encoding 'zip'"):
        codec.encode(np.zeros(1, bool), 'zip')


def shipped_model_spikes(name: str, dataset: str, data_dir: Path | None) -> np.ndarray:
    """Spike maps [T, N, C, H, W] of a shipped model on 40 held-out real samples."""
    from neucodex_ros.core.checkpoint import load_checkpoint
    from neucodex_ros.core.datasets import DataOptions, load_dataset

    checkpoint = load_checkpoint(name)
    steps = checkpoint.config.num_timesteps
    samples, _ = load_dataset(dataset, data_dir, 'test',
                              DataOptions.from_record(checkpoint.data, steps))
    inputs = torch.stack([samples[i][0] for i in range(40)])
    seq = inputs.transpose(0, 1) if inputs.ndim == 5 else inputs[None].repeat(steps, 1, 1, 1, 1)
    model = checkpoint.model.eval()
    with torch.no_grad():
        functional.reset_net(model)
        return model.edge_forward(seq).numpy().astype(bool)


@pytest.mark.parametrize('name, dataset', [('digits_snn', 'digits'),
                                           ('nmnist_events', 'nmnist')])
def test_lossless_on_the_shipped_models_real_spikes(name: str, dataset: str) -> None:
    if dataset == 'nmnist' and not NMNIST.is_dir():
        pytest.skip(f'the real N-MNIST samples are not at {NMNIST}')
    maps = shipped_model_spikes(name, dataset, NMNIST if dataset == 'nmnist' else None)
    coded = bitpacked = 0
    for sample in maps.transpose(1, 0, 2, 3, 4):
        previous = None
        for spikes in sample:
            for encoding in codec.ENCODINGS:
                if previous is not None or not codec.is_temporal(encoding):
                    round_trip(spikes, encoding, previous)
            chosen, payload = codec.encode_auto(spikes, previous)
            np.testing.assert_array_equal(
                codec.decode(payload, spikes.shape, chosen, previous), spikes)
            coded += len(payload)
            bitpacked += codec.packed_size(spikes.shape)
            previous = spikes
    assert coded < bitpacked


def test_float32_carries_only_exact_zeros_and_ones() -> None:
    shape = (2, 3, 3)
    payload = bytearray(codec.encode(np.eye(3, dtype=bool)[None].repeat(2, 0), codec.FLOAT32))
    payload[0:4] = np.float32(0.5).tobytes()
    with pytest.raises(CodecError, match='other than 0 and 1'):
        codec.decode(bytes(payload), shape, codec.FLOAT32)
    with pytest.raises(CodecError, match='does not fit 18 neurons'):
        codec.decode(bytes(payload[:-1]), shape, codec.FLOAT32)


@pytest.mark.parametrize('encoding', codec.ENCODINGS)
@pytest.mark.parametrize('density', [0.0, 0.05, 0.5, 1.0])
def test_every_payload_fits_the_most_its_shape_can_take(encoding: str, density: float) -> None:
    rng = np.random.default_rng(3)
    for shape in [(1, 1, 1), (4, 7, 7), (2, 17, 17), (4, 14, 14)]:
        spikes, previous = rng.random(shape) < density, rng.random(shape) < 0.5
        payload = codec.encode(spikes, encoding,
                               previous if codec.is_temporal(encoding) else None)
        assert len(payload) <= codec.max_payload_size(encoding, int(np.prod(shape)))


def test_the_longest_valid_rice_stream_decodes() -> None:
    """Every neuron firing, coded with k = 15: 16 bits per gap, the most Rice can take."""
    n = 196
    bits = format(15, '04b') + '0' * 16 * (n + 1)
    body = int(bits + '0' * (-len(bits) % 8), 2).to_bytes((len(bits) + 7) // 8, 'big')
    payload = body + bytes([codec.crc8(body)])
    assert len(payload) <= codec.max_payload_size('rice', n)
    assert codec.decode(payload, (n,), 'rice').all()


def test_a_payload_longer_than_its_shape_allows_is_rejected_unread() -> None:
    """10 MiB for 196 neurons (issue 15): rejected by its length, before any decoding."""
    for encoding in codec.ENCODINGS:
        with pytest.raises(CodecError, match='more than'):
            codec.decode(bytes(10 << 20), (4, 7, 7), encoding,
                         np.zeros((4, 7, 7), bool) if codec.is_temporal(encoding) else None)


def test_crc8_is_the_catalogued_crc8_i_432_1() -> None:
    """Width 8, polynomial 0x07, no reflection, output XOR 0x55: check value 0xA1."""
    assert codec.crc8(b'123456789') == 0xA1
    assert codec.crc8(b'') == 0x55 and codec.crc8(b'\x00') == 0x55
    assert codec.crc8(b'\x80') == 0x89 ^ 0x55


@pytest.mark.parametrize(('encoding', 'n', 'most'), [
    ('bitpack', 8, 1), ('bitpack', 9, 2), ('float32', 18, 72),
    ('rice', 18, (4 + 18 + 16 * 19 + 7) // 8 + 1),  # k field, unary ones, gaps: 42
    ('rice', 4, (4 + 4 + 16 * 5 + 7) // 8 + 1),  # 88 bits: whole bytes
    ('rice-temporal', 18, (8 + 18 + 16 * 20 + 7) // 8 + 1),  # two streams: 45
    ('zstd', 18, 3 + 0 + ((128 << 10) - 3 >> 11) + 1),  # ZSTD_COMPRESSBOUND + CRC: 67
    ('zstd-temporal', 4096, 512 + 2 + ((128 << 10) - 512 >> 11) + 1)])
def test_the_largest_payload_of_each_codec_is_its_stated_bound(encoding: str, n: int,
                                                               most: int) -> None:
    assert codec.max_payload_size(encoding, n) == most


def test_an_empty_or_corrupt_payload_says_so() -> None:
    with pytest.raises(CodecError, match='^empty payload$'):
        codec.decode(b'', (1, 2, 2), 'rice')
    good = codec.encode(np.ones((1, 2, 2), bool), 'rice')
    with pytest.raises(CodecError, match=r'^payload CRC mismatch \(corrupt or truncated\)$'):
        codec.decode(good[:-1] + bytes([good[-1] ^ 1]), (1, 2, 2), 'rice')


def coded(bits: str) -> bytes:
    """A payload of these bits, zero-padded, with its CRC."""
    body = int(bits + '0' * (-len(bits) % 8) or '0', 2).to_bytes((len(bits) + 7) // 8, 'big')
    return body + bytes([codec.crc8(body)])


@pytest.mark.parametrize(('payload', 'shape', 'encoding', 'words'), [
    (b'\x00', (16,), 'bitpack', 'bitpack payload of 1 bytes does not fit 16 neurons '
                                '(2 bytes expected)'),
    (b'\x00', (17,), 'bitpack', 'bitpack payload of 1 bytes does not fit 17 neurons '
                                '(3 bytes expected)'),
    (b'\x01', (7,), 'bitpack', 'bitpack payload has non-zero padding bits (corrupt or wrong '
                               'shape)'),
    (bytes(4), (2,), 'float32', 'float32 payload of 4 bytes does not fit 2 neurons '
                                '(8 bytes expected)'),
    (np.float32([0.5]).tobytes(), (1,), 'float32', 'float32 payload has values other than 0 '
                                                   'and 1'),
    (coded(''), (8,), 'rice', 'payload ends inside a Rice header (truncated)'),
    (coded('0000' + '1111'), (8,), 'rice', 'payload ends inside the spike gaps (truncated)'),
    (coded('0000' + '1' * 9 + '0'), (8,), 'rice', 'spike gaps run 1 neurons past the 8 '
                                                  '(corrupt)'),
    (coded('0000' + '0' * 8 + '0' + '0' * 7), (8,), 'rice',  # 8 spikes, the end, 7 more bits
     'payload has bytes or non-zero padding after its last spike (corrupt or wrong shape)'),
    (coded('0000' + '11111111' + '0' + '001'), (8,), 'rice',  # a 1 in the padding
     'payload has bytes or non-zero padding after its last spike (corrupt or wrong shape)'),
    (b'', (-1, 2), 'rice', 'negative size in shape (-1, 2)'),
])
def test_every_rejection_says_exactly_what_is_wrong(payload: bytes, shape: tuple[int, ...],
                                                    encoding: str, words: str) -> None:
    with pytest.raises(CodecError) as error:
        codec.decode(payload, shape, encoding)
    assert str(error.value) == words


def test_a_stream_that_ends_on_a_byte_boundary_takes_no_whole_byte_more() -> None:
    """Rice k 0 and three silent neurons' one gap ('1110') fill a byte: a zero byte is extra."""
    assert codec.decode(coded('0000' + '1110'), (3,), 'rice').sum() == 0
    with pytest.raises(CodecError, match='after its last spike'):
        codec.decode(coded('0000' + '1110' + '0' * 8), (3,), 'rice')


def test_a_stream_cut_right_after_the_second_header_is_cut_in_the_gaps() -> None:
    """A rice-temporal stream cut after its second header: named as cut in the gaps.

    7 neurons fired before (all again: 4 + 8 bits), then the second stream's header and
    nothing: the header is whole, the gaps are missing.
    """
    previous = np.arange(8) < 7
    with pytest.raises(CodecError) as error:
        codec.decode(coded('0000' + '0' * 8 + '0000'), (8,), 'rice-temporal', previous)
    assert str(error.value) == 'payload ends inside the spike gaps (truncated)'


def test_zstd_output_longer_than_the_shape_is_a_decompression_error() -> None:
    payload = codec.encode(np.ones(24, bool), 'zstd')  # 3 packed bytes
    with pytest.raises(CodecError, match='^zstd payload does not decompress: '):
        codec.decode(payload, (16,), 'zstd')  # 2 bytes at most
    with pytest.raises(CodecError, match='^zstd payload does not decompress: '):
        codec.decode(coded('1' * 24), (16,), 'zstd')


def test_spikes_other_than_0_and_1_and_an_unknown_wire_id_are_named() -> None:
    with pytest.raises(CodecError) as error:
        codec.encode(np.array([0, 2]))
    assert str(error.value) == 'spike tensor has values other than 0 and 1'
    with pytest.raises(CodecError) as error:
        codec.from_wire_id(len(codec.ENCODINGS))
    assert str(error.value) == (f'unknown spike encoding number {len(codec.ENCODINGS)}; known: '
                                + ', '.join(f'{i} {name}' for i, name
                                            in enumerate(codec.ENCODINGS)))


def test_auto_skips_temporal_codecs_without_a_previous_timestep_and_ties_go_first() -> None:
    spikes = np.random.default_rng(5).random(64) < 0.3
    assert codec.encode_auto(spikes, None, ['rice-temporal', 'bitpack'])[0] == 'bitpack'
    with pytest.raises(CodecError) as error:
        codec.encode_auto(spikes, None, ['rice-temporal'])
    assert str(error.value) == "no usable codec among ['rice-temporal']"
    # zstd-temporal against a silent timestep codes exactly the zstd payload: a tie
    assert codec.encode_auto(spikes, np.zeros(64, bool), ['zstd', 'zstd-temporal'])[0] == 'zstd'
    assert codec.encode_auto(spikes, np.zeros(64, bool), ['zstd-temporal', 'zstd'])[0] == \
        'zstd-temporal'


@pytest.mark.parametrize('density', [0.0, 0.001, 0.01, 0.05, 0.2, 0.5, 0.9, 1.0])
def test_rice_picks_the_best_k_of_all_sixteen(density: float) -> None:
    """The k costed from the mean gap is the optimum over every k the header can hold."""
    rng = np.random.default_rng(int(density * 1000))
    for n in (8, 196, 4096):
        spikes = rng.random(n) < density
        positions = [*np.flatnonzero(spikes).tolist(), n]
        gaps = [b - a - 1 for a, b in zip([-1, *positions[:-1]], positions, strict=True)]
        best = min(sum(gap >> k for gap in gaps) + len(gaps) * (k + 1) for k in range(16))
        assert len(codec.encode(spikes, 'rice')) == (4 + best + 7) // 8 + 1


def test_rice_codes_a_large_silent_map() -> None:
    """200,704 silent neurons (64 × 56 × 56): one gap longer than any k makes cheap (k = 15)."""
    spikes = np.zeros((64, 56, 56), bool)
    payload = round_trip(spikes, 'rice', None)
    assert len(payload) == (4 + (200_704 >> 15) + 1 + 15 + 7) // 8 + 1
    assert codec.encode_auto(spikes)[0] == 'rice'


def test_a_bundle_gives_back_its_parts_and_refuses_what_is_malformed() -> None:
    parts = [('rice', b'\x01\x02'), ('rice-temporal', b''), ('bitpack', bytes(300))]
    data = codec.join_bundle(parts)
    assert len(data) == 3 * 3 + 302 and codec.split_bundle(data, 3) == parts
    for bad, why in ((data[:-1], 'runs past'), (data[:4], 'runs past'), (b'\x01\x00', 'inside'),
                     (b'', 'empty'), (b'\x09\x00\x00', 'unknown spike encoding number 9')):
        with pytest.raises(CodecError, match=why):
            codec.split_bundle(bad, 3)
    with pytest.raises(CodecError, match='more than 2 timesteps'):
        codec.split_bundle(data, 2)
    with pytest.raises(CodecError):
        codec.join_bundle([])
    with pytest.raises(CodecError, match='65535'):
        codec.join_bundle([('bitpack', bytes(70000))])


def test_timesteps_are_coded_each_against_the_one_before_and_decode_in_turn() -> None:
    rng = np.random.default_rng(5)
    spikes = [rng.random((4, 7, 7)) < 0.2 for _ in range(3)]
    for encoding in ('auto', 'rice-temporal', 'bitpack'):
        parts = codec.encode_timesteps(spikes, None, encoding)
        if encoding == 'rice-temporal':  # (nothing before the first: the smallest there)
            assert not codec.is_temporal(parts[0][0])
            assert [e for e, _ in parts[1:]] == ['rice-temporal'] * 2
        previous = None
        for (name, payload), expected in zip(parts, spikes, strict=True):
            previous = codec.decode(payload, expected.shape, name, previous)
            assert (previous == expected).all()
    after = codec.encode_timesteps(spikes[1:], spikes[0], 'rice-temporal')
    assert [e for e, _ in after] == ['rice-temporal'] * 2
    assert codec.encode_timesteps(spikes, None, 'auto', ('bitpack',))[0][0] == 'bitpack'
