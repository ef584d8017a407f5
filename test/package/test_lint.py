"""Style regressions fail the suite like any other bug (ruff, configured in pyproject.toml)."""

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
