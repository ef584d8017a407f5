"""Training the split SNN (and `predict_logits`, the logits of a dataset, for evaluation).

The loss is applied at every timestep: cross-entropy of the mean logits over timesteps 1..t,
averaged over t = 1..T. That is exactly what the exit policy looks at, so early timesteps
learn to be confident on their own and early exit loses little accuracy.

Static images are fed as the same frame at every timestep (direct encoding); event samples
bring their own T frames. Training state (weights, optimiser, schedule, random generator,
history) can be saved after every epoch and resumed.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from spikingjelly.activation_based import functional
from torch.utils.data import DataLoader, Dataset
from tqdm import tqdm

from neucodex_ros.core.checkpoint import pick_device
from neucodex_ros.core.configs import TrainConfig
from neucodex_ros.core.datasets import Augment
from neucodex_ros.core.exit_policy import exit_points
from neucodex_ros.core.model import SplitSNN

Samples = Dataset[tuple[torch.Tensor, int]]


def direct_encoding(images: torch.Tensor, num_timesteps: int) -> torch.Tensor:
    """The same frame at every timestep: [N, C, H, W] → [T, N, C, H, W]."""
    return images.unsqueeze(0).expand(num_timesteps, *images.shape)


def as_sequence(batch: torch.Tensor, num_timesteps: int) -> torch.Tensor:
    """A batch of images [N, C, H, W] or event frames [N, T, C, H, W] → [T, N, C, H, W]."""
    if batch.dim() == 4:
        return direct_encoding(batch, num_timesteps)
    return batch.transpose(0, 1)


def per_timestep_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean over t of the cross-entropy of the mean logits over timesteps 1..t."""
    steps = torch.arange(1, logits.shape[0] + 1, device=logits.device).view(-1, 1, 1)
    running_mean = logits.cumsum(0) / steps
    return torch.stack([F.cross_entropy(step, labels) for step in running_mean]).mean()


DISTILL_TEMPERATURE = 2.0


def distillation_loss(logits: torch.Tensor, teacher_logits: torch.Tensor,
                      temperature: float = DISTILL_TEMPERATURE) -> torch.Tensor:
    """Mean over t of KL(teacher ‖ student) between the softened running means up to t.

    The teacher's answer after t timesteps is what the student should say after t, so its
    early exits follow the teacher's, not only its final answer (Hinton et al. 2015, per
    timestep as per_timestep_loss).
    """
    steps = torch.arange(1, logits.shape[0] + 1, device=logits.device).view(-1, 1, 1)
    student = (logits.cumsum(0) / steps / temperature).log_softmax(-1)
    teacher = (teacher_logits.cumsum(0) / steps / temperature).softmax(-1)
    kl = (teacher * (teacher.clamp_min(1e-12).log() - student)).sum(-1).mean(-1)
    return kl.mean() * temperature ** 2


def affine_jitter(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Small random affine jitter (±10°, ±10% scale, ±2 px shift) of [N, C, H, W] images."""
    n = images.shape[0]
    angle = (torch.rand(n, generator=generator) * 2 - 1) * math.radians(10)
    scale = 1 + (torch.rand(n, generator=generator) * 2 - 1) * 0.1
    shift = (torch.rand(n, 2, generator=generator) * 2 - 1) * (2 * 2 / images.shape[-1])
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1),
                         torch.stack([sin, cos, shift[:, 1]], 1)], 1).to(images)
    grid = F.affine_grid(theta, list(images.shape), align_corners=False)
    return F.grid_sample(images, grid, align_corners=False, padding_mode='zeros')


def random_shift(batch: torch.Tensor, generator: torch.Generator, pad: int,
                 flip: bool) -> torch.Tensor:
    """Shift each sample by up to ±pad pixels (zero fill), optionally mirror it at random.

    Works on images [N, C, H, W] and event frames [N, T, C, H, W] alike.
    """
    height, width = batch.shape[-2:]
    padded = F.pad(batch, (pad, pad, pad, pad))
    out = torch.empty_like(batch)
    offsets = torch.randint(0, 2 * pad + 1, (len(batch), 2), generator=generator)
    mirror = torch.rand(len(batch), generator=generator) < 0.5
    for n, (dy, dx) in enumerate(offsets.tolist()):
        sample = padded[n, ..., dy:dy + height, dx:dx + width]
        out[n] = sample.flip(-1) if flip and mirror[n] else sample
    return out


def event_jitter(frames: torch.Tensor, generator: torch.Generator, shift: int = 2,
                 drop: float = 0.1, noise: float = 0.002, stretch: float = 0.2) -> torch.Tensor:
    """What the same scene looks like to the sensor another time, on event frames [N, T, 2, H, W].

    Each sample is moved by up to ±`shift` pixels (where the saccade fell), loses each event
    with probability up to `drop` (the sensor's refractory misses and bandwidth drops),
    gains background-activity noise at up to `noise` events per pixel and frame, and is
    played up to `stretch` faster or slower (an object moving at another speed: the frames
    resampled in time, what runs past the window cut, what falls short left empty). The
    counts stay whole numbers of events and the polarities stay what they were.
    """
    count = len(frames)
    out = random_shift(frames, generator, pad=shift, flip=False)
    keep = 1 - torch.rand(count, generator=generator) * drop
    out = torch.binomial(out, keep.view(-1, 1, 1, 1, 1).expand_as(out), generator=generator)
    rate = (torch.rand(count, generator=generator) * noise).view(-1, 1, 1, 1, 1)
    out = out + (torch.rand(out.shape, generator=generator) < rate).to(out.dtype)
    num_timesteps = frames.shape[1]
    for n, speed in enumerate((1 + (torch.rand(count, generator=generator) * 2 - 1)
                               * stretch).tolist()):
        source = torch.arange(num_timesteps) * speed  # frame t shows time t × speed
        lower = source.floor().long()
        weight = (source - lower).view(-1, 1, 1, 1)
        inside = (lower < num_timesteps).view(-1, 1, 1, 1)
        first = out[n, lower.clamp(max=num_timesteps - 1)]
        second = out[n, (lower + 1).clamp(max=num_timesteps - 1)]
        blended = torch.where((lower + 1 < num_timesteps).view(-1, 1, 1, 1),
                              first * (1 - weight) + second * weight, first * (1 - weight))
        out[n] = torch.where(inside, blended.round(), torch.zeros_like(first))
    return out


AUGMENTATIONS: dict[Augment, Callable[[torch.Tensor, torch.Generator], torch.Tensor]] = {
    Augment.AFFINE: affine_jitter,
    Augment.CROP_FLIP: lambda x, g: random_shift(x, g, pad=4, flip=True),
    Augment.EVENTS: lambda x, g: event_jitter(x, g),
    Augment.NONE: lambda x, g: x,
}


@torch.no_grad()
def predict_logits(model: SplitSNN, samples: Samples | torch.Tensor, batch_size: int = 250,
                   workers: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits at every timestep [T, N, num_classes] and the labels [N] of a dataset.

    `samples` may also be a tensor of images [N, C, H, W] (labels are then all -1).
    """
    device = next(model.parameters()).device
    model.eval()
    if isinstance(samples, torch.Tensor):
        batches: Iterable[tuple[torch.Tensor, torch.Tensor]] = (
            (samples[i:i + batch_size], torch.full((len(samples[i:i + batch_size]),), -1))
            for i in range(0, len(samples), batch_size))
    else:
        batches = DataLoader(samples, batch_size=batch_size, num_workers=workers)
    outputs, labels = [], []
    for batch, target in batches:
        sequence = as_sequence(batch.to(device), model.config.num_timesteps)
        outputs.append(model(sequence).cpu())
        labels.append(target)
        functional.reset_net(model)
    return torch.cat(outputs, dim=1).numpy(), torch.cat(labels).numpy()


@dataclass
class TrainState:
    """Everything needed to continue a training phase where it stopped."""

    epoch: int
    weights: dict[str, torch.Tensor]  # at the end of `epoch`, to continue from
    history: list[dict[str, Any]]
    best_accuracy: float
    best_weights: dict[str, torch.Tensor]
    optimizer: dict[str, Any]
    schedule: dict[str, Any]
    generator: torch.Tensor


def train(model: SplitSNN, train_set: Samples, val_set: Samples, augment: Augment,
          config: TrainConfig, *, parameters: Iterable[torch.nn.Parameter] | None = None,
          phase: str = 'train', resume: TrainState | None = None,
          on_epoch: Callable[[TrainState, dict[str, Any]], None] | None = None,
          progress: bool = True, teacher: SplitSNN | None = None) -> dict[str, Any]:
    """Train in place and keep the weights of the best validation epoch; return the metrics.

    Args:
        model: The network, trained in place.
        train_set: Training samples (images or event frames, with labels).
        val_set: Validation samples; the best epoch by accuracy at full T is kept.
        augment: How to jitter the training samples (the dataset's DataSpec.augment).
        config: Optimisation settings.
        parameters: What to optimise (default: everything); the rest stays frozen.
        phase: Name of this phase in the records and the progress bar.
        resume: A state saved by on_epoch, to continue from its next epoch.
        on_epoch: Called after every epoch with the resumable state and the epoch's record.
        progress: Show a progress bar.
        teacher: A trained network (the uncompressed one) whose answers the model learns
            too, weighted config.distill (distillation_loss).
    """
    if config.distill and teacher is None:
        raise ValueError('distillation needs a teacher')
    torch.manual_seed(config.seed)
    device = pick_device(config.device)
    model.to(device)
    if teacher is not None:
        teacher.to(device).eval()
    generator = torch.Generator().manual_seed(config.seed)
    trainable = list(parameters if parameters is not None else model.parameters())
    optimizer = torch.optim.AdamW(trainable, lr=config.lr, weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(len(train_set) / config.batch_size)  # type: ignore[arg-type]
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, config.lr,
                                                   total_steps=config.epochs * steps_per_epoch)
    state = TrainState(epoch=0, weights={}, history=[], best_accuracy=-1.0, best_weights={},
                       optimizer={}, schedule={}, generator=generator.get_state())
    if resume is not None:
        state = resume
        model.load_state_dict(resume.weights)
        optimizer.load_state_dict(resume.optimizer)
        schedule.load_state_dict(resume.schedule)
        generator.set_state(resume.generator)
    jitter = AUGMENTATIONS[augment if config.augment else Augment.NONE]
    optimised = {id(p) for p in trainable}
    frozen = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)
              and not any(id(p) in optimised for p in m.parameters())]
    epochs = tqdm(range(state.epoch + 1, config.epochs + 1), desc=phase, unit='epoch',
                  initial=state.epoch, total=config.epochs, disable=not progress)
    for epoch in epochs:
        started = time.monotonic()
        model.train()
        for module in frozen:  # frozen parts keep their batch-norm statistics too
            module.eval()
        loader = DataLoader(train_set, batch_size=config.batch_size, shuffle=True,
                            generator=generator, num_workers=config.workers)
        total_loss = correct = seen = 0.0
        for batch, target in tqdm(loader, desc=f'{phase} epoch {epoch}', unit='batch',
                                  leave=False, disable=not progress):
            batch = jitter(batch, generator).to(device)
            target = target.to(device)
            sequence = as_sequence(batch, model.config.num_timesteps)
            logits = model(sequence)
            loss = per_timestep_loss(logits, target)
            if teacher is not None and config.distill:
                with torch.no_grad():
                    taught = teacher(sequence)
                functional.reset_net(teacher)
                loss = loss + config.distill * distillation_loss(logits, taught)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]  # (torch leaves it untyped)
            optimizer.step()
            schedule.step()
            functional.reset_net(model)
            total_loss += float(loss.detach()) * len(target)
            correct += float((logits.mean(0).argmax(-1) == target).sum())
            seen += len(target)
        val_logits, val_labels = predict_logits(model, val_set, workers=config.workers)
        per_step = [float((exit_points(val_logits[:t + 1], 1.0)[1] == val_labels).mean())
                    for t in range(model.config.num_timesteps)]
        record = {'phase': phase, 'epoch': epoch, 'train_loss': total_loss / seen,
                  'train_accuracy': correct / seen, 'val_accuracy': per_step[-1],
                  'val_accuracy_by_timestep': per_step, 'lr': schedule.get_last_lr()[0],
                  'seconds': time.monotonic() - started}
        state.history.append(record)
        epochs.set_postfix(loss=f'{record["train_loss"]:.3f}', val=f'{per_step[-1]:.3f}',
                           val_t1=f'{per_step[0]:.3f}')
        if per_step[-1] >= state.best_accuracy:
            state.best_accuracy = per_step[-1]
            state.best_weights = {k: v.detach().cpu().clone()
                                  for k, v in model.state_dict().items()}
        state.epoch = epoch
        state.weights = {k: v.detach().cpu().clone() for k, v in model.state_dict().items()}
        state.optimizer, state.schedule = optimizer.state_dict(), schedule.state_dict()
        state.generator = generator.get_state()
        if on_epoch is not None:
            on_epoch(state, record)
    model.load_state_dict(state.best_weights)
    model.eval()
    best = max(state.history, key=lambda r: (r['val_accuracy'], r['epoch']))
    return {'history': state.history, 'best_epoch': best['epoch'],
            'val_accuracy': best['val_accuracy'],
            'train_config': asdict(config) | {'device': str(device)}}
