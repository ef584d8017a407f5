"""Decoders (and the encoders we need) for `event_camera_msgs/EventPacket` payloads.

Vectorised numpy, no per-event Python loop, with the semantics of the reference decoders
(ros-event-camera/event_camera_codecs):

* `evt3` — Prophesee EVT 3.0, 16-bit little-endian words, code in the top 4 bits. Time is the
  sensor clock: TIME_HIGH (bits 12-23) | TIME_LOW (bits 0-11) in µs; a TIME_HIGH more than
  10 below the previous one is a rollover of the 24-bit clock if, counted forward through
  the wrap, it is less than a quarter of the clock's span (4.2 s) ahead; further back, the
  camera's time went back (the windows start again there: windows.py), which a rollover
  read would have turned into a jump of 16.78 s. Nothing is decoded before the
  first TIME_HIGH + TIME_LOW; CD events outside width × height are dropped. State (time, y,
  vector base) carries over from packet to packet.
* `libcaer` — iniVation polarity events, 8 bytes: u32 data (bit 1 polarity, bits 2-16 y,
  bits 17-31 x) and i32 µs timestamp; time = time_base (ns) + timestamp × 1000, with the
  timestamp's int32 rollover inside a packet bumping time by 2^31 µs (the driver bumps
  time_base across packets).
* `libcaer_cmp` — compressed iniVation words (16 bit, code in the top 4 bits: TIME_HIGH,
  TIME_LOW, ADDR_X, ADDR_Y (+polarity, emits), VECT_BASE_Y, VECT_8); time restarts at each
  packet: time_base (ns) + (high << 12 | low) µs.
* `mono` — 64-bit words: bit 63 polarity, bits 48-62 y, bits 32-47 x, bits 0-31 time (ns)
  after time_base.

Decoded events are EVENT_DTYPE with `t` in µs on the camera's timeline: the sensor clock for
evt3 (µs since the camera started, unwrapped), time_base + offset for the others (the
drivers' time_base is ns since the epoch). External triggers (evt3) come as TRIGGER_DTYPE.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from neucodex_ros.core.errors import EventError
from neucodex_ros.core.events import EVENT_DTYPE, make_events

TRIGGER_DTYPE = np.dtype([('t', '<i8'), ('edge', 'u1'), ('id', 'u1')])


@dataclass
class Decoded:
    """One packet's worth of decoded data."""

    events: np.ndarray  # EVENT_DTYPE
    triggers: np.ndarray  # TRIGGER_DTYPE
    outside: int = 0  # CD events dropped for lying outside width x height


def _last_index(mask: np.ndarray) -> np.ndarray:
    """For every position, the index of the last True of mask up to it, or -1."""
    index = np.where(mask, np.arange(len(mask)), -1)
    return np.maximum.accumulate(index, out=index)


def _forward_fill(mask: np.ndarray, values: np.ndarray, initial: int) -> np.ndarray:
    """For every position, the value at the last True of mask up to it (else `initial`)."""
    index = _last_index(mask)
    return np.where(index >= 0, values[index], initial).astype(np.int64)


def _words(data: bytes | bytearray | memoryview | np.ndarray, size: int, dtype: str,
           encoding: str, big_endian: bool) -> np.ndarray:
    raw = np.frombuffer(data, dtype=np.uint8)
    if raw.size % size:
        raise EventError(f'{encoding} packet of {raw.size} bytes is truncated (not a multiple '
                         f'of {size})')
    return raw.view(np.dtype(dtype).newbyteorder('>' if big_endian else '<'))


# ----------------------------------------------------------------------------- evt3
EVT3_ADDR_Y, EVT3_ADDR_X, EVT3_VECT_BASE_X, EVT3_VECT_12, EVT3_VECT_8 = 0, 2, 3, 4, 5
EVT3_TIME_LOW, EVT3_CONTINUED_4, EVT3_TIME_HIGH, EVT3_PADDING = 6, 7, 8, 9
EVT3_EXT_TRIGGER, EVT3_OTHERS, EVT3_CONTINUED_12 = 10, 14, 15
EVT3_KNOWN = np.zeros(16, bool)
EVT3_KNOWN[[EVT3_ADDR_Y, EVT3_ADDR_X, EVT3_VECT_BASE_X, EVT3_VECT_12, EVT3_VECT_8,
            EVT3_TIME_LOW, EVT3_CONTINUED_4, EVT3_TIME_HIGH, EVT3_PADDING, EVT3_EXT_TRIGGER,
            EVT3_OTHERS, EVT3_CONTINUED_12]] = True
ROLLOVER_MIN_DISTANCE = 10  # a TIME_HIGH this much below the last one is a rollover ...
ROLLOVER_MAX_AHEAD = 1 << 10  # ... if at most this far ahead through the wrap (of 1 << 12)


@dataclass
class Evt3Decoder:
    """Stateful evt3 decoder, one per stream: its fields carry from one packet to the next."""

    valid_time: bool = False
    seen_high: bool = False  # a TIME_HIGH came (time turns valid at the next TIME_LOW)
    rollovers: int = 0
    time_high: int = 0  # 12 bits
    time_low: int = 0  # 12 bits
    y: int = 0
    base_x: int = 0
    polarity: int = 0
    _start_high: int = 0  # the clock before the packet being decoded
    _start_low: int = 0

    def decode(self, data: bytes, width: int, height: int, time_base: int = 0,
               big_endian: bool = False) -> Decoded:
        """Decode one packet."""
        words = _words(data, 2, 'u2', 'evt3', big_endian)
        codes, payload = words >> 12, (words & 0xFFF).astype(np.int64)
        known = EVT3_KNOWN[codes]
        if not known.all():
            raise EventError(f'evt3 packet has unsupported code {int(codes[~known][0])}')
        high_at = np.flatnonzero(codes == EVT3_TIME_HIGH)
        low_at = np.flatnonzero(codes == EVT3_TIME_LOW)
        start = 0
        if not self.valid_time:  # skip to just after the first TIME_LOW that follows a TIME_HIGH
            if self.seen_high:
                later_lows = low_at
            else:
                later_lows = low_at[low_at > high_at[0]] if high_at.size else low_at[:0]
            if not later_lows.size:
                self._advance_time(payload[high_at], payload[low_at])  # the clock still runs
                self.seen_high = self.seen_high or bool(high_at.size)
                return Decoded(np.empty(0, EVENT_DTYPE), np.empty(0, TRIGGER_DTYPE))
            start = int(later_lows[0]) + 1
            self._advance_time(payload[high_at[high_at < start]],
                               payload[low_at[low_at < start]])
            self.valid_time = True
            high_at, low_at = high_at[high_at >= start], low_at[low_at >= start]
        # the clock at each word is the last TIME_HIGH (with rollovers) | the last TIME_LOW
        full_high = self._advance_time(payload[high_at], payload[low_at])

        # [0] of each: the clock carried in from before these words
        highs = np.concatenate([[self._start_high], full_high])
        lows = np.concatenate([[self._start_low], payload[low_at]])

        def clock(at: np.ndarray) -> np.ndarray:
            return highs[np.searchsorted(high_at, at, side='right')] | \
                lows[np.searchsorted(low_at, at, side='right')]

        y_at = np.flatnonzero(codes[start:] == EVT3_ADDR_Y) + start
        y_values = payload[y_at] & 0x7FF
        event_at = np.flatnonzero(codes[start:] == EVT3_ADDR_X) + start
        # y of the last ADDR_Y before each word; [0] is the y carried from the last packet
        y_or_carried = np.concatenate([[self.y], y_values])
        ys = y_or_carried[np.searchsorted(y_at, event_at, side='right')]
        xs, ps, ts = payload[event_at] & 0x7FF, payload[event_at] >> 11, clock(event_at)
        vector = (codes[start:] == EVT3_VECT_12) | (codes[start:] == EVT3_VECT_8)
        if vector.any() or (codes[start:] == EVT3_VECT_BASE_X).any():
            xs, ys, ps, ts = self._with_vectors(codes[start:], payload[start:], start, event_at,
                                                (xs, ys, ps, ts), y_at, y_or_carried, clock)
        trigger_at = np.flatnonzero(codes[start:] == EVT3_EXT_TRIGGER) + start
        triggers = np.empty(len(trigger_at), TRIGGER_DTYPE)
        if len(triggers):
            triggers['t'], triggers['edge'] = clock(trigger_at), payload[trigger_at] & 1
            triggers['id'] = (payload[trigger_at] >> 8) & 0xF
        if len(y_at):
            self.y = int(y_values[-1])
        return _decoded_inside(xs, ys, ps, ts, width, height, triggers)

    def _with_vectors(self, codes: np.ndarray, payload: np.ndarray, start: int,
                      event_at: np.ndarray, singles: tuple[np.ndarray, ...], y_at: np.ndarray,
                      y_or_carried: np.ndarray, clock: Callable[[np.ndarray], np.ndarray]
                      ) -> tuple[np.ndarray, ...]:
        """Add the events of VECT_12 / VECT_8 words, in word order with the single ones."""
        step = np.where(codes == EVT3_VECT_12, 12, 0) + np.where(codes == EVT3_VECT_8, 8, 0)
        taken = np.cumsum(step) - step  # x advance of the vectors before each word
        base_index = _last_index(codes == EVT3_VECT_BASE_X)
        base_x = np.where(base_index >= 0, (payload[base_index] & 0x7FF)
                          + taken - taken[base_index], self.base_x + taken)
        polarity = np.where(base_index >= 0, payload[base_index] >> 11, self.polarity)
        vector = step > 0
        bits = (payload[vector, None] >> np.arange(12)) & 1
        bits[step[vector] == 8, 8:] = 0
        rows, cols = np.nonzero(bits)
        word = np.flatnonzero(vector)[rows] + start
        order = np.argsort(np.concatenate([event_at, word + cols / 16]), kind='stable')
        self.polarity, self.base_x = int(polarity[-1]), int(base_x[-1] + step[-1])
        xs, ys, ps, ts = singles
        return (np.concatenate([xs, base_x[vector][rows] + cols])[order],
                np.concatenate([ys, y_or_carried[np.searchsorted(y_at, word,
                                                                 side='right')]])[order],
                np.concatenate([ps, polarity[vector][rows]])[order],
                np.concatenate([ts, clock(word)])[order])

    def _advance_time(self, highs: np.ndarray, lows: np.ndarray) -> np.ndarray:
        """Apply a run of TIME_HIGH and TIME_LOW values to the clock state.

        Returns the full high time (rollovers << 24 | high << 12) of each TIME_HIGH, and
        leaves in _start_high/_start_low the clock before the run.
        """
        self._start_high = (self.rollovers << 24) | (self.time_high << 12)
        self._start_low = self.time_low
        previous = np.concatenate([[self.time_high], highs[:-1]])
        wrapped = (highs < previous) & (previous - highs > ROLLOVER_MIN_DISTANCE) \
            & ((highs - previous) % (1 << 12) <= ROLLOVER_MAX_AHEAD)
        rollovers = self.rollovers + np.cumsum(wrapped)
        if len(highs):
            self.time_high, self.rollovers = int(highs[-1]), int(rollovers[-1])
        if len(lows):
            self.time_low = int(lows[-1])
        return (rollovers << 24) | (highs << 12)


def encode_evt3(events: np.ndarray) -> bytes:
    """Events (t in order, µs < 2^24 apart between TIME_HIGH words) as evt3 words.

    Emits TIME_HIGH and TIME_LOW whenever they change, ADDR_Y whenever y changes, one ADDR_X
    per event; the stream starts with TIME_HIGH, TIME_LOW so a decoder has a valid time.
    """
    events = np.asarray(events, dtype=EVENT_DTYPE)
    if not len(events):
        return b''
    t = events['t'].astype(np.int64)
    if (np.diff(t) < 0).any() or t[0] < 0:
        raise EventError('evt3 needs non-negative event times in order')
    high, low = (t >> 12) & 0xFFF, t & 0xFFF
    y = events['y'].astype(np.int64)
    first = np.zeros(len(t), bool)
    first[0] = True
    new_high = first | (np.diff(t >> 12, prepend=-1) != 0)
    new_low = new_high | (np.diff(low, prepend=-1) != 0)
    new_y = first | (np.diff(y, prepend=-1) != 0)
    words = np.stack([
        np.where(new_high, (EVT3_TIME_HIGH << 12) | high, -1),
        np.where(new_low, (EVT3_TIME_LOW << 12) | low, -1),
        np.where(new_y, (EVT3_ADDR_Y << 12) | (y & 0x7FF), -1),
        (EVT3_ADDR_X << 12) | ((events['p'].astype(np.int64) & 1) << 11)
        | (events['x'].astype(np.int64) & 0x7FF)], axis=1).ravel()
    return words[words >= 0].astype('<u2').tobytes()


def _decoded_inside(xs: np.ndarray, ys: np.ndarray, ps: np.ndarray, ts: np.ndarray,
                    width: int, height: int, triggers: np.ndarray | None = None) -> Decoded:
    """CD event columns as a packet's Decoded, those outside width × height dropped, counted."""
    triggers = np.empty(0, TRIGGER_DTYPE) if triggers is None else triggers
    inside = (xs < width) & (ys < height)
    if inside.all():
        return Decoded(make_events(xs, ys, ps, ts), triggers)
    return Decoded(make_events(xs[inside], ys[inside], ps[inside], ts[inside]), triggers,
                   outside=int((~inside).sum()))


# -------------------------------------------------------------------------- libcaer
LIBCAER_DTYPE = np.dtype([('data', '<u4'), ('ts', '<i4')])


@dataclass
class LibcaerDecoder:
    """libcaer polarity events (stateless: time_base carries the high bits)."""

    def decode(self, data: bytes, width: int, height: int, time_base: int = 0,
               big_endian: bool = False) -> Decoded:
        """Decode one packet."""
        records = _words(data, 8, 'u8', 'libcaer', big_endian).view(
            LIBCAER_DTYPE.newbyteorder('>' if big_endian else '<'))
        ts = records['ts'].astype(np.int64)
        rollovers = np.concatenate([[0], np.cumsum(ts[1:] < ts[:-1])])
        t_ns = time_base + (rollovers << 31) * 1000 + ts * 1000
        value = records['data'].astype(np.int64)
        return _decoded_inside((value >> 17) & 0x7FFF, (value >> 2) & 0x7FFF, (value >> 1) & 1,
                               t_ns // 1000, width, height)


# ---------------------------------------------------------------------- libcaer_cmp
CMP_TIME_HIGH, CMP_TIME_LOW, CMP_ADDR_X, CMP_ADDR_Y, CMP_VECT_BASE_Y, CMP_VECT_8 = range(6)
CMP_VECT_12 = 6


@dataclass
class LibcaerCmpDecoder:
    """Compressed libcaer words, one decoder per stream.

    Its fields carry from one packet to the next (time does not).
    """

    x: int = 0
    base_y: int = 0
    polarity: int = 0

    def decode(self, data: bytes, width: int, height: int, time_base: int = 0,
               big_endian: bool = False) -> Decoded:
        """Decode one packet."""
        words = _words(data, 2, 'u2', 'libcaer_cmp', big_endian).astype(np.int64)
        codes, payload = words >> 12, words & 0xFFF
        if (codes > CMP_VECT_12).any():
            raise EventError(f'libcaer_cmp packet has unsupported code '
                             f'{int(codes[codes > CMP_VECT_12][0])}')
        high = _forward_fill(codes == CMP_TIME_HIGH, payload, 0)
        low = _forward_fill(codes == CMP_TIME_LOW, payload, 0)
        t_us = (time_base + ((high << 12) | low) * 1000) // 1000
        x = _forward_fill(codes == CMP_ADDR_X, payload & 0x7FF, self.x)
        single = codes == CMP_ADDR_Y
        base_word = codes == CMP_VECT_BASE_Y
        step = np.where(codes == CMP_VECT_8, 8, 0)
        taken = np.cumsum(step) - step
        base_index = np.where(base_word, np.arange(len(codes)), -1)
        np.maximum.accumulate(base_index, out=base_index)
        since_base = taken - np.where(base_index >= 0, taken[np.maximum(base_index, 0)], 0)
        base_y = np.where(base_index >= 0, payload[np.maximum(base_index, 0)] & 0x7FF,
                          self.base_y) + since_base
        polarity = _forward_fill(base_word, (payload >> 11) & 1, self.polarity)
        vector = codes == CMP_VECT_8
        bits = (payload[vector, None] >> np.arange(8)) & 1
        rows, cols = np.nonzero(bits)
        order = np.concatenate([np.flatnonzero(single), np.flatnonzero(vector)[rows] + cols / 16])
        xs = np.concatenate([x[single], x[vector][rows]])
        ys = np.concatenate([payload[single] & 0x7FF, base_y[vector][rows] + cols])
        ps = np.concatenate([(payload[single] >> 11) & 1, polarity[vector][rows]])
        ts = np.concatenate([t_us[single], t_us[vector][rows]])
        sort = np.argsort(order, kind='stable')
        if len(codes):
            self.x, self.polarity = int(x[-1]), int(polarity[-1])
            self.base_y = int(base_y[-1] + step[-1])
        return _decoded_inside(xs[sort], ys[sort], ps[sort], ts[sort], width, height)


def encode_libcaer_cmp(events: np.ndarray, time_base_us: int) -> bytes:
    """Events of one packet (t - time_base_us < 2^24 µs) as libcaer_cmp words."""
    events = np.asarray(events, dtype=EVENT_DTYPE)
    rel = events['t'].astype(np.int64) - time_base_us
    if len(rel) and (rel.min() < 0 or rel.max() >= 1 << 24):
        raise EventError('libcaer_cmp packets span less than 2^24 µs after their time_base')
    words = np.stack([(CMP_TIME_HIGH << 12) | (rel >> 12), (CMP_TIME_LOW << 12) | (rel & 0xFFF),
                      (CMP_ADDR_X << 12) | events['x'].astype(np.int64),
                      (CMP_ADDR_Y << 12) | ((events['p'].astype(np.int64) & 1) << 11)
                      | events['y'].astype(np.int64)], axis=1).ravel()
    return words.astype('<u2').tobytes()


# ----------------------------------------------------------------------------- mono
@dataclass
class MonoDecoder:
    """mono 64-bit words (stateless)."""

    def decode(self, data: bytes, width: int, height: int, time_base: int = 0,
               big_endian: bool = False) -> Decoded:
        """Decode one packet."""
        words = _words(data, 8, 'u8', 'mono', big_endian)
        t_ns = time_base + (words & 0xFFFFFFFF).astype(np.int64)
        return _decoded_inside((words >> 32) & 0xFFFF, (words >> 48) & 0x7FFF, words >> 63,
                               t_ns // 1000, width, height)


def encode_mono(events: np.ndarray, time_base_ns: int) -> bytes:
    """Events of one packet (t·1000 - time_base_ns < 2^32 ns) as mono words."""
    events = np.asarray(events, dtype=EVENT_DTYPE)
    dt = events['t'].astype(np.int64) * 1000 - time_base_ns
    if len(dt) and (dt.min() < 0 or dt.max() >= 1 << 32):
        raise EventError('mono packets span less than 2^32 ns after their time_base')
    words = (dt.astype(np.uint64) | (events['x'].astype(np.uint64) << 32)
             | (events['y'].astype(np.uint64) << 48)
             | ((events['p'] > 0).astype(np.uint64) << 63))
    return words.astype('<u8').tobytes()


class EventDecoder(Protocol):
    """What every decoder does: one packet of its stream at a time (it keeps the stream's state)."""

    def decode(self, data: bytes, width: int, height: int, time_base: int = 0,
               big_endian: bool = False) -> Decoded:
        """Decode one packet."""


#: Encoding name → decoder class; one decoder instance per event stream (they keep state).
DECODERS: dict[str, Callable[[], EventDecoder]] = {
    'evt3': Evt3Decoder, 'libcaer': LibcaerDecoder, 'libcaer_cmp': LibcaerCmpDecoder,
    'mono': MonoDecoder}


def make_decoder(encoding: str) -> EventDecoder:
    """A fresh decoder for an encoding; EventError names an unknown one."""
    if encoding not in DECODERS:
        raise EventError(f'no decoder for event encoding {encoding!r}; known: '
                         f'{sorted(DECODERS)}')
    return DECODERS[encoding]()
