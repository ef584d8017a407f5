"""The README's main command: `neucodex-ros demo` end to end over real processes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from neucodex_ros.core import codec
from neucodex_ros.core.checkpoint import load_checkpoint

pytestmark = pytest.mark.ros


def test_demo_reports_every_sample(tmp_path: Path) -> None:
    out = tmp_path / 'demo.json'
    result = subprocess.run([sys.executable, '-m', 'neucodex_ros.cli', 'demo', '--samples', '30',
                             '--rate', '15', '--json', str(out)],
                            capture_output=True, text=True, timeout=180)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(out.read_text())
    assert {'accuracy', 'mean_timesteps', 'num_timesteps', 'bytes_per_sample',
            'compression_per_timestep', 'compression_per_sample', 'alpha',
            'samples'} <= set(report)
    assert report['samples'] == 30 and report['unanswered'] == 0 and report['failed'] == 0
    assert report['accuracy'] >= 0.9
    assert report['computed_on'] == {'both': 30}, 'the demo shows the split'
    assert 1 <= report['mean_timesteps'] <= report['num_timesteps'] == 4
    # 4x7x7 spikes = 25 bytes per timestep bit-packed; the edge's `auto` codec sends less.
    # The 20 ms edge clock may send a timestep before a late exit signal arrives
    # (test_split_e2e checks exactness with a slow clock).
    assert report['bitpack_bytes_per_sample'] == pytest.approx(
        25 * report['mean_timesteps_sent'])
    assert report['bytes_per_sample'] < 0.8 * report['bitpack_bytes_per_sample']
    assert sum(report['codec_mix'].values()) == pytest.approx(1.0)
    assert report['mean_timesteps'] <= report['mean_timesteps_sent'] <= report['mean_timesteps'] + 1
    # core/figures.py: float32 features at the split (32x7x7) ÷ spike bits, one timestep
    # bit-packed (4x7x7), and ÷ the payload bits actually sent for the sample
    assert report['compression_per_timestep'] == 32 * 7 * 7 * 32 / (4 * 7 * 7)
    assert report['compression_per_sample'] == pytest.approx(
        32 * 7 * 7 * 32 / (8 * report['bytes_per_sample']))
    for line in ('accuracy', 'mean timesteps used', 'bytes sent per sample', 'codec mix',
                 'x per timestep', 'x per sample', 'raw input', 'alpha', 'answered where'):
        assert line in result.stdout


def test_events_demo_reports_every_sample_with_the_same_keys(tmp_path: Path) -> None:
    """`demo --events`: simulated DVS recordings of held-out digits, the shipped event model."""
    out = tmp_path / 'demo.json'
    result = subprocess.run([sys.executable, '-m', 'neucodex_ros.cli', 'demo', '--events',
                             '--samples', '20', '--rate', '5', '--json', str(out)],
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 0, result.stdout + result.stderr
    report = json.loads(out.read_text())
    camera_keys = {'accuracy', 'mean_timesteps', 'num_timesteps', 'mean_timesteps_sent',
                   'bytes_per_sample', 'bitpack_bytes_per_sample', 'codec_mix',
                   'wire_bytes_per_sample', 'compression_per_timestep', 'compression_per_sample',
                   'split_features_float32_bits', 'raw_image_bytes', 'alpha', 'unanswered',
                   'failed', 'model_id', 'per_sample', 'samples', 'input', 'computed_on'}
    assert set(report) == camera_keys and report['input'] == 'events'
    assert report['computed_on'] == {'both': 20}
    assert report['samples'] == 20 and report['unanswered'] == 0 and report['failed'] == 0
    assert report['num_timesteps'] == 8 and report['accuracy'] >= 0.8
    # the shipped model's spike map, bit-packed, for every timestep sent
    packed = codec.packed_size(load_checkpoint('nmnist_events').model.split_shape)
    assert report['bitpack_bytes_per_sample'] == pytest.approx(
        packed * report['mean_timesteps_sent'])
    assert 0 < report['bytes_per_sample'] <= report['bitpack_bytes_per_sample']
    assert 'simulated DVS recordings' in result.stdout
