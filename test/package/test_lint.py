"""Style and type regressions fail the suite like any other bug.

The whole tree is linted with ruff, and the ROS-free core is checked with mypy --strict; both
are configured in pyproject.toml.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_ruff_is_clean() -> None:
    ruff = shutil.which('ruff', path=str(Path(sys.executable).parent)) or 'ruff'
    result = subprocess.run([ruff, 'check', '--no-cache', str(ROOT)], cwd=ROOT,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_core_is_strictly_typed(tmp_path: Path) -> None:
    """The ROS-free core passes mypy --strict (pyproject.toml [tool.mypy])."""
    result = subprocess.run([sys.executable, '-m', 'mypy', '--cache-dir', str(tmp_path),
                             'neucodex_ros/core'], cwd=ROOT, capture_output=True, text=True,
                            check=False, timeout=600)
    assert result.returncode == 0, result.stdout + result.stderr
