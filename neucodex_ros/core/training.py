"""Training the split SNN with its bottleneck in place, and offline evaluation.

The loss is applied at every timestep: cross-entropy of the mean logits over timesteps 1..t,
averaged over t = 1..T. That is exactly what the exit policy looks at, so early timesteps
learn to be confident on their own and early exit loses little accuracy.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from spikingjelly.activation_based import functional
from tqdm import tqdm

from neucodex_ros.core.exit_policy import exit_points
from neucodex_ros.core.model import SplitSNN


def pick_device(requested: str = 'auto') -> torch.device:
    """'auto' → CUDA when present, else CPU; anything else is passed to torch as is."""
    if requested == 'auto':
        return torch.device('cuda' if torch.cuda.is_available() else 'cpu')
    return torch.device(requested)


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings (the model's own settings live in ModelConfig)."""

    epochs: int = 30
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    augment: bool = True
    seed: int = 0
    device: str = 'auto'


def direct_encoding(images: torch.Tensor, num_timesteps: int) -> torch.Tensor:
    """The same frame at every timestep: [N, C, H, W] → [T, N, C, H, W]."""
    return images.unsqueeze(0).expand(num_timesteps, *images.shape)


def per_timestep_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean over t of the cross-entropy of the mean logits over timesteps 1..t."""
    steps = torch.arange(1, logits.shape[0] + 1, device=logits.device).view(-1, 1, 1)
    running_mean = logits.cumsum(0) / steps
    return torch.stack([F.cross_entropy(step, labels) for step in running_mean]).mean()


def augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
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


@torch.no_grad()
def predict_logits(model: SplitSNN, images: torch.Tensor, batch_size: int = 250,
                   device: torch.device | None = None) -> np.ndarray:
    """Logits at every timestep, [T, N, num_classes], for images [N, C, H, W] in [0, 1]."""
    device = device or next(model.parameters()).device
    model.eval()
    outputs = []
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size].to(device)
        outputs.append(model(direct_encoding(batch, model.config.num_timesteps)).cpu())
        functional.reset_net(model)
    return torch.cat(outputs, dim=1).numpy()


def exit_summary(logits: np.ndarray, labels: np.ndarray, alpha: float) -> dict[str, float]:
    """Accuracy and timesteps used with early exit at α (α = 1: all T)."""
    used, predicted = exit_points(logits, alpha)
    return {'alpha': alpha, 'accuracy': float((predicted == labels).mean()),
            'mean_timesteps': float(used.mean()),
            'p95_timesteps': float(np.percentile(used, 95))}


def train(model: SplitSNN, train_data: tuple[np.ndarray, np.ndarray],
          val_data: tuple[np.ndarray, np.ndarray], config: TrainConfig,
          progress: bool = True) -> dict[str, Any]:
    """Train in place, keep the weights of the best validation epoch; return the metrics."""
    torch.manual_seed(config.seed)
    device = pick_device(config.device)
    model.to(device)
    generator = torch.Generator().manual_seed(config.seed)
    images, labels = (torch.as_tensor(a) for a in train_data)
    val_images, val_labels = torch.as_tensor(val_data[0]), val_data[1]
    optimizer = torch.optim.AdamW(model.parameters(), lr=config.lr,
                                  weight_decay=config.weight_decay)
    steps_per_epoch = math.ceil(len(images) / config.batch_size)
    schedule = torch.optim.lr_scheduler.OneCycleLR(optimizer, config.lr,
                                                   total_steps=config.epochs * steps_per_epoch)
    history: list[dict[str, Any]] = []
    best: tuple[float, dict[str, torch.Tensor]] | None = None
    epochs = tqdm(range(1, config.epochs + 1), desc='training', unit='epoch',
                  disable=not progress)
    for epoch in epochs:
        model.train()
        order = torch.randperm(len(images), generator=generator)
        total_loss = correct = 0.0
        for start in range(0, len(images), config.batch_size):
            index = order[start:start + config.batch_size]
            batch = images[index]
            if config.augment:
                batch = augment(batch, generator)
            batch, target = batch.to(device), labels[index].to(device)
            logits = model(direct_encoding(batch, model.config.num_timesteps))
            loss = per_timestep_loss(logits, target)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            functional.reset_net(model)
            total_loss += float(loss.detach()) * len(index)
            correct += float((logits.mean(0).argmax(-1) == target).sum())
        val_logits = predict_logits(model, val_images, device=device)
        per_step = [float((exit_points(val_logits[:t + 1], 1.0)[1] == val_labels).mean())
                    for t in range(model.config.num_timesteps)]
        record = {'epoch': epoch, 'train_loss': total_loss / len(images),
                  'train_accuracy': correct / len(images), 'val_accuracy': per_step[-1],
                  'val_accuracy_by_timestep': per_step, 'lr': schedule.get_last_lr()[0]}
        history.append(record)
        epochs.set_postfix(loss=f'{record["train_loss"]:.3f}',
                           val=f'{per_step[-1]:.3f}', val_t1=f'{per_step[0]:.3f}')
        if best is None or per_step[-1] >= best[0]:
            best = (per_step[-1], {k: v.detach().clone() for k, v in model.state_dict().items()})
    assert best is not None
    model.load_state_dict(best[1])
    model.eval()
    best_epoch = max(history, key=lambda r: (r['val_accuracy'], r['epoch']))
    return {'history': history, 'best_epoch': best_epoch['epoch'],
            'val_accuracy': best_epoch['val_accuracy'],
            'train_config': config.__dict__ | {'device': str(device)}}
