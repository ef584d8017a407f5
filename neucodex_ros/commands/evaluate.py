"""`neucodex-ros evaluate`: offline accuracy and timesteps on the held-out real digits.

This is the accuracy benchmark: it prints the numbers the README quotes and checks them
against the targets (≥ 97% at full T; early exit within 1 point using ≤ 50% of T).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

HELP = 'offline accuracy / timesteps of a checkpoint on held-out real digits'


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `evaluate`."""
    parser.add_argument('--checkpoint', type=Path, default=None,
                        help='checkpoint (default: the shipped digits model)')
    parser.add_argument('--part', default='test', choices=['train', 'val', 'test'],
                        help='which part of the digits split (default: the held-out test part)')
    parser.add_argument('--alpha', type=float, action='append', default=None,
                        help='exit threshold(s) (default: the cloud_node alpha in '
                             'config/split.yaml); repeat for several')
    parser.add_argument('--json', type=Path, default=None, help='also write the numbers here')


def run(args: argparse.Namespace) -> int:
    """Evaluate at full T and at each α; print a table and the target checks."""
    import numpy as np
    import torch

    from neucodex_ros.core.checkpoint import load_checkpoint
    from neucodex_ros.core.digits import load_digits
    from neucodex_ros.core.training import exit_summary, predict_logits
    from neucodex_ros.resources import default_parameter

    checkpoint = load_checkpoint(args.checkpoint)
    alphas = args.alpha or [float(default_parameter('cloud_node', 'alpha'))]  # type: ignore[arg-type]
    images, labels = load_digits(args.part)
    inputs = torch.as_tensor(images[:, None] / np.float32(255))
    logits = predict_logits(checkpoint.model, inputs)
    num_timesteps = checkpoint.config.num_timesteps
    full = exit_summary(logits, labels, 1.0)
    rows = [exit_summary(logits, labels, alpha) for alpha in alphas]
    print(f'{len(labels)} real MNIST digits ({args.part} part), {checkpoint.path.name} '
          f'(model {checkpoint.model_id}, T={num_timesteps})')
    print(f'{"":>12}  {"accuracy":>8}  {"mean timesteps":>14}  {"p95":>3}')
    for name, row in [('full T', full)] + [(f'alpha {r["alpha"]:g}', r) for r in rows]:
        share = row['mean_timesteps'] / num_timesteps
        print(f'{name:>12}  {row["accuracy"]:8.2%}  {row["mean_timesteps"]:6.2f}/{num_timesteps} '
              f'({share:4.0%})  {row["p95_timesteps"]:3.0f}')
    checks = {'full-T accuracy >= 97%': full['accuracy'] >= 0.97}
    for row in rows:
        checks[f'alpha {row["alpha"]:g}: within 1 point of full T'] = \
            row['accuracy'] >= full['accuracy'] - 0.01
        checks[f'alpha {row["alpha"]:g}: mean timesteps <= 50% of T'] = \
            row['mean_timesteps'] <= 0.5 * num_timesteps
    for check, passed in checks.items():
        print(f'{"PASS" if passed else "FAIL"}  {check}')
    if args.json:
        args.json.write_text(json.dumps({'samples': len(labels), 'num_timesteps': num_timesteps,
                                         'model_id': checkpoint.model_id, 'full_t': full,
                                         'early_exit': rows, 'checks': checks}, indent=2))
    return 0 if all(checks.values()) else 1
