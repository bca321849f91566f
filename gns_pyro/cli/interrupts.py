"""Ctrl-C ends a ``gns-pyro`` command within about a second, whatever it is doing.

Python raises :class:`KeyboardInterrupt` only between bytecodes of the main thread, so a
command busy inside one long C call (a torch operation on a large batch, an extension module's
import on a loaded machine) would otherwise answer Ctrl-C only when that call returns, and the
interpreter's teardown (torch, SciPy and Pyro loaded) adds a second or more after it.

Two measures, for the console script only (tests that call :func:`gns_pyro.cli.main` with an
argument list keep the ordinary behaviour):

* :func:`exit_now` ends the process right after the one-line message, without the teardown;
  results are written atomically, so nothing half-written is left behind by skipping it.
* :func:`start_interrupt_watchdog` starts a daemon thread that learns of every SIGINT from
  :func:`signal.set_wakeup_fd` (the C-level handler writes to it at once); if the main thread
  has not ended the process ``grace`` seconds later, the thread prints the same line and ends
  it. Local worker jobs notice that their parent has gone (:mod:`gns_pyro.tasks.engine`).
"""

from __future__ import annotations

import os
import signal
import sys
import threading

#: seconds the main thread has to answer Ctrl-C in the ordinary way before the watchdog does
GRACE_SECONDS = 0.5
#: exit status of an interrupted command (128 + SIGINT, as shells report it)
INTERRUPTED = 130

_exiting = threading.Lock()  # one of the two paths prints the line and ends the process


def exit_now(status: int, message: str | None = None) -> None:
    """Print ``message`` (one line on stderr), flush both streams and end the process with
    ``status`` at once, skipping the interpreter's teardown."""
    _exiting.acquire()
    for stream in (sys.stdout, sys.stderr):
        if stream is None:  # closed when the command started
            continue
        try:
            if message is not None and stream is sys.stderr:
                stream.write(message + "\n")
            stream.flush()
        except (OSError, ValueError):  # a closed or broken stream: nothing more to say
            pass
    os._exit(status)


def start_interrupt_watchdog(message: str, grace: float = GRACE_SECONDS) -> bool:
    """From now on, a SIGINT that the main thread has not acted on within ``grace`` seconds
    ends the process with :data:`INTERRUPTED` after printing ``message``.

    Does nothing (and returns False) off the main thread, where SIGINT is ignored (a job
    started in the background) or handled by someone else's handler, or where a wake-up file
    descriptor is already in use.
    """
    if threading.current_thread() is not threading.main_thread():
        return False
    if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        return False
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)  # the C handler must never block on a full pipe
    try:
        previous = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
    except (ValueError, OSError):
        os.close(read_end)
        os.close(write_end)
        return False
    if previous != -1:  # someone else listens already: leave theirs in place
        signal.set_wakeup_fd(previous)
        os.close(read_end)
        os.close(write_end)
        return False

    def watch() -> None:
        while True:
            try:
                received = os.read(read_end, 64)
            except OSError:
                return
            if not received:
                return
            if signal.SIGINT in received:
                threading.Event().wait(grace)
                exit_now(INTERRUPTED, message)

    threading.Thread(target=watch, name="interrupt-watchdog", daemon=True).start()
    return True
