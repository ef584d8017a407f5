"""An event stream → samples: windows of events (frames.event_frames bins each one).

Windows are either fixed durations aligned to multiples of the duration on the event
timeline (so a converted dataset's samples, laid out on that grid, come back exactly), or
fixed event counts. A window is complete once an event past its end arrives, or when the
caller flushes (the stream went quiet). Each window remembers the stamp of the packet that
held its first event: the sample's capture stamp. Time that goes back past the window before
the one in progress (a camera whose clock was reset, a peer's packet) completes it, and the
grid starts again there (`went_back` counts it): a window never spans such a jump.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from neucodex_ros.core.errors import EventError

WINDOW_MODES = ('duration', 'count')


@dataclass
class Window:
    """A complete window of events."""

    events: np.ndarray  # EVENT_DTYPE, in time order
    stamp: Any  # the header stamp of the packet holding the first event
    sensor_size: tuple[int, int]  # (height, width) the coordinates live in


@dataclass
class EventWindower:
    """Cuts a stream of decoded packets into windows (one instance per stream)."""

    mode: str = 'duration'
    duration_us: int = 350_000
    count: int = 4000
    min_events: int = 1  # shorter windows are dropped (counted in `dropped`)
    _chunks: list[np.ndarray] = field(default_factory=list)
    _pending: int = 0
    _stamp: Any = None
    _index: int | None = None  # duration mode: the window's index on the grid
    _sensor: tuple[int, int] = (0, 0)
    dropped: int = 0
    went_back: int = 0

    def __post_init__(self) -> None:
        if self.mode not in WINDOW_MODES:
            raise EventError(f'window mode must be one of {WINDOW_MODES}, got {self.mode!r}')
        if self.duration_us < 1 or self.count < 1:
            raise EventError('window duration and count must be positive')

    def push(self, events: np.ndarray, stamp: Any,
             sensor_size: tuple[int, int]) -> list[Window]:
        """Add one packet's events; return the windows it completed."""
        done: list[Window] = []
        if sensor_size != self._sensor and self._pending:
            done += self.flush()  # the sensor changed: never mix coordinates
        self._sensor = sensor_size
        if self.mode == 'duration':
            # (split where time goes back past the window before)
            back = np.flatnonzero(np.diff(events['t'] // self.duration_us) < -1) + 1
            for run in np.split(events, back) if len(events) else []:
                done += self._push_run(run, stamp)
            return done
        while len(events):
            take = min(self.count - self._pending, len(events))
            self._add(events[:take], stamp)
            events = events[take:]
            if self._pending == self.count:
                done += self.flush()
        return done

    def _push_run(self, events: np.ndarray, stamp: Any) -> list[Window]:
        """Duration mode: a run of events in time order."""
        done: list[Window] = []
        if self._index is not None and events['t'][0] // self.duration_us < self._index - 1:
            self.went_back += 1
            done += self.flush()
        while len(events):
            index = events['t'] // self.duration_us
            if self._index is None:
                self._index = int(index[0])
            same = int(np.searchsorted(index, self._index, side='right'))
            if same:
                self._add(events[:same], stamp)
                events = events[same:]
            if len(events):  # an event past this window's end completes it
                done += self.flush()
                self._index = int(events['t'][0] // self.duration_us)
        return done

    def _add(self, events: np.ndarray, stamp: Any) -> None:
        if not self._pending:
            self._stamp = stamp
        self._chunks.append(events)
        self._pending += len(events)

    def flush(self) -> list[Window]:
        """Complete the window in progress (if it has enough events)."""
        if not self._pending:
            self._index = None
            return []
        events = np.concatenate(self._chunks) if len(self._chunks) > 1 else self._chunks[0]
        window = Window(events, self._stamp, self._sensor)
        self._chunks, self._pending, self._index = [], 0, None
        if len(events) < self.min_events:
            self.dropped += 1
            return []
        return [window]
