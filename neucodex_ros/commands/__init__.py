"""The `neucodex-ros` subcommands, one module each: HELP, add_arguments(parser), run(args)."""

__all__ = ['bench', 'calibrate', 'convert', 'demo', 'evaluate', 'inspect', 'models', 'replay',
           'split', 'train', 'watch']
