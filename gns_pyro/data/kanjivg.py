"""Read KanjiVG stroke data: one SVG file per kanji, strokes as paths in canonical order.

`KanjiVG <https://kanjivg.tagaini.net>`_ (Ulrich Apel and contributors, CC BY-SA 3.0) draws
each character on a 109×109 canvas; each stroke is one ``<path>`` whose ``id`` ends in
``-s<N>``, N the stroke's place in the canonical stroke order, and whose ``d`` attribute is a
chain of cubic Bézier segments. :func:`read_kanji` turns a file into :class:`Kanji`: the
strokes as point sequences ``(n, 2)`` in (x, y) = (column, row) pixel coordinates of that
canvas, in stroke order, ready for the same spline fitting as Omniglot's pen trajectories.

The PyPI package ``kanjivg`` installs the files (``pip install -e ".[kanji]"``);
:func:`kanjivg_files` finds them. Their licence requires attribution and share-alike: nothing
derived from them is shipped with gns-pyro.

Example::

    >>> kanji = read_kanji(kanjivg_files()[0])              # doctest: +SKIP
    >>> kanji.character, len(kanji.strokes)                 # doctest: +SKIP
    ('一', 1)
"""

from __future__ import annotations

import dataclasses
import os
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import numpy as np

from gns_pyro.errors import DataError, DataNotFoundError
from gns_pyro.reading import read_bytes

#: side of the KanjiVG canvas, in its own units (pixels at scale 1)
CANVAS = 109
#: points per unit of chord length when a Bézier segment is sampled
SAMPLES_PER_UNIT = 1.0

_KVG = "{http://kanjivg.tagaini.net}"
_SVG = "{http://www.w3.org/2000/svg}"
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_TOKEN = re.compile(r"[MmCcSsLlHhVvZz]|[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")
_ARGS = {"M": 2, "C": 6, "S": 4, "L": 2, "H": 1, "V": 1, "Z": 0}


@dataclasses.dataclass(frozen=True)
class Kanji:
    """One KanjiVG character.

    :param codepoint: the file's name, e.g. ``"04e00"`` (hex code point, maybe a variant suffix).
    :param character: the character itself, when the file names it.
    :param strokes: one ``(n, 2)`` float array per stroke, (x, y) on the 109×109 canvas, in
        canonical stroke order.
    """

    codepoint: str
    character: str
    strokes: list[np.ndarray]


def kanjivg_files(folder: str | os.PathLike | None = None) -> list[Path]:
    """The KanjiVG SVG files in ``folder`` (default: those the ``kanjivg`` package installed),
    sorted by name.

    :raises DataNotFoundError: no folder given and the package is not installed, or no files.
    """
    if folder is None:
        import sysconfig

        candidates = [Path(sysconfig.get_paths()[k]) / "kanji" for k in ("purelib", "platlib")]
        folder = next((c for c in candidates if c.is_dir()), None)
        if folder is None:
            raise DataNotFoundError(
                "KanjiVG is not installed: pip install kanjivg (or pip install -e '.[kanji]'), "
                "or pass the folder of its SVG files"
            )
    files = sorted(Path(folder).glob("*.svg"))
    if not files:
        raise DataNotFoundError(f"no KanjiVG .svg files in {folder}")
    return files


def read_kanji(source: str | os.PathLike | bytes, name: str | None = None) -> Kanji:
    """Parse one KanjiVG SVG (a path, or the file's bytes) into a :class:`Kanji`.

    :raises DataError: not XML, no stroke paths, malformed path data, or points far outside
        the 109×109 canvas; the message names the file and the stroke.
    """
    if isinstance(source, (bytes, bytearray)):
        data, name = bytes(source), name or "KanjiVG bytes"
        codepoint = name
    else:
        path = Path(source)
        name = name or str(path)
        if not path.exists():
            raise DataNotFoundError(f"KanjiVG file not found: {path}")
        data, codepoint = read_bytes(path, "drawing"), path.stem
    try:
        root = ET.fromstring(data)
    except ET.ParseError as err:
        raise DataError(f"{name}: not a readable SVG file ({err})") from None
    paths = [el for el in root.iter(f"{_SVG}path") if _stroke_number(el) is not None]
    if not paths:
        raise DataError(f"{name}: no KanjiVG stroke paths (ids ending in -s<N>)")
    paths.sort(key=_stroke_number)
    numbers = [_stroke_number(p) for p in paths]
    if numbers != list(range(1, len(paths) + 1)):
        raise DataError(f"{name}: stroke numbers {numbers} are not 1..{len(paths)}")
    strokes = []
    for el in paths:
        label = f"{name}, stroke {_stroke_number(el)}"
        points = path_points(el.get("d", ""), label)
        if (points < -0.25 * CANVAS).any() or (points > 1.25 * CANVAS).any():
            raise DataError(f"{label}: points far outside the {CANVAS}x{CANVAS} canvas")
        strokes.append(points)
    return Kanji(codepoint, _character(root), strokes)


def _stroke_number(el) -> int | None:
    match = re.search(r"-s(\d+)$", el.get("id", ""))
    return int(match.group(1)) if match else None


def _character(root) -> str:
    for el in root.iter(f"{_SVG}g"):
        element = el.get(f"{_KVG}element")
        if element:
            return element
    return ""


def path_points(d: str, name: str = "path") -> np.ndarray:
    """Points ``(n, 2)`` along SVG path data ``d`` made of moves, lines and cubic Béziers
    (``M m L l H h V v C c S s Z z``): each Bézier sampled at about ``SAMPLES_PER_UNIT`` points
    per unit of its control polygon's length.

    :raises DataError: an unknown command, a wrong number of arguments, or no drawing.
    """
    tokens = _TOKEN.findall(d)
    if "".join(tokens).replace(" ", "") == "" or re.sub(_TOKEN, "", d).strip(" ,\n\t"):
        raise DataError(f"{name}: path data {d[:40]!r} is not moves, lines and Béziers")
    points: list[np.ndarray] = []
    pen = np.zeros(2)
    start = np.zeros(2)
    last_control = None
    i = 0
    command = None
    while i < len(tokens):
        if not _NUMBER.fullmatch(tokens[i]):
            command = tokens[i]
            i += 1
        elif command is None:
            raise DataError(f"{name}: path data starts with a number, not a command")
        kind = command.upper()
        count = _ARGS[kind]
        args = tokens[i : i + count]
        if len(args) < count or not all(_NUMBER.fullmatch(a) for a in args):
            raise DataError(f"{name}: command {command} needs {count} numbers")
        i += count
        values = np.array([float(a) for a in args])
        relative = command.islower()
        if kind == "M":
            pen = values + (pen if relative else 0)
            start = pen.copy()
            points.append(pen[None])
            command = "l" if relative else "L"  # later pairs are implicit lines
            last_control = None
        elif kind in ("L", "H", "V"):
            if kind == "H":
                target = np.array([values[0] + (pen[0] if relative else 0), pen[1]])
            elif kind == "V":
                target = np.array([pen[0], values[0] + (pen[1] if relative else 0)])
            else:
                target = values + (pen if relative else 0)
            points.append(_line(pen, target))
            pen, last_control = target, None
        elif kind in ("C", "S"):
            offset = pen if relative else 0
            if kind == "C":
                c1, c2, end = values[0:2] + offset, values[2:4] + offset, values[4:6] + offset
            else:  # smooth: the first control reflects the previous segment's second
                c1 = 2 * pen - last_control if last_control is not None else pen
                c2, end = values[0:2] + offset, values[2:4] + offset
            points.append(_bezier(pen, c1, c2, end))
            pen, last_control = end, c2
        else:  # Z: back to the subpath's start
            points.append(_line(pen, start))
            pen, last_control = start.copy(), None
            if i < len(tokens) and _NUMBER.fullmatch(tokens[i]):
                raise DataError(f"{name}: numbers after Z")
    out = np.concatenate(points) if points else np.zeros((0, 2))
    if len(out) < 2:
        raise DataError(f"{name}: the path draws nothing")
    return out


def _line(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    n = max(1, int(np.ceil(np.linalg.norm(b - a) * SAMPLES_PER_UNIT)))
    t = np.linspace(0, 1, n + 1)[1:, None]
    return a + t * (b - a)


def _bezier(p0, p1, p2, p3) -> np.ndarray:
    length = np.linalg.norm(p1 - p0) + np.linalg.norm(p2 - p1) + np.linalg.norm(p3 - p2)
    n = max(2, int(np.ceil(length * SAMPLES_PER_UNIT)))
    t = np.linspace(0, 1, n + 1)[1:, None]
    u = 1 - t
    return u**3 * p0 + 3 * u**2 * t * p1 + 3 * u * t**2 * p2 + t**3 * p3


def is_base_file(path: Path) -> bool:
    """Whether ``path`` is a character's main file (``04e00.svg``), not one of its variant
    forms (``04e00-Kaisho.svg``), which would repeat the character."""
    return re.fullmatch(r"[0-9a-f]{5}", Path(path).stem) is not None


def kanji_to_motor(kanji: Kanji, image_size: int) -> list[np.ndarray]:
    """The strokes of ``kanji`` as pen trajectories in the Omniglot stroke-file convention
    (x = column, y = -row), scaled from the 109-unit canvas to ``image_size`` pixels, so that
    :func:`gns_pyro.data.preprocess.drawing_to_splines` fits them like any drawing."""
    scale = image_size / CANVAS
    return [np.stack([s[:, 0] * scale, -s[:, 1] * scale], axis=1) for s in kanji.strokes]


def load_kanji_dataset(
    folder: str | os.PathLike | None = None,
    settings=None,
    max_kanji: int | None = None,
    seed: int = 0,
    progress: bool = False,
    image_size: int | None = None,
):
    """KanjiVG characters as minimal splines on the model's canvas, one entry per kanji, as a
    :class:`~gns_pyro.data.dataset.SplineDataset` (alphabet ``"kanjivg"``, character and stem
    the code point), ready for :func:`gns_pyro.train.train_type_prior`.

    :param folder: the SVG files (default: the installed ``kanjivg`` package).
    :param settings: :class:`~gns_pyro.data.preprocess.SplineSettings` of the spline fit.
    :param max_kanji: a seeded subset of this many characters (None: all main files).
    :param progress: show a progress bar while converting.
    :param image_size: side of the model's canvas in pixels that the 109-unit KanjiVG canvas is
        scaled to (None: Omniglot's 105; 109 keeps KanjiVG's own units).
    """
    from gns_pyro.data.dataset import SplineDataset
    from gns_pyro.data.images import OMNIGLOT_IMAGE_SIZE
    from gns_pyro.data.preprocess import SplineSettings, drawing_to_splines
    from gns_pyro.parses import Parses

    settings = settings or SplineSettings()
    image_size = image_size or OMNIGLOT_IMAGE_SIZE
    files = [f for f in kanjivg_files(folder) if is_base_file(f)]
    if max_kanji is not None and max_kanji < len(files):
        pick = np.random.default_rng(seed).choice(len(files), size=max_kanji, replace=False)
        files = [files[i] for i in sorted(pick)]
    if progress:
        from tqdm import tqdm

        files = tqdm(files, desc="KanjiVG -> splines", unit="kanji")
    splines, codes = [], []
    for path in files:
        kanji = read_kanji(path)
        try:
            splines.append(drawing_to_splines(kanji_to_motor(kanji, image_size), settings))
        except DataError as err:
            raise DataError(f"{path}: {err}") from None
        codes.append(kanji.codepoint)
    parses = Parses.from_control_points(splines)
    return SplineDataset(parses, ["kanjivg"] * len(codes), codes, list(codes), settings)
