"""scripts/evidence.py --only: the settings measured now replace their rows, the others stay."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

SCRIPT = Path(__file__).resolve().parents[2] / 'scripts' / 'evidence.py'
spec = importlib.util.spec_from_file_location('evidence', SCRIPT)
evidence = sys.modules['evidence'] = importlib.util.module_from_spec(spec)
spec.loader.exec_module(evidence)


def measured(setting: Any, accuracy: float) -> dict[str, Any]:
    """A result shaped as `evidence.measure` returns it."""
    point = {'accuracy': accuracy, 'mean_timesteps': 2.0, 'compression_per_sample': 1500.0,
             'energy_saving': 0.5, 'edge_energy_j': 1e-6, 'edge_only_energy_j': 2e-6}
    return {'setting': setting, 'alpha': 0.9, 'samples': 199, 'uncompressed': point,
            'bottleneck_full_t': point, 'early_exit': dict.fromkeys(evidence.RADIOS, point),
            'compression_per_timestep': 1024.0, 'head_shape': (32, 8, 8),
            'split_shape': (1, 8, 8), 'training_minutes': accuracy * 100}


def test_only_some_settings_keeps_the_others_rows() -> None:
    def accuracy(setting: Any) -> float:
        return 0.75 if 'N-MNIST' in setting.name else 0.5

    everything = evidence.report([measured(s, 0.5) for s in evidence.SETTINGS], False, 9.0)
    nmnist = [s for s in evidence.SETTINGS if 'N-MNIST' in s.name]
    refreshed = evidence.report([measured(s, 0.75) for s in nmnist], False, 2.0, everything)
    mixed = evidence.report([measured(s, accuracy(s)) for s in evidence.SETTINGS], False, 9.0)

    def rows(report: str) -> list[str]:
        return [line for line in report.splitlines() if line.startswith('| ')]

    assert rows(refreshed) == rows(mixed) != rows(everything)
    assert f'{", ".join(s.name for s in nmnist)}; the other rows are kept' in refreshed
    assert 'PLIF, distilled ×1' in refreshed


def test_targets_are_kept_when_their_setting_is_not_measured() -> None:
    everything = evidence.report([measured(s, 0.5) for s in evidence.SETTINGS], False, 9.0)
    digits = [s for s in evidence.SETTINGS if 'digits' in s.name]
    refreshed = evidence.report([measured(s, 0.75) for s in digits], False, 2.0, everything)
    targets = everything[everything.index('## Targets'):]
    assert refreshed.endswith(targets)
