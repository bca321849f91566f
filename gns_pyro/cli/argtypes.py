"""Argument types for the command line: a bad number is refused by argparse with one line.

Each function takes the raw string and returns the value or raises
``argparse.ArgumentTypeError``, which argparse reports as ``gns-pyro <command>: error: argument
--k: ...`` with exit status 2, before any work starts.

Example::

    >>> import argparse
    >>> p = argparse.ArgumentParser()
    >>> _ = p.add_argument("--k", type=positive_int, default=5)
    >>> p.parse_args(["--k", "3"]).k
    3
"""

from __future__ import annotations

import argparse
import math
from pathlib import Path

#: seeds go to torch, numpy and Python's random; numpy accepts [0, 2**32)
MAX_SEED = 2**32 - 1


def _integer(text: str) -> int:
    if not text.strip().lstrip("+-").isascii() or len(text) > 30:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text[:40]!r}")
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None


def positive_int(text: str) -> int:
    """A whole number >= 1."""
    value = _integer(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {value}")
    return value


def positive_int_at_most(limit: int, hint: str = ""):
    """A type for a whole number in [1, ``limit``]; ``hint`` says what to do instead."""

    def check(text: str) -> int:
        value = positive_int(text)
        if value > limit:
            raise argparse.ArgumentTypeError(f"at most {limit}, got {value}{hint}")
        return value

    check.__name__ = f"positive_int_at_most_{limit}"
    return check


def count(low: int, high: int):
    """A type for a whole number in [``low``, ``high``]: every count on the command line has
    an upper bound (memory or time would run out far beyond it), shown in ``--help``."""

    def check(text: str) -> int:
        value = _integer(text)
        if not low <= value <= high:
            raise argparse.ArgumentTypeError(f"must be from {low} to {high:,}, got {value}")
        return value

    check.__name__ = f"count_{low}_to_{high}"
    check.bounds = (low, high)
    return check


def nonnegative_int(text: str) -> int:
    """A whole number >= 0."""
    value = _integer(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, got {value}")
    return value


def seed(text: str) -> int:
    """A random seed in [0, 2**32)."""
    value = _integer(text)
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"a seed must be in [0, {MAX_SEED}], got {value}")
    return value


def positive_float(text: str) -> float:
    """A finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"must be a finite number above 0, got {text}")
    return value


def float_in(low: float, high: float, include_low: bool = False):
    """A type for a finite number in ``(low, high]`` (``[low, high]`` with ``include_low``):
    extreme values (``1e300``) are refused with the range, not met deep in the arithmetic."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
        above = value >= low if include_low else value > low
        if not (math.isfinite(value) and above and value <= high):
            opening = "[" if include_low else "("
            raise argparse.ArgumentTypeError(f"must be in {opening}{low:g}, {high:g}], got {text}")
        return value

    parse.__name__ = f"number_{low:g}_to_{high:g}"
    return parse


#: a learning rate: above 0, at most 10 (beyond, Adam's first step overflows float32 weights)
learning_rate = float_in(0.0, 10.0)
#: a learning rate that may be 0 (a part kept as it is)
learning_rate_or_zero = float_in(0.0, 10.0, include_low=True)
#: a length in pixels of a frame: 0 to 1,000
pixels = float_in(0.0, 1000.0, include_low=True)


def temperature(text: str) -> float:
    """A sampling temperature within the range the samplers accept."""
    from gns_pyro.models.type_prior import MAX_TEMPERATURE, MIN_TEMPERATURE

    value = positive_float(text)
    if not MIN_TEMPERATURE <= value <= MAX_TEMPERATURE:
        raise argparse.ArgumentTypeError(
            f"a temperature must be in [{MIN_TEMPERATURE:g}, {MAX_TEMPERATURE:g}], got {text}"
        )
    return value


def nonnegative_float(text: str) -> float:
    """A finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(f"must be a finite number of at least 0, got {text}")
    return value


def rate(text: str) -> float:
    """A number in [0, 1)."""
    value = nonnegative_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"must be at least 0 and below 1, got {text}")
    return value


def open_fraction(text: str) -> float:
    """A number strictly between 0 and 1."""
    value = positive_float(text)
    if value >= 1:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _writable_ancestor(path: Path) -> Path:
    """The nearest folder at or above ``path`` that exists (where new folders would go)."""
    for folder in (path, *path.parents):
        if folder.exists():
            return folder
    return Path.cwd()


def _can_write_in(folder: Path) -> bool:
    """Whether a file can be created in ``folder``: tried, not guessed from permission bits
    (which say yes to root in ``/proc``, or on a read-only mount)."""
    import tempfile

    try:
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def _why_not_a_folder(path: Path) -> str:
    """What is at ``path`` instead of a folder, for an error message."""
    import errno
    import os

    try:
        os.stat(path)
    except OSError as err:
        if err.errno == errno.ELOOP:
            return "is a loop of symbolic links"
        if os.path.islink(path):
            return "is a symbolic link to nothing"
        return "does not exist"
    return "is not a folder"


def png_file(text: str) -> str:
    """A PNG file to write: not a folder, ends in ``.png``, and its folder exists and takes
    new files."""
    path = Path(text)
    if path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is a folder, not a file")
    if path.suffix.lower() != ".png":
        raise argparse.ArgumentTypeError(f"{text!r} must end in .png")
    folder = path.parent
    if not folder.is_dir():
        raise argparse.ArgumentTypeError(f"folder {str(folder)!r} {_why_not_a_folder(folder)}")
    if not _can_write_in(folder):
        raise argparse.ArgumentTypeError(f"cannot write in folder {str(folder)!r}")
    return text


def input_path(text: str) -> str:
    """A file or folder to read: not empty (an empty ``--runs ''`` would otherwise mean the
    default and quietly start the whole job) and without NUL characters."""
    if not text.strip():
        raise argparse.ArgumentTypeError("empty path")
    if "\0" in text:
        raise argparse.ArgumentTypeError(f"{text!r} holds a NUL character")
    return text


def out_folder(text: str) -> str:
    """A folder for results: created if missing, but not an existing file or unwritable."""
    path = Path(text)
    if path.exists() and not path.is_dir():
        kind = "a file" if path.is_file() else "a special file (FIFO, device or socket)"
        raise argparse.ArgumentTypeError(f"{text!r} is {kind}, not a folder")
    base = _writable_ancestor(path)
    if not base.is_dir():
        raise argparse.ArgumentTypeError(f"{str(base)!r} is a file, not a folder")
    if not _can_write_in(base):
        raise argparse.ArgumentTypeError(f"cannot write in folder {str(base)!r}")
    return text


def device(text: str) -> str:
    """A torch device name: ``cpu``, ``cuda``, ``cuda:N`` or ``auto``; CUDA only when this
    torch build sees a CUDA device."""
    from gns_pyro.devices import resolve_device
    from gns_pyro.errors import GNSError

    try:
        resolve_device(text)
    except GNSError as err:
        raise argparse.ArgumentTypeError(str(err).removeprefix(f"--device {text}: ")) from None
    return text
