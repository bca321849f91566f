"""Standard output that names itself in its errors.

``gns-pyro info --json > /dev/full`` fails inside ``print``, and the :class:`OSError` that
Python raises carries no file name, so the one-line error would say only "No space left on
device". The console script wraps ``sys.stdout`` in :class:`NamedStream`, whose errors name the
stream, and flushes it inside the error boundary (:func:`gns_pyro.cli.main`) so that a failure
on the last buffered bytes is reported the same way rather than by the interpreter at exit.
"""

from __future__ import annotations

from typing import TextIO

STDOUT_NAME = "standard output"


class NamedStream:
    """``stream`` with every :class:`OSError` of ``write`` and ``flush`` given the name
    ``name`` (where the error has none); everything else is the stream's own.

    Example::

        sys.stdout = NamedStream(sys.stdout, "standard output")
    """

    def __init__(self, stream: TextIO, name: str):
        self._stream = stream
        self._name = name
        self._lost: OSError | None = None  # a failed write that its caller swallowed

    def write(self, text: str) -> int:
        try:
            return self._stream.write(text)
        except OSError as err:
            self._lost = self._named(err)
            raise self._lost from None

    def flush(self) -> None:
        """Flush the stream; raises the error of an earlier failed write even if whoever
        wrote swallowed it (argparse does, for ``--help``), so that output lost is never
        silent."""
        if self._lost is not None:
            lost, self._lost = self._lost, None
            raise lost
        try:
            self._stream.flush()
        except OSError as err:
            raise self._named(err) from None

    def __getattr__(self, name: str):
        return getattr(self._stream, name)

    def _named(self, err: OSError) -> OSError:
        if err.filename is not None or err.errno is None:
            return err
        return type(err)(err.errno, err.strerror, self._name)
