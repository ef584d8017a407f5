"""AEDAT 3.1 files (iniVation / jAER; CIFAR10-DVS is distributed in this format).

An ASCII header (lines starting with '#', the first `#!AER-DAT3.1`, the last
`#!END-HEADER`) is followed by event packets, all little-endian. Each packet has a 28-byte
header (event type u16, source u16, event size u32, timestamp offset u32, timestamp overflow
u32, capacity u32, number u32, valid u32) and `capacity × size` bytes of events. Polarity
events (type 1) are 8 bytes: u32 data (bit 0 valid, bit 1 polarity, bits 2-16 y, bits 17-31
x) and i32 timestamp (µs); the full time is timestamp | overflow << 31. Other event types are
skipped; invalid events are dropped.
"""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

from neucodex_ros.core.errors import EventError
from neucodex_ros.core.events import EVENT_DTYPE, make_events

VERSION_LINE = b'#!AER-DAT3.1'
END_HEADER = b'#!END-HEADER'
PACKET_HEADER = struct.Struct('<HHIIIIII')
POLARITY_EVENT = 1
POLARITY_DTYPE = np.dtype([('data', '<u4'), ('ts', '<u4')])


def read_aedat3(path: Path) -> np.ndarray:
    """The valid polarity events of an AEDAT 3.1 file, EVENT_DTYPE, in file order."""
    blob = Path(path).read_bytes()
    if not blob.startswith(VERSION_LINE):
        raise EventError(f'{path}: not an AEDAT 3.1 file (no {VERSION_LINE.decode()} line)')
    end = blob.find(END_HEADER)
    if end < 0:
        raise EventError(f'{path}: header has no {END_HEADER.decode()} line')
    offset = blob.index(b'\n', end) + 1
    chunks = []
    while offset < len(blob):
        if offset + PACKET_HEADER.size > len(blob):
            raise EventError(f'{path}: truncated packet header at byte {offset}')
        kind, _, size, _, overflow, capacity, _, _ = PACKET_HEADER.unpack_from(blob, offset)
        offset += PACKET_HEADER.size
        length = size * capacity
        if offset + length > len(blob):
            raise EventError(f'{path}: packet at byte {offset} runs past the end of the file')
        if kind == POLARITY_EVENT:
            if size != POLARITY_DTYPE.itemsize:
                raise EventError(f'{path}: polarity events of {size} bytes, expected 8')
            raw = np.frombuffer(blob, POLARITY_DTYPE, capacity, offset)
            raw = raw[(raw['data'] & 1).astype(bool)]
            data = raw['data'].astype(np.int64)
            t = raw['ts'].astype(np.int64) | (int(overflow) << 31)
            chunks.append(make_events((data >> 17) & 0x7FFF, (data >> 2) & 0x7FFF,
                                      (data >> 1) & 1, t))
        offset += length
    return np.concatenate(chunks) if chunks else np.empty(0, EVENT_DTYPE)


def write_aedat3(path: Path, events: np.ndarray, packet_size: int = 4096) -> None:
    """Write events (t in order) as an AEDAT 3.1 file of polarity packets.

    A new packet starts wherever the timestamp overflow counter (t >> 31) changes.
    """
    events = np.asarray(events, dtype=EVENT_DTYPE)
    parts = [VERSION_LINE + b'\r\n', b'#Format: RAW\r\n', b'#Source 1: neucodex_ros\r\n',
             END_HEADER + b'\r\n']
    overflows = events['t'] >> 31
    boundaries = np.flatnonzero(np.diff(overflows)) + 1
    for group in np.split(events, boundaries):
        for start in range(0, len(group), packet_size):
            chunk = group[start:start + packet_size]
            raw = np.empty(len(chunk), POLARITY_DTYPE)
            x, y = chunk['x'].astype(np.uint32), chunk['y'].astype(np.uint32)
            raw['data'] = (x << 17) | (y << 2) | ((chunk['p'] > 0).astype(np.uint32) << 1) | 1
            raw['ts'] = chunk['t'] & 0x7FFFFFFF
            parts.append(PACKET_HEADER.pack(POLARITY_EVENT, 1, POLARITY_DTYPE.itemsize, 4,
                                            int(chunk['t'][0]) >> 31, len(chunk), len(chunk),
                                            len(chunk)))
            parts.append(raw.tobytes())
    Path(path).write_bytes(b''.join(parts))
