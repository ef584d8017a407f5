"""The reported figures, each defined once; evaluate, demo, bench and the README use these.

* **compression per timestep** (the papers' figure, a property of the model): the float32
  features at the split (what a split without bottleneck sends per timestep) ÷ the spike
  bits of one timestep, bit-packed.
* **compression per sample**: the float32 features at the split (one tensor) ÷ the spike
  payload bits actually sent for the sample, over every timestep it used. `evaluate` counts
  the payload bit-packed (offline, no codec); the demo counts the codec's bytes as sent.
* **wire reduction per sample** (the benchmark): serialized message bytes per sample of the
  split without bottleneck (`split_float`) ÷ those of the split, headers included.
* a **saving** (1 − ours ÷ baseline) reads as "N× less" or "N× more".
Torch-free, so that option parsers and tables can use it.
"""

from __future__ import annotations

FLOAT32_BITS = 32


def feature_bits(head_neurons: int) -> int:
    """Bits of the float32 features at the split (one timestep)."""
    return FLOAT32_BITS * head_neurons


def compression_per_timestep(head_neurons: int, spike_neurons: int) -> float:
    """Float32 features at the split ÷ spike bits of one timestep (one bit per neuron)."""
    return feature_bits(head_neurons) / spike_neurons


def compression_per_sample(head_neurons: int, payload_bits: float) -> float:
    """Float32 features at the split (one tensor) ÷ spike payload bits sent for a sample."""
    return feature_bits(head_neurons) / payload_bits if payload_bits else float('inf')


def wire_reduction(baseline_bytes: float, bytes_sent: float) -> float | None:
    """Message bytes per sample of a baseline ÷ ours (None when we sent nothing)."""
    return baseline_bytes / bytes_sent if bytes_sent else None


def saving_text(saving: float) -> str:
    """A saving (1 − ours ÷ baseline) as 'N× less' or 'N× more', with the percentage saved.

    A percentage alone stops meaning anything once ours costs more (−127994.2% is 1,280.9×
    more), and 97% less reads better as 34× less.
    """
    if saving >= 1:
        return 'nothing spent'
    if abs(saving) < 0.005:
        return 'the same'
    if saving > 0:
        return f'{_times(1 / (1 - saving))} less ({saving:.0%} saved)'
    return f'{_times(1 - saving)} more'


def _times(ratio: float) -> str:
    return f'{ratio:,.2f}×' if ratio < 10 else f'{ratio:,.1f}×'
