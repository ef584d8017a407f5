"""`neucodex-ros evaluate`: offline accuracy, timesteps, compression and edge energy.

The accuracy benchmark: it evaluates a checkpoint on a part of its dataset (default: the
held-out test part) at full T and at each α, and with --min-accuracy / --max-drop /
--max-share checks targets and exits non-zero if one fails.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from neucodex_ros.commands.options import ranged

HELP = 'offline accuracy / timesteps / compression / edge energy of a checkpoint'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `evaluate`."""
    add_evaluation_arguments(parser)
    parser.add_argument('--part', default='test', choices=['train', 'val', 'test'],
                        help='which part of the dataset (default: the held-out test part)')
    parser.add_argument('--alpha', type=float, action='append', default=None,
                        help='exit threshold(s) (default: the cloud_node alpha in '
                             'config/split.yaml); repeat for several')
    parser.add_argument('--min-accuracy', type=float, default=None,
                        help='target: accuracy at full T at least this')
    parser.add_argument('--max-drop', type=float, default=None,
                        help='target: early-exit accuracy at most this below full T')
    parser.add_argument('--max-share', type=float, default=None,
                        help='target: mean timesteps at most this share of T')
    parser.add_argument('--json', type=Path, default=None, help='also write the numbers here')
    parser.add_argument('--samples', type=ranged(int, 1), default=None,
                        help='score only the first N samples of the part (default: all); the '
                             'output says how many of how many'),
    parser.add_argument('--record', action='store_true',
                        help='store the result (full T and the first alpha) in the checkpoint '
                             'as its held-out accuracy, which `neucodex-ros models` lists')


def add_evaluation_arguments(parser: argparse.ArgumentParser) -> None:
    """Options shared with `calibrate`: model, data, energy."""
    from neucodex_ros.core.radio import DEFAULT_RADIO, RADIO_HELP, radio

    parser.add_argument('--checkpoint', type=Path, default=None,
                        help='checkpoint (default: the shipped digits model)')
    parser.add_argument('--data-dir', type=Path, default=None,
                        help="folder of the checkpoint's dataset (not needed for digits)")
    parser.add_argument('--dataset', default=None,
                        help='score on this dataset alone, read with the frame settings the '
                             "checkpoint was trained with (default: the checkpoint's training "
                             'data, e.g. nmnist*3+digits_dvs)')
    parser.add_argument('--reference', type=Path, default=None,
                        help='the network an edge-only deployment runs (e.g. the '
                             '.uncompressed.pt of the same training); default: the checkpoint')
    parser.add_argument('--radio', type=radio, default=DEFAULT_RADIO, help=RADIO_HELP)


def scored_data(args: argparse.Namespace, checkpoint: Any) -> str:
    """The data scored: --dataset, or the checkpoint's training data (a mix, perhaps)."""
    return str(args.dataset or checkpoint.data['dataset'])


def measure(args: argparse.Namespace, part: str) -> tuple[Any, Any, Any]:
    """Load the checkpoint and its data, run the evaluation pass: (checkpoint, eval, energy)."""
    from torch.utils.data import Subset
    from tqdm import tqdm

    from neucodex_ros.core.checkpoint import load_checkpoint
    from neucodex_ros.core.datasets import DataOptions, load_dataset
    from neucodex_ros.core.energy import EnergyConfig
    from neucodex_ros.core.evaluation import evaluate

    checkpoint = load_checkpoint(args.checkpoint)
    options = DataOptions.from_record(checkpoint.data, checkpoint.config.num_timesteps)
    samples, _ = load_dataset(scored_data(args, checkpoint), args.data_dir, part, options)
    total = len(samples)
    if getattr(args, 'samples', None) is not None and args.samples < total:
        samples = Subset(samples, range(args.samples))
    reference = load_checkpoint(args.reference).model if args.reference else None
    with tqdm(total=len(samples), desc=f'{part} samples (of {total})', unit='sample',
              mininterval=1.0, file=sys.stderr) as bar:
        evaluation = evaluate(checkpoint.model, samples, reference, progress=bar.update)
    return checkpoint, evaluation, EnergyConfig.with_radio(args.radio)


def print_rows(rows: list[tuple[str, dict[str, float]]], num_timesteps: int) -> None:
    """The table of accuracy, timesteps, compression per sample and energy (core/figures)."""
    from neucodex_ros.core.figures import saving_text

    print(f'{"":>12}  {"accuracy":>8}  {"timesteps":>13}  {"bits/sample":>11}  '
          f'{"compression/sample":>18}  {"edge energy":>11}  vs edge-only')
    for name, row in rows:
        share = row['mean_timesteps'] / num_timesteps
        print(f'{name:>12}  {row["accuracy"]:8.2%}  {row["mean_timesteps"]:5.2f}/{num_timesteps} '
              f'({share:4.0%})  {row["bits_per_sample"]:11.1f}  '
              f'{row["compression_per_sample"]:17,.0f}x  '
              f'{row["edge_energy_j"] * 1e6:8.3f} uJ  {saving_text(row["energy_saving"])}')


def run(args: argparse.Namespace) -> int:
    """Evaluate at full T and at each α; print a table and the target checks."""
    from neucodex_ros.resources import default_parameter

    checkpoint, evaluation, energy = measure(args, args.part)
    num_timesteps = checkpoint.config.num_timesteps
    alphas = args.alpha or [float(default_parameter('cloud_node', 'alpha'))]  # type: ignore[arg-type]
    full = evaluation.at(1.0, energy)
    rows = [evaluation.at(alpha, energy) for alpha in alphas]
    dataset = scored_data(args, checkpoint)
    print(f'{len(evaluation.labels)} samples ({dataset}, {args.part} part), '
          f'{checkpoint.path.name} (model {checkpoint.model_id}, {checkpoint.config.backbone}, '
          f'T={num_timesteps}, compression per timestep '
          f'{checkpoint.model.compression:,.0f}x); bits bit-packed; edge energy with '
          f'{energy.radio_nj_per_bit:g} nJ/bit radio, saving vs the whole network on the edge '
          'for all T')
    print_rows([('full T', full)] + [(f'alpha {r["alpha"]:g}', r) for r in rows], num_timesteps)
    checks: dict[str, bool] = {}
    if args.min_accuracy is not None:
        checks[f'full-T accuracy >= {args.min_accuracy:.0%}'] = \
            full['accuracy'] >= args.min_accuracy
    for row in rows:
        name = f'alpha {row["alpha"]:g}'
        if args.max_drop is not None:
            checks[f'{name}: within {args.max_drop * 100:g} points of full T'] = \
                row['accuracy'] >= full['accuracy'] - args.max_drop
        if args.max_share is not None:
            checks[f'{name}: mean timesteps <= {args.max_share:.0%} of T'] = \
                row['mean_timesteps'] <= args.max_share * num_timesteps
    for check, passed in checks.items():
        print(f'{"PASS" if passed else "FAIL"}  {check}')
    if args.json:
        args.json.write_text(json.dumps(
            {'samples': len(evaluation.labels), 'num_timesteps': num_timesteps,
             'model_id': checkpoint.model_id, 'dataset': dataset,
             'radio_nj_per_bit': energy.radio_nj_per_bit, 'full_t': full,
             'early_exit': rows, 'checks': checks}, indent=2))
    if args.record:
        from neucodex_ros.core.checkpoint import record_metrics

        first = rows[0]
        record_metrics(checkpoint.path, 'held_out', {
            'dataset': dataset, 'part': args.part, 'samples': len(evaluation.labels),
            'accuracy_full_t': full['accuracy'], 'alpha': first['alpha'],
            'accuracy_early_exit': first['accuracy'], 'mean_timesteps': first['mean_timesteps']})
        print(f'recorded in {checkpoint.path} as its held-out accuracy')
    return 0 if all(checks.values()) else 1
