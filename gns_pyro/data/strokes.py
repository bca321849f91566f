"""Stroke files: one person's drawing of one character as recorded (:class:`Drawing`), parsed
from the official ``START``/``BREAK`` text format (:func:`parse_strokes`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gns_pyro.errors import DataError


@dataclass(frozen=True, eq=False)
class Drawing:
    """One person's drawing of one character, as recorded in its stroke file.

    :ivar split: ``"background"`` or ``"evaluation"``.
    :ivar alphabet: e.g. ``"Latin"``.
    :ivar character: e.g. ``"character01"``.
    :ivar stem: the file name without extension, ``"<id>_<drawer>"`` (e.g. ``"0674_01"``); the
        matching image has the same stem.
    :ivar drawer: the drawer number from the stem (``1`` for ``"0674_01"``), or the stem's drawer
        part as a string if it is not a number.
    :ivar strokes: one float64 array of shape ``(n, 3)`` per stroke, columns ``x, y, t`` exactly
        as in the file (pixels, with ``y = -row``; time in ms).
    """

    split: str
    alphabet: str
    character: str
    stem: str
    drawer: int | str
    strokes: list[np.ndarray] = field(repr=False)


def parse_drawer(stem: str) -> int | str:
    """The drawer part of a ``<id>_<drawer>`` file stem, as an int when it is a number.

    Example::

        >>> parse_drawer("0674_01")
        1
    """
    drawer = stem.rsplit("_", 1)[-1]
    return int(drawer) if drawer.isdigit() else drawer


def parse_strokes(text: str | bytes, name: str = "stroke file") -> list[np.ndarray]:
    """Parse an Omniglot stroke file into one float64 ``(n, 3)`` array (x, y, t) per stroke.

    A file opens with ``START``; each ``BREAK`` ends a stroke, and the points of the next stroke
    follow directly (the official files repeat ``START`` only rarely). So both markers are read as
    stroke separators, every other line is an ``x,y,t`` point, and a stroke with no points is
    skipped. Points after the last marker (a file missing its final ``BREAK``) form a stroke too.

    Example::

        >>> strokes = parse_strokes("START\\n1,-2,0\\n3,-4,10\\nBREAK\\n5,-6,20\\nBREAK\\n")
        >>> [s.shape for s in strokes]
        [(2, 3), (1, 3)]
    """
    if isinstance(text, bytes):
        try:
            text = text.decode("ascii")
        except UnicodeDecodeError as err:
            raise DataError(f"{name}: not a stroke text file ({err})") from err
    strokes: list[np.ndarray] = []
    points: list[list[float]] = []
    for lineno, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        if line in ("START", "BREAK"):
            if points:
                strokes.append(np.asarray(points, dtype=np.float64))
            points = []
            continue
        try:
            values = [float(v) for v in line.split(",")]
        except ValueError:
            values = []
        if len(values) != 3:
            raise DataError(
                f"{name}, line {lineno}: expected 'x,y,t', START or BREAK, found {line[:60]!r}"
            )
        points.append(values)
    if points:
        strokes.append(np.asarray(points, dtype=np.float64))
    return strokes
