"""`neucodex-ros calibrate`: choose the exit threshold α on validation data.

Sweeps α, writes <out>.csv (alpha, accuracy, mean and p95 timesteps, edge energy per
sample) and <out>.png (accuracy vs mean timesteps, and vs α). With --max-drop D it picks the
α of smallest edge energy whose accuracy is at most D below full T, and writes <out>.yaml: the
params file with that α in its cloud_node section, and the calibrated checkpoint in both
sections if the file loads another (only those lines change; comments are kept). --in-place
changes the params file itself instead: never the default, because the shipped
config/split.yaml is tracked (and on a colcon install, rewritten by every build).
"""

from __future__ import annotations

import argparse
import csv
import re
from pathlib import Path
from typing import Any

from neucodex_ros.commands.evaluate import add_evaluation_arguments, measure, scored_data
from neucodex_ros.core.errors import ConfigError

HELP = 'sweep the exit threshold on validation data; pick and write the cheapest good one'
FIELDS = ['alpha', 'accuracy', 'mean_timesteps', 'p95_timesteps', 'edge_energy_j',
          'energy_saving', 'bits_per_sample']


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `calibrate`."""
    add_evaluation_arguments(parser)
    parser.add_argument('--out', type=Path, default=Path('calibration'),
                        help='writes OUT.csv and OUT.png (default: %(default)s)')
    parser.add_argument('--max-drop', type=float, default=None,
                        help='pick the cheapest alpha within this accuracy drop of full T '
                             '(e.g. 0.01) and write OUT.yaml: the params file with that alpha')
    parser.add_argument('--params-file', type=Path, default=None,
                        help='the params file OUT.yaml is made from (default: '
                             'config/split.yaml)')
    parser.add_argument('--in-place', action='store_true',
                        help='set alpha in --params-file itself instead of writing OUT.yaml')


def write_settings(params_file: Path, settings: dict[str, dict[str, str]], out: Path) -> None:
    """Write params_file to `out` with {node: {parameter: YAML value}} set; the rest as it is.

    Each value replaces the one on its parameter's line in that node's section, padded to the
    old width so that the comments stay aligned.
    """
    text = params_file.read_text()
    for node, values in settings.items():
        section = re.search(rf'^(?:/\*\*/|/)?{node}:\n(?:[ \t]+.*\n|\n)*', text, re.MULTILINE)
        if section is None:
            raise ConfigError(f'{params_file} has no {node} section')
        updated = section.group(0)
        for name, value in values.items():
            def replace(match: re.Match[str], value: str = value) -> str:
                old = match.group(2)  # the value and the spaces before a comment
                return match.group(1) + (value.ljust(len(old) - 1) + ' ' if old != old.rstrip()
                                         else value)

            updated, found = re.subn(rf'^(\s+{name}:\s*)((?:\'[^\']*\'|[^\s#]+)\s*)', replace,
                                     updated, count=1, flags=re.MULTILINE)
            if not found:
                raise ConfigError(f'{params_file} has no {node} {name} parameter to set')
        text = text[:section.start()] + updated + text[section.end():]
    out.write_text(text)


def settings_for(params_file: Path, checkpoint: Path, alpha: float) -> dict[str, dict[str, str]]:
    """Both nodes' alpha and, where the file loads another model, their checkpoint.

    An α belongs to the model it was chosen for; the edge uses it for the samples it
    answers itself (placement auto or local, layers all).
    """
    from neucodex_ros.core.checkpoint import checkpoint_file, checkpoint_setting
    from neucodex_ros.resources import read_params_file

    sections = read_params_file(params_file)
    settings: dict[str, dict[str, str]] = {'cloud_node': {'alpha': repr(float(alpha))}}  # a double
    for node in ('edge_node', 'cloud_node'):
        params = sections.get(node, {})
        if 'alpha' in params:
            settings.setdefault(node, {})['alpha'] = repr(float(alpha))
        loaded = params.get('checkpoint')
        if node in sections and checkpoint_file(loaded).resolve() != checkpoint.resolve():
            quoted = "'" + checkpoint_setting(checkpoint).replace("'", "''") + "'"
            settings.setdefault(node, {})['checkpoint'] = quoted
    return settings


def plot(rows: list[dict[str, float]], chosen: dict[str, float] | None, path: Path,
         title: str) -> None:
    """Accuracy vs mean timesteps, and accuracy vs α, side by side."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    figure, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    accuracy = [100 * r['accuracy'] for r in rows]
    left.plot([r['mean_timesteps'] for r in rows], accuracy, 'o-')
    left.set(xlabel='mean timesteps used', ylabel='accuracy (%)', title='cost vs accuracy')
    right.plot([r['alpha'] for r in rows], accuracy, 'o-')
    right.set(xlabel='alpha', ylabel='accuracy (%)', title='accuracy vs exit threshold')
    if chosen is not None:
        left.plot(chosen['mean_timesteps'], 100 * chosen['accuracy'], 'r*', markersize=14,
                  label=f'chosen alpha {chosen["alpha"]:g}')
        right.plot(chosen['alpha'], 100 * chosen['accuracy'], 'r*', markersize=14)
        left.legend()
    for axis in (left, right):
        axis.grid(alpha=0.3)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def run(args: argparse.Namespace) -> int:
    """Sweep, write the CSV and the plot, and with --max-drop the chosen α."""
    from neucodex_ros.core.evaluation import ALPHAS, cheapest_alpha
    from neucodex_ros.resources import default_params_file

    checkpoint, evaluation, energy = measure(args, 'val')
    dataset = scored_data(args, checkpoint)
    print(f'{len(evaluation.labels)} samples ({dataset}, val part), {checkpoint.path.name} '
          f'(model {checkpoint.model_id}): accuracy and timesteps at each alpha', flush=True)
    rows: list[dict[str, Any]] = [evaluation.at(alpha, energy) for alpha in ALPHAS]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    with args.out.with_suffix('.csv').open('w', newline='') as file:
        writer = csv.DictWriter(file, FIELDS, extrasaction='ignore')
        writer.writeheader()
        writer.writerows(rows)
    chosen = cheapest_alpha(rows, args.max_drop) if args.max_drop is not None else None
    plot(rows, chosen, args.out.with_suffix('.png'),
         f'{checkpoint.path.name} on {dataset} (validation, '
         f'{len(evaluation.labels)} samples)')
    print(f'{"alpha":>8}  {"accuracy":>8}  {"mean t":>6}  {"p95 t":>5}  {"edge energy":>11}')
    for row in rows:
        print(f'{row["alpha"]:8g}  {row["accuracy"]:8.2%}  {row["mean_timesteps"]:6.2f}  '
              f'{row["p95_timesteps"]:5.0f}  {row["edge_energy_j"] * 1e6:8.3f} uJ')
    print(f'wrote {args.out.with_suffix(".csv")} and {args.out.with_suffix(".png")}')
    if chosen is not None:
        params_file = args.params_file or default_params_file()
        out = params_file if args.in_place else args.out.with_suffix('.yaml')
        write_settings(params_file, settings_for(params_file, checkpoint.path, chosen['alpha']),
                       out)
        print(f'chose alpha {chosen["alpha"]:g}: validation accuracy {chosen["accuracy"]:.2%} '
              f'at {chosen["mean_timesteps"]:.2f} mean timesteps; written to {out}'
              + ('' if args.in_place else f' (run the split with --params-file {out})'))
    return 0
