"""The reported figures, defined once (core/figures.py)."""

from __future__ import annotations

import math

from neucodex_ros.core.figures import (
    compression_per_sample,
    compression_per_timestep,
    wire_reduction,
)


def test_compression_per_timestep_is_float32_features_over_one_bit_per_spike_neuron() -> None:
    assert compression_per_timestep(32 * 7 * 7, 4 * 7 * 7) == 256  # the digits model


def test_compression_per_sample_counts_every_payload_bit_sent() -> None:
    # 1.84 timesteps of 25 bytes each, bit-packed: what `evaluate` counts offline
    assert math.isclose(compression_per_sample(32 * 7 * 7, 1.84 * 25 * 8),
                        50_176 / 368)
    assert compression_per_sample(10, 0) == math.inf


def test_wire_reduction_is_the_baselines_bytes_over_ours() -> None:
    assert wire_reduction(6_400, 100) == 64
    assert wire_reduction(6_400, 0) is None
