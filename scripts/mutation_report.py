"""docs/mutation.md from the last `make mutation`: mutants killed per rule module, and survivors.

Reads `python -m mutmut results --all true` (run `make mutation` first) and writes the table
and the mutants not killed, counted by function (with `--diffs`, each one's diff). The
section REASONS and what follows it, written by hand (why each survivor is harmless), is kept.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
NOT_KILLED = ('survived', 'no tests', 'timeout', 'suspicious', 'not checked')
REASONS = '## Why the survivors are harmless'


def mutmut(*args: str) -> str:
    """What `python -m mutmut ARGS` prints."""
    return subprocess.run([sys.executable, '-m', 'mutmut', *args], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout


def main() -> int:
    """Write the report."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument('--out', type=Path, default=ROOT / 'docs' / 'mutation.md')
    parser.add_argument('--diffs', action='store_true',
                        help="each survivor's diff too (a `mutmut show` each: slow)")
    args = parser.parse_args()
    status: dict[str, str] = {}
    for line in mutmut('results', '--all', 'true').splitlines():
        name, _, state = line.strip().rpartition(': ')
        if name:
            status[name] = state
    by_module: dict[str, Counter[str]] = defaultdict(Counter)
    survivors: dict[str, list[str]] = defaultdict(list)
    for name, state in status.items():
        module = name.split('.x')[0].removeprefix('neucodex_ros.core.')
        by_module[module][state] += 1
        if state in NOT_KILLED:
            function = re.sub(r'__mutmut_\d+$', '', name.split('.', 3)[-1]).replace('ǁ', '.')
            survivors[f'{module}: {function} ({state})'].append(name)
    total = Counter[str]()
    rows = []
    for module, counts in sorted(by_module.items()):
        total += counts
        all_ = sum(counts.values())
        rows.append(f'| `{module}.py` | {all_} | {counts["killed"]} | '
                    f'{counts["survived"] + counts["suspicious"]} | {counts["no tests"]} | '
                    f'{counts["killed"] / all_:.1%} |')
    all_ = sum(total.values())
    lines = ['# Mutation testing of the core\'s rules', '',
             '`make mutation` (mutmut 3.8.1, pyproject.toml `[tool.mutmut]`): every mutant of '
             'the rule modules against `test/core`; written by `scripts/mutation_report.py`.',
             '', '| module | mutants | killed | survived | no test reached it | killed, share |',
             '|---|---|---|---|---|---|', *rows,
             f'| all | {all_} | {total["killed"]} | {total["survived"] + total["suspicious"]} | '
             f'{total["no tests"]} | {total["killed"] / all_:.1%} |', '',
             '## The mutants not killed, by function', '']
    for where, names in sorted(survivors.items()):
        lines.append(f'- {where}: {len(names)}')
        for name in names if args.diffs else ():
            diff = [d for d in mutmut('show', name).splitlines()
                    if d[:1] in '+-' and not d.startswith(('+++', '---'))]
            lines += ['  ```diff', *(f'  {d}' for d in diff), '  ```']
    kept = args.out.read_text().partition(REASONS) if args.out.exists() else ('', '', '')
    args.out.write_text('\n'.join(lines) + ('\n\n' + kept[1] + kept[2] if kept[1] else '\n'))
    print(f'{total["killed"]} of {all_} killed ({total["killed"] / all_:.1%}); written {args.out}')
    return 0


if __name__ == '__main__':
    raise SystemExit(main())
