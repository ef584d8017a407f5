"""Running the two halves one timestep at a time, as the nodes do.

Every sample carries its own neuron state (`Neurons`: the membrane potentials of the layers
its runner runs), swapped into the shared modules for its timestep and out again
(spikingjelly's extract_memories / load_memories), on the edge as on the cloud: so samples
never share state, whether the cloud interleaves many robots' or the edge runs a sample here
while a split one is in flight.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from contextlib import ExitStack
from dataclasses import dataclass, field

import numpy as np
import torch
from spikingjelly.activation_based import base, functional
from torch import nn

from neucodex_ros.core.energy import EnergyConfig, OpCounter, OpCounts
from neucodex_ros.core.exit_policy import Decision, EarlyExit
from neucodex_ros.core.model import SplitSNN

#: What the edge may run: head + encoder (the split), the head alone (a split without
#: bottleneck, which sends the head's features), or the whole network (edge-only).
EDGE_LAYERS = ('split', 'head', 'all')


class EdgeRunner:
    """The edge's layers for one sample at a time.

    A sample is one frame [C, H, W], fed at every timestep (direct encoding of a camera
    frame), or one frame per timestep [T, C, H, W] (event frames).
    """

    def __init__(self, model: SplitSNN, layers: str = 'split') -> None:
        if layers not in EDGE_LAYERS:
            raise ValueError(f'layers must be one of {EDGE_LAYERS}, got {layers!r}')
        self.model = model.eval()
        self.layers = layers
        runs: dict[str, tuple[Callable[[torch.Tensor], torch.Tensor], nn.Module]] = {
            'split': (model.edge_forward, model.edge_modules()),
            'head': (model.head, model.head),
            'all': (self._whole, model),
        }
        self._forward, self._modules = runs[layers]
        self._frames: torch.Tensor | None = None  # [T or 1, 1, C, H, W]
        self._neurons = Neurons()
        self.timestep = 0
        #: 'all': the spikes at the split of each timestep run, for a cascade's escalation.
        self.spikes: list[np.ndarray] = []

    def _whole(self, x: torch.Tensor) -> torch.Tensor:
        spikes = self.model.edge_forward(x)
        self.spikes.append(spikes[0, 0].cpu().numpy().astype(np.bool_))
        return self.model.cloud_forward(spikes)

    @property
    def output_shape(self) -> tuple[int, ...]:
        """Shape of what step() returns."""
        return {'split': self.model.split_shape, 'head': self.model.head_shape,
                'all': (self.model.config.num_classes,)}[self.layers]

    def start(self, frames: np.ndarray) -> None:
        """Begin a new sample (forgets the last one)."""
        if frames.ndim not in (3, 4):
            raise ValueError(f'a sample is [C, H, W] or [T, C, H, W], got {frames.shape}')
        device = next(self.model.parameters()).device
        self._frames = torch.as_tensor(frames, device=device).reshape(-1, 1, *frames.shape[-3:])
        self._neurons = Neurons()
        self.timestep = 0
        self.spikes = []

    @torch.no_grad()
    def step(self) -> np.ndarray:
        """The next timestep's output: bool spikes [C, H, W], or logits [classes] for 'all'."""
        out = self._step(self._forward)
        return out if self.layers == 'all' else out.astype(np.bool_)

    @torch.no_grad()
    def step_split(self) -> np.ndarray:
        """'all', escalated: the next timestep's spikes at the split, the head and encoder only.

        The decoder and tail keep the state of the timesteps run whole; the cloud has its own.
        """
        if self.layers != 'all':
            raise RuntimeError(f'step_split() goes on from the whole network; these are '
                               f'{self.layers!r}')
        spikes = self._step(self.model.edge_forward).astype(np.bool_)
        self.spikes.append(spikes)
        return spikes

    def _step(self, forward: Callable[[torch.Tensor], torch.Tensor]) -> np.ndarray:
        if self._frames is None:
            raise RuntimeError('start() a sample first')
        frame = self._frames[min(self.timestep, len(self._frames) - 1)]
        out = step_neurons(self._modules, forward, [self._neurons],
                           frame[None])[0, 0].cpu().numpy()
        self.timestep += 1
        return out


@torch.no_grad()
def edge_op_counts(model: SplitSNN, sequences: Iterable[torch.Tensor]) -> dict[str, OpCounts]:
    """Operations of what each EDGE_LAYERS choice runs on the edge, per timestep and sample.

    Each of `sequences` [T, n, C, H, W] runs from fresh neurons; the counts [T, N] hold
    their samples side by side, in order.
    """
    counters = {'split': OpCounter(model.edge_modules()), 'head': OpCounter(model.head),
                'all': OpCounter(model)}
    for sequence in sequences:
        with ExitStack() as counting:
            for counter in counters.values():
                counting.enter_context(counter.counting())
            functional.reset_net(model)
            model(sequence)
    functional.reset_net(model)
    return {layers: counter.counts() for layers, counter in counters.items()}


def timestep_energy_j(model: SplitSNN, frames: np.ndarray, num_timesteps: int,
                      config: EnergyConfig) -> dict[str, float]:
    """Edge compute energy of one timestep (J, the mean over T) of each EDGE_LAYERS, on one input.

    The synaptic operations depend on the spikes, so they are counted on a real sample; the
    edge's placement weighs its places with these (core/placement.py).
    """
    device = next(model.parameters()).device
    sequence = torch.as_tensor(frames, device=device).reshape(-1, 1, *frames.shape[-3:])
    sequence = sequence.expand(num_timesteps, *sequence.shape[1:]) if len(sequence) == 1 \
        else sequence[:num_timesteps]
    return {layers: float(counts.energy_pj(config).mean()) * 1e-12
            for layers, counts in edge_op_counts(model, [sequence]).items()}


@dataclass
class Neurons:
    """One sample's neuron state in a runner's layers; None: reset (before its first timestep)."""

    memories: list[torch.Tensor] | None = None


def step_neurons(modules: nn.Module, forward: Callable[[torch.Tensor], torch.Tensor],
                 samples: Sequence[Neurons], inputs: torch.Tensor) -> torch.Tensor:
    """One timestep of `forward` over a batch [1, N, ...], each row from its sample's state.

    Each sample's state is gathered into the batch and scattered back after it (a sample's
    first timestep starts from the reset state, broadcast to the batch's shape); samples never
    mix, since every layer treats the batch rows apart (batch norm runs on its fixed
    statistics).
    """
    functional.reset_net(modules)
    started = [s.memories for s in samples if s.memories is not None]
    if started:
        reset = base.extract_memories(modules)
        base.load_memories(modules, [
            torch.cat([s.memories[k] if s.memories is not None else
                       torch.as_tensor(value, dtype=started[0][k].dtype,
                                       device=started[0][k].device).expand_as(started[0][k])
                       for s in samples])
            for k, value in enumerate(reset)])
    out = forward(inputs)
    memories = base.extract_memories(modules)
    for row, sample in enumerate(samples):
        sample.memories = [m[row:row + 1].clone() for m in memories]
    return out


@dataclass
class SampleState:
    """The cloud's state for one sample between its timesteps: neurons and early exit."""

    early_exit: EarlyExit
    neurons: Neurons = field(default_factory=Neurons)


class CloudRunner:
    """Decoder + tail + exit policy: one timestep of a batch of samples per call.

    `from_head`: the edge sends the head's features (a split without bottleneck), so the
    cloud runs the encoder too.
    """

    def __init__(self, model: SplitSNN, from_head: bool = False) -> None:
        self.model = model.eval()
        self._modules = nn.ModuleList([model.encoder, model.cloud_modules()]) if from_head \
            else model.cloud_modules()
        self._forward = (lambda x: model.cloud_forward(model.encoder(x))) if from_head \
            else model.cloud_forward

    def new_sample(self, alpha: float, num_timesteps: int) -> SampleState:
        """State for a sample that will run at most num_timesteps with threshold alpha."""
        return SampleState(early_exit=EarlyExit(alpha=alpha, num_timesteps=num_timesteps))

    def step(self, sample: SampleState, spikes: np.ndarray) -> Decision | None:
        """Feed one timestep's spikes [C, H, W]; the Decision once the sample stops."""
        return self.step_batch([sample], [spikes])[0]

    @torch.no_grad()
    def step_batch(self, samples: Sequence[SampleState],
                   spikes: Sequence[np.ndarray]) -> list[Decision | None]:
        """One timestep of several samples in one pass; each answer is the one it gets alone."""
        if len(samples) != len(spikes) or not samples:
            raise ValueError(f'{len(samples)} samples and {len(spikes)} spike maps: one each')
        device = next(self.model.parameters()).device
        batch = torch.as_tensor(np.stack(spikes), dtype=torch.float32, device=device)
        logits = step_neurons(self._modules, self._forward, [s.neurons for s in samples],
                              batch[None])[0].cpu().numpy()  # [N, classes]: one copy back
        return [sample.early_exit.update(row) for sample, row in zip(samples, logits, strict=True)]
