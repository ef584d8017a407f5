"""The split spiking network: head → encoder ⇒ binary spikes on the wire ⇒ decoder → tail.

Built from spikingjelly's activation_based layers and LIF neurons (surrogate gradient,
multi-step mode). Every module consumes and produces sequences shaped [T, N, ...], so the
whole network, or any part of it, can run all T timesteps at once (training) or one timestep
at a time with T = 1 chunks (the nodes): the neurons keep their membrane state between calls
until `functional.reset_net`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from spikingjelly.activation_based import functional, layer, neuron, surrogate
from torch import nn

from neucodex_ros.core.errors import ModelError


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
        bottleneck_channels: Channels of the transmitted spike tensor (encoder output).
        tau: LIF membrane time constant (timesteps).
        v_threshold: LIF firing threshold.
    """

    backbone: str = 'small_cnn'
    in_channels: int = 1
    input_size: tuple[int, int] = (28, 28)
    num_classes: int = 10
    num_timesteps: int = 4
    split_after: int = 2
    bottleneck_channels: int = 4
    tau: float = 2.0
    v_threshold: float = 1.0

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


def lif(config: ModelConfig) -> neuron.LIFNode:
    """The spiking neuron used everywhere: LIF, arctangent surrogate gradient, multi-step."""
    return neuron.LIFNode(tau=config.tau, v_threshold=config.v_threshold,
                          surrogate_function=surrogate.ATan(), detach_reset=True,
                          step_mode='m')


def conv_bn_lif(in_channels: int, out_channels: int, config: ModelConfig,
                kernel_size: int = 3, stride: int = 1) -> list[nn.Module]:
    """Convolution + batch norm + LIF: the building block of every part of the network."""
    return [layer.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2,
                         bias=False, step_mode='m'),
            layer.BatchNorm2d(out_channels, step_mode='m'),
            lif(config)]


Stage = nn.Module


def small_cnn(config: ModelConfig) -> list[tuple[Stage, int]]:
    """The small CPU network: three conv-BN-LIF stages (16, 32, 64 channels), each pooled."""
    widths = (16, 32, 64)
    stages = []
    in_channels = config.in_channels
    for width in widths:
        stages.append((nn.Sequential(*conv_bn_lif(in_channels, width, config),
                                     layer.MaxPool2d(2, step_mode='m')), width))
        in_channels = width
    return stages


#: Backbone name -> builder returning its stages with their output channel counts.
BACKBONES: dict[str, Callable[[ModelConfig], list[tuple[Stage, int]]]] = {
    'small_cnn': small_cnn,
}


class SplitSNN(nn.Module):
    """A spiking classifier cut in two, with a learned spike bottleneck at the cut.

    Edge: `head` (the first `split_after` backbone stages) and `encoder` (conv reducing the
    channels to `bottleneck_channels` + BN + LIF, so its output is binary). Cloud: `decoder`
    (conv restoring the channels + BN + LIF) and `tail` (the remaining stages + a linear
    classifier giving logits at every timestep).
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if config.backbone not in BACKBONES:
            raise ModelError(f'unknown backbone {config.backbone!r}; known: {sorted(BACKBONES)}')
        stages = BACKBONES[config.backbone](config)
        if not 1 <= config.split_after < len(stages):
            raise ModelError(f'split_after must be 1..{len(stages) - 1} for {config.backbone}, '
                             f'got {config.split_after}')
        if config.bottleneck_channels < 1:
            raise ModelError('bottleneck_channels must be >= 1')
        self.config = config
        split_channels = stages[config.split_after - 1][1]
        self.head = nn.Sequential(*(stage for stage, _ in stages[:config.split_after]))
        self.encoder = nn.Sequential(*conv_bn_lif(split_channels, config.bottleneck_channels,
                                                  config))
        self.decoder = nn.Sequential(*conv_bn_lif(config.bottleneck_channels, split_channels,
                                                  config))
        body = nn.Sequential(*(stage for stage, _ in stages[config.split_after:]),
                             layer.Flatten(step_mode='m'))
        with torch.no_grad():
            probe = self.head(torch.zeros(1, 1, config.in_channels, *config.input_size))
            #: The head's output [C, H, W]: the features a split without bottleneck would send.
            self.head_shape: tuple[int, int, int] = tuple(probe.shape[2:])  # type: ignore[assignment]
            #: The encoder's output [C, H, W]: the binary spike tensor sent every timestep.
            self.split_shape: tuple[int, int, int] = tuple(
                self.encoder(probe).shape[2:])  # type: ignore[assignment]
            features = body(self.decoder(torch.zeros(1, 1, *self.split_shape))).shape[-1]
        self.tail = nn.Sequential(*body, layer.Linear(features, config.num_classes,
                                                      step_mode='m'))
        functional.reset_net(self)

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        """Input [T, N, C, H, W] → logits [T, N, num_classes]."""
        return self.cloud_forward(self.edge_forward(x_seq))

    def edge_forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        """Head + encoder: input [T, N, C, H, W] → binary spikes [T, N, *split_shape]."""
        return self.encoder(self.head(x_seq))

    def cloud_forward(self, spikes_seq: torch.Tensor) -> torch.Tensor:
        """Decoder + tail: spikes [T, N, *split_shape] → logits [T, N, num_classes]."""
        return self.tail(self.decoder(spikes_seq))

    def edge_modules(self) -> nn.Module:
        """The edge's stateful part, for resetting or saving its neuron state."""
        return nn.ModuleList([self.head, self.encoder])

    def cloud_modules(self) -> nn.Module:
        """The cloud's stateful part, for resetting or saving its neuron state."""
        return nn.ModuleList([self.decoder, self.tail])
