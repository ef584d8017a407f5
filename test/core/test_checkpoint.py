"""Checkpoints: what they hold, the shipped model, and clear errors."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from neucodex_ros.core.checkpoint import (
    DEFAULT_CHECKPOINT,
    load_checkpoint,
    record_metrics,
    save_checkpoint,
)
from neucodex_ros.core.errors import ModelError
from neucodex_ros.core.model import ModelConfig, SplitSNN


def test_round_trip_keeps_weights_config_names_metrics(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = SplitSNN(ModelConfig(bottleneck_channels=2))
    path = tmp_path / 'sub' / 'm.pt'
    save_checkpoint(path, model, class_names=list('abcdefghij'), metrics={'val_accuracy': 0.5})
    loaded = load_checkpoint(path)
    assert loaded.config == model.config
    assert loaded.class_names == tuple('abcdefghij')
    assert loaded.metrics == {'val_accuracy': 0.5}
    for name, tensor in model.state_dict().items():
        assert torch.equal(loaded.model.state_dict()[name], tensor)
    assert loaded.model_id == load_checkpoint(path).model_id  # stable
    assert not loaded.model.training


def test_float16_weights_halve_the_file_and_load_as_float32(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = SplitSNN(ModelConfig(backbone='resnet18', width=0.25, split_after=1))
    names = [str(i) for i in range(10)]
    save_checkpoint(tmp_path / 'full.pt', model, class_names=names, metrics={})
    save_checkpoint(tmp_path / 'half.pt', model, class_names=names, metrics={},
                    weights='float16')
    assert (tmp_path / 'half.pt').stat().st_size < 0.6 * (tmp_path / 'full.pt').stat().st_size
    half = load_checkpoint(tmp_path / 'half.pt')
    for name, tensor in half.model.state_dict().items():
        original = model.state_dict()[name]
        assert tensor.dtype == original.dtype
        if tensor.is_floating_point():
            assert torch.equal(tensor, original.half().float())
    with pytest.raises(ModelError, match='weights must be one of'):
        save_checkpoint(tmp_path / 'x.pt', model, class_names=names, metrics={}, weights='int8')


def test_recorded_metrics_leave_the_weights_alone(tmp_path: Path) -> None:
    path = tmp_path / 'm.pt'
    save_checkpoint(path, SplitSNN(ModelConfig()), class_names=[str(i) for i in range(10)],
                    metrics={'val_accuracy': 0.5})
    before = load_checkpoint(path)
    record_metrics(path, 'held_out', {'accuracy_full_t': 0.9})
    after = load_checkpoint(path)
    assert after.model_id == before.model_id
    assert after.metrics == {'val_accuracy': 0.5, 'held_out': {'accuracy_full_t': 0.9}}
    with pytest.raises(ModelError, match='cannot read'):
        (tmp_path / 'bad.pt').write_bytes(b'no')
        record_metrics(tmp_path / 'bad.pt', 'held_out', {})


def test_model_id_changes_with_the_weights(tmp_path: Path) -> None:
    torch.manual_seed(0)
    model = SplitSNN(ModelConfig())
    save_checkpoint(tmp_path / 'a.pt', model, class_names=[str(i) for i in range(10)],
                    metrics={})
    with torch.no_grad():
        next(model.parameters()).add_(1e-3)
    save_checkpoint(tmp_path / 'b.pt', model, class_names=[str(i) for i in range(10)],
                    metrics={})
    first, second = (load_checkpoint(tmp_path / name) for name in ('a.pt', 'b.pt'))
    assert first.model_id != second.model_id


def test_shipped_model_is_small_and_complete() -> None:
    assert DEFAULT_CHECKPOINT.stat().st_size < 1_000_000
    checkpoint = load_checkpoint()
    assert checkpoint.class_names == tuple(str(d) for d in range(10))
    assert checkpoint.metrics['history'] and checkpoint.metrics['val_accuracy'] > 0.95
    assert checkpoint.config.num_timesteps == 4


def test_errors_name_the_file(tmp_path: Path) -> None:
    with pytest.raises(ModelError, match='not found'):
        load_checkpoint(tmp_path / 'missing.pt')
    garbage = tmp_path / 'garbage.pt'
    garbage.write_bytes(b'not a checkpoint')
    with pytest.raises(ModelError, match='garbage.pt'):
        load_checkpoint(garbage)
    with pytest.raises(ModelError, match='class names'):
        save_checkpoint(tmp_path / 'x.pt', SplitSNN(ModelConfig()), class_names=['a'],
                        metrics={})
