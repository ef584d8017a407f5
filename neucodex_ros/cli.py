"""`neucodex-ros`: the command-line entry point; each subcommand lives in commands/."""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import sys
from typing import NoReturn

from neucodex_ros import commands, shared_memory
from neucodex_ros.core.errors import NeucodexError
from neucodex_ros.resources import use_large_data_profile


class HelpFormatter(argparse.HelpFormatter):
    """Says every option's default, unless its help already does or it has none to say."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ''
        if 'default' in text or action.default in (None, False, argparse.SUPPRESS, [], '') \
                or not action.option_strings:
            return text
        return f'{text} (default: %(default)s)'


class OneLineParser(argparse.ArgumentParser):
    """A mistake on the command line is one line (and exit status 2), not the usage too."""

    def error(self, message: str) -> NoReturn:
        """Say what is wrong and where the options are."""
        self.exit(2, f'{self.prog}: {message} (options: {self.prog} --help)\n')


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The argument parser, one subcommand per module in neucodex_ros.commands.

    Only the subcommand named in `argv` gets its options (None: every one): some options'
    defaults come from modules that import torch, which `--help` should not wait for.
    """
    parser = OneLineParser(prog='neucodex-ros', description=(
        'Split spiking neural network inference (NeuCODEX) on ROS 2.'))
    subparsers = parser.add_subparsers(dest='command', required=True, metavar='COMMAND',
                                       parser_class=OneLineParser)
    for name in commands.__all__:
        module = importlib.import_module(f'neucodex_ros.commands.{name}')
        subparser = subparsers.add_parser(name, help=module.HELP, description=module.HELP,
                                          formatter_class=HelpFormatter)
        if argv is None or name in argv:
            module.add_arguments(subparser)
        subparser.set_defaults(run=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Parse the command line and run the chosen subcommand."""
    argv = sys.argv[1:] if argv is None else argv
    args = build_parser(argv).parse_args(argv)
    # Before any rclpy: this process (demo and bench cameras, replays) and the nodes it starts.
    use_large_data_profile(os.environ)
    try:
        return int(args.run(args))
    except KeyboardInterrupt:
        return 130
    except (NeucodexError, OSError) as err:  # a user's mistake (a path, an option): one line
        print(f'neucodex-ros {args.command}: {err}', file=sys.stderr)
        return 2
    finally:
        # What the nodes this started left in /dev/shm, once this process's own ROS is gone:
        # a port that one wrote to after its reader had stopped stays, even when every one
        # stopped cleanly (and a node killed for not stopping leaves its segment).
        with contextlib.suppress(KeyboardInterrupt):
            shared_memory.sweep_settled()


if __name__ == '__main__':
    sys.exit(main())
