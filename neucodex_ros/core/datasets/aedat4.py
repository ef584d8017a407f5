"""AEDAT 4.0 recordings (iniVation DV), read with dv-processing."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from neucodex_ros.core.errors import EventError
from neucodex_ros.core.events import EVENT_DTYPE, make_events


def read_aedat4(path: Path) -> tuple[np.ndarray, tuple[int, int]]:
    """All events of the recording's event stream, and its sensor (height, width).

    Times are µs since the epoch, as DV records them.
    """
    import dv_processing as dv  # imported here: only this reader needs it

    if not path.is_file():
        raise EventError(f'{path}: no such file')
    try:
        recording = dv.io.MonoCameraRecording(str(path))
    except RuntimeError as err:  # (its message carries a C++ stack trace: the first line says it)
        reason = str(err).splitlines()[1:2] or str(err).splitlines()[:1]
        raise EventError(f'{path}: not a readable AEDAT4 file ({"".join(reason)})') from None
    if not recording.isEventStreamAvailable():
        raise EventError(f'{path}: has no event stream')
    width, height = recording.getEventResolution()
    chunks = []
    while (batch := recording.getNextEventBatch()) is not None:
        raw = batch.numpy()
        chunks.append(make_events(raw['x'], raw['y'], raw['polarity'], raw['timestamp']))
    events = np.concatenate(chunks) if chunks else np.empty(0, EVENT_DTYPE)
    return events, (int(height), int(width))
