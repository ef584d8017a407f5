"""Tiny datasets in every supported on-disk format, generated for tests."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from neucodex_ros.core.datasets.aedat3 import write_aedat3
from neucodex_ros.core.datasets.atis import write_atis_bin
from neucodex_ros.core.datasets.cifar10 import write_cifar10
from neucodex_ros.core.events import make_events


def random_events(rng: np.random.Generator, count: int, height: int, width: int,
                  duration_us: int = 300_000) -> np.ndarray:
    return make_events(rng.integers(0, width, count), rng.integers(0, height, count),
                       rng.integers(0, 2, count), np.sort(rng.integers(0, duration_us, count)))


def make_event_folder(root: Path, suffix: str, classes: list[str], per_class: int,
                      height: int, width: int, seed: int = 0) -> dict[Path, np.ndarray]:
    """root/<class>/<n><suffix> files of random events; returns what each file holds."""
    rng = np.random.default_rng(seed)
    written = {}
    for name in classes:
        (root / name).mkdir(parents=True, exist_ok=True)
        for n in range(per_class):
            events = random_events(rng, int(rng.integers(50, 400)), height, width)
            path = root / name / f'{n}{suffix}'
            (write_atis_bin if suffix == '.bin' else write_aedat3)(path, events)
            written[path] = events
    return written


def make_image_folder(root: Path, classes: list[str], per_class: int, size: int,
                      seed: int = 0) -> dict[Path, np.ndarray]:
    """root/<class>/<n>.png RGB images; returns each file's pixels (RGB)."""
    rng = np.random.default_rng(seed)
    written = {}
    for name in classes:
        (root / name).mkdir(parents=True, exist_ok=True)
        for n in range(per_class):
            rgb = rng.integers(0, 256, (size, size, 3), dtype=np.uint8)
            path = root / name / f'{n}.png'
            cv2.imwrite(str(path), rgb[..., ::-1])
            written[path] = rgb
    return written


def make_cifar10(root: Path, per_class: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Train and test batches of random 32x32 images, 10 classes; returns the train part."""
    rng = np.random.default_rng(seed)
    names = [f'class{i}' for i in range(10)]
    labels = np.repeat(np.arange(10), per_class)
    images = rng.integers(0, 256, (len(labels), 32, 32, 3), dtype=np.uint8)
    write_cifar10(root, images, labels, names, train=True)
    write_cifar10(root, images[:20], labels[:20], names, train=False)
    return images, labels


def make_all(root: Path) -> dict[str, Path]:
    """One tiny dataset per loader; returns name → folder to pass as data_dir."""
    make_cifar10(root / 'cifar10', per_class=4)
    make_image_folder(root / 'caltech101' / '101_ObjectCategories',
                      ['BACKGROUND_Google', 'ant', 'bee', 'cat'], 5, 40)
    for part in ('Train', 'Test'):
        make_event_folder(root / 'nmnist' / part, '.bin', ['0', '1', '2'], 5, 34, 34)
    make_event_folder(root / 'ncaltech101', '.bin', ['ant', 'bee', 'cat'], 5, 180, 240)
    make_event_folder(root / 'cifar10dvs', '.aedat', ['airplane', 'cat', 'ship'], 5, 128, 128)
    make_image_folder(root / 'image_folder', ['mug', 'pen'], 5, 30)  # your own images
    return {name: root / name for name in ('cifar10', 'caltech101', 'image_folder', 'nmnist',
                                           'ncaltech101', 'cifar10dvs')}
