"""`neucodex-ros models`: the models shipped in the package, and what each is.

A node selects one by name (`checkpoint: resnet18_digits`); `neucodex-ros evaluate
--checkpoint NAME --record` measured the held-out accuracy listed here.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

HELP = 'list the shipped models: backbone, T, split, compression, data, held-out accuracy'
#: Stage names per backbone, for "split after ...".
STAGE_NAMES = {'resnet18': ('stem', 'layer1', 'layer2', 'layer3', 'layer4'),
               'vgg16': ('block1', 'block2', 'block3', 'block4', 'block5'),
               'small_cnn': ('stage1', 'stage2', 'stage3')}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `models`."""
    parser.add_argument('--json', action='store_true', help='print JSON instead of a table')


def describe(path: Path) -> dict[str, Any]:
    """What one checkpoint is: name, network, split, data and held-out accuracy."""
    from neucodex_ros.core.checkpoint import load_checkpoint

    checkpoint = load_checkpoint(path)
    config, model = checkpoint.config, checkpoint.model
    stages = STAGE_NAMES.get(config.backbone, ())
    history = checkpoint.metrics.get('history', [])
    return {
        'name': path.stem, 'file_mb': path.stat().st_size / 1e6,
        'backbone': config.backbone, 'width': config.width,
        'parameters': sum(p.numel() for p in model.parameters()),
        'input': [config.in_channels, *config.input_size], 'num_timesteps': config.num_timesteps,
        'split_after': stages[config.split_after - 1] if stages
        else f'stage {config.split_after}',
        'features_at_split': list(model.head_shape), 'spikes_per_timestep': list(model.split_shape),
        'compression_per_timestep': model.compression,
        'trained_on': checkpoint.data.get('dataset'),
        'training_epochs': len(history),
        'held_out': checkpoint.metrics.get('held_out'),
        'model_id': checkpoint.model_id,
    }


def run(args: argparse.Namespace) -> int:
    """Print the shipped models."""
    from neucodex_ros.core.checkpoint import shipped_models

    models = [describe(path) for path in shipped_models()]
    if args.json:
        print(json.dumps(models, indent=2))
        return 0
    print('| name | backbone | input | T | split after | spikes per timestep | compression | '
          'trained on | held-out accuracy (full T / early exit) | file |')
    print('|---|---|---|---|---|---|---|---|---|---|')
    for m in models:
        held = m['held_out']
        accuracy = '–' if held is None else (
            f'{held["accuracy_full_t"]:.1%} / {held["accuracy_early_exit"]:.1%} at α '
            f'{held["alpha"]:g}, {held["mean_timesteps"]:.2f} timesteps ({held["samples"]} '
            f'{held["dataset"]} {held["part"]})')
        width = '' if m['width'] == 1 else f' ×{m["width"]:g}'
        print(f'| {m["name"]} | {m["backbone"]}{width} ({m["parameters"] / 1e6:.2f} M) | '
              f'{"×".join(map(str, m["input"]))} | {m["num_timesteps"]} | {m["split_after"]} '
              f'({"×".join(map(str, m["features_at_split"]))}) | '
              f'{"×".join(map(str, m["spikes_per_timestep"]))} bits | '
              f'{m["compression_per_timestep"]:,.0f}× | {m["trained_on"]} | {accuracy} | '
              f'{m["file_mb"]:.1f} MB |')
    return 0
