"""Start neucodex_ros nodes as separate OS processes: the pip stand-in for `ros2 run/launch`."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

CONFIG_ERROR = 2  # exit status of a node that cannot start as configured: restarting won't help

#: Node executable → module; setup.cfg's console scripts name the same executables.
NODE_MODULES = {
    'edge_node': 'neucodex_ros.nodes.edge_node',
    'cloud_node': 'neucodex_ros.nodes.cloud_node',
    'fault_relay': 'neucodex_ros.nodes.fault_relay',
}


def node_command(executable: str, *, name: str | None = None,
                 params_file: Path | None = None,
                 parameters: Mapping[str, object] | None = None,
                 ros_args: Sequence[str] = ()) -> list[str]:
    """The command line that runs one node with ROS arguments, as `ros2 run` would.

    `parameters` are Python values; `ros_args` (such as `-p name:=yaml`, `-r from:=to`) are
    passed as they are, after them.
    """
    if executable not in NODE_MODULES:
        raise ValueError(f'unknown node executable {executable!r}; known: {sorted(NODE_MODULES)}')
    arguments: list[str] = []
    if name:
        arguments += ['-r', f'__node:={name}']
    if params_file:
        arguments += ['--params-file', str(params_file)]
    for key, value in (parameters or {}).items():
        arguments += ['-p', f'{key}:={_yaml(value)}']
    arguments += ros_args
    command = [sys.executable, '-m', NODE_MODULES[executable]]
    return command + (['--ros-args', *arguments] if arguments else [])


def _yaml(value: object) -> str:
    """A parameter value as `-p name:=value` reads it (YAML)."""
    if isinstance(value, bool):
        return 'true' if value else 'false'
    if isinstance(value, str):
        return "'" + value.replace("'", "''") + "'"
    return str(value)


def start(command: Sequence[str]) -> subprocess.Popen[bytes]:
    """Start one child in a session of its own (see running())."""
    return subprocess.Popen(list(command), start_new_session=True)


@contextmanager
def running(commands: Sequence[Sequence[str]], *,
            stop_timeout: float = 30.0) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Run commands as child processes; on exit send each one SIGINT (Ctrl-C) and wait.

    Each child gets its own session, so a Ctrl-C in the terminal reaches only this process,
    which then stops every child exactly once. A child replaced in the yielded list (started
    again with start()) is stopped in its place.
    """
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for command in commands:
            processes.append(start(command))
        yield processes
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for process in processes:
            try:
                process.wait(timeout=stop_timeout)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
