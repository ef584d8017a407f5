"""`neucodex-ros train`, `evaluate` (the accuracy benchmark) and `calibrate` as a user runs them."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml

from neucodex_ros.core.checkpoint import load_checkpoint
from neucodex_ros.resources import node_sections

ROOT = Path(__file__).resolve().parents[2]


def cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, '-m', 'neucodex_ros.cli', *args],
                          capture_output=True, text=True, timeout=timeout)


def test_train_writes_a_complete_checkpoint_log_and_baseline(tmp_path: Path) -> None:
    out = tmp_path / 'model.pt'
    result = cli('train', '--epochs', '2', '--pretrain-epochs', '1', '--bottleneck-epochs',
                 '1', '--train-limit', '600', '--out', str(out), '--bottleneck-channels', '2')
    assert result.returncode == 0, result.stderr
    checkpoint = load_checkpoint(out)
    assert checkpoint.config.bottleneck_channels == 2
    assert checkpoint.class_names == tuple(str(d) for d in range(10))
    assert list(checkpoint.metrics['phases']) == ['pretrain', 'insert', 'finetune']
    assert checkpoint.data['dataset'] == 'digits'
    history = checkpoint.metrics['history']
    assert [r['phase'] for r in history] == ['pretrain', 'insert', 'finetune', 'finetune']
    assert len(history[0]['val_accuracy_by_timestep']) == 4
    assert all(0 <= r['val_accuracy'] <= 1 and r['train_loss'] > 0 for r in history)
    baseline = load_checkpoint(out.with_suffix('.uncompressed.pt'))
    assert baseline.config.bottleneck_channels == 0
    with out.with_suffix('.metrics.csv').open() as file:
        rows = list(csv.DictReader(file))
    assert [(r['phase'], r['epoch']) for r in rows] == [
        ('pretrain', '1'), ('insert', '1'), ('finetune', '1'), ('finetune', '2')]
    assert not out.with_suffix('.resume.pt').exists()  # finished runs leave no resume state
    assert 'pretrain' in result.stderr  # the progress bars
    assert 'alpha' in result.stdout


def test_evaluate_the_shipped_model_meets_its_targets(tmp_path: Path) -> None:
    result = cli('evaluate', '--min-accuracy', '0.97', '--max-drop', '0.01', '--max-share',
                 '0.5', '--json', str(tmp_path / 'e.json'))
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((tmp_path / 'e.json').read_text())
    assert report['samples'] == 1000 and len(report['checks']) == 3
    assert all(report['checks'].values())
    assert report['full_t']['accuracy'] >= 0.97
    row = report['early_exit'][0]
    assert row['edge_energy_j'] > 0 and row['bits_per_sample'] == 196 * row['mean_timesteps']


def test_evaluate_scores_one_dataset_of_a_mix_and_says_which(shared_data: Path,
                                                                tmp_path: Path) -> None:
    """`--dataset nmnist` scores the real recordings alone, not the training mix.

    Never the simulated digits the event model was also trained on; and a folder in the
    official Train/Test layout (Test/: the same held-out recordings) gives the same number.
    """
    from neucodex_ros.core.datasets import SPLIT, stratified_split

    recordings = shared_data / 'nmnist_small' / 'train'
    with (recordings / 'labels.csv').open() as file:
        rows = list(csv.DictReader(file))
    labels = np.asarray([int(row['label']) for row in rows])
    held_out = set(stratified_split(labels, SPLIT, 0)['test'].tolist())
    official = tmp_path / 'N-MNIST'
    for index, row in enumerate(rows):  # links, not copies, of the recordings
        folder = official / ('Test' if index in held_out else 'Train') / row['label']
        folder.mkdir(parents=True, exist_ok=True)
        (folder / Path(row['file']).name).symlink_to(recordings / row['file'])
    scores = {}
    for name, root in (('csv', recordings), ('official', official)):
        result = cli('evaluate', '--checkpoint', 'nmnist_events', '--dataset', 'nmnist',
                     '--data-dir', str(root), '--alpha', '0.98', '--json',
                     str(tmp_path / f'{name}.json'))
        assert result.returncode == 0, result.stdout + result.stderr
        first = result.stdout.splitlines()[0]
        assert first.startswith(f'{len(held_out)} samples (nmnist, test part)'), first
        scores[name] = json.loads((tmp_path / f'{name}.json').read_text())
    for csv_row, official_row in ((scores['csv']['full_t'], scores['official']['full_t']),
                                  (scores['csv']['early_exit'][0],
                                   scores['official']['early_exit'][0])):
        # (the same samples in another order: sums of energies differ in the last bits)
        assert csv_row == pytest.approx(official_row, rel=1e-9)
        assert csv_row['accuracy'] == official_row['accuracy']


def test_calibrate_writes_csv_plot_and_the_chosen_alpha(tmp_path: Path) -> None:
    params = tmp_path / 'split.yaml'
    params.write_text((ROOT / 'config' / 'split.yaml').read_text())
    original = params.read_text()
    result = cli('calibrate', '--out', str(tmp_path / 'cal'), '--max-drop', '0.005',
                 '--params-file', str(params))
    assert result.returncode == 0, result.stdout + result.stderr
    assert params.read_text() == original, 'the params file is left alone without --in-place'
    params = tmp_path / 'cal.yaml'  # ... and a new one written beside the CSV
    with (tmp_path / 'cal.csv').open() as file:
        rows = list(csv.DictReader(file))
    assert {'alpha', 'accuracy', 'mean_timesteps', 'p95_timesteps',
            'edge_energy_j'} <= set(rows[0])
    assert (tmp_path / 'cal.png').read_bytes()[:4] == b'\x89PNG'
    full = next(float(r['accuracy']) for r in rows if float(r['alpha']) == 1.0)
    chosen = node_sections(yaml.safe_load(params.read_text()))['cloud_node']['alpha']
    row = next(r for r in rows if float(r['alpha']) == chosen)
    assert float(row['accuracy']) >= full - 0.005
    cheaper = [r for r in rows if float(r['edge_energy_j']) < float(row['edge_energy_j'])]
    assert all(float(r['accuracy']) < full - 0.005 for r in cheaper)
    before = (ROOT / 'config' / 'split.yaml').read_text().splitlines()
    after = params.read_text().splitlines()
    changed = [(a, b) for a, b in zip(before, after, strict=True) if a != b]
    assert len(changed) <= 2  # only the nodes' alpha lines, comments and all kept
    in_place = tmp_path / 'split.yaml'
    result = cli('calibrate', '--out', str(tmp_path / 'again'), '--max-drop', '0.005',
                 '--params-file', str(in_place), '--in-place')
    assert result.returncode == 0, result.stdout + result.stderr
    assert in_place.read_text() == params.read_text()
    for old, new in changed:
        assert 'alpha:' in old and new.split('#')[1] == old.split('#')[1]


def test_models_lists_every_shipped_model_with_its_held_out_accuracy() -> None:
    result = cli('models', '--json')
    assert result.returncode == 0, result.stderr
    models = {m['name']: m for m in json.loads(result.stdout)}
    assert {'digits_snn', 'nmnist_events'} <= set(models)
    for model in models.values():
        assert model['compression_per_timestep'] >= 256
        assert model['held_out'] is not None, f'{model["name"]}: evaluate --record it'
        assert model['held_out']['part'] == 'test'
    rows = [line for line in cli('models').stdout.splitlines() if line.startswith('| ')]
    assert len(rows) == len(models) + 1  # the header and one row each


def test_the_shipped_resnet18_is_the_papers_backbone_split_after_its_stem() -> None:
    """Full-width spiking ResNet-18 (CIFAR stem), 2048x per timestep, float16 on disk."""
    import numpy as np
    import torch

    from neucodex_ros.core.datasets.digits import held_out_digits
    from neucodex_ros.core.training import predict_logits

    checkpoint = load_checkpoint('resnet18_digits')
    config = checkpoint.config
    assert (config.backbone, config.width, config.split_after) == ('resnet18', 1.0, 1)
    assert checkpoint.model.compression >= 2048
    assert checkpoint.path.stat().st_size < 25e6  # float16: 11.2 M parameters
    assert checkpoint.metrics['held_out']['accuracy_full_t'] >= 0.97
    images, labels = held_out_digits(40, seed=9)
    logits, _ = predict_logits(checkpoint.model, torch.as_tensor(images[:, None] / np.float32(255)))
    assert (logits.mean(0).argmax(-1) == labels).mean() >= 0.9  # the weights load right


def test_help_needs_no_torch() -> None:
    """`--help` of every subcommand answers without importing torch (seconds here)."""
    from neucodex_ros import commands

    for name in ['', *commands.__all__]:
        code = ('import sys; from neucodex_ros.cli import build_parser; '
                f'build_parser({[name] if name else []!r}).format_help(); '
                "print(sorted(m for m in ('torch', 'cv2', 'rclpy') if m in sys.modules))")
        result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                                timeout=120)
        assert result.returncode == 0, result.stderr
        assert result.stdout.strip() == '[]', (name, result.stdout)


def test_light_name_lists_match_what_they_name() -> None:
    from neucodex_ros.core.configs import BACKBONE_NAMES
    from neucodex_ros.core.datasets import DATASET_NAMES, DATASETS
    from neucodex_ros.core.model import BACKBONES

    assert tuple(DATASETS) == DATASET_NAMES
    assert tuple(BACKBONES) == BACKBONE_NAMES


def test_replay_help_states_the_tools_qos_depth() -> None:
    """`replay --help` names the depth without importing rclpy, so it must say the same."""
    import argparse

    from neucodex_ros.cli import build_parser
    from neucodex_ros.qos import TOOL_DEPTH

    (subparsers,) = [a for a in build_parser(['replay'])._actions
                     if isinstance(a, argparse._SubParsersAction)]
    help_text = ' '.join(subparsers.choices['replay'].format_help().split())
    assert f'TOOL_DEPTH = {TOOL_DEPTH})' in help_text


@pytest.mark.parametrize('args', [
    ['inspect', '/nonexistent/bag'], ['replay', '/nonexistent/bag'],
    ['split', '--params-file', '/nonexistent/split.yaml'],
    ['split', '-p', 'image_topic:=/cam'],  # whose parameter?
    ['split', '-p', 'camera_node.image_topic:=/cam'],
    ['split', '-r', 'image=/cam'], ['split', '-r', 'edge_nod:image:=/cam'],  # a misspelt node
    ['replay', '/nonexistent/bag', '--score', '--loop'],
    ['replay', '/nonexistent/bag', '-r', 'events'],
    ['evaluate', '--checkpoint', 'nmnist_events'],  # an event dataset needs --data-dir
    ['demo', '--samples', '0'], ['demo', '--samples', '5000'], ['demo', '--rate', '0'],
    ['demo', '--alpha', '2'],
    ['convert', '--aedat4', '/nonexistent/recording.aedat4', '--out', '/nonexistent/bag'],
    ['split', '--params-file', 'NO_ROS_PARAMETERS'], ['split', '--params-file', 'NOT_YAML']])
def test_user_mistakes_end_in_one_line(args: list[str], tmp_path: Path) -> None:
    files = {'NO_ROS_PARAMETERS': 'edge_node:\n  checkpoint: ""\n',
             'NOT_YAML': 'edge_node:\n  ros__parameters:\n    alpha: [1, 2\n'}
    for index, arg in enumerate(args):
        if arg in files:
            (path := tmp_path / f'{arg.lower()}.yaml').write_text(files[arg])
            args = [*args[:index], str(path), *args[index + 1:]]
    result = subprocess.run([sys.executable, '-m', 'neucodex_ros.cli', *args],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stdout + result.stderr
    assert 'Traceback' not in result.stderr
    assert result.stderr.strip().splitlines() == [result.stderr.strip()], result.stderr
    assert result.stderr.startswith(f'neucodex-ros {args[0]}: '), result.stderr


def test_split_overrides_go_to_their_node_and_remaps_resolve_per_node() -> None:
    from neucodex_ros.commands.split import node_overrides, resolved_topic

    nodes = ['cloud_node', 'edge_node']
    assert node_overrides(['edge_node.image_topic:=/cam', 'cloud_node.alpha:=0.9',
                           'edge_node.roi:=[1, 2, 3, 4]'], nodes) == {
        'cloud_node': {'alpha': '0.9'},
        'edge_node': {'image_topic': '/cam', 'roi': '[1, 2, 3, 4]'}}
    rules = ['cloud_node:prediction:=/b', 'prediction:=/a', 'edge_node:prediction:=/c']
    assert resolved_topic('prediction', 'edge_node', rules) == '/a'  # the first match wins
    assert resolved_topic('prediction', 'cloud_node', rules) == '/b'
    assert resolved_topic('other', 'edge_node', rules) == '/other'


def test_replay_remaps_are_absolute() -> None:
    from neucodex_ros.commands.replay import remaps

    assert remaps(['event_camera/events:=/cam/events']) == {
        '/event_camera/events': '/cam/events'}


def test_calibrate_names_the_calibrated_model_in_the_file_it_writes(tmp_path: Path) -> None:
    """An α belongs to its model: a file that loads another one gets the calibrated one."""
    from neucodex_ros.commands.calibrate import settings_for, write_settings
    from neucodex_ros.core.checkpoint import checkpoint_file

    source = ROOT / 'config' / 'split.yaml'  # loads the digits model
    out = tmp_path / 'events_alpha.yaml'
    write_settings(source, settings_for(source, checkpoint_file('nmnist_events'), 0.9), out)
    written = node_sections(yaml.safe_load(out.read_text()))
    assert written['cloud_node']['alpha'] == 0.9
    assert written['edge_node']['alpha'] == 0.9  # its local answers
    assert written['edge_node']['checkpoint'] == 'nmnist_events'
    assert written['cloud_node']['checkpoint'] == 'nmnist_events'
    changed = [(a, b) for a, b in zip(source.read_text().splitlines(),
                                      out.read_text().splitlines(), strict=True) if a != b]
    assert len(changed) == 4 and all(a.split('#')[1:] == b.split('#')[1:] for a, b in changed)
    own = tmp_path / 'a model with a long name.pt'
    own.write_bytes(b'')  # a file of one's own: named by its absolute path, quoted
    write_settings(source, settings_for(source, own, 0.5), out)
    assert node_sections(yaml.safe_load(out.read_text()))['edge_node'][
        'checkpoint'] == str(own.resolve())
    same = settings_for(source, checkpoint_file(None), 0.5)  # the model it loads already
    assert same == {'cloud_node': {'alpha': '0.5'}, 'edge_node': {'alpha': '0.5'}}
    assert settings_for(source, checkpoint_file(None), 0)['cloud_node']['alpha'] == '0.0'


def test_every_option_has_help_and_says_its_default() -> None:
    import argparse

    from neucodex_ros.cli import build_parser

    parser = build_parser()
    (choices,) = [a.choices for a in parser._actions
                  if isinstance(a, argparse._SubParsersAction)]
    for name, subparser in choices.items():
        for action in subparser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            assert action.help, f'{name} {action.option_strings} has no help'
            if action.option_strings and action.default not in (None, False, [], ''):
                text = ' '.join(subparser._get_formatter()._format_action(action).split())
                assert 'default' in text, (name, action.option_strings, text)


def test_evaluate_shows_progress_and_scores_the_first_samples_asked_for() -> None:
    result = subprocess.run([sys.executable, '-m', 'neucodex_ros.cli', 'evaluate', '--samples',
                             '30'], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert '30 samples (digits, test part)' in result.stdout, result.stdout
    assert 'test samples (of 1000)' in result.stderr and '30/30' in result.stderr, result.stderr
