#!/usr/bin/env python3
"""How long `neucodex-ros --help` and each subcommand's `--help` take (the target: < 1 s).

Each is a fresh process, as a user's shell starts it; prints the best and worst of --runs.

    .venv/bin/python scripts/help_times.py [--runs 5]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

from neucodex_ros import commands


def main() -> int:
    """Time every --help and print the best and worst of each."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--runs', type=int, default=5, help='runs per command (default 5)')
    args = parser.parse_args()
    worst_of_all = 0.0
    for name in ['', *commands.__all__]:
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            subprocess.run([sys.executable, '-m', 'neucodex_ros.cli', *([name] if name else []),
                            '--help'], check=True, capture_output=True)
            times.append(time.perf_counter() - start)
        worst_of_all = max(worst_of_all, max(times))
        print(f'neucodex-ros {name + " " if name else ""}--help'.ljust(32)
              + f'best {min(times):.2f} s, worst {max(times):.2f} s')
    print(f'slowest: {worst_of_all:.2f} s ({"under" if worst_of_all < 1 else "over"} 1 s)')
    return 0


if __name__ == '__main__':
    sys.exit(main())
