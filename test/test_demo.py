"""The README's main command runs: edge and cloud processes exchange spikes and decisions."""

from __future__ import annotations

import subprocess
import sys

import pytest

pytestmark = pytest.mark.ros


def test_demo_prints_predictions() -> None:
    result = subprocess.run([sys.executable, '-m', 'neucodex_ros.cli', 'demo', '--samples', '3',
                             '--timeout', '60'], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr
    lines = [line for line in result.stdout.splitlines() if ' sample ' in line]
    assert len(lines) >= 3, result.stdout
