"""Start neucodex_ros nodes as separate OS processes: the pip stand-in for `ros2 run/launch`."""

from __future__ import annotations

import ctypes
import os
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


#: The pid of the process whose end stops a node (stop_with_parent): set by whoever starts
#: nodes as children, this module's start() and the launch files.
PARENT_VARIABLE = 'NEUCODEX_STOP_WITH'
_PR_SET_PDEATHSIG = 1  # prctl(2)


def start(command: Sequence[str]) -> subprocess.Popen[bytes]:
    """Start one child in a session of its own (see running()), stopped if this process ends."""
    return subprocess.Popen(list(command), start_new_session=True,
                            env={**os.environ, **stopping_with_this_process()})


def stopping_with_this_process() -> dict[str, str]:
    """What a node started by this process needs in its environment to stop when it ends."""
    return {PARENT_VARIABLE: str(os.getpid())}


def launch_overrides(autostart: str, checkpoint: str) -> dict[str, object]:
    """The parameters that the launch files' arguments set over their parameters file.

    `autostart` as the argument is written (true, 1, false ...); `checkpoint` only when one
    is given ('' keeps the file's).
    """
    overrides: dict[str, object] = {'autostart': autostart.lower() in ('true', '1')}
    if checkpoint:
        overrides['checkpoint'] = checkpoint
    return overrides


def stop_with_parent(environ: Mapping[str, str]) -> bool:
    """In a node started by PARENT_VARIABLE's process: SIGTERM this one when that one ends.

    A node's SIGTERM is its Ctrl-C: it stops cleanly. So a node whose runner is killed
    (`neucodex-ros split` by SIGKILL, `ros2 launch` by SIGTERM, which makes launch leave its
    processes running) does not run on without it. Linux only (prctl PR_SET_PDEATHSIG);
    started through a wrapper that is not the parent, nothing is set. True if the parent is
    already gone: the node should stop at once.
    """
    parent = environ.get(PARENT_VARIABLE, '')
    if not parent.isdigit() or not sys.platform.startswith('linux'):
        return False
    if os.getppid() == int(parent):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        return os.getppid() != int(parent)  # (it ended before the prctl)
    try:
        os.kill(int(parent), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        pass
    return False


@contextmanager
def running(commands: Sequence[Sequence[str]], *,
            stop_timeout: float = 30.0) -> Iterator[list[subprocess.Popen[bytes]]]:
    """Run commands as child processes; on exit send each one SIGINT (Ctrl-C) and wait.

    Each child gets its own session, so a Ctrl-C in the terminal reaches only this process,
    which then stops every child exactly once. A child replaced in the yielded list (started
    again with start()) is stopped in its place. One that has not stopped after
    `stop_timeout` is killed (the `neucodex-ros` command removes what it left in /dev/shm
    once it has shut down its own ROS: cli.main).
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
