"""The ROS 2 user's own tools, for tests: `ros2 launch`, the `ros2` verbs, launch_testing, colcon.

No package index here has launch, launch_ros, launch_testing, ros2cli, rosidl_runtime_py or
composition_interfaces: ../shared/vendor/ros2 holds their unmodified upstream sources (its
README says what was found). install() puts them beside the venv, once per version of those
sources and of what builds them, in build/ros2_tools/<key>/:

- python/  one `pip install --target` of the pure-Python packages, with osrf-pycommon,
  psutil and argcomplete from PyPI (`ros2` and `launch_test` in python/bin);
- prefix/  composition_interfaces (launch_ros imports it), built with CMake against the ROS
  wheels as our messages are: cmake/ros_wheels.cmake as the project include of the
  unmodified CMakeLists.txt;
- colcon/  a venv of its own with colcon-common-extensions from PyPI (colcon pins build tools
  of its own that must not replace the project's).

Tools.environ() is what a sourced ROS install gives a shell (the venv's ROS as the underlay,
these tools on the paths); processes started from it are stopped as a terminal's Ctrl-C
stops them (Launched).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from fnmatch import fnmatch
from pathlib import Path

from neucodex_ros.shared_memory import SHM_DIR

ROOT = Path(__file__).resolve().parents[1]
VENDOR = ROOT.parent / 'shared' / 'vendor' / 'ros2'
CACHE = ROOT / 'build' / 'ros2_tools'
PYTHON_DIR = f'lib/python{sys.version_info.major}.{sys.version_info.minor}/site-packages'

#: The vendored Python packages, as folders of VENDOR (its README's table).
PACKAGES = ('launch/launch', 'launch/launch_xml', 'launch/launch_yaml', 'launch/launch_testing',
            'launch/launch_pytest', 'launch_ros/launch_ros', 'launch_ros/ros2launch',
            'launch_ros/launch_testing_ros', 'ros2cli/ros2cli', 'ros2cli/ros2topic',
            'ros2cli/ros2node', 'ros2cli/ros2param', 'ros2cli/ros2lifecycle',
            'ros2cli/ros2service', 'ros2cli/ros2pkg', 'ros2cli/ros2run',
            'ros2cli/ros2interface', 'rosidl_runtime_py')
FROM_PYPI = ('osrf-pycommon', 'psutil', 'argcomplete')
INTERFACES = 'rcl_interfaces/composition_interfaces'
LEFTOVERS = ('build', '*.egg-info', '__pycache__')  # of earlier builds in the snapshot

# A process launched from a script in the background inherits an ignored SIGINT and would
# never hear the Ctrl-C (ros2 launch then never stops); a terminal's child has the default.
DEFAULT_SIGINT = ('import os, signal, sys; signal.signal(signal.SIGINT, signal.SIG_DFL); '
                  'os.execvp(sys.argv[1], sys.argv[1:])')


def readme_commands(mark: str) -> list[str]:
    """The commands of the README's bash block after `mark`, for a test to run as written.

    Continued lines are joined; comments are dropped.
    """
    text = (ROOT / 'README.md').read_text()
    assert mark in text, f'the README lost the block after {mark}'
    block = re.search(r'```bash\n(.*?)```', text[text.index(mark):], re.S)
    assert block is not None, mark
    lines = block.group(1).replace('\\\n', ' ').splitlines()
    return [line for line in lines if line.strip() and not line.lstrip().startswith('#')]


def missing_reason() -> str:
    """Why the tools cannot be installed here ('' when they can)."""
    if not VENDOR.is_dir():
        return f'needs the ROS 2 tool sources in {VENDOR} (not part of the repository)'
    if shutil.which('cmake') is None:
        return 'needs cmake to build composition_interfaces'
    return ''


def _key() -> str:
    """What the cache depends on: the sources, the CMake helper, this file, the Python."""
    digest = hashlib.sha256(sys.version.encode())
    for path in sorted(p for p in VENDOR.rglob('*') if p.is_file() and not any(
            fnmatch(part, leftover) for part in p.relative_to(VENDOR).parts
            for leftover in LEFTOVERS)):
        digest.update(str(path.relative_to(VENDOR)).encode() + path.read_bytes())
    for path in (ROOT / 'cmake' / 'ros_wheels.cmake', Path(__file__)):
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _run(command: Sequence[str], what: str, env: Mapping[str, str] | None = None) -> None:
    result = subprocess.run(list(command), env=env, capture_output=True, text=True,
                            check=False)
    if result.returncode != 0:
        raise RuntimeError(f'{what} failed: {" ".join(command)}\n{result.stdout}'
                           f'{result.stderr}')


@dataclass(frozen=True)
class Tools:
    """Where install() put the tools."""

    root: Path

    @property
    def python(self) -> Path:
        return self.root / 'python'

    @property
    def prefix(self) -> Path:
        return self.root / 'prefix'

    @property
    def colcon(self) -> Path:
        return self.root / 'colcon' / 'bin' / 'colcon'

    def environ(self, base: Mapping[str, str] | None = None, *,
                underlay: bool = True) -> dict[str, str]:
        """`base` (os.environ) with the tools on the paths, as a sourced ROS install has them.

        With `underlay` the venv's prefix (our package and the ROS wheels) is on
        AMENT_PREFIX_PATH, as the pip section plus sourcing the venv leaves it; without, a
        test adds it the README's way.
        """
        env = dict(os.environ if base is None else base)
        ament = [str(self.prefix), str(self.python)] + [sys.prefix] * underlay

        def prepend(name: str, *entries: str) -> None:
            env[name] = os.pathsep.join([*entries, *filter(None, [env.get(name)])])

        prepend('PATH', str(self.python / 'bin'), str(Path(sys.executable).parent))
        prepend('PYTHONPATH', str(self.python), str(self.prefix / PYTHON_DIR))
        prepend('LD_LIBRARY_PATH', str(self.prefix / 'lib'))
        env['AMENT_PREFIX_PATH'] = os.pathsep.join(ament)
        return env


def install() -> Tools:
    """The tools, installed on first use (about a minute), then taken from the cache."""
    tools = Tools(CACHE / _key())
    if (tools.root / 'complete').exists():
        return tools
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / 'lock', 'w') as lock:  # another test session may be installing too
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (tools.root / 'complete').exists():
            shutil.rmtree(tools.root, ignore_errors=True)
            _install(tools)
            (tools.root / 'complete').touch()
    return tools


def _install(tools: Tools) -> None:
    with tempfile.TemporaryDirectory() as scratch:
        # pip builds in the source folder, which is read-only: build a copy
        sources = Path(scratch) / 'ros2'
        shutil.copytree(VENDOR, sources, ignore=shutil.ignore_patterns(*LEFTOVERS))
        for folder in sources.rglob('*'):
            folder.chmod(folder.stat().st_mode | 0o200)
        _run([sys.executable, '-m', 'pip', 'install', '--quiet', '--disable-pip-version-check',
              '--no-deps', '--no-build-isolation', '--target', str(tools.python),
              *(str(sources / package) for package in PACKAGES), *FROM_PYPI],
             'installing the ROS 2 tools')
        build = Path(scratch) / 'build'
        env = dict(os.environ, AMENT_PREFIX_PATH=sys.prefix, CMAKE_PREFIX_PATH=sys.prefix)
        for step in (
                ['cmake', '-S', str(sources / INTERFACES), '-B', str(build),
                 f'-DCMAKE_INSTALL_PREFIX={tools.prefix}', f'-DPython3_EXECUTABLE={sys.executable}',
                 f'-DCMAKE_PROJECT_INCLUDE={ROOT / "cmake" / "ros_wheels.cmake"}',
                 '-DBUILD_TESTING=OFF', '-DCMAKE_BUILD_TYPE=Release'],
                ['cmake', '--build', str(build), '--parallel', str(os.cpu_count() or 1)],
                ['cmake', '--install', str(build)]):
            _run(step, 'building composition_interfaces', env)
    _run([sys.executable, '-m', 'venv', str(tools.root / 'colcon')], 'making the colcon venv')
    _run([str(tools.root / 'colcon' / 'bin' / 'pip'), 'install', '--quiet',
          '--disable-pip-version-check', 'colcon-common-extensions'], 'installing colcon')


def shm_names(directory: Path = SHM_DIR) -> set[str]:
    """The names of the files in /dev/shm (or `directory`), to compare before and after."""
    return {path.name for path in directory.iterdir()}


def launch_params() -> set[Path]:
    """The parameters files launch_ros wrote for dicts (and never removes)."""
    return set(Path(tempfile.gettempdir()).glob('launch_params_*'))


def processes_in(domain: int) -> list[str]:
    """Other processes with ROS_DOMAIN_ID `domain` (each `pid command`): what a test left."""
    found = []
    for entry in Path('/proc').iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            environ = (entry / 'environ').read_bytes().split(b'\0')
            command = (entry / 'cmdline').read_bytes().replace(b'\0', b' ').decode()
        except OSError:
            continue  # gone, or not ours
        if f'ROS_DOMAIN_ID={domain}'.encode() in environ and command:
            found.append(f'{entry.name} {command[:160]}')
    return found


class Launched:
    """A command in a session of its own, its output collected; stop() is a terminal's Ctrl-C.

    The signal goes to the whole process group, the command and everything it started, as a
    terminal sends it.
    """

    def __init__(self, command: Sequence[str], env: Mapping[str, str],
                 cwd: Path | None = None) -> None:
        self.process = subprocess.Popen(
            [sys.executable, '-c', DEFAULT_SIGINT, *command], env=dict(env), cwd=cwd,
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            start_new_session=True)
        self.lines: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    @property
    def text(self) -> str:
        return ''.join(list(self.lines))

    def wait_for(self, pattern: str, timeout: float = 120.0, since: int = 0) -> re.Match[str]:
        """The first match of the regular expression `pattern` in the output, once it comes.

        Only the output from character `since` on counts.
        """
        deadline = time.monotonic() + timeout
        while (match := re.search(pattern, self.text[since:])) is None:
            assert self.process.poll() is None or self._reader.is_alive(), \
                f'exited ({self.process.returncode}) before {pattern!r}:\n{self.text}'
            assert time.monotonic() < deadline, f'no {pattern!r} in {timeout} s:\n{self.text}'
            time.sleep(0.05)
        return match

    def stop(self, timeout: float = 90.0) -> str:
        """Ctrl-C to the process group; wait until every process of it is gone; the output."""
        group = self.process.pid
        if self.process.poll() is None:
            os.killpg(group, signal.SIGINT)
        try:
            self.process.wait(timeout=timeout)
            deadline = time.monotonic() + timeout
            while _group_alive(group):
                assert time.monotonic() < deadline, f'processes of the group left:\n{self.text}'
                time.sleep(0.05)
        finally:
            if _group_alive(group):  # (the test fails; nothing may stay all the same)
                os.killpg(group, signal.SIGKILL)
            self._reader.join(timeout=10)
        return self.text


def _group_alive(group: int) -> bool:
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    return True


@contextmanager
def launched(command: Sequence[str], env: Mapping[str, str],
             cwd: Path | None = None) -> Iterator[Launched]:
    """Launched(...), stopped with Ctrl-C afterwards; its output is shown if the test fails."""
    process = Launched(command, env, cwd)
    try:
        yield process
    finally:
        sys.stdout.write(process.stop())


def until(run: Callable[[], subprocess.CompletedProcess[str]],
          done: Callable[[subprocess.CompletedProcess[str]], bool], what: str,
          timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    """Run a command again until `done` says its result is what a user waits for.

    A node just started is discovered by a `ros2` verb within a few seconds, sooner or later
    depending on the machine: a user runs the command again, and so do the tests.
    """
    deadline = time.monotonic() + timeout
    while not done(result := run()):
        assert time.monotonic() < deadline, \
            f'{what}: not after {timeout} s; last answer:\n{result.stdout}{result.stderr}'
        time.sleep(0.5)
    return result
