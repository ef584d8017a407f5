"""The core imports and works with rclpy unavailable (it must stay ROS-free)."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import neucodex_ros.core

#: Every module of the core, its sub-packages' (events, datasets) included.
CORE_MODULES = sorted(m.name for m in pkgutil.walk_packages(neucodex_ros.core.__path__,
                                                             'neucodex_ros.core.'))


def test_every_core_module_imports_without_rclpy() -> None:
    code = ('import sys\n'
            'for name in ("rclpy", "rcl_interfaces", "std_msgs", "sensor_msgs", '
            '"builtin_interfaces", "neucodex_ros.msg"):\n'
            '    sys.modules[name] = None  # any import of them fails\n'
            f'for module in {CORE_MODULES!r}:\n'
            '    __import__(module)\n'
            'from neucodex_ros.core.checkpoint import load_checkpoint\n'
            'load_checkpoint()\n')
    result = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, result.stderr
    assert {'neucodex_ros.core.events.codecs', 'neucodex_ros.core.datasets.digits',
            'neucodex_ros.core.edge_loop'} <= set(CORE_MODULES)
