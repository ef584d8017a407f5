"""The tree builds as a hybrid ament_cmake package (what colcon does on a ROS 2 install).

CMakeLists.txt is configured, built and installed with the ROS 2 Kilted build tools from PyPI,
then the installed launcher runs a node from the installed tree only, as `ros2 run` would.
"""

from __future__ import annotations

import configparser
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from rosutil import child, harness

ROOT = Path(__file__).resolve().parents[2]
PYTHON_DIR = f'lib/python{sys.version_info.major}.{sys.version_info.minor}/site-packages'


def console_scripts() -> list[str]:
    config = configparser.ConfigParser()
    config.read(ROOT / 'setup.cfg')
    lines = config['options.entry_points']['console_scripts'].strip().splitlines()
    return [line.split('=')[0].strip() for line in lines]


@pytest.fixture(scope='module')
def ament_install(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which('cmake') is None:
        pytest.fail('cmake is required to build the messages (apt install cmake)')
    work = tmp_path_factory.mktemp('ws')  # a colcon workspace: src/, build/, install/
    source, prefix, build = work / 'src' / 'neucodex_ros', work / 'install', work / 'build'
    shutil.copytree(ROOT, source, ignore=shutil.ignore_patterns(
        '.venv', '.git', 'build', '__pycache__', '*.egg-info', '.pytest_cache'))
    env = dict(os.environ, AMENT_PREFIX_PATH=sys.prefix, CMAKE_PREFIX_PATH=sys.prefix)
    for step in (['cmake', '-S', str(source), '-B', str(build), f'-DCMAKE_INSTALL_PREFIX={prefix}',
                  f'-DPython3_EXECUTABLE={sys.executable}', '-DBUILD_TESTING=OFF'],
                 ['cmake', '--build', str(build), '--parallel', str(os.cpu_count() or 1)],
                 ['cmake', '--install', str(build)]):
        result = subprocess.run(step, env=env, capture_output=True, text=True, check=False)
        assert result.returncode == 0, result.stdout + result.stderr
    return prefix


def test_install_layout(ament_install: Path) -> None:
    package = ament_install / PYTHON_DIR / 'neucodex_ros'
    # Our sources and the generated messages share one package directory.
    assert (package / '__init__.py').read_text() == (ROOT / 'neucodex_ros/__init__.py').read_text()
    assert (package / 'nodes' / 'edge_node.py').is_file()
    assert (package / 'msg' / '_packed_spikes.py').is_file()
    assert list(package.glob('neucodex_ros_s__rosidl_typesupport_c*.so'))
    assert (ament_install / 'lib' / 'libneucodex_ros__rosidl_typesupport_fastrtps_c.so').is_file()
    share = ament_install / 'share'
    assert (share / 'ament_index/resource_index/packages/neucodex_ros').is_file()
    assert (share / 'neucodex_ros/package.xml').is_file()
    assert (share / 'neucodex_ros/launch/split.launch.py').is_file()
    assert (share / 'neucodex_ros/config/split.yaml').is_file()
    assert (share / 'neucodex_ros/msg/PackedSpikes.msg').is_file()
    for script in console_scripts():
        launcher = ament_install / 'lib' / 'neucodex_ros' / script
        assert launcher.is_file() and os.access(launcher, os.X_OK), script


@pytest.mark.ros
def test_installed_launcher_runs_the_installed_node(ament_install: Path) -> None:
    env = dict(os.environ,
               PYTHONPATH=str(ament_install / PYTHON_DIR),
               LD_LIBRARY_PATH=f'{ament_install / "lib"}:{os.environ.get("LD_LIBRARY_PATH", "")}',
               AMENT_PREFIX_PATH=f'{ament_install}:{sys.prefix}')
    where = subprocess.run(
        [sys.executable, '-c', 'import neucodex_ros.msg, neucodex_ros.nodes.cloud_node as n; '
         'print(n.__file__); print(neucodex_ros.msg.__file__)'],
        env=env, cwd=ament_install, capture_output=True, text=True, check=True).stdout.split()
    assert all(Path(p).is_relative_to(ament_install) for p in where), where
    launcher = str(ament_install / 'lib' / 'neucodex_ros' / 'cloud_node')
    with harness() as h, child([launcher], env=env) as process:
        h.spin_until(lambda: 'cloud_node' in h.node.get_node_names(), 30.0,
                     'the installed cloud_node to join the graph')
        assert process.poll() is None
