"""An event camera's packets → the model's input, one sample per window, without ROS.

The edge node hands each EventPacket's fields to `EventStream.packet` and calls `flush`
when the stream pauses; both return the samples completed, as (frames [T, C, H, W], stamp,
frame_id), and count what they saw in the counters given. The rules:

* A `seq` that goes back, or leaps far ahead, is a new stream (packets_missed): the open
  window is completed and decoding starts afresh (new clocks); otherwise the gap is
  counted as packets missed.
* A packet claiming a sensor larger than `max_sensor_pixels` is rejected before any work
  (frames are binned at sensor resolution); one that cannot be decoded is rejected and
  counted; either way the stream goes on.
* Windows (windows.py) become T frames (frames.py, by `spec`); events out of time order
  are binned in order all the same (counted), and a window the spec cannot bin (say,
  `fit: pool` and a sensor it does not divide) is rejected and counted. Time that goes back
  past a window starts the windows again there (`time_went_back`).
* One packet becomes at most MAX_WINDOWS_PER_PACKET samples, its newest (the others are
  `windows_skipped`): binning is the cost, and a packet spanning a minute of events (a
  peer's, or a replay's burst) must not hold the edge for long.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

import numpy as np

from neucodex_ros.core.errors import EventError
from neucodex_ros.core.events import in_time_order, packets_missed
from neucodex_ros.core.events.codecs import EventDecoder, make_decoder
from neucodex_ros.core.events.frames import FrameSpec, event_frames
from neucodex_ros.core.events.windows import EventWindower, Window
from neucodex_ros.core.protocol import Log

MAX_WINDOWS_PER_PACKET = 4


@dataclass(frozen=True)
class EventSample:
    """A window's frames, and the header of the packet that held its first event."""

    frames: np.ndarray  # [T, C, H, W]
    stamp: Any
    frame_id: str


class EventStream:
    """One camera's packets in order of arrival (module docstring)."""

    def __init__(self, windower: EventWindower, spec: FrameSpec, max_sensor_pixels: int,
                 counters: Counter[str] | None = None) -> None:
        self.windower, self.spec, self.max_sensor_pixels = windower, spec, max_sensor_pixels
        self.counters = Counter() if counters is None else counters
        self.decoders: dict[str, EventDecoder] = {}
        self.last_seq: int | None = None
        self.frame_id = ''  # of the last packet decoded

    def packet(self, seq: int, encoding: str, events: Any, width: int, height: int,
               time_base: int, is_bigendian: bool, stamp: Any,
               frame_id: str) -> tuple[list[EventSample], list[Log]]:
        """Decode one packet; the samples it completed, and what to log."""
        self.counters['packets_received'] += 1
        done: list[EventSample] = []
        logs: list[Log] = []
        missed = packets_missed(self.last_seq, seq)
        if missed is not None:
            self.counters['packets_missed'] += missed
        else:  # a new stream: a new clock, so fresh decoders
            self.counters['stream_restarts'] += 1
            self.decoders.clear()
            done += self._samples(self.windower.flush(), self.frame_id, logs)
        self.last_seq = seq
        if width * height > self.max_sensor_pixels:
            self.counters['packets_rejected_sensor_too_large'] += 1
            logs.append(Log(f'event packet rejected: a {width}x{height} sensor is more than '
                            f'max_sensor_pixels ({self.max_sensor_pixels}); raise it for such '
                            'a camera', warning=True))
            return done, logs
        try:
            decoder = self.decoders.get(encoding)
            if decoder is None:
                decoder = self.decoders[encoding] = make_decoder(encoding)
            decoded = decoder.decode(events, width, height, time_base, is_bigendian)
        except EventError as err:
            self.counters['packets_rejected'] += 1
            logs.append(Log(f'event packet rejected: {err}', warning=True))
            return done, logs
        self.counters['events_received'] += len(decoded.events)
        self.counters['events_outside_sensor'] += decoded.outside
        went_back = self.windower.went_back
        windows = self.windower.push(decoded.events, stamp, (height, width))
        if self.windower.went_back > went_back:
            self.counters['time_went_back'] += self.windower.went_back - went_back
            logs.append(Log('event time went back: the windows start again there (a camera '
                            'clock reset, or a peer\'s packet)', warning=True))
        if len(windows) > MAX_WINDOWS_PER_PACKET:  # (binning each costs; the newest matter)
            self.counters['windows_skipped'] += len(windows) - MAX_WINDOWS_PER_PACKET
            windows = windows[-MAX_WINDOWS_PER_PACKET:]
        done += self._samples(windows, frame_id, logs)
        self.frame_id = frame_id
        return done, logs

    def flush(self) -> tuple[list[EventSample], list[Log]]:
        """The stream paused: complete the open window."""
        logs: list[Log] = []
        return self._samples(self.windower.flush(), self.frame_id, logs), logs

    def _samples(self, windows: list[Window], frame_id: str,
                 logs: list[Log]) -> list[EventSample]:
        done = []
        for window in windows:
            self.counters['windows'] += 1
            if not in_time_order(window.events):  # binned in time order all the same
                self.counters['windows_out_of_order'] += 1
            try:
                frames = event_frames(window.events, window.sensor_size, self.spec)
            except EventError as err:
                self.counters['windows_rejected'] += 1
                logs.append(Log(f'window rejected: {err}', warning=True))
                continue
            done.append(EventSample(frames, window.stamp, frame_id))
        return done
