"""The dataset readers: torch Datasets of each format (see the package's docstring)."""

from __future__ import annotations

import csv
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import ConcatDataset, Dataset

from neucodex_ros.core.datasets import (
    PARTS,
    SPLIT,
    VAL_OF_TRAIN,
    Augment,
    DataKind,
    DataOptions,
    DataSpec,
    stratified_split,
)
from neucodex_ros.core.datasets.aedat3 import read_aedat3
from neucodex_ros.core.datasets.atis import read_atis_bin
from neucodex_ros.core.datasets.cifar10 import read_cifar10
from neucodex_ros.core.datasets.image_folder import IMAGE_SUFFIXES, class_files, read_image
from neucodex_ros.core.errors import DatasetError
from neucodex_ros.core.events.frames import event_frames, in_sensor


class ImageSet(Dataset[tuple[torch.Tensor, int]]):
    """Images held in memory as uint8 [N, H, W, C]."""

    def __init__(self, images: np.ndarray, labels: np.ndarray) -> None:
        self.images, self.labels = images, labels

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        image = torch.from_numpy(self.images[index]).permute(2, 0, 1)
        return image.float() / 255, int(self.labels[index])


class EventFileSet(Dataset[tuple[torch.Tensor, int]]):
    """Event recordings, binned into frames when first read (and cached if asked).

    A recording is a file, or anything else `read` takes (the simulator takes an index).
    """

    def __init__(self, files: Sequence[Any], labels: np.ndarray,
                 read: Callable[[Any], np.ndarray], sensor_size: tuple[int, int],
                 spec: DataSpec, options: DataOptions) -> None:
        self.files, self.labels, self.read = files, labels, read
        self.sensor_size, self.spec, self.options = sensor_size, spec, options
        self.frame_spec = replace(options.frames, input_size=spec.input_size)
        self._cache: dict[int, torch.Tensor] = {}

    def __len__(self) -> int:
        return len(self.labels)

    def events(self, index: int) -> np.ndarray:
        """The sample's events that lie on the sensor."""
        return in_sensor(self.read(self.files[index]), self.sensor_size)

    def frames(self, index: int) -> torch.Tensor:
        """The sample's event frames [T, 2, H, W]."""
        if index in self._cache:
            return self._cache[index]
        tensor = torch.from_numpy(event_frames(self.read(self.files[index]), self.sensor_size,
                                               self.frame_spec))
        if self.options.cache:
            self._cache[index] = tensor
        return tensor

    def __getitem__(self, index: int) -> tuple[torch.Tensor, int]:
        return self.frames(index), int(self.labels[index])


Loader = Callable[[Path, str, DataOptions], tuple[Dataset[tuple[torch.Tensor, int]], DataSpec]]


def _part_indices(labels: np.ndarray, part: str, seed: int, official_test: bool) -> np.ndarray:
    """A part's indices: the official test part whole, else a stratified share."""
    if official_test:
        if part == 'test':
            return np.arange(len(labels))
        return stratified_split(labels, VAL_OF_TRAIN, seed)[part]
    return stratified_split(labels, SPLIT, seed)[part]


def _native_size(name: str, size: tuple[int, int], options: DataOptions) -> tuple[int, int]:
    if options.frames.input_size not in (None, size):
        raise DatasetError(f'{name} images are {size[0]}x{size[1]}; other sizes are not offered')
    return size


def _digits(root: Path, part: str, options: DataOptions) -> tuple[ImageSet, DataSpec]:
    from neucodex_ros.core.datasets.digits import CLASS_NAMES, load_digits
    images, labels = load_digits(part)
    spec = DataSpec('digits', DataKind.IMAGE, 1, _native_size('digits', (28, 28), options),
                    tuple(CLASS_NAMES), Augment.AFFINE)
    return ImageSet(images[..., None], labels), spec


def _cifar10(root: Path, part: str, options: DataOptions) -> tuple[ImageSet, DataSpec]:
    images, labels, names = read_cifar10(root, train=part != 'test')
    keep = _part_indices(labels, part, options.seed, official_test=True)
    spec = DataSpec('cifar10', DataKind.IMAGE, 3, _native_size('cifar10', (32, 32), options),
                    tuple(names), Augment.CROP_FLIP)
    return ImageSet(images[keep], labels[keep]), spec


def _caltech101(root: Path, part: str, options: DataOptions) -> tuple[ImageSet, DataSpec]:
    folder = _first_existing(root, ['101_ObjectCategories', 'caltech101/101_ObjectCategories'])
    files, labels, names = class_files(folder, {'.jpg', '.jpeg', '.png'})
    size = options.frames.input_size or (64, 64)
    keep = _part_indices(labels, part, options.seed, official_test=False)
    images = np.stack([read_image(files[i], size) for i in keep])
    return ImageSet(images, labels[keep]), DataSpec('caltech101', DataKind.IMAGE, 3, size,
                                                    tuple(names), Augment.CROP_FLIP)


def _image_folder(root: Path, part: str, options: DataOptions) -> tuple[ImageSet, DataSpec]:
    """Your own images: root/<class name>/*.jpg|png|..., the class names sorted."""
    files, labels, names = class_files(root, IMAGE_SUFFIXES, exclude=())
    size = options.frames.input_size or (64, 64)
    keep = _part_indices(labels, part, options.seed, official_test=False)
    images = np.stack([read_image(files[i], size) for i in keep])
    return ImageSet(images, labels[keep]), DataSpec('image_folder', DataKind.IMAGE, 3, size,
                                                    tuple(names), Augment.CROP_FLIP)


@dataclass(frozen=True)
class EventFormat:
    """How one event dataset's files are read."""

    name: str
    read: Callable[[Any], np.ndarray]  # a file (a Path), or an index for a generated set
    sensor_size: tuple[int, int]  # (height, width)
    default_size: tuple[int, int]  # model input (height, width)


NMNIST = EventFormat('nmnist', read_atis_bin, (34, 34), (34, 34))
NCALTECH101 = EventFormat('ncaltech101', read_atis_bin, (180, 240), (90, 120))
CIFAR10DVS = EventFormat('cifar10dvs', read_aedat3, (128, 128), (64, 64))


def _event_set(fmt: EventFormat, files: list[Path], labels: np.ndarray, names: list[str],
               part: str, options: DataOptions,
               official_test: bool = False) -> tuple[EventFileSet, DataSpec]:
    keep = _part_indices(labels, part, options.seed, official_test)
    spec = DataSpec(fmt.name, DataKind.EVENTS, 2, options.frames.input_size or fmt.default_size,
                    tuple(names), Augment.EVENTS)
    return EventFileSet([files[i] for i in keep], labels[keep], fmt.read, fmt.sensor_size,
                        spec, options), spec


def _nmnist(root: Path, part: str, options: DataOptions) -> tuple[EventFileSet, DataSpec]:
    if (root / 'Train').is_dir() and (root / 'Test').is_dir():
        folder = root / ('Test' if part == 'test' else 'Train')
        files, labels, names = class_files(folder, {'.bin'})
        return _event_set(NMNIST, files, labels, names, part, options, official_test=True)
    table = root / 'labels.csv'
    if not table.is_file():
        raise DatasetError(f'{root}: expected Train/ and Test/ class folders, or *.bin files '
                           'with a labels.csv (file,label)')
    with table.open() as file:
        rows = list(csv.DictReader(file))
    files = [root / row['file'] for row in rows]
    labels = np.asarray([int(row['label']) for row in rows], np.int64)
    return _event_set(NMNIST, files, labels, [str(d) for d in range(10)], part, options)


def _ncaltech101(root: Path, part: str, options: DataOptions) -> tuple[EventFileSet, DataSpec]:
    files, labels, names = class_files(_first_existing(root, ['Caltech101']), {'.bin'})
    return _event_set(NCALTECH101, files, labels, names, part, options)


def _cifar10dvs(root: Path, part: str, options: DataOptions) -> tuple[EventFileSet, DataSpec]:
    files, labels, names = class_files(root, {'.aedat'})
    return _event_set(CIFAR10DVS, files, labels, names, part, options)


def _digits_dvs(root: Path, part: str, options: DataOptions) -> tuple[EventFileSet, DataSpec]:
    from neucodex_ros.core.datasets.digits import CLASS_NAMES, load_digits, simulated_digit
    from neucodex_ros.core.events.dvs import DvsConfig

    _, labels = load_digits(part)
    fmt = EventFormat('digits_dvs', lambda i: simulated_digit(part, i, options.seed),
                      DvsConfig().sensor_size, DvsConfig().sensor_size)
    spec = DataSpec(fmt.name, DataKind.EVENTS, 2, options.frames.input_size or fmt.default_size,
                    tuple(CLASS_NAMES), Augment.EVENTS)
    return EventFileSet(list(range(len(labels))), labels, fmt.read, fmt.sensor_size, spec,
                        options), spec


def _first_existing(root: Path, candidates: list[str]) -> Path:
    """root/<candidate> for the first candidate that exists, else root itself."""
    for candidate in candidates:
        if (root / candidate).is_dir():
            return root / candidate
    return root


#: Dataset name → loader(root, part, options) → (torch Dataset, DataSpec).
DATASETS: dict[str, Loader] = {
    'digits': _digits,
    'digits_dvs': _digits_dvs,
    'cifar10': _cifar10,
    'caltech101': _caltech101,
    'image_folder': _image_folder,
    'nmnist': _nmnist,
    'ncaltech101': _ncaltech101,
    'cifar10dvs': _cifar10dvs,
}


DEFAULT_OPTIONS = DataOptions()


def load_dataset(name: str, root: Path | None, part: str,
                 options: DataOptions = DEFAULT_OPTIONS
                 ) -> tuple[Dataset[tuple[torch.Tensor, int]], DataSpec]:
    """One part ('train', 'val' or 'test') of a dataset, read from root.

    `name` may join datasets of the same classes and input with '+', and repeat one's
    training part k times with '*k': `nmnist*3+digits_dvs` trains on real N-MNIST, weighted
    3:1, beside the simulated digits; its validation and test parts are the first dataset's.
    """
    if part not in PARTS:
        raise DatasetError(f'unknown part {part!r}; choose from {PARTS}')
    members = [_dataset_term(term) for term in name.split('+')]
    if part != 'train':
        members = members[:1]
    loaded = [(_load_one(member, root, part, options), repeat) for member, repeat in members]
    (first, spec), _ = loaded[0]
    for (_, other), _ in loaded[1:]:
        if (other.class_names, other.input_size, other.in_channels) != \
                (spec.class_names, spec.input_size, spec.in_channels):
            raise DatasetError(f'{name}: {spec.name} and {other.name} differ in classes or input')
    if len(loaded) == 1 and loaded[0][1] == 1:
        return first, spec
    return ConcatDataset([data for (data, _), repeat in loaded for _ in range(repeat)]), spec


def _dataset_term(term: str) -> tuple[str, int]:
    """'name*k' → (name, k)."""
    name, _, repeat = term.partition('*')
    if name not in DATASETS or (repeat and not repeat.isdigit()):
        raise DatasetError(f'unknown dataset {term!r}; known: {sorted(DATASETS)} (join with '
                           "'+', repeat with '*k')")
    return name, int(repeat or 1)


def _load_one(name: str, root: Path | None, part: str,
              options: DataOptions) -> tuple[Dataset[tuple[torch.Tensor, int]], DataSpec]:
    if root is None and name not in ('digits', 'digits_dvs'):
        raise DatasetError(f'{name} is read from a local folder: give its path (--data-dir)')
    return DATASETS[name](Path(root or '.'), part, options)
