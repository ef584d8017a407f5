"""Training: the per-timestep loss, augmentation, and an interrupted run resumed exactly."""

from __future__ import annotations

import pytest
import torch

from neucodex_ros.core.datasets import load_dataset
from neucodex_ros.core.model import ModelConfig, SplitSNN
from neucodex_ros.core.training import (
    TrainConfig,
    TrainState,
    per_timestep_loss,
    random_shift,
    train,
)


def test_per_timestep_loss_is_the_mean_over_running_means() -> None:
    logits = torch.tensor([[[2.0, 0.0]], [[0.0, 4.0]]])  # T=2, N=1, K=2
    labels = torch.tensor([0])
    first = torch.nn.functional.cross_entropy(logits[0], labels)
    second = torch.nn.functional.cross_entropy((logits[0] + logits[1]) / 2, labels)
    assert per_timestep_loss(logits, labels) == pytest.approx(float((first + second) / 2))


def test_random_shift_keeps_shape_and_content_size() -> None:
    frames = torch.zeros(3, 4, 2, 10, 10)
    frames[:, :, :, 4:6, 4:6] = 1
    shifted = random_shift(frames, torch.Generator().manual_seed(0), pad=2, flip=False)
    assert shifted.shape == frames.shape and shifted.sum() == frames.sum()


class SimulatedCrashError(Exception):
    pass


def test_an_interrupted_run_resumes_to_the_same_weights() -> None:
    train_set, spec = load_dataset('digits', None, 'train')
    val_set, _ = load_dataset('digits', None, 'val')
    train_set = torch.utils.data.Subset(train_set, range(96))
    val_set = torch.utils.data.Subset(val_set, range(32))
    config = TrainConfig(epochs=2, batch_size=32, device='cpu')

    def fresh() -> SplitSNN:
        torch.manual_seed(0)
        return SplitSNN(ModelConfig(num_timesteps=2))

    straight = fresh()
    train(straight, train_set, val_set, spec.augment, config, progress=False)

    saved: list[TrainState] = []

    def stop_after_first(state: TrainState, record: dict) -> None:
        saved.append(TrainState(**{k: getattr(state, k) for k in state.__dataclass_fields__}))
        raise SimulatedCrashError

    with pytest.raises(SimulatedCrashError):
        train(fresh(), train_set, val_set, spec.augment, config, on_epoch=stop_after_first,
              progress=False)
    resumed = fresh()
    metrics = train(resumed, train_set, val_set, spec.augment, config, resume=saved[0],
                    progress=False)
    assert [r['epoch'] for r in metrics['history']] == [1, 2]
    for name, tensor in straight.state_dict().items():
        assert torch.equal(resumed.state_dict()[name], tensor), name
