"""Offline evaluation of a split SNN: accuracy, timesteps, compression and edge energy per α.

One pass over a dataset records the logits of every timestep and the operations of every
layer per timestep and sample; any exit threshold α is then summarised without running
the network again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from spikingjelly.activation_based import functional
from torch.utils.data import DataLoader

from neucodex_ros.core.energy import EnergyConfig, OpCounter, OpCounts, sample_energy_j
from neucodex_ros.core.exit_policy import exit_points, summarise_exits
from neucodex_ros.core.figures import compression_per_sample
from neucodex_ros.core.model import SplitSNN
from neucodex_ros.core.training import Samples, as_sequence

#: The thresholds calibrate sweeps.
ALPHAS = (0.0, 0.5, 0.6, 0.7, 0.8, 0.85, 0.9, 0.92, 0.94, 0.96, 0.97, 0.98, 0.99, 0.995,
          0.999, 0.9995, 0.9999, 1.0)


@dataclass
class Evaluation:
    """What one pass over a dataset measured."""

    logits: np.ndarray  # [T, N, K]
    labels: np.ndarray  # [N]
    edge_ops: OpCounts  # head + encoder, per timestep and sample
    edge_only_ops: OpCounts  # the reference network entirely on the edge
    spike_bits: int  # payload bits sent per timestep (bitpack)
    head_neurons: int  # the features at the split (core/figures.py)

    def at(self, alpha: float, energy: EnergyConfig) -> dict[str, float]:
        """exit_summary at α, plus bits, compression and energy."""
        used, predicted = exit_points(self.logits, alpha)
        num_timesteps = self.logits.shape[0]
        edge = sample_energy_j(self.edge_ops, used, self.spike_bits, energy)
        edge_only = sample_energy_j(self.edge_only_ops,
                                    np.full(len(used), num_timesteps), 0, energy)
        bits = self.spike_bits * used.mean()
        return summarise_exits(used, predicted, self.labels, alpha) | {
            'bits_per_sample': float(bits),
            'compression_per_sample': compression_per_sample(self.head_neurons, bits),
            'edge_energy_j': float(edge.mean()),
            'edge_only_energy_j': float(edge_only.mean()),
            'energy_saving': 1.0 - float(edge.mean() / edge_only.mean()),
        }


def cheapest_alpha(rows: list[dict[str, float]], max_drop: float) -> dict[str, float]:
    """How calibrate chooses α from Evaluation.at rows (one of them at α = 1).

    The row of least edge energy (then fewest timesteps) whose accuracy is within max_drop
    of full T.
    """
    full = next(r for r in rows if r['alpha'] >= 1.0)
    good = [r for r in rows if r['accuracy'] >= full['accuracy'] - max_drop]
    return min(good, key=lambda r: (r['edge_energy_j'], r['mean_timesteps'], -r['alpha']))


@torch.no_grad()
def evaluate(model: SplitSNN, samples: Samples, reference: SplitSNN | None = None,
             batch_size: int = 100, workers: int = 0,
             progress: Callable[[int], None] | None = None) -> Evaluation:
    """Run `model` over the samples, counting operations.

    `reference` is the network an edge-only deployment would run for all T timesteps
    (default: `model` itself, all of it on the edge); `progress(n)` hears of every n
    samples done (a full-width network takes minutes).
    """
    reference = reference or model
    model.eval()
    reference.eval()
    edge = OpCounter(model.edge_modules())
    edge_only = OpCounter(reference)
    logits, labels = [], []
    device = next(model.parameters()).device
    for batch, target in DataLoader(samples, batch_size=batch_size, num_workers=workers):
        sequence = as_sequence(batch.to(device), model.config.num_timesteps)
        if reference is model:  # one pass feeds both counters
            with edge.counting(), edge_only.counting():
                logits.append(model(sequence).cpu())
        else:
            with edge.counting():
                logits.append(model(sequence).cpu())
            with edge_only.counting():
                reference(sequence)
            functional.reset_net(reference)
        functional.reset_net(model)
        labels.append(target)
        if progress is not None:
            progress(len(target))
    return Evaluation(logits=torch.cat(logits, 1).numpy(), labels=torch.cat(labels).numpy(),
                      edge_ops=edge.counts(), edge_only_ops=edge_only.counts(),
                      spike_bits=int(np.prod(model.split_shape)),
                      head_neurons=int(np.prod(model.head_shape)))
