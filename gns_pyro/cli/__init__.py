"""The ``gns-pyro`` command line: the only layer of gns-pyro that knows about argparse.

Each command has its module in this package (:mod:`gns_pyro.cli.data`,
:mod:`gns_pyro.cli.train`, :mod:`gns_pyro.cli.sample`, ...) with an ``add_parser(subparsers)``
function that registers it and sets ``func`` on its parser; the options several commands share
are in :mod:`gns_pyro.cli.common` and the checked argument types in
:mod:`gns_pyro.cli.argtypes`. A command translates its flags into the library's typed settings
and job specs, calls the library, and prints the result; ``main`` only dispatches. Errors of
gns-pyro's own (:class:`gns_pyro.errors.GNSError`), operating-system errors and bad values
are printed as one line and exit with status 2, never as a traceback (``--debug`` shows it);
Ctrl-C exits with status 130 (:func:`main` is the one error boundary).

Shell::

    gns-pyro --help
    python -m gns_pyro.cli demo --out demo
"""

from __future__ import annotations

import argparse
import sys
import warnings

from gns_pyro import __version__
from gns_pyro.cli.streams import STDOUT_NAME, NamedStream
from gns_pyro.errors import GNSError

INTERRUPTED_LINE = "interrupted"


class _DefaultsFormatter(argparse.ArgumentDefaultsHelpFormatter):
    """Shows each option's default, unless it is ``None`` or the help already says it."""

    def _get_help_string(self, action):
        text = action.help or ""
        if not (action.default is None or "default" in text or isinstance(action.default, bool)):
            text = super()._get_help_string(action)
        bounds = getattr(action.type, "bounds", None)
        if bounds is not None:  # every count is bounded, and says so
            text = f"{text} [{bounds[0]} to {bounds[1]:,}]".strip()
        return text


class _Parser(argparse.ArgumentParser):
    """Every (sub)command's parser shows defaults in ``--help``."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", _DefaultsFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        """A bad flag is one line too (argparse prints the usage above it): the usage is in
        ``--help``."""
        self.exit(2, f"{self.prog}: error: {_one_line(message)} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    """The ``gns-pyro`` argument parser with every subcommand registered."""
    from gns_pyro.cli import (
        classify,
        data,
        demo,
        exemplars,
        judge,
        kanji_eval,
        likelihood,
        parse,
        parse_eval,
        sample,
        train,
        train_alphabet,
    )

    parser = _Parser(
        prog="gns-pyro",
        description="Generative neuro-symbolic models of handwritten characters (Pyro).",
    )
    parser.add_argument("--version", action="version", version=f"gns-pyro {__version__}")
    parser.add_argument(
        "--debug",
        action="store_true",
        help="show the traceback of an error (also GNS_PYRO_DEBUG=1)",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    data.add_parser(subparsers)
    train.add_parser(subparsers)
    train_alphabet.add_parser(subparsers)
    sample.add_parser(subparsers)
    parse.add_parsers(subparsers)
    classify.add_parser(subparsers)
    exemplars.add_parser(subparsers)
    demo.add_parser(subparsers)
    parse_eval.add_parser(subparsers)
    likelihood.add_parser(subparsers)
    kanji_eval.add_parser(subparsers)
    judge.add_parser(subparsers)
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

    The one error boundary of the command line: from its first line (the commands' imports
    included), gns-pyro's own errors, operating-system errors (permission, no space, a name
    too long, a file where a folder should be, ...), bad values and running out of memory are
    one line on stderr naming the path or value, with status 2; Ctrl-C is status 130, within
    about a second when run as the console script (:mod:`gns_pyro.cli.interrupts`). Any
    other exception is a bug: one line saying so, status 1. ``--debug`` (or
    ``GNS_PYRO_DEBUG=1``) shows the traceback instead.
    """
    import os

    from gns_pyro.cli.interrupts import INTERRUPTED, exit_now, start_interrupt_watchdog

    console = argv is None  # the console script: Ctrl-C must end the process promptly
    argv = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in argv or os.environ.get("GNS_PYRO_DEBUG", "") not in ("", "0")
    if console and not debug:  # with --debug, Ctrl-C shows where it landed
        start_interrupt_watchdog(f"gns-pyro: {INTERRUPTED_LINE}")
    argv = [a for a in argv if a != "--debug"]  # accepted anywhere on the line
    if console:
        # its errors say "standard output" (None: started with it closed, `>&-`)
        if sys.stdout is not None and not isinstance(sys.stdout, NamedStream):
            sys.stdout = NamedStream(sys.stdout, STDOUT_NAME)
        if not debug:  # a warning is one line too, not Python's two with the source line
            warnings.showwarning = _one_line_warning
    try:
        parser = build_parser()
        try:
            args = parser.parse_args(argv)
        except SystemExit:  # --help, --version: their text must reach stdout too
            _flush_stdout()
            raise
        status = int(args.func(args) or 0)
        _flush_stdout()  # a failure on the last bytes is reported here, not at exit
        return status
    except BrokenPipeError:
        # whoever read our output stopped (`gns-pyro ... | head`): not an error of ours; point
        # stdout at /dev/null so that Python's flush at exit does not complain either
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
    except KeyboardInterrupt:
        if debug:
            raise
        if console:  # skip the interpreter's teardown: a second or more with torch loaded
            exit_now(INTERRUPTED, f"gns-pyro: {INTERRUPTED_LINE}")
        _say(INTERRUPTED_LINE)
        return INTERRUPTED
    except (GNSError, OSError, ValueError, OverflowError, MemoryError, RecursionError) as err:
        if debug:
            raise
        _say(f"error: {describe_error(err)}")
        return 2
    except Exception as err:  # a bug of ours: say so in one line, the traceback on request
        if debug:
            raise
        if _out_of_memory(err):  # torch's allocators raise RuntimeError, not MemoryError
            _say(f"error: {describe_error(MemoryError())}")
            return 2
        _say(
            f"internal error: {type(err).__name__}: {_one_line(str(err))} (please report it; "
            "rerun with --debug for the traceback)"
        )
        return 1


def describe_error(err: BaseException) -> str:
    """One line for an error the user can act on: gns-pyro's message, or for an operating-
    system error what went wrong and with which path."""
    if isinstance(err, GNSError):
        return _one_line(str(err))
    if isinstance(err, OSError) and err.strerror:
        paths = " -> ".join(str(p) for p in (err.filename, err.filename2) if p is not None)
        return f"{paths}: {err.strerror}" if paths else err.strerror
    if isinstance(err, MemoryError):
        return "out of memory (ask for less: fewer items, a smaller --n or --k)"
    if isinstance(err, RecursionError):
        return "input nested too deeply"
    return _one_line(f"{type(err).__name__}: {err}")


def _flush_stdout() -> None:
    if sys.stdout is not None:
        sys.stdout.flush()


def _one_line_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """``warnings.showwarning`` for the console script: ``gns-pyro: warning: ...``, one line."""
    _say(f"warning: {_one_line(str(message))}")


def _out_of_memory(err: BaseException) -> bool:
    """Whether ``err`` is torch's report of a failed allocation."""
    text = str(err)
    return isinstance(err, RuntimeError) and (
        "can't allocate memory" in text or "out of memory" in text.lower()
    )


def _one_line(text: str, limit: int = 400) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."


def _say(message: str) -> None:
    if sys.stderr is None:  # started with stderr closed (`2>&-`): print would use stdout
        return
    try:
        print(f"gns-pyro: {message}", file=sys.stderr)
    except OSError:  # stderr itself is gone: nothing more to say
        pass
