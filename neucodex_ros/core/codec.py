"""Spike tensor ⇄ PackedSpikes.data payloads: a registry of exactly lossless codecs.

Spike maps are sparse (5–20% firing), so coding spike positions beats one bit per neuron.

| encoding        | payload                                                            |
|-----------------|--------------------------------------------------------------------|
| `bitpack`       | the paper's baseline: 1 bit per neuron, row-major (C, H, W), most  |
|                 | significant bit first, last byte zero-padded (numpy.packbits)      |
| `rice`          | gaps between spikes, Rice-coded with the parameter k chosen per    |
|                 | message (a Rice stream, below), + CRC-8                            |
| `zstd`          | zstd of the bitpack bytes (magicless frame), + CRC-8               |
| `rice-temporal` | the neurons that fired at the previous timestep, then the others,  |
|                 | each group a Rice stream with its own k, + CRC-8                   |
| `zstd-temporal` | zstd of (this timestep XOR the previous one), bit-packed, + CRC-8  |
| `float32`       | 32-bit little-endian floats, one per neuron: no compression at all,|
|                 | what a split without spikes sends (the benchmarks' baseline)       |

A Rice stream over n neurons is a bit string: k (4 bits), then for every spike its gap (the
neurons skipped before it) as gap >> k in unary (that many ones, then a zero) followed by the
k low bits of gap, most significant first; a last gap reaches one past the end, neuron n,
which tells where the spikes stop. The payload's streams are zero-padded to whole bytes.

Temporal codecs code a timestep against the previous timestep of the same sample, so the
receiver must hold it: the edge uses them only over reliable QoS, and the cloud rejects a
temporal payload whose previous timestep it has not decoded. `encode_auto` picks the smallest
payload per message.

Bundles: a robot that already holds several timesteps of a sample (a cascade's escalation)
sends them in one message (PackedSpikes.FLAG_BUNDLE): each part is its encoding's wire
number (1 byte), its payload's length (2 bytes, little-endian) and its payload. On the link
a message costs about 150 bytes of headers against the tens of a timestep's spikes.

Integrity: every payload's length and padding are checked; the coded encodings end in a CRC-8
(ITU-T I.432.1) of the bytes before it, which catches every single-bit error and every burst
of up to 8 bits (other corruption slips through with odds of 1 in 256 at most, before the
structural checks), so a corrupt payload raises CodecError instead of decoding to a wrong
tensor. `bitpack` stays the paper's exact format and has no check: a flipped bit inside it
goes unnoticed (DDS over UDP still carries the UDP checksum).
"""

from __future__ import annotations

import functools
import math
import struct
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import zstandard

from neucodex_ros.core.errors import CodecError

BITPACK = 'bitpack'
RICE = 'rice'
ZSTD = 'zstd'
RICE_TEMPORAL = 'rice-temporal'
ZSTD_TEMPORAL = 'zstd-temporal'
FLOAT32 = 'float32'
#: Not a payload encoding: the edge setting that picks the smallest codec per message.
AUTO = 'auto'

_K_BITS = 4  # Rice parameter field: k in 0..15
_ZSTD_LEVEL = 19  # payloads are tens of bytes; the strongest level costs microseconds


@functools.cache
def _crc8_table() -> list[int]:
    """CRC-8 of every byte value (polynomial 0x07), made on first use."""
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
        table.append(crc)
    return table


def crc8(data: bytes) -> int:
    """CRC-8/I-432-1 (polynomial 0x07, output XOR 0x55) of some bytes.

    The output XOR keeps a payload with zero bytes appended from passing the check.
    """
    table, crc = _crc8_table(), 0
    for byte in data:
        crc = table[crc ^ byte]
    return crc ^ 0x55


def _with_crc(body: bytes) -> bytes:
    return body + bytes((crc8(body),))


def _checked_body(payload: bytes) -> bytes:
    """The payload without its CRC byte; CodecError if the CRC does not match."""
    if not payload:
        raise CodecError('empty payload')
    body = payload[:-1]
    if crc8(body) != payload[-1]:
        raise CodecError('payload CRC mismatch (corrupt or truncated)')
    return body


# --- Rice streams ---------------------------------------------------------------------------
# Messages hold tens of spikes, so plain Python on bit strings ('0'/'1' text, C-speed find
# and int parsing) beats numpy, whose per-call overhead would dominate.

_BYTE_BITS = [format(byte, '08b') for byte in range(256)]


def _bits_of(body: bytes) -> str:
    return ''.join([_BYTE_BITS[byte] for byte in body])


def _bytes_of(bits: str) -> bytes:
    """The bits, zero-padded to whole bytes."""
    bits += '0' * (-len(bits) % 8)  # (never empty: a stream has its k field)
    return int(bits, 2).to_bytes(len(bits) // 8, 'big')


def _rice_parameter(gaps: list[int]) -> int:
    """The k in 0..15 that codes these gaps in the fewest bits.

    For geometric gaps 2^k ≈ mean gap · ln 2; the best k is that one or a neighbour (exact on
    random maps of 0–100% firing), so only three are costed. A map silent over more than
    ~190,000 neurons guesses beyond 15: the header's largest k is then the best there is.
    """
    guess = min(int(math.log2(sum(gaps) / len(gaps) * math.log(2) + 1)), (1 << _K_BITS) - 1)
    candidates = range(max(guess - 1, 0), min(guess + 2, 1 << _K_BITS))
    return min(candidates, key=lambda k: sum(gap >> k for gap in gaps) + len(gaps) * k)


def _rice_encode(spikes: np.ndarray) -> str:
    """A Rice stream of a flat bool array: k, then each gap, then the gap to the end."""
    positions = np.flatnonzero(spikes).tolist()
    positions.append(spikes.size)  # the end, coded as one more gap, marks the last spike
    gaps = [position - before - 1 for before, position in zip([-1, *positions[:-1]], positions,
                                                              strict=True)]
    k = _rice_parameter(gaps)
    if k == 0:
        return '0' * _K_BITS + ''.join(['1' * gap + '0' for gap in gaps])
    low, tail = (1 << k) - 1, f'0{k}b'
    return format(k, f'0{_K_BITS}b') + ''.join(['1' * (gap >> k) + '0' + format(gap & low, tail)
                                               for gap in gaps])


def _rice_decode(bits: str, offset: int, n: int) -> tuple[np.ndarray, int]:
    """Read a Rice stream of n neurons at offset: (flat bool array, offset after it)."""
    if len(bits) < offset + _K_BITS:
        raise CodecError('payload ends inside a Rice header (truncated)')
    k = int(bits[offset:offset + _K_BITS], 2)
    offset += _K_BITS
    positions: list[int] = []
    position = -1
    while True:  # each gap moves at least one neuron on, so this ends by n + 1 gaps
        zero = bits.find('0', offset)
        end = zero + 1 + k
        if zero < 0 or end > len(bits):
            raise CodecError('payload ends inside the spike gaps (truncated)')
        position += ((zero - offset) << k) + (int(bits[zero + 1:end], 2) if k else 0) + 1
        offset = end
        if position >= n:
            break
        positions.append(position)
    if position != n:
        raise CodecError(f'spike gaps run {position - n} neurons past the {n} (corrupt)')
    spikes = np.zeros(n, dtype=np.bool_)
    spikes[positions] = True
    return spikes, offset


def _check_fill(bits: str, used: int) -> None:
    """The stream must end within the last byte, padded with zeros."""
    if len(bits) - used >= 8 or '1' in bits[used:]:
        raise CodecError('payload has bytes or non-zero padding after its last spike '
                         '(corrupt or wrong shape)')


# --- codecs ---------------------------------------------------------------------------------
# Each works on flat bool arrays; `previous` is the previous timestep (temporal codecs only).

def _bitpack_encode(spikes: np.ndarray, previous: np.ndarray | None) -> bytes:
    return np.packbits(spikes).tobytes()


def _bitpack_decode(payload: bytes, n: int, previous: np.ndarray | None) -> np.ndarray:
    data = np.frombuffer(payload, dtype=np.uint8)
    if data.size != (n + 7) // 8:
        raise CodecError(f'bitpack payload of {data.size} bytes does not fit {n} neurons '
                         f'({(n + 7) // 8} bytes expected)')
    if n % 8 and data[-1] & (0xFF >> (n % 8)):
        raise CodecError('bitpack payload has non-zero padding bits (corrupt or wrong shape)')
    return np.unpackbits(data, count=n).astype(np.bool_)


def _rice_encode_payload(spikes: np.ndarray, previous: np.ndarray | None) -> bytes:
    return _with_crc(_bytes_of(_rice_encode(spikes)))


def _rice_decode_payload(payload: bytes, n: int, previous: np.ndarray | None) -> np.ndarray:
    bits = _bits_of(_checked_body(payload))
    spikes, used = _rice_decode(bits, 0, n)
    _check_fill(bits, used)
    return spikes


def _rice_temporal_encode(spikes: np.ndarray, previous: np.ndarray | None) -> bytes:
    assert previous is not None
    return _with_crc(_bytes_of(_rice_encode(spikes[previous]) + _rice_encode(spikes[~previous])))


def _rice_temporal_decode(payload: bytes, n: int, previous: np.ndarray | None) -> np.ndarray:
    assert previous is not None
    bits = _bits_of(_checked_body(payload))
    fired, used = _rice_decode(bits, 0, int(previous.sum()))
    silent, used = _rice_decode(bits, used, n - fired.size)
    _check_fill(bits, used)
    spikes = np.empty(n, dtype=np.bool_)
    spikes[previous], spikes[~previous] = fired, silent
    return spikes


_COMPRESSOR = zstandard.ZstdCompressor(compression_params=zstandard.ZstdCompressionParameters
                                       .from_level(_ZSTD_LEVEL,
                                                   format=zstandard.FORMAT_ZSTD1_MAGICLESS,
                                                   write_content_size=False,
                                                   write_checksum=False, write_dict_id=False))
_DECOMPRESSOR = zstandard.ZstdDecompressor(format=zstandard.FORMAT_ZSTD1_MAGICLESS)


def _zstd_encode(spikes: np.ndarray, previous: np.ndarray | None) -> bytes:
    return _with_crc(_COMPRESSOR.compress(np.packbits(spikes).tobytes()))


def _zstd_decode(payload: bytes, n: int, previous: np.ndarray | None) -> np.ndarray:
    body = _checked_body(payload)
    try:
        # (max_output_size 0 would mean "from the frame header", which has no size)
        packed = _DECOMPRESSOR.decompress(body, max_output_size=max((n + 7) // 8, 1))
    except zstandard.ZstdError as err:
        raise CodecError(f'zstd payload does not decompress: {err}') from err
    return _bitpack_decode(packed, n, None)


def _zstd_temporal_encode(spikes: np.ndarray, previous: np.ndarray | None) -> bytes:
    return _zstd_encode(spikes ^ previous, None)


def _zstd_temporal_decode(payload: bytes, n: int, previous: np.ndarray | None) -> np.ndarray:
    return _zstd_decode(payload, n, None) ^ previous


def _float32_encode(spikes: np.ndarray, previous: np.ndarray | None) -> bytes:
    return spikes.astype('<f4').tobytes()


def _float32_decode(payload: bytes, n: int, previous: np.ndarray | None) -> np.ndarray:
    if len(payload) != 4 * n:
        raise CodecError(f'float32 payload of {len(payload)} bytes does not fit {n} neurons '
                         f'({4 * n} bytes expected)')
    values = np.frombuffer(payload, dtype='<f4')
    spikes = values == 1
    if not (spikes | (values == 0)).all():
        raise CodecError('float32 payload has values other than 0 and 1')
    return spikes


@dataclass(frozen=True)
class Codec:
    """One payload encoding: flat bool spikes ⇄ bytes."""

    name: str
    temporal: bool  # needs the previous timestep of the same sample on both sides
    encode: Callable[[np.ndarray, np.ndarray | None], bytes]
    decode: Callable[[bytes, int, np.ndarray | None], np.ndarray]


CODECS: dict[str, Codec] = {c.name: c for c in (
    Codec(BITPACK, False, _bitpack_encode, _bitpack_decode),
    Codec(RICE, False, _rice_encode_payload, _rice_decode_payload),
    Codec(ZSTD, False, _zstd_encode, _zstd_decode),
    Codec(RICE_TEMPORAL, True, _rice_temporal_encode, _rice_temporal_decode),
    Codec(ZSTD_TEMPORAL, True, _zstd_temporal_encode, _zstd_temporal_decode),
    Codec(FLOAT32, False, _float32_encode, _float32_decode),
)}
#: Encodings this module can encode and decode.
ENCODINGS = tuple(CODECS)
#: An encoding's number on the wire (PackedSpikes.encoding, its ENCODING_* constants).
WIRE_IDS = {name: index for index, name in enumerate(ENCODINGS)}
#: The spike codecs `auto` chooses from (float32 is a baseline, never the smallest).
SPIKE_CODECS = tuple(name for name in ENCODINGS if name != FLOAT32)


def _codec(encoding: str) -> Codec:
    try:
        return CODECS[encoding]
    except KeyError:
        raise CodecError(f'unknown spike encoding {encoding!r}; known: {list(ENCODINGS)}') \
            from None


def from_wire_id(wire_id: int) -> str:
    """The encoding a wire number stands for; CodecError for an unknown number."""
    if not 0 <= wire_id < len(ENCODINGS):
        raise CodecError(f'unknown spike encoding number {wire_id}; known: '
                         + ', '.join(f'{i} {name}' for name, i in WIRE_IDS.items()))
    return ENCODINGS[wire_id]


def is_temporal(encoding: str) -> bool:
    """Whether a payload of this encoding needs the sample's previous timestep to decode."""
    return _codec(encoding).temporal


def max_payload_size(encoding: str, n: int) -> int:
    """The most bytes a decodable payload of `n` neurons can take in this encoding.

    Rice: every gap costs at most (gap >> k) + 1 + k bits, k ≤ 15, and the gaps of a stream
    sum to at most n; zstd: the compressor's bound on the bit-packed bytes (ZSTD_COMPRESSBOUND).
    `decode` rejects anything longer before reading it, so a payload's cost is bounded by its
    shape, whatever a peer sends.
    """
    codec = _codec(encoding)
    packed = (n + 7) // 8
    if codec.name == BITPACK:
        return packed
    if codec.name == FLOAT32:
        return 4 * n
    if codec.name in (RICE, RICE_TEMPORAL):
        streams = 2 if codec.temporal else 1
        bits = streams * _K_BITS + n + (1 + (1 << _K_BITS) - 1) * (n + streams)
        return (bits + 7) // 8 + 1  # + the CRC
    window = 128 << 10
    return packed + (packed >> 8) + (max(window - packed, 0) >> 11) + 1  # + the CRC


def packed_size(shape: tuple[int, ...]) -> int:
    """Bytes of a bitpack payload for a tensor of this shape."""
    return (int(np.prod(shape, dtype=np.int64)) + 7) // 8


def _flat_spikes(spikes: np.ndarray) -> np.ndarray:
    if spikes.dtype != np.bool_:
        if not np.isin(spikes, (0, 1)).all():
            raise CodecError('spike tensor has values other than 0 and 1')
        spikes = spikes.astype(np.bool_)
    return spikes.ravel()


def _flat_previous(previous: np.ndarray, size: int) -> np.ndarray:
    flat = _flat_spikes(previous)
    if flat.size != size:
        raise CodecError(f'previous timestep has {flat.size} neurons, this one {size}')
    return flat


def _reference(codec: Codec, previous: np.ndarray | None, size: int) -> np.ndarray | None:
    """What a codec codes against: the previous timestep for temporal codecs, else None."""
    if not codec.temporal:
        return None
    if previous is None:
        raise CodecError(f'{codec.name} codes against the previous timestep, which is missing')
    return _flat_previous(previous, size)


def encode(spikes: np.ndarray, encoding: str = BITPACK,
           previous: np.ndarray | None = None) -> bytes:
    """Code a binary spike tensor (bool, or numbers that are all 0/1) as a payload.

    `previous` is the sample's previous timestep, needed by the temporal encodings only.
    """
    flat = _flat_spikes(spikes)
    codec = _codec(encoding)
    return codec.encode(flat, _reference(codec, previous, flat.size))


def decode(payload: bytes | bytearray | memoryview, shape: tuple[int, ...],
           encoding: str = BITPACK, previous: np.ndarray | None = None) -> np.ndarray:
    """Decode a payload into a bool tensor of `shape`; any mismatch is a CodecError."""
    codec = _codec(encoding)
    if any(int(size) < 0 for size in shape):
        raise CodecError(f'negative size in shape {shape}')
    n = int(np.prod(shape, dtype=np.int64))
    most = max_payload_size(codec.name, n)
    if len(payload) > most:
        raise CodecError(f'{len(payload)} bytes is more than a {codec.name} payload of {n} '
                         f'neurons can take ({most})')
    return codec.decode(bytes(payload), n, _reference(codec, previous, n)).reshape(shape)


def encode_auto(spikes: np.ndarray, previous: np.ndarray | None = None,
                candidates: Sequence[str] = SPIKE_CODECS) -> tuple[str, bytes]:
    """The smallest payload among the candidates: (encoding, payload).

    Temporal candidates are tried only when `previous` is given; ties go to the earlier
    candidate.
    """
    flat = _flat_spikes(spikes)
    flat_previous: np.ndarray | None = None  # flattened once, for all temporal candidates
    best: tuple[str, bytes] | None = None
    for name in candidates:
        codec = _codec(name)
        if codec.temporal:
            if previous is None:
                continue
            if flat_previous is None:
                flat_previous = _flat_previous(previous, flat.size)
        payload = codec.encode(flat, flat_previous if codec.temporal else None)
        if best is None or len(payload) < len(best[1]):
            best = (name, payload)
    if best is None:
        raise CodecError(f'no usable codec among {list(candidates)}')
    return best


def encode_timesteps(timesteps: Sequence[np.ndarray], previous: np.ndarray | None,
                     encoding: str, candidates: Sequence[str] = SPIKE_CODECS
                     ) -> list[tuple[str, bytes]]:
    """A sample's next timesteps, each coded against the one before it: (encoding, payload).

    `previous`: the timestep sent before the first of them. The `encoding` setting `auto`, or
    a temporal one with nothing to code against, takes the smallest candidate each time.
    """
    parts = []
    for spikes in timesteps:
        if encoding == AUTO or (previous is None and is_temporal(encoding)):
            parts.append(encode_auto(spikes, previous, candidates))
        else:
            parts.append((encoding, encode(spikes, encoding, previous)))
        previous = spikes
    return parts


_PART = struct.Struct('<BH')  # a bundle part's header: wire id, payload length


def join_bundle(parts: Sequence[tuple[str, bytes]]) -> bytes:
    """Several timesteps' (encoding, payload) in one PackedSpikes.data, in timestep order."""
    if not parts:
        raise CodecError('a bundle holds at least one timestep')
    out = bytearray()
    for encoding, payload in parts:
        if len(payload) > 0xFFFF:
            raise CodecError(f'a bundled payload takes at most 65535 bytes, not {len(payload)}')
        out += _PART.pack(WIRE_IDS[_codec(encoding).name], len(payload)) + payload
    return bytes(out)


def split_bundle(data: bytes | bytearray | memoryview, most: int) -> list[tuple[str, bytes]]:
    """A bundle's parts; CodecError if it is malformed or holds none or more than `most`."""
    data = bytes(data)
    parts: list[tuple[str, bytes]] = []
    offset = 0
    while offset < len(data):
        if len(parts) == most:
            raise CodecError(f'a bundle of more than {most} timesteps')
        if offset + _PART.size > len(data):
            raise CodecError('a bundle ends inside a part\'s header')
        wire_id, size = _PART.unpack_from(data, offset)
        offset += _PART.size
        if offset + size > len(data):
            raise CodecError(f'a bundled payload of {size} bytes runs past the bundle\'s end')
        parts.append((from_wire_id(wire_id), data[offset:offset + size]))
        offset += size
    if not parts:
        raise CodecError('an empty bundle')
    return parts
