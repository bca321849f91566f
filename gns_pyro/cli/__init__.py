"""The ``gns-pyro`` command line: the only layer of gns-pyro that knows about argparse.

Each command has its module in this package (:mod:`gns_pyro.cli.data`,
:mod:`gns_pyro.cli.train`, :mod:`gns_pyro.cli.sample`, ...) with an ``add_parser(subparsers)``
function that registers it and sets ``func`` on its parser; the options several commands share
are in :mod:`gns_pyro.cli.common` and the checked argument types in
:mod:`gns_pyro.cli.argtypes`. A command translates its flags into the library's typed settings
and job specs, calls the library, and prints the result; ``main`` only dispatches. Errors of
gns-pyro's own (:class:`gns_pyro.errors.GNSError`) are printed as one line and exit with
status 2, never as a traceback; Ctrl-C exits with status 130.

Shell::

    gns-pyro --help
    python -m gns_pyro.cli demo --out demo
"""

from __future__ import annotations

import argparse
import sys

from gns_pyro import __version__
from gns_pyro.errors import GNSError


class _DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, unless it is ``None`` or the help already says it."""

    def _get_help_string(self, action):
        text = action.help or ""
        if action.default is None or "default" in text or isinstance(action.default, bool):
            return text
        return super()._get_help_string(action)


class _Parser(argparse.ArgumentParser):
    """Every (sub)command's parser shows defaults in ``--help``."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _DefaultsFormatter)
        super().__init__(*args, **kwargs)


def build_parser() -> argparse.ArgumentParser:
    """The ``gns-pyro`` argument parser with every subcommand registered."""
    from gns_pyro.cli import (
        classify,
        data,
        demo,
        exemplars,
        kanji_eval,
        likelihood,
        parse,
        parse_eval,
        sample,
        train,
    )

    parser = _Parser(
        prog="gns-pyro",
        description="Generative neuro-symbolic models of handwritten characters (Pyro).",
    )
    parser.add_argument("--version", action="version", version=f"gns-pyro {__version__}")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    data.add_parser(subparsers)
    train.add_parser(subparsers)
    sample.add_parser(subparsers)
    parse.add_parsers(subparsers)
    classify.add_parser(subparsers)
    exemplars.add_parser(subparsers)
    demo.add_parser(subparsers)
    parse_eval.add_parser(subparsers)
    likelihood.add_parser(subparsers)
    kanji_eval.add_parser(subparsers)
    _every_command_has_quiet(subparsers)
    return parser


def _every_command_has_quiet(subparsers) -> None:
    """``--quiet`` is accepted by every command, also by those that print no progress."""
    from gns_pyro.cli.common import add_quiet_argument

    for command in set(subparsers.choices.values()):
        nested = [a for a in command._actions if isinstance(a, argparse._SubParsersAction)]
        if nested:
            _every_command_has_quiet(nested[0])
            continue
        try:
            add_quiet_argument(command)
        except argparse.ArgumentError:  # it has its own
            pass


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` (default ``sys.argv[1:]``); returns the exit status.

    Errors of gns-pyro's own are one line on stderr with status 2; Ctrl-C gives status 130.
    """
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        result = args.func(args)
    except GNSError as err:
        print(f"gns-pyro: error: {err}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("gns-pyro: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # whoever read our output stopped (`gns-pyro ... | head`): not an error of ours; point
        # stdout at /dev/null so that Python's flush at exit does not complain either
        import os

        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    return int(result or 0)
