"""CIFAR10 as distributed: Python pickle batches (`cifar-10-batches-py`).

`data_batch_1`..`data_batch_5` (train) and `test_batch` each hold a dict with `data`
(uint8 [10000, 3072], the R, G and B planes of 32×32 images) and `labels`; `batches.meta`
holds `label_names`. The pickles are read with an unpickler that only admits the numpy
array reconstruction they need, so a doctored file cannot run code.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from neucodex_ros.core.errors import DatasetError

TRAIN_FILES = [f'data_batch_{i}' for i in range(1, 6)]
TEST_FILES = ['test_batch']
ALLOWED = {('numpy.core.multiarray', '_reconstruct'), ('numpy._core.multiarray', '_reconstruct'),
           ('numpy', 'ndarray'), ('numpy', 'dtype')}


class _ArraysOnly(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED:
            raise pickle.UnpicklingError(f'refusing to load {module}.{name} from a dataset file')
        return super().find_class(module, name)


def _load(path: Path) -> dict[bytes, Any]:
    with path.open('rb') as file:
        return _ArraysOnly(file, encoding='bytes').load()


def cifar10_folder(root: Path) -> Path:
    """The folder holding the batches: root itself or root/cifar-10-batches-py."""
    for folder in (root, root / 'cifar-10-batches-py'):
        if (folder / 'batches.meta').is_file():
            return folder
    raise DatasetError(f'no CIFAR10 batches (batches.meta) in {root} or '
                       f'{root / "cifar-10-batches-py"}')


def read_cifar10(root: Path, train: bool) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """Images uint8 [N, 32, 32, 3] (RGB), labels int64 [N], class names."""
    folder = cifar10_folder(root)
    names = [n.decode() for n in _load(folder / 'batches.meta')[b'label_names']]
    images, labels = [], []
    for name in TRAIN_FILES if train else TEST_FILES:
        try:
            batch = _load(folder / name)
        except (OSError, pickle.UnpicklingError, EOFError) as err:
            raise DatasetError(f'cannot read CIFAR10 batch {folder / name}: {err}') from err
        images.append(np.asarray(batch[b'data'], np.uint8).reshape(-1, 3, 32, 32))
        labels.append(np.asarray(batch[b'labels'], np.int64))
    return np.concatenate(images).transpose(0, 2, 3, 1).copy(), np.concatenate(labels), names


def write_cifar10(root: Path, images: np.ndarray, labels: np.ndarray, names: list[str],
                  train: bool) -> None:
    """Write images [N, 32, 32, 3] as CIFAR10 batches (tests, converters)."""
    root.mkdir(parents=True, exist_ok=True)
    with (root / 'batches.meta').open('wb') as file:
        pickle.dump({b'label_names': [n.encode() for n in names]}, file)
    files = TRAIN_FILES if train else TEST_FILES
    for index, name in enumerate(files):
        part = slice(index, None, len(files))
        data = images[part].transpose(0, 3, 1, 2).reshape(-1, 3072)
        with (root / name).open('wb') as file:
            pickle.dump({b'data': data, b'labels': labels[part].tolist()}, file)
