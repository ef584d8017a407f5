"""Every backbone trains a step and runs the exit policy on data of every reader format."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from tiny_data import make_all

from neucodex_ros.core.datasets import DataOptions, load_dataset
from neucodex_ros.core.energy import EnergyConfig
from neucodex_ros.core.evaluation import evaluate
from neucodex_ros.core.events.frames import FrameSpec
from neucodex_ros.core.model import ModelConfig, SplitSNN
from neucodex_ros.core.training import TrainConfig, train

FORMATS = ['digits', 'cifar10', 'caltech101', 'nmnist', 'ncaltech101', 'cifar10dvs']
BACKBONES = {'small_cnn': 1.0, 'resnet18': 1 / 16, 'vgg16': 1 / 16}


@pytest.fixture(scope='module')
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    return make_all(tmp_path_factory.mktemp('datasets'))


@pytest.mark.parametrize('dataset', FORMATS)
@pytest.mark.parametrize('backbone', sorted(BACKBONES))
def test_one_training_step_and_an_exit_evaluation(tiny: dict[str, Path], dataset: str,
                                                  backbone: str) -> None:
    options = DataOptions(FrameSpec(2))
    train_set, spec = load_dataset(dataset, tiny.get(dataset), 'train', options)
    val_set, _ = load_dataset(dataset, tiny.get(dataset), 'val', options)
    if backbone == 'vgg16' and min(spec.input_size) < 32:
        pytest.skip(f'vgg16 needs inputs of at least 32x32; {dataset} is {spec.input_size}')
    train_set = torch.utils.data.Subset(train_set, range(4))
    val_set = torch.utils.data.Subset(val_set, range(min(3, len(val_set))))
    torch.manual_seed(0)
    model = SplitSNN(ModelConfig(backbone=backbone, width=BACKBONES[backbone],
                                 in_channels=spec.in_channels, input_size=spec.input_size,
                                 num_classes=len(spec.class_names), num_timesteps=2,
                                 split_after=1, bottleneck_channels=1, bottleneck_stride=2))
    before = [p.detach().clone() for p in model.parameters()]
    metrics = train(model, train_set, val_set, spec.augment,
                    TrainConfig(epochs=1, batch_size=4, device='cpu'), progress=False)
    assert len(metrics['history']) == 1 and np.isfinite(metrics['history'][0]['train_loss'])
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))
    evaluation = evaluate(model, val_set)
    row = evaluation.at(0.9, EnergyConfig())
    assert 1.0 <= row['mean_timesteps'] <= 2.0 and 0.0 <= row['accuracy'] <= 1.0
    assert row['edge_energy_j'] > 0 and row['edge_only_energy_j'] > 0
    assert evaluation.logits.shape == (2, len(val_set), len(spec.class_names))
