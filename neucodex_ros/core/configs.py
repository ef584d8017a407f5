"""What a network and a training run are configured with: plain dataclasses, no torch.

Kept apart from core/model.py and core/training.py so that the command-line parsers can take
their defaults without importing torch.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from neucodex_ros.core.errors import ModelError

#: The backbones core/model.py builds (its BACKBONES has one builder per name).
BACKBONE_NAMES = ('small_cnn', 'resnet18', 'vgg16')


@dataclass(frozen=True)
class ModelConfig:
    """Everything needed to rebuild a network; every checkpoint stores it.

    Attributes:
        backbone: Name in BACKBONES.
        in_channels: Input channels (1 grey, 3 colour, 2 event polarities).
        input_size: Model input (height, width) in pixels.
        num_classes: Classifier outputs.
        num_timesteps: T, timesteps per sample.
        split_after: Backbone stages run on the edge (the head); the rest is the tail.
        bottleneck_channels: Channels of the transmitted spike tensor (encoder output);
            0 means no encoder/decoder: the head's own output spikes are sent.
        bottleneck_stride: Spatial stride of the encoder (the decoder upsamples back).
        width: Multiplier of every backbone channel count (e.g. 0.25 for CPU runs).
        tau: LIF membrane time constant (timesteps); with `neuron` plif, its start value.
        v_threshold: LIF firing threshold.
        neuron: 'lif' (fixed tau) or 'plif' (parametric LIF: each layer learns its tau,
            Fang et al. 2021).
    """

    backbone: str = 'small_cnn'
    in_channels: int = 1
    input_size: tuple[int, int] = (28, 28)
    num_classes: int = 10
    num_timesteps: int = 4
    split_after: int = 2
    bottleneck_channels: int = 4
    bottleneck_stride: int = 1
    width: float = 1.0
    tau: float = 2.0
    v_threshold: float = 1.0
    neuron: str = 'lif'

    def to_dict(self) -> dict[str, Any]:
        """Plain types only, for checkpoints and JSON."""
        values = dataclasses.asdict(self)
        values['input_size'] = list(self.input_size)
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> ModelConfig:
        """Rebuild from to_dict() output; unknown keys are an error, not silently dropped."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(values) - known
        if unknown:
            raise ModelError(f'unknown model config keys {sorted(unknown)}')
        values = dict(values)
        if 'input_size' in values:
            values['input_size'] = tuple(int(v) for v in values['input_size'])
        return cls(**values)

    def channels(self, base: int) -> int:
        """A backbone channel count scaled by `width` (at least 1)."""
        return max(1, round(base * self.width))


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings of one training phase (the model's own live in ModelConfig)."""

    epochs: int = 30
    batch_size: int = 64
    lr: float = 2e-3
    weight_decay: float = 1e-4
    augment: bool = True
    seed: int = 0
    device: str = 'auto'
    workers: int = 0  # DataLoader worker processes
    distill: float = 0.0  # weight of the teacher's soft answers in the loss (needs a teacher)
