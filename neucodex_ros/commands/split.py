"""`neucodex-ros split`: both nodes as separate processes from one parameters file.

The pip stand-in for `ros2 launch neucodex_ros split.launch.py`: every section of the YAML
that names a neucodex_ros node (edge_node, cloud_node) starts that node with the file as its
--params-file. A node that dies is started again after RESPAWN_DELAY, as the launch files'
respawn does, and the others go on; one that cannot start as configured stops them all.
Ctrl-C stops them all cleanly.
"""

from __future__ import annotations

import argparse
import signal
import sys
import time
from pathlib import Path

HELP = 'start the nodes of a parameters file as separate processes (no ros2 launch needed)'
RESPAWN_DELAY = 2.0  # seconds before a node that died is started again (as the launch files)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """Options of `split`."""
    parser.add_argument('--params-file', type=Path, default=None,
                        help='YAML keyed by node name (default: config/split.yaml)')


def run(args: argparse.Namespace) -> int:
    """Start the nodes; restart one that dies; stop them all on Ctrl-C."""
    import yaml

    from neucodex_ros.processes import CONFIG_ERROR, NODE_MODULES, node_command, running, start

    # Ctrl-C must stop us even if we inherited an ignored SIGINT (a background job's lot)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    from neucodex_ros.resources import default_params_file

    params_file = (args.params_file or default_params_file()).resolve()
    sections = yaml.safe_load(params_file.read_text()) or {}
    unknown = sorted(set(sections) - set(NODE_MODULES))
    if unknown or not sections:
        print(f'neucodex-ros split: {params_file} must have sections named after nodes '
              f'{sorted(NODE_MODULES)}; unknown: {unknown}', file=sys.stderr)
        return 2
    names = sorted(sections, key=lambda name: name != 'cloud_node')  # the cloud first
    commands = [node_command(name, name=name, params_file=params_file) for name in names]
    print(f'neucodex-ros split: starting {", ".join(names)} from {params_file} '
          '(Ctrl-C stops them)', flush=True)
    with running(commands) as processes:
        restart_at: dict[int, float] = {}  # index → when a dead node starts again
        try:
            while True:
                now = time.monotonic()
                for index, process in enumerate(processes):
                    if index in restart_at:
                        if now >= restart_at[index]:
                            del restart_at[index]
                            processes[index] = start(commands[index])
                        continue
                    if (code := process.poll()) is None:
                        continue
                    if code == CONFIG_ERROR:  # it cannot start as configured: again won't help
                        print(f'neucodex-ros split: {names[index]} cannot start with '
                              f'{params_file} (see its error above); stopping the others',
                              file=sys.stderr)
                        return 1
                    print(f'neucodex-ros split: {names[index]} exited with code {code}; '
                          f'starting it again in {RESPAWN_DELAY:g} s', file=sys.stderr,
                          flush=True)
                    restart_at[index] = now + RESPAWN_DELAY
                time.sleep(0.2)
        except KeyboardInterrupt:
            return 0
