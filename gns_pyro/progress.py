"""Progress of long jobs on stderr: a tqdm bar with an ETA on a terminal, one line per
finished item otherwise (logs, batch jobs, worker processes), nothing when quiet.

Example::

    >>> with Progress(total=3, desc="likelihood", quiet=True) as progress:
    ...     for item in ["a", "b", "c"]:
    ...         progress.update(f"{item}: done")
"""

from __future__ import annotations

import sys
import time


class Progress:
    """Counts finished items of a job of ``total`` items.

    :param total: items in the job.
    :param desc: what the job is (the first word of each line).
    :param quiet: report nothing.
    :param file: where to report (default ``sys.stderr``).
    """

    def __init__(self, total: int, desc: str, quiet: bool = False, file=None):
        self.total, self.desc, self.quiet = total, desc, quiet
        self.file = sys.stderr if file is None else file
        self.done = 0
        self.start = time.perf_counter()
        self.bar = None
        if not quiet and getattr(self.file, "isatty", lambda: False)():
            from tqdm import tqdm  # the plain (not .auto) bar: no widget warning in Jupyter

            self.bar = tqdm(total=total, desc=desc, file=self.file, unit="item")
        elif not quiet:  # say at once that the job started: its first item may take minutes
            print(f"{desc}: {total} item(s) to do", file=self.file, flush=True)

    def update(self, note: str = "") -> None:
        """One more item finished; ``note`` says how it went."""
        self.done += 1
        if self.quiet:
            return
        if self.bar is not None:
            self.bar.set_postfix_str(note, refresh=False)
            self.bar.update()
            return
        elapsed = time.perf_counter() - self.start
        left = elapsed / self.done * (self.total - self.done)
        print(
            f"{self.desc} {self.done}/{self.total}: {note} ({elapsed:.0f} s, ~{left:.0f} s left)",
            file=self.file,
            flush=True,
        )

    def close(self) -> None:
        """End the bar (if any)."""
        if self.bar is not None:
            self.bar.close()

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class Stages:
    """Reports the stages of one long computation, one line each with the time so far:
    ``parse: 212 proposals (1.4 s)``. Called with a note; silent when ``quiet``.

    Example::

        >>> stages = Stages("parse", quiet=True)
        >>> stages("212 proposals")
    """

    def __init__(self, desc: str, quiet: bool = False, file=None):
        self.desc, self.quiet = desc, quiet
        self.file = sys.stderr if file is None else file
        self.start = time.perf_counter()

    def __call__(self, note: str) -> None:
        if not self.quiet:
            elapsed = time.perf_counter() - self.start
            print(f"{self.desc}: {note} ({elapsed:.1f} s)", file=self.file, flush=True)
