"""`neucodex-ros train` and `evaluate` (the accuracy benchmark) as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from neucodex_ros.core.checkpoint import load_checkpoint


def cli(*args: str, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, '-m', 'neucodex_ros.cli', *args],
                          capture_output=True, text=True, timeout=timeout)


def test_train_writes_a_complete_checkpoint(tmp_path: Path) -> None:
    out = tmp_path / 'model.pt'
    result = cli('train', '--epochs', '3', '--train-limit', '1500', '--out', str(out),
                 '--bottleneck-channels', '2')
    assert result.returncode == 0, result.stderr
    checkpoint = load_checkpoint(out)
    assert checkpoint.config.bottleneck_channels == 2
    assert checkpoint.class_names == tuple(str(d) for d in range(10))
    history = checkpoint.metrics['history']
    assert len(history) == 3 and len(history[0]['val_accuracy_by_timestep']) == 4
    assert checkpoint.metrics['val_accuracy'] > 0.2  # above chance (0.1) already
    assert 'training' in result.stderr  # the progress bar
    assert 'alpha' in result.stdout


def test_evaluate_the_shipped_model_meets_its_targets(tmp_path: Path) -> None:
    result = cli('evaluate', '--json', str(tmp_path / 'e.json'))
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads((tmp_path / 'e.json').read_text())
    assert report['samples'] == 1000 and all(report['checks'].values())
    assert report['full_t']['accuracy'] >= 0.97
