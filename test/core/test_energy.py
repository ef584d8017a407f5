"""Operation counts and energy, checked by hand and against spikingjelly's op_counter."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from spikingjelly.activation_based import functional, layer
from spikingjelly.activation_based.op_counter import DispatchCounterMode, MACCounter, SynOpCounter

from neucodex_ros.core.energy import (
    E_AC_PJ,
    E_MAC_PJ,
    RADIO_NJ_PER_BIT,
    RADIO_RX_NJ_PER_BIT,
    EnergyConfig,
    OpCounter,
    OpCounts,
    radio_energy_j,
    sample_energy_j,
)
from neucodex_ros.core.model import ModelConfig, SplitSNN


def spike_map(positions: list[tuple[int, int]], size: int = 5) -> torch.Tensor:
    """One channel of spikes at the given (y, x), shaped [T=1, N=1, C=1, H, W]."""
    spikes = torch.zeros(1, 1, 1, size, size)
    for y, x in positions:
        spikes[0, 0, 0, y, x] = 1
    return spikes


@pytest.mark.parametrize('positions, stride, expected', [
    ([(2, 2)], 1, 9 * 4),        # a centre spike reaches 3x3 outputs of 4 channels
    ([(0, 0)], 1, 4 * 4),        # a corner spike reaches 2x2 outputs (zero padding)
    ([(2, 2), (0, 4)], 1, (9 + 4) * 4),
    ([(2, 2)], 2, 1 * 4),        # stride 2: the centre input feeds one output position
    ([(1, 1)], 2, 4 * 4),        # ... an odd position feeds 2x2 of them
])
def test_synaptic_operations_by_hand(positions, stride, expected) -> None:
    conv = layer.Conv2d(1, 4, 3, stride=stride, padding=1, step_mode='m')
    counter = OpCounter(conv, first_is_analog=False)
    with counter.counting():
        conv(spike_map(positions))
    counts = counter.counts()
    assert counts.sops.tolist() == [[expected]] and counts.macs.tolist() == [[0]]


def test_first_layer_macs_and_linear_by_hand() -> None:
    conv = layer.Conv2d(2, 3, 3, padding=1, step_mode='m')
    counter = OpCounter(conv)
    with counter.counting():
        conv(torch.rand(2, 4, 2, 6, 6))  # analog input, T=2, N=4
    assert (counter.counts().macs == 6 * 6 * 3 * (2 * 9)).all()
    linear = layer.Linear(10, 7, step_mode='m')
    counter = OpCounter(linear, first_is_analog=False)
    spikes = torch.zeros(1, 2, 10)
    spikes[0, 0, :3] = 1
    with counter.counting():
        linear(spikes)
    assert counter.counts().sops.tolist() == [[3 * 7, 0]]
    with counter.counting():  # non-binary input (firing rates): dense MACs
        linear(torch.full((1, 1, 10), 0.5))
    assert counter.counts().macs[:, -1].tolist() == [70]


def test_counts_agree_with_spikingjelly_op_counter() -> None:
    torch.manual_seed(0)
    model = SplitSNN(ModelConfig(backbone='resnet18', in_channels=2, input_size=(16, 16),
                                 width=0.125, split_after=2, bottleneck_channels=2)).eval()
    for module in model.modules():  # lively batch norm so that neurons fire
        if isinstance(module, torch.nn.BatchNorm2d):
            module.running_mean.uniform_(-1.0, 0.0)
            module.weight.data.uniform_(0.5, 3.0)
    x = torch.rand(3, 2, 2, 16, 16) * 2
    ours = OpCounter(model.edge_modules())
    with torch.no_grad(), ours.counting():
        spikes = model.edge_forward(x)
    functional.reset_net(model)
    synops, macs = SynOpCounter(), MACCounter()
    with torch.no_grad(), DispatchCounterMode([synops, macs]):
        model.edge_forward(x)
    counts = ours.counts()
    assert spikes.mean() > 0.01
    first = model.head[0][0]  # the stem convolution sees the analog input
    assert counts.macs.sum() == 3 * 2 * 16 * 16 * first.out_channels * 2 * 9
    # spikingjelly counts the stem as MACs too, and every spike-fed layer as SynOps
    assert counts.sops.sum() == synops.get_total()
    assert counts.macs.sum() <= macs.get_total()


def test_energy_over_the_timesteps_run_plus_radio() -> None:
    ops = OpCounts(macs=np.array([[100.0, 100.0], [100.0, 100.0]]),
                   sops=np.array([[10.0, 20.0], [30.0, 40.0]]))
    config = EnergyConfig(radio_nj_per_bit=2.0)
    energy = sample_energy_j(ops, np.array([1, 2]), bits_per_timestep=50, config=config)
    first = (100 * E_MAC_PJ + 10 * E_AC_PJ) * 1e-12 + 1 * 50 * 2.0e-9
    second = (200 * E_MAC_PJ + 60 * E_AC_PJ) * 1e-12 + 2 * 50 * 2.0e-9
    np.testing.assert_allclose(energy, [first, second])


def test_radio_presets_are_documented_numbers() -> None:
    assert RADIO_NJ_PER_BIT['low-power-2.4ghz'] == pytest.approx(11.3e-3 * 3.0 / 2e6 * 1e9)
    assert RADIO_NJ_PER_BIT['wifi-phone'] == pytest.approx(6.45e-7 * 1e9)
    assert RADIO_RX_NJ_PER_BIT['low-power-2.4ghz'] == pytest.approx(13.5e-3 * 3.0 / 2e6 * 1e9)
    assert EnergyConfig.with_radio('none').radio_nj_per_bit == 0
    assert EnergyConfig.with_radio(5).radio_nj_per_bit == 5
    assert EnergyConfig.with_radio(5).radio_rx_nj_per_bit == 5


def test_radio_energy_counts_both_ways() -> None:
    config = EnergyConfig(radio_nj_per_bit=2.0, radio_rx_nj_per_bit=3.0)
    assert radio_energy_j(100, config) == pytest.approx(200e-9)
    assert radio_energy_j(100, config, bits_received=10) == pytest.approx(230e-9)


def test_savings_read_as_less_or_as_times_more() -> None:
    from neucodex_ros.core.figures import saving_text

    assert saving_text(0.971) == '34.5× less (97% saved)'
    assert saving_text(0.04) == '1.04× less (4% saved)'
    assert saving_text(0.0) == 'the same'
    assert saving_text(1.0) == 'nothing spent'
    assert saving_text(-1279.942) == '1,280.9× more'  # was printed as −127994.2%


def test_one_radio_rule_for_every_command() -> None:
    """`--radio` is a preset or nJ per bit; bench once read '.5' as a preset's name."""
    from neucodex_ros.core.radio import radio

    assert radio('wifi-phone') == 'wifi-phone' and radio('none') == 'none'
    assert radio('.5') == 0.5 and radio('16.95') == 16.95
    for bad in ('-1', 'lora', 'nan'):
        with pytest.raises(ValueError):
            radio(bad)


def test_the_evaluation_rows_carry_the_exit_summary() -> None:
    """One exit summary: Evaluation.at extends exit_summary, it does not recompute it."""
    from neucodex_ros.core.energy import EnergyConfig, OpCounts
    from neucodex_ros.core.evaluation import Evaluation
    from neucodex_ros.core.exit_policy import exit_summary

    rng = np.random.default_rng(0)
    logits, labels = rng.normal(size=(4, 30, 10)) * 3, rng.integers(0, 10, 30)
    ops = OpCounts(np.ones((4, 30)), np.ones((4, 30)))
    evaluation = Evaluation(logits, labels, ops, ops, spike_bits=196, head_neurons=1568)
    for alpha in (0.5, 0.9, 1.0):
        row = evaluation.at(alpha, EnergyConfig())
        assert exit_summary(logits, labels, alpha).items() <= row.items()
