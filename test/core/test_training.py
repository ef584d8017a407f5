"""Training: the per-timestep loss, augmentation, and an interrupted run resumed exactly."""

from __future__ import annotations

import pytest
import torch

from neucodex_ros.core.datasets import load_dataset
from neucodex_ros.core.model import ModelConfig, SplitSNN
from neucodex_ros.core.training import (
    TrainConfig,
    TrainState,
    distillation_loss,
    event_jitter,
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


def test_event_jitter_keeps_whole_events_and_their_polarity() -> None:
    generator = torch.Generator().manual_seed(0)
    frames = torch.zeros(6, 8, 2, 12, 12)
    frames[:, :, 1, 4:8, 4:8] = torch.poisson(torch.full((6, 8, 4, 4), 3.0),
                                              generator=generator)
    jittered = event_jitter(frames, generator, noise=0.0)
    assert jittered.shape == frames.shape
    assert (jittered >= 0).all() and (jittered == jittered.round()).all()
    assert jittered[:, :, 0].sum() == 0, 'ON events stay ON'
    assert 0.5 * frames.sum() < jittered.sum() < 1.5 * frames.sum()
    assert not torch.equal(jittered, frames)
    noisy = event_jitter(torch.zeros(4, 8, 2, 34, 34), generator, noise=0.01)
    assert 0 < noisy.sum() < 0.02 * noisy.numel(), 'sparse background noise'


def test_distillation_is_zero_for_the_teachers_own_answers_and_pulls_towards_them() -> None:
    teacher = torch.randn(4, 5, 10)
    assert distillation_loss(teacher, teacher) == pytest.approx(0.0, abs=1e-6)
    student = torch.zeros(4, 5, 10, requires_grad=True)
    loss = distillation_loss(student, teacher)
    loss.backward()
    assert loss > 0
    step = student - 0.1 * student.grad
    assert distillation_loss(step, teacher) < loss, 'its gradient moves towards the teacher'


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


def test_training_beats_chance_on_held_out_digits() -> None:
    """A few epochs on real digits learn something: held-out accuracy well above 1 in 10."""
    train_set, spec = load_dataset('digits', None, 'train')
    val_set, _ = load_dataset('digits', None, 'val')
    train_set = torch.utils.data.Subset(train_set, range(600))
    val_set = torch.utils.data.Subset(val_set, range(200))
    torch.manual_seed(0)
    model = SplitSNN(ModelConfig(num_timesteps=2))
    metrics = train(model, train_set, val_set, spec.augment,
                    TrainConfig(epochs=3, batch_size=32, device='cpu'), progress=False)
    accuracy = max(record['val_accuracy'] for record in metrics['history'])
    assert accuracy > 0.5, metrics['history']
