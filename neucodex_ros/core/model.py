"""The split spiking network: head → encoder ⇒ binary spikes on the wire ⇒ decoder → tail.

Built from spikingjelly's activation_based layers and LIF neurons (surrogate gradient,
multi-step mode). Every module consumes and produces sequences shaped [T, N, ...], so the
whole network, or any part of it, can run all T timesteps at once (training) or one timestep
at a time with T = 1 chunks (the nodes): the neurons keep their membrane state between calls
until `functional.reset_net`.

Backbones are lists of stages; the head is the first `split_after` stages and the tail the
rest. Every stage ends in spikes (a LIF neuron, or pooling of spikes), so the tensor at any
split is binary even without a bottleneck.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
from spikingjelly.activation_based import functional, layer, neuron, surrogate
from torch import nn

from neucodex_ros.core.configs import ModelConfig
from neucodex_ros.core.errors import ModelError
from neucodex_ros.core.figures import compression_per_timestep

NEURONS = ('lif', 'plif')


def lif(config: ModelConfig) -> neuron.LIFNode | neuron.ParametricLIFNode:
    """The spiking neuron used everywhere: LIF, arctangent surrogate gradient, multi-step.

    `neuron: plif` makes it parametric: each layer learns its own time constant.
    """
    if config.neuron == 'plif':
        return neuron.ParametricLIFNode(init_tau=config.tau, v_threshold=config.v_threshold,
                                        surrogate_function=surrogate.ATan(),
                                        detach_reset=True, step_mode='m')
    if config.neuron != 'lif':
        raise ModelError(f'unknown neuron {config.neuron!r}; known: {", ".join(NEURONS)}')
    return neuron.LIFNode(tau=config.tau, v_threshold=config.v_threshold,
                          surrogate_function=surrogate.ATan(), detach_reset=True,
                          step_mode='m')


def conv_bn(in_channels: int, out_channels: int, kernel_size: int = 3,
            stride: int = 1) -> list[nn.Module]:
    """Convolution + batch norm, multi-step."""
    return [layer.Conv2d(in_channels, out_channels, kernel_size, stride, kernel_size // 2,
                         bias=False, step_mode='m'),
            layer.BatchNorm2d(out_channels, step_mode='m')]


def conv_bn_lif(in_channels: int, out_channels: int, config: ModelConfig,
                kernel_size: int = 3, stride: int = 1) -> list[nn.Module]:
    """Convolution + batch norm + LIF: the building block of every part of the network."""
    return [*conv_bn(in_channels, out_channels, kernel_size, stride), lif(config)]


class BasicBlock(nn.Module):
    """Spiking ResNet basic block: two 3×3 conv-BN, the shortcut added before the last LIF."""

    def __init__(self, in_channels: int, out_channels: int, stride: int,
                 config: ModelConfig) -> None:
        super().__init__()
        self.residual = nn.Sequential(*conv_bn_lif(in_channels, out_channels, config,
                                                   stride=stride),
                                      *conv_bn(out_channels, out_channels))
        self.shortcut: nn.Module = nn.Identity()
        if stride != 1 or in_channels != out_channels:
            self.shortcut = nn.Sequential(*conv_bn(in_channels, out_channels, 1, stride))
        self.spike = lif(config)

    def forward(self, x_seq: torch.Tensor) -> torch.Tensor:
        """[T, N, C, H, W] spikes → [T, N, C', H', W'] spikes."""
        return self.spike(self.residual(x_seq) + self.shortcut(x_seq))


Stage = nn.Module
Stages = list[tuple[Stage, int]]


def global_pool() -> nn.Module:
    """Average over space: [T, N, C, H, W] → [T, N, C, 1, 1] (firing rates)."""
    return layer.AdaptiveAvgPool2d((1, 1), step_mode='m')


def small_cnn(config: ModelConfig) -> Stages:
    """The small CPU network: three conv-BN-LIF stages (16, 32, 64 channels), each pooled."""
    stages: Stages = []
    in_channels = config.in_channels
    for base in (16, 32, 64):
        width = config.channels(base)
        stages.append((nn.Sequential(*conv_bn_lif(in_channels, width, config),
                                     layer.MaxPool2d(2, step_mode='m')), width))
        in_channels = width
    return stages


def resnet18(config: ModelConfig) -> Stages:
    """Spiking ResNet-18 in CIFAR form (3×3 stem, no max-pool, global pooling).

    Stages: the stem, then four layers of two basic blocks (64, 128, 256, 512 channels,
    stride 2 from the second layer); the last ends in global average pooling.
    """
    stem_width = config.channels(64)
    stages: Stages = [(nn.Sequential(*conv_bn_lif(config.in_channels, stem_width, config)),
                       stem_width)]
    in_channels = stem_width
    for index, base in enumerate((64, 128, 256, 512)):
        width, stride = config.channels(base), 1 if index == 0 else 2
        blocks: list[nn.Module] = [BasicBlock(in_channels, width, stride, config),
                                   BasicBlock(width, width, 1, config)]
        if index == 3:
            blocks.append(global_pool())
        stages.append((nn.Sequential(*blocks), width))
        in_channels = width
    return stages


VGG16_STAGES = ((64, 64), (128, 128), (256, 256, 256), (512, 512, 512), (512, 512, 512))


def vgg16(config: ModelConfig) -> Stages:
    """Spiking VGG-16 in CIFAR form, with a global-pool head.

    Stages: five blocks of 3×3 conv-BN-LIF, each max-pooled; the last ends in global average
    pooling instead of VGG's three fully connected layers.
    """
    stages: Stages = []
    in_channels = config.in_channels
    for index, block in enumerate(VGG16_STAGES):
        modules: list[nn.Module] = []
        for base in block:
            width = config.channels(base)
            modules += conv_bn_lif(in_channels, width, config)
            in_channels = width
        modules.append(layer.MaxPool2d(2, step_mode='m'))
        if index == len(VGG16_STAGES) - 1:
            modules.append(global_pool())
        stages.append((nn.Sequential(*modules), in_channels))
    return stages


#: Backbone name → builder returning its stages with their output channel counts.
BACKBONES: dict[str, Callable[[ModelConfig], Stages]] = {
    'small_cnn': small_cnn,
    'resnet18': resnet18,
    'vgg16': vgg16,
}


class SplitSNN(nn.Module):
    """A spiking classifier cut in two, with a learned spike bottleneck at the cut.

    Edge: `head` (the first `split_after` backbone stages) and `encoder` (conv reducing the
    channels to `bottleneck_channels`, optionally strided, + BN + LIF, so its output is
    binary). Cloud: `decoder` (upsampling back if strided, conv restoring the channels + BN +
    LIF) and `tail` (the remaining stages + a linear classifier giving logits at every
    timestep). With `bottleneck_channels` 0 there is no encoder or decoder.
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        if config.backbone not in BACKBONES:
            raise ModelError(f'unknown backbone {config.backbone!r}; known: {sorted(BACKBONES)}')
        stages = BACKBONES[config.backbone](config)
        if not 1 <= config.split_after < len(stages):
            raise ModelError(f'split_after must be 1..{len(stages) - 1} for {config.backbone}, '
                             f'got {config.split_after}')
        if config.bottleneck_channels < 0 or config.bottleneck_stride < 1:
            raise ModelError('bottleneck_channels must be >= 0 and bottleneck_stride >= 1')
        self.config = config
        self.head = nn.Sequential(*(stage for stage, _ in stages[:config.split_after]))
        backbone = nn.Sequential(*(stage for stage, _ in stages)).eval()  # probe shapes
        try:
            with torch.no_grad():
                probe = self.head(torch.zeros(1, 1, config.in_channels, *config.input_size))
                backbone[config.split_after:](probe)
        except (RuntimeError, ValueError) as err:
            raise ModelError(f'a {config.input_size[0]}x{config.input_size[1]} input is too '
                             f'small for {config.backbone} (its poolings shrink it to nothing)'
                             ) from err
        #: The head's output [C, H, W]: the features a split without bottleneck would send.
        self.head_shape: tuple[int, int, int] = tuple(probe.shape[2:])
        self.encoder, self.decoder = self._bottleneck(stages[config.split_after - 1][1])
        body = nn.Sequential(*(stage for stage, _ in stages[config.split_after:]),
                             layer.Flatten(step_mode='m'))
        with torch.no_grad():
            self.encoder.eval(), self.decoder.eval(), body.eval()  # probe shapes
            spikes = self.encoder(probe)
            #: The encoder's output [C, H, W]: the binary spike tensor sent every timestep.
            self.split_shape: tuple[int, int, int] = tuple(spikes.shape[2:])
            features = body(self.decoder(spikes)).shape[-1]
        self.tail = nn.Sequential(*body, layer.Linear(features, config.num_classes,
                                                      step_mode='m'))
        self.train()
        functional.reset_net(self)

    def _bottleneck(self, channels: int) -> tuple[nn.Module, nn.Module]:
        config = self.config
        if config.bottleneck_channels == 0:
            return nn.Identity(), nn.Identity()
        encoder = nn.Sequential(*conv_bn_lif(channels, config.bottleneck_channels, config,
                                             stride=config.bottleneck_stride))
        decoder: list[nn.Module] = []
        if config.bottleneck_stride > 1:
            decoder.append(layer.Upsample(size=self.head_shape[1:], mode='nearest',
                                          step_mode='m'))
        decoder += conv_bn_lif(config.bottleneck_channels, channels, config)
        return encoder, nn.Sequential(*decoder)

    @property
    def compression(self) -> float:
        """Compression per timestep (core/figures.py)."""
        return compression_per_timestep(torch.Size(self.head_shape).numel(),
                                        torch.Size(self.split_shape).numel())

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
