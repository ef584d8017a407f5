"""Command-line options shared by the commands that read datasets or listen to a split."""

from __future__ import annotations

import argparse
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

from neucodex_ros.core import topics
from neucodex_ros.core.datasets import DATASET_NAMES, DataOptions
from neucodex_ros.core.events.frames import FIT_MODES, SPLIT_BY, FrameSpec


def ranged(kind: Callable[[str], float], low: float, high: float = math.inf,
           low_open: bool = False) -> Callable[[str], float]:
    """An argparse type: `kind` within [low, high] ((low, high] if `low_open`)."""
    def parse(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f'expected a number, got {text!r}') from None
        if not (low < value if low_open else low <= value) or value > high:
            bounds = f'{"above" if low_open else "at least"} {low:g}' + (
                f' and at most {high:g}' if high < math.inf else '')
            raise argparse.ArgumentTypeError(f'must be {bounds}, got {text}')
        return value
    parse.__name__ = kind.__name__  # (argparse names the type in its message)
    return parse


def size(text: str) -> tuple[int, int]:
    """'HxW' → (H, W)."""
    try:
        height, width = (int(v) for v in text.lower().split('x'))
    except ValueError as err:
        raise argparse.ArgumentTypeError(f'expected HEIGHTxWIDTH, got {text!r}') from err
    return height, width


def add_scorer_arguments(parser: argparse.ArgumentParser | Any) -> None:
    """--prediction-topic and --label-topic: where a scorer (neucodex_ros/listener.py) listens."""
    parser.add_argument('--prediction-topic', default='/prediction',
                        help='the edge\'s Prediction topic (default %(default)s)')
    parser.add_argument('--label-topic', default=topics.LABELS,
                        help='SampleLabels, as a converted bag publishes them '
                             '(default %(default)s)')


def add_data_arguments(parser: argparse.ArgumentParser, dataset_default: str | None) -> None:
    """--dataset, --data-dir and how event samples become frames."""
    parser.add_argument('--dataset', default=dataset_default, metavar='NAME',
                        help=f'dataset: {", ".join(sorted(DATASET_NAMES))}; join datasets of the '
                             "same classes with '+' and weight one's training part with '*k' "
                             "(e.g. nmnist*3+digits_dvs) (default: %(default)s)")
    parser.add_argument('--data-dir', type=Path, default=None,
                        help='folder holding the dataset in its standard format (not needed '
                             'for digits); nothing is downloaded')
    parser.add_argument('--input-size', type=size, default=None, metavar='HxW',
                        help="model input size (default: the dataset's)")
    parser.add_argument('--frames-by', choices=SPLIT_BY, default='time',
                        help='event samples: split into T frames of equal duration or equal '
                             'event count (default: %(default)s)')
    parser.add_argument('--fit', choices=FIT_MODES, default='area',
                        help='event frames to the input size: area resize, sum pooling or '
                             'centre crop (default: %(default)s)')
    parser.add_argument('--split-seed', type=int, default=0,
                        help='seed of the train/val/test split of datasets without one')
    parser.add_argument('--workers', type=int, default=0, help='data loader processes')


def data_options(args: argparse.Namespace, num_timesteps: int) -> DataOptions:
    """DataOptions from the parsed arguments."""
    return DataOptions(FrameSpec(num_timesteps, args.input_size, args.frames_by, args.fit),
                       seed=args.split_seed)
