"""Class folders of images (Caltech101's `101_ObjectCategories`, N-Caltech101, ...)."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from neucodex_ros.core.errors import DatasetError

IMAGE_SUFFIXES = {'.jpg', '.jpeg', '.png', '.bmp', '.ppm', '.pgm'}
#: Caltech101's clutter category, not an object class; left out unless asked for.
EXCLUDED_CLASSES = ('BACKGROUND_Google',)


def class_files(root: Path, suffixes: set[str],
                exclude: tuple[str, ...] = EXCLUDED_CLASSES) -> tuple[list[Path], np.ndarray,
                                                                      list[str]]:
    """Files under root/<class>/ with one of the suffixes, their labels, the class names."""
    if not root.is_dir():
        raise DatasetError(f'dataset folder not found: {root}')
    classes = sorted(d.name for d in root.iterdir() if d.is_dir() and d.name not in exclude)
    files, labels = [], []
    for label, name in enumerate(classes):
        members = sorted(p for p in (root / name).iterdir() if p.suffix.lower() in suffixes)
        files += members
        labels += [label] * len(members)
    if not files:
        raise DatasetError(f'no {sorted(suffixes)} files in class folders under {root}')
    return files, np.asarray(labels, np.int64), classes


def read_image(path: Path, size: tuple[int, int]) -> np.ndarray:
    """An image file as uint8 RGB [height, width, 3] resized to size (height, width)."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise DatasetError(f'cannot read image {path}')
    image = cv2.resize(image, (size[1], size[0]), interpolation=cv2.INTER_AREA)
    return np.ascontiguousarray(image[..., ::-1])
