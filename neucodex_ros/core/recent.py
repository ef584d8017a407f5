"""A bounded memory of the most recent entries: how both halves remember the samples that ended."""

from __future__ import annotations

from collections import OrderedDict
from typing import TypeVar

K = TypeVar('K')
V = TypeVar('V')

MEMORY = 4096  # ended samples remembered, to tell a late or repeated message from an unknown one


class Recent(OrderedDict[K, V]):
    """The last `size` entries remembered; the oldest is forgotten first."""

    def __init__(self, size: int = MEMORY) -> None:
        super().__init__()
        if size < 1:
            raise ValueError(f'size must be >= 1, got {size}')
        self.size = size

    def remember(self, key: K, value: V) -> None:
        """Keep `value` under `key` as the newest entry, forgetting beyond `size`."""
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.size:
            self.popitem(last=False)
