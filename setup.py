"""pip build of neucodex_ros: the Python package plus its ROS 2 messages.

The messages are generated exactly as colcon would, by configuring CMakeLists.txt with the
ROS 2 Kilted rosidl generators from PyPI (pyproject.toml's build requirements); the generated
Python modules join the package and the shared libraries go to <prefix>/lib, which the ROS
wheels' bootstrapper puts on the library path. On a ROS install use colcon instead (README).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import tomllib
import xml.etree.ElementTree as ET
from pathlib import Path

from setuptools import Command, setup
from setuptools.command.build import build

ROOT = Path(__file__).resolve().parent
PACKAGE = 'neucodex_ros'
# Interface packages built from source, in build order. event_camera_msgs and vision_msgs are
# rebuilt from identical definitions (same type hashes) because pip installs have no ROS to
# take them from.
VENDORED = ('event_camera_msgs', 'vision_msgs')
INTERFACES = [*((name, ROOT / 'interfaces' / name, []) for name in VENDORED),
              (PACKAGE, ROOT, ['-DNEUCODEX_MESSAGES_ONLY=ON'])]

# ROS 2 from PyPI: what rclpy nodes need at run time. A ROS install provides these itself.
ROS_WHEELS = [
    'ros-kilted-rclpy',
    'ros-kilted-rmw-fastrtps-cpp',
    'ros-kilted-std-msgs',
    'ros-kilted-sensor-msgs',
    'ros-kilted-diagnostic-msgs',
]
TEST_REQUIRES = ['pytest>=8', 'hypothesis>=6.100', 'ruff>=0.6', 'mypy>=1.10']


def package_version() -> str:
    """The version, kept in package.xml only."""
    return ET.parse(ROOT / 'package.xml').getroot().findtext('version', '').strip()


def build_requirements() -> list[str]:
    """pyproject.toml's build requirements; the tests also build the package as colcon does."""
    with (ROOT / 'pyproject.toml').open('rb') as file:
        return list(tomllib.load(file)['build-system']['requires'])


def requirements() -> list[str]:
    """The Python dependencies from requirements.txt (a colcon install: requirements-ros.txt)."""
    lines = (line.split('#', 1)[0].strip() for line in (ROOT / 'requirements.txt').open())
    return [line for line in lines if line]


def ros_prefixes() -> list[str]:
    """Install prefixes holding ROS 2 wheels: pip's build environment first, then this venv."""
    prefixes: list[str] = []
    for entry in sys.path:
        path = Path(entry)
        if path.name != 'site-packages' or len(path.parents) < 3:
            continue
        prefix = path.parents[2]
        if (prefix / 'share' / 'ament_cmake_core').is_dir() and str(prefix) not in prefixes:
            prefixes.append(str(prefix))
    return prefixes


class BuildMessages(Command):
    """Generate the typesupport of neucodex_ros.msg and the vendored interfaces with rosidl."""

    description = 'generate the message typesupport with the rosidl generators'
    user_options: list[tuple[str, str | None, str]] = []

    def initialize_options(self) -> None:
        self.build_temp: str | None = None
        self.build_lib: str | None = None
        self.editable_mode = False  # set by setuptools for `pip install -e`
        self._outputs: list[str] = []

    def finalize_options(self) -> None:
        self.set_undefined_options('build', ('build_temp', 'build_temp'),
                                   ('build_lib', 'build_lib'))

    def run(self) -> None:
        prefix = self._cmake_build()
        site = next(prefix.glob('lib/python3*/site-packages'))
        # Editable installs import the source tree, so the generated modules go there
        # (gitignored), as build_ext --inplace does for extension modules.
        target = ROOT / PACKAGE if self.editable_mode else Path(self.build_lib) / PACKAGE
        for source in [*(site / PACKAGE).glob('msg/*.py'), *(site / PACKAGE).glob('*.so')]:
            destination = target / source.relative_to(site / PACKAGE)
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, destination)
            self._outputs.append(str(destination))
        # install_data reads this same list object once the build has filled it.
        data_files = self.distribution.data_files
        for folder in ('config', 'launch'):  # where colcon puts them: share/neucodex_ros/
            data_files.append((f'share/{PACKAGE}/{folder}',
                               [str(p) for p in sorted((ROOT / folder).iterdir())
                                if p.is_file()]))
        data_files.append(('lib', [str(p) for p in sorted(prefix.glob('lib/*.so'))]))
        data_files.append((f'lib/{PACKAGE}', self._launchers()))
        purelib = Path(sysconfig.get_paths()['purelib']).relative_to(sys.prefix)
        trees = [(prefix / 'share', Path('share')),
                 *((site / name, purelib / name) for name in VENDORED)]
        for source_root, destination_root in trees:
            for folder in sorted({p.parent for p in source_root.rglob('*') if p.is_file()}):
                files = [str(p) for p in sorted(folder.iterdir())
                         if p.is_file() and p.suffix not in ('.c', '.pyc')]
                if files:
                    data_files.append((str(destination_root / folder.relative_to(source_root)),
                                       files))
        if self.editable_mode:
            # editable_wheel asks the distribution for has_data(), which does not exist
            # (has_data_files does), so it never installs data_files (pypa/setuptools#3399).
            self.run_command('install_data')

    def get_outputs(self) -> list[str]:
        return self._outputs

    def _launchers(self) -> list[str]:
        """<prefix>/lib/neucodex_ros/<script>, where `ros2 run` and launch_ros look.

        Each runs the console script pip wrote into <prefix>/bin with this install's Python
        (a data file keeps no interpreter of its own: pip rewrites only scripts' first lines);
        colcon writes its own launchers (CMakeLists.txt).
        """
        folder = Path(self.build_temp).resolve() / 'launchers'
        folder.mkdir(parents=True, exist_ok=True)
        launchers = []
        for entry in self.distribution.entry_points['console_scripts']:
            name = entry.split('=', 1)[0].strip()
            launcher = folder / name
            launcher.write_text('#!/bin/sh\n'
                                f'# `ros2 run {PACKAGE} {name}`: the console script of this '
                                'install\n'
                                f'exec "$(dirname "$0")/../../bin/{name}" "$@"\n')
            launcher.chmod(0o755)
            launchers.append(str(launcher))
        return launchers

    def _cmake_build(self) -> Path:
        cmake = shutil.which('cmake')
        if cmake is None:
            raise SystemExit('neucodex_ros: building the messages needs cmake >= 3.19 and a C '
                             'compiler (Debian/Ubuntu: apt install cmake build-essential)')
        prefixes = ros_prefixes()
        if not prefixes:
            raise SystemExit('neucodex_ros: the ROS 2 rosidl generators were not found; install '
                             'with pip so that pyproject.toml build requirements are provided')
        work = Path(self.build_temp).resolve() / 'neucodex_messages'
        shutil.rmtree(work, ignore_errors=True)  # its cache names a temporary build env
        install_dir = work / 'install'
        env = dict(os.environ, AMENT_PREFIX_PATH=os.pathsep.join(prefixes),
                   CMAKE_PREFIX_PATH=os.pathsep.join(prefixes))
        for name, source, options in INTERFACES:
            build_dir = work / 'build' / name
            steps = [
                [cmake, '-S', str(source), '-B', str(build_dir), *options,
                 f'-DCMAKE_INSTALL_PREFIX={install_dir}', f'-DPython3_EXECUTABLE={sys.executable}',
                 '-DBUILD_TESTING=OFF', '-DCMAKE_BUILD_TYPE=Release'],
                [cmake, '--build', str(build_dir), '--parallel', str(os.cpu_count() or 1)],
                [cmake, '--install', str(build_dir)],
            ]
            for step in steps:
                result = subprocess.run(step, env=env, capture_output=True, text=True,
                                        check=False)
                if result.returncode != 0:
                    sys.stderr.write(result.stdout + result.stderr)
                    raise SystemExit(f'{name}: message build failed: {" ".join(step)}')
        return install_dir


class Build(build):
    """`build` that generates the messages before the Python package is collected."""

    sub_commands = [('build_messages', None), *build.sub_commands]


setup(
    version=package_version(),
    long_description=(ROOT / 'README.md').read_text(encoding='utf-8'),
    long_description_content_type='text/markdown',
    install_requires=requirements() + ROS_WHEELS,
    extras_require={'test': TEST_REQUIRES + build_requirements()},
    data_files=[],
    cmdclass={'build': Build, 'build_messages': BuildMessages},
)
