"""Edge energy accounting with the standard SNN energy model.

Per sample, for the layers a device runs and the timesteps it actually runs them:
    E = first-layer MACs × E_MAC + synaptic operations × E_AC + radio bits × E_bit
E_MAC = 4.6 pJ and E_AC = 0.9 pJ are the 45 nm figures of Horowitz (ISSCC 2014) used across
SNN papers (and by spikingjelly's op_counter). The first synaptic layer sees analog input
(pixels, event counts) and is counted as dense MACs; every later synaptic layer fed by
binary spikes is counted exactly as synaptic operations, Σ over input spikes of the
neuron's fan-out (what the layer's weights touch); a synaptic layer fed by non-binary values
(e.g. after average pooling) is counted as dense MACs. Batch norm, pooling and neuron updates
are not counted (the simple model's convention).

Radio: energy per bit the edge transmits, and per bit it receives, configurable. The default
models a low-power 2.4 GHz radio: the Nordic nRF24L01 draws 11.3 mA transmitting at 0 dBm
and 13.5 mA receiving at 2 Mbit/s (product specification v2.0), i.e. 16.95 nJ/bit sent and
20.25 nJ/bit received at 3.0 V, for the radio alone: a lower bound. The 'wifi-phone' preset,
645 nJ/bit both ways, is the measured energy per bit of smartphone 802.11b/g transfers
(Aalborg University, mobiledevices.kom.aau.dk, "data download for different technologies":
E_bit = 6.45e-7 J/bit at about 2 Mbit/s; a download figure, used for sending too). Reports
show both. Offline (evaluate, evidence) only the payload bits sent are known; the benchmark
counts every byte that crosses its emulated link, each way.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from neucodex_ros.core.radio import DEFAULT_RADIO, RADIO_NJ_PER_BIT, RADIO_RX_NJ_PER_BIT

E_MAC_PJ = 4.6
E_AC_PJ = 0.9


@dataclass(frozen=True)
class EnergyConfig:
    """Unit energies (pJ per MAC / per synaptic operation, nJ per bit sent / received)."""

    mac_pj: float = E_MAC_PJ
    ac_pj: float = E_AC_PJ
    radio_nj_per_bit: float = RADIO_NJ_PER_BIT[DEFAULT_RADIO]
    radio_rx_nj_per_bit: float = RADIO_RX_NJ_PER_BIT[DEFAULT_RADIO]

    @classmethod
    def with_radio(cls, radio: str | float) -> EnergyConfig:
        """A config with a radio preset name, or a number of nJ per bit (both ways)."""
        if isinstance(radio, str):
            return cls(radio_nj_per_bit=RADIO_NJ_PER_BIT[radio],
                       radio_rx_nj_per_bit=RADIO_RX_NJ_PER_BIT[radio])
        return cls(radio_nj_per_bit=float(radio), radio_rx_nj_per_bit=float(radio))


@dataclass
class OpCounts:
    """Operations per timestep and sample: arrays [T, N], summed over the counted layers."""

    macs: np.ndarray
    sops: np.ndarray

    def energy_pj(self, config: EnergyConfig) -> np.ndarray:
        """Compute energy [T, N] in pJ."""
        return self.macs * config.mac_pj + self.sops * config.ac_pj


def _is_binary(x: torch.Tensor) -> bool:
    return bool(((x == 0) | (x == 1)).all())


Layer = nn.Conv2d | nn.Linear  # the layers whose operations are counted


def _synaptic_ops(module: Layer, x: torch.Tensor, out: torch.Tensor) -> np.ndarray:
    """Σ over input spikes of their fan-out, per leading [T, N] position."""
    lead = x.shape[:2]
    flat_x = x.reshape(-1, *x.shape[2:]).to(torch.float64)
    if isinstance(module, nn.Conv2d):
        ones = torch.ones(module.weight.shape, dtype=torch.float64, device=x.device)
        ops = F.conv2d(flat_x, ones, None, module.stride, module.padding, module.dilation,
                       module.groups)
        return ops.reshape(*lead, -1).sum(-1).cpu().numpy()
    return (flat_x.reshape(*lead, -1).sum(-1) * module.out_features).cpu().numpy()


def _dense_macs(module: Layer, out: torch.Tensor) -> float:
    """MACs of one [T, N] position of a dense layer evaluation."""
    if isinstance(module, nn.Conv2d):
        per_output = module.in_channels // module.groups * int(np.prod(module.kernel_size))
        return float(np.prod(out.shape[2:]) * per_output)
    return float(module.in_features * module.out_features)


@dataclass
class OpCounter:
    """Counts operations of the synaptic layers (Conv2d, Linear) inside some modules.

    The first synaptic layer of `modules` is counted as dense MACs when `first_is_analog`.
    Use as `with counter.counting(): model(...)`; then `counts()`.
    """

    modules: nn.Module
    first_is_analog: bool = True
    _macs: list[np.ndarray] = field(default_factory=list, repr=False)
    _sops: list[np.ndarray] = field(default_factory=list, repr=False)

    @contextmanager
    def counting(self) -> Iterator[OpCounter]:
        """Record every forward pass of the layers while the block runs."""
        layers = [m for m in self.modules.modules() if isinstance(m, Layer)]
        per_call: list[tuple[np.ndarray, np.ndarray]] = []

        def hook(module: nn.Module, inputs: tuple[torch.Tensor, ...], out: torch.Tensor) -> None:
            assert isinstance(module, Layer)  # hooked on those alone
            x = inputs[0]
            lead = x.shape[:2]
            if (module is layers[0] and self.first_is_analog) or not _is_binary(x):
                macs = np.full(lead, _dense_macs(module, out))
                per_call.append((macs, np.zeros(lead)))
            else:
                per_call.append((np.zeros(lead), _synaptic_ops(module, x, out)))

        handles = [layer.register_forward_hook(hook) for layer in layers]
        try:
            yield self
        finally:
            for handle in handles:
                handle.remove()
        if per_call:
            self._macs.append(np.sum([m for m, _ in per_call], axis=0))
            self._sops.append(np.sum([s for _, s in per_call], axis=0))

    def counts(self) -> OpCounts:
        """All recorded passes, concatenated along the sample axis: arrays [T, N]."""
        return OpCounts(macs=np.concatenate(self._macs, axis=1),
                        sops=np.concatenate(self._sops, axis=1))


def compute_energy_j(ops: OpCounts, timesteps_used: np.ndarray,
                     config: EnergyConfig) -> np.ndarray:
    """Compute energy per sample [N] in J, over the timesteps each sample actually ran."""
    compute = ops.energy_pj(config)  # [T, N] pJ
    ran = np.arange(compute.shape[0])[:, None] < timesteps_used[None, :]
    return (compute * ran).sum(0) * 1e-12


def radio_energy_j(bits: np.ndarray | float, config: EnergyConfig,
                   bits_received: np.ndarray | float = 0.0) -> np.ndarray | float:
    """Energy of transmitting `bits` (and receiving `bits_received`), in J."""
    return (bits * config.radio_nj_per_bit + bits_received * config.radio_rx_nj_per_bit) * 1e-9


def sample_energy_j(ops: OpCounts, timesteps_used: np.ndarray, bits_per_timestep: float,
                    config: EnergyConfig) -> np.ndarray:
    """Energy per sample [N] in J, over the timesteps each sample actually ran."""
    return compute_energy_j(ops, timesteps_used, config) + \
        radio_energy_j(timesteps_used * bits_per_timestep, config)
