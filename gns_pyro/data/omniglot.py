"""Read the Omniglot data set as the official distribution ships it.

The data folder may hold any mix of the official zips and their extracted folders:

* ``images_background.zip`` / ``images_evaluation.zip`` (and ``images_background_small1|2``),
  laid out ``<name>/<Alphabet>/characterNN/<id>_<drawer>.png``;
* ``strokes_background.zip`` / ``strokes_evaluation.zip`` and the ``strokes_background_small1|2``
  variants, laid out the same way with ``.txt`` stroke files;
* the one-shot runs: ``one-shot-classification/runNN/``, ``all_runs/runNN/``, ``runNN/`` folders,
  or ``all_runs.zip`` (entries ``runNN/...``, possibly under a prefix).

A zip and the folder extracted from it are the same data: the folder is used when it holds any
files. A drawing present in several variants (a full zip and a small one, or both small zips —
Greek and Latin occur in both) counts once, keyed by (alphabet, character, file stem). Junk entries
that macOS adds (``__MACOSX/``, ``.DS_Store``, ``._*``) are ignored.

Example::

    >>> from gns_pyro.data import Omniglot                             # doctest: +SKIP
    >>> data = Omniglot("~/.cache/gns_pyro/omniglot")                # doctest: +SKIP
    >>> drawing = next(data.drawings("background", alphabets=["Latin"]))  # doctest: +SKIP
    >>> drawing.character, drawing.stem, drawing.strokes[0].shape      # doctest: +SKIP
    ('character01', '0674_01', (27, 3))
    >>> data.image_of(drawing).shape                                  # doctest: +SKIP
    torch.Size([105, 105])
"""

from __future__ import annotations

import os
import re
import zipfile
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np
import torch

from gns_pyro.data.images import load_image
from gns_pyro.errors import DataError, DataNotFoundError

SPLITS = ("background", "evaluation")
"""The two halves of Omniglot: 30 background alphabets and 20 evaluation alphabets."""

COMPONENTS = ("images_background", "images_evaluation", "strokes_background", "strokes_evaluation")
"""The drawing collections :meth:`Omniglot.info` counts, named like the official zips."""

ENV_VAR = "GNS_PYRO_DATA"
"""Environment variable naming the data folder (overridden by an explicit ``--data-dir``)."""


def download_hint(what: str | None = None) -> str:
    """The advice given with every "data not found" error."""
    option = f" --what {what}" if what else ""
    return f"run `gns-pyro data download{option}` (or pass --data-dir / set {ENV_VAR})"


_EXT = {"images": ".png", "strokes": ".txt"}
_CHARACTER_RE = re.compile(r"^character\d+$")
_RUN_RE = re.compile(r"^run\d+$")
# Folders that may hold runNN/ folders or all_runs.zip, relative to the data folder.
_RUN_DIRS = ("", "one-shot-classification", "all_runs", "one-shot-classification/all_runs")


# --------------------------------------------------------------------------------------------
# Data location
# --------------------------------------------------------------------------------------------


def default_data_dir() -> Path:
    """The per-user cache folder used when neither ``--data-dir`` nor ``GNS_PYRO_DATA`` is given.

    ``$XDG_CACHE_HOME/gns_pyro/omniglot``, or ``~/.cache/gns_pyro/omniglot``.

    Example::

        >>> default_data_dir().name
        'omniglot'
    """
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "gns_pyro" / "omniglot"


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """Where the Omniglot data lives: ``data_dir`` if given, else ``$GNS_PYRO_DATA``, else
    :func:`default_data_dir`. The folder need not exist yet (``download`` creates it).

    Example::

        >>> resolve_data_dir("/tmp/omniglot")
        PosixPath('/tmp/omniglot')
    """
    if data_dir is None or str(data_dir) == "":
        data_dir = os.environ.get(ENV_VAR) or default_data_dir()
    return Path(data_dir).expanduser()


# --------------------------------------------------------------------------------------------
# Records
# --------------------------------------------------------------------------------------------


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


@dataclass(frozen=True, eq=False)
class CharacterImage:
    """One official Omniglot image.

    Same labels as :class:`Drawing`; ``image`` is a ``(105, 105)`` ``torch.bool`` tensor with
    ink = True.
    """

    split: str
    alphabet: str
    character: str
    stem: str
    drawer: int | str
    image: torch.Tensor = field(repr=False)


@dataclass(frozen=True, eq=False)
class OneShotRun:
    """One 20-way one-shot classification run.

    :ivar name: e.g. ``"run01"``.
    :ivar training: ``"class01"`` … ``"class20"`` → ``(105, 105)`` bool image, in name order.
    :ivar test: ``"item01"`` … ``"item20"`` → ``(105, 105)`` bool image, in name order.
    :ivar pairs: the ground truth from ``class_labels.txt``, ``(test name, training name)`` per
        line in file order, e.g. ``("item01", "class08")``.
    """

    name: str
    training: dict[str, torch.Tensor] = field(repr=False)
    test: dict[str, torch.Tensor] = field(repr=False)
    pairs: list[tuple[str, str]]

    @property
    def labels(self) -> dict[str, str]:
        """The ground truth as a mapping test name → training name."""
        return dict(self.pairs)


# --------------------------------------------------------------------------------------------
# Sources: a zip or a folder, seen as a list of POSIX member names
# --------------------------------------------------------------------------------------------


def _is_junk(parts: tuple[str, ...]) -> bool:
    return any(p == "__MACOSX" or p == ".DS_Store" or p.startswith("._") for p in parts)


class _Source:
    """A zip file or a folder, listed as relative POSIX names and read as bytes."""

    path: Path

    def names(self) -> list[str]:
        raise NotImplementedError

    def read(self, name: str) -> bytes:
        raise NotImplementedError

    def describe(self, name: str) -> str:
        raise NotImplementedError

    def close(self) -> None:
        pass


class _FolderSource(_Source):
    def __init__(self, path: Path):
        self.path = path

    def names(self) -> list[str]:
        out = []
        for dirpath, dirnames, filenames in os.walk(self.path):
            # Prune junk folders rather than walking into them.
            dirnames[:] = [d for d in dirnames if not _is_junk((d,))]
            rel = Path(dirpath).relative_to(self.path).as_posix()
            prefix = "" if rel == "." else rel + "/"
            out.extend(prefix + f for f in filenames if not _is_junk((f,)))
        return out

    def read(self, name: str) -> bytes:
        path = self.path / name
        try:
            return path.read_bytes()
        except FileNotFoundError as err:
            raise DataNotFoundError(f"file not found: {path}") from err
        except OSError as err:
            raise DataError(f"cannot read {path}: {err}") from err

    def describe(self, name: str) -> str:
        return str(self.path / name)


class _ZipSource(_Source):
    """A zip kept open for fast repeated reads; reopened after a fork, whose shared file offset
    would otherwise garble reads done by several worker processes."""

    def __init__(self, path: Path):
        self.path = path
        self._zip: zipfile.ZipFile | None = None
        self._pid = -1

    def _handle(self) -> zipfile.ZipFile:
        if self._zip is None or self._pid != os.getpid():
            try:
                self._zip = zipfile.ZipFile(self.path)
            except FileNotFoundError as err:
                raise DataNotFoundError(f"file not found: {self.path}") from err
            except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
                raise DataError(_corrupt_message(self.path, err)) from err
            self._pid = os.getpid()
        return self._zip

    def names(self) -> list[str]:
        return [n for n in self._handle().namelist() if not n.endswith("/")]

    def read(self, name: str) -> bytes:
        try:
            return self._handle().read(name)
        except KeyError as err:
            raise DataNotFoundError(f"{self.path}: no entry {name!r}") from err
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as err:
            raise DataError(_corrupt_message(self.path, err, name)) from err

    def describe(self, name: str) -> str:
        return f"{self.path}:{name}"

    def close(self) -> None:
        if self._zip is not None and self._pid == os.getpid():
            self._zip.close()
        self._zip = None

    def __getstate__(self) -> dict:
        # Open file handles do not pickle; the copy reopens on first use.
        return {"path": self.path, "_zip": None, "_pid": -1}


def _corrupt_message(path: Path, err: BaseException, member: str | None = None) -> str:
    where = f"{path} (entry {member})" if member else str(path)
    return f"{where}: corrupt or truncated zip file ({err}); delete it and {download_hint()}"


def _open_source(root: Path, name: str) -> _Source | None:
    """The folder ``root/name`` if it holds any file, else the zip ``root/name.zip``, else None."""
    folder = root / name
    if folder.is_dir():
        src = _FolderSource(folder)
        if src.names():
            return src
    archive = root / f"{name}.zip"
    if archive.is_file():
        return _ZipSource(archive)
    return None


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------


_Key = tuple[str, str, str]  # (alphabet, character, stem)


def _parse_member(name: str, ext: str) -> _Key | None:
    """``.../<Alphabet>/characterNN/<stem><ext>`` → key, or None for anything else.

    Only the last three path parts matter, so any prefix (``images_background/``, a doubly
    extracted folder, ...) is accepted.
    """
    parts = PurePosixPath(name).parts
    if len(parts) < 3 or _is_junk(parts):
        return None
    alphabet, character, filename = parts[-3:]
    if not filename.endswith(ext) or not _CHARACTER_RE.match(character):
        return None
    return alphabet, character, filename[: -len(ext)]


def _natural_key(key: _Key) -> tuple:
    # character9 before character10, should an alphabet ever pass 99 characters.
    alphabet, character, stem = key
    return alphabet, int(character[len("character") :]), character, stem


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


# --------------------------------------------------------------------------------------------
# The data set
# --------------------------------------------------------------------------------------------


class Omniglot:
    """The Omniglot data in one folder (zips and/or extracted folders).

    Indexes are built from archive listings on first use and cached, and zips stay open, so
    fetching many single items (e.g. :meth:`image_of` for every drawing) is fast. Use as a context
    manager, or call :meth:`close`, to release the zip handles.

    :param root: the data folder; ``None`` means :func:`resolve_data_dir` (``$GNS_PYRO_DATA`` or
        the per-user cache).
    :raises DataNotFoundError: the folder does not exist.

    Example::

        >>> with Omniglot() as data:                               # doctest: +SKIP
        ...     print(data.info()["images_background"])
        {'alphabets': 30, 'characters': 964, 'drawings': 19280}
    """

    def __init__(self, root: str | os.PathLike | None = None):
        self.root = resolve_data_dir(root)
        if not self.root.is_dir():
            raise DataNotFoundError(
                f"Omniglot data folder not found: {self.root}; run `gns-pyro data download "
                f"--data-dir {self.root}` to fetch it (or set {ENV_VAR} to where the data is)"
            )
        self._sources: dict[str, list[_Source]] = {}
        self._indexes: dict[str, dict[_Key, tuple[_Source, str]]] = {}
        self._runs: dict[str, tuple[_Source, str]] | None = None

    # -- lifecycle ------------------------------------------------------------------------

    def close(self) -> None:
        """Close the open zip files (they reopen if the object is used again)."""
        for sources in self._sources.values():
            for src in sources:
                src.close()
        for src, _ in (self._runs or {}).values():
            src.close()

    def __enter__(self) -> Omniglot:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Omniglot({str(self.root)!r})"

    # -- indexes --------------------------------------------------------------------------

    def _index(self, kind: str, split: str) -> dict[_Key, tuple[_Source, str]]:
        """(alphabet, character, stem) → (source, member) for ``kind`` in {images, strokes}."""
        if split not in SPLITS:
            raise DataError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
        component = f"{kind}_{split}"
        if component not in self._indexes:
            sources = []
            # The full variant first; small variants only add drawings it lacks.
            for name in (component, f"{component}_small1", f"{component}_small2"):
                src = _open_source(self.root, name)
                if src is not None:
                    sources.append(src)
            index: dict[_Key, tuple[_Source, str]] = {}
            ext = _EXT[kind]
            for src in sources:
                for member in src.names():
                    key = _parse_member(member, ext)
                    if key is not None and key not in index:
                        index[key] = (src, member)
            self._sources[component] = sources
            ordered = sorted(index.items(), key=lambda kv: _natural_key(kv[0]))
            self._indexes[component] = dict(ordered)
        return self._indexes[component]

    def _select(self, kind: str, split: str, alphabets: Iterable[str] | str | None) -> list[_Key]:
        index = self._index(kind, split)
        if not index:
            what = "images" if kind == "images" else "stroke data"
            raise DataNotFoundError(
                f"no {split} {what} ({kind}_{split}.zip or folder) in {self.root}; "
                + download_hint(kind)
            )
        if alphabets is None:
            return list(index)
        wanted = {alphabets} if isinstance(alphabets, str) else set(alphabets)
        present = {a for a, _, _ in index}
        missing = wanted - present
        if missing:
            raise DataError(
                f"no {kind} for alphabet(s) {', '.join(sorted(missing))} in the {split} split; "
                f"present: {', '.join(sorted(present))}"
            )
        return [k for k in index if k[0] in wanted]

    def keys(
        self,
        split: str = "background",
        kind: str = "strokes",
        alphabets: Iterable[str] | str | None = None,
    ) -> list[tuple[str, str, str]]:
        """Labels ``(alphabet, character, stem)`` of every drawing or image, in sorted order.

        Cheap: reads archive listings only, so a caller can pick a subset before reading files.
        """
        return self._select(kind, split, alphabets)

    def alphabets(self, split: str = "background", kind: str = "strokes") -> list[str]:
        """Sorted alphabet names present for ``kind`` (``"strokes"`` or ``"images"``)."""
        return sorted({a for a, _, _ in self._index(kind, split)})

    # -- drawings -------------------------------------------------------------------------

    def drawings(
        self, split: str = "background", alphabets: Iterable[str] | str | None = None
    ) -> Iterator[Drawing]:
        """Iterate over the stroke drawings of a split, sorted by alphabet, character, stem.

        :param split: ``"background"`` or ``"evaluation"``.
        :param alphabets: restrict to these alphabet names (all present ones if None).
        :raises DataNotFoundError: no stroke data for the split.
        :raises DataError: an unknown alphabet, or a malformed file.
        """
        for key in self._select("strokes", split, alphabets):
            yield self._drawing(split, key)

    def read_drawing(
        self, alphabet: str, character: str, stem: str, split: str = "background"
    ) -> Drawing:
        """One drawing by its labels, e.g. ``read_drawing("Latin", "character01", "0674_01")``."""
        return self._drawing(split, (alphabet, character, stem))

    def _drawing(self, split: str, key: _Key) -> Drawing:
        src, member = self._lookup("strokes", split, key)
        strokes = parse_strokes(src.read(member), src.describe(member))
        return Drawing(split, *key, drawer=parse_drawer(key[2]), strokes=strokes)

    # -- images ---------------------------------------------------------------------------

    def images(
        self, split: str = "background", alphabets: Iterable[str] | str | None = None
    ) -> Iterator[CharacterImage]:
        """Iterate over the official images of a split, sorted by alphabet, character, stem."""
        for key in self._select("images", split, alphabets):
            yield CharacterImage(
                split, *key, drawer=parse_drawer(key[2]), image=self._image(split, key)
            )

    def read_image(
        self, alphabet: str, character: str, stem: str, split: str = "background"
    ) -> torch.Tensor:
        """The official ``(105, 105)`` bool image (ink = True) with these labels."""
        return self._image(split, (alphabet, character, stem))

    def image_of(self, drawing: Drawing | CharacterImage) -> torch.Tensor:
        """The official image of the same alphabet, character and stem as ``drawing``.

        Example::

            >>> data = Omniglot()                                  # doctest: +SKIP
            >>> d = next(data.drawings())                          # doctest: +SKIP
            >>> data.image_of(d).sum()                             # doctest: +SKIP
            tensor(391)
        """
        return self._image(drawing.split, (drawing.alphabet, drawing.character, drawing.stem))

    def _image(self, split: str, key: _Key) -> torch.Tensor:
        src, member = self._lookup("images", split, key)
        return load_image(src.read(member), name=src.describe(member))

    def _lookup(self, kind: str, split: str, key: _Key) -> tuple[_Source, str]:
        try:
            return self._index(kind, split)[key]
        except KeyError:
            raise DataNotFoundError(
                f"no {kind} file for {'/'.join(key)} in the {split} split under {self.root}"
            ) from None

    # -- counts -------------------------------------------------------------------------------

    def info(self) -> dict:
        """What the data folder holds, counted from listings (no image is decoded).

        :returns: for each of ``images_background``, ``images_evaluation``, ``strokes_background``,
            ``strokes_evaluation`` a dict ``{"alphabets", "characters", "drawings"}`` (zeros when
            absent), and ``"one_shot_runs"``: the number of runs.
        :raises DataError: a zip is corrupt or truncated (the message names it).
        """
        out: dict = {}
        for component in COMPONENTS:
            kind, split = component.split("_")
            out[component] = count_keys(self._index(kind, split))
        out["one_shot_runs"] = len(self._run_index())
        return out

    # -- one-shot runs --------------------------------------------------------------------

    def _run_index(self) -> dict[str, tuple[_Source, str]]:
        """Run name → (source, prefix of its members), folders before all_runs.zip."""
        if self._runs is None:
            runs: dict[str, tuple[_Source, str]] = {}
            for rel in _RUN_DIRS:
                base = self.root / rel
                if not base.is_dir():
                    continue
                for entry in sorted(base.iterdir()):
                    if entry.is_dir() and _RUN_RE.match(entry.name) and entry.name not in runs:
                        if (entry / "class_labels.txt").is_file():
                            runs[entry.name] = (_FolderSource(entry), "")
            for rel in _RUN_DIRS:
                archive = self.root / rel / "all_runs.zip"
                if not archive.is_file():
                    continue
                src = _ZipSource(archive)
                for member in src.names():
                    parts = PurePosixPath(member).parts
                    if _is_junk(parts) or len(parts) < 2 or parts[-1] != "class_labels.txt":
                        continue
                    run = parts[-2]
                    if _RUN_RE.match(run) and run not in runs:
                        runs[run] = (src, member[: -len("class_labels.txt")])
            self._runs = dict(sorted(runs.items(), key=lambda kv: int(kv[0][3:])))
        return self._runs

    def run_names(self) -> list[str]:
        """Names of the one-shot runs present (those with a ``class_labels.txt``), in order."""
        return list(self._run_index())

    def one_shot_runs(self) -> list[OneShotRun]:
        """All one-shot runs present, in run order (``run01``, ``run02``, ...).

        :raises DataNotFoundError: no runs in the data folder.
        :raises DataError: a run whose ``class_labels.txt`` names missing images.
        """
        names = self.run_names()
        if not names:
            raise DataNotFoundError(
                f"no one-shot runs (one-shot-classification/runNN or all_runs.zip) in "
                f"{self.root}; {download_hint('runs')}"
            )
        return [self.one_shot_run(name) for name in names]

    def one_shot_run(self, name: str) -> OneShotRun:
        """One run by name, e.g. ``one_shot_run("run01")``."""
        try:
            src, prefix = self._run_index()[name]
        except KeyError:
            raise DataNotFoundError(f"no one-shot run {name!r} in {self.root}") from None
        images: dict[str, dict[str, torch.Tensor]] = {"training": {}, "test": {}}
        for member in sorted(m for m in src.names() if m.startswith(prefix)):
            parts = PurePosixPath(member[len(prefix) :]).parts
            if (
                len(parts) == 2
                and parts[0] in images
                and parts[1].endswith(".png")
                and not _is_junk(parts)
            ):
                images[parts[0]][parts[1][:-4]] = load_image(
                    src.read(member), name=src.describe(member)
                )
        labels_name = prefix + "class_labels.txt"
        pairs = _parse_class_labels(src.read(labels_name), src.describe(labels_name))
        _check_run(pairs, images, src.describe(labels_name))
        return OneShotRun(name, images["training"], images["test"], pairs)


def _check_run(pairs, images: dict, labels_name: str) -> None:
    """Labels and images of a run agree: every test image has exactly one label, every label
    names images the run has, and every training image is some test item's class (an extra
    file would otherwise become a class of its own)."""
    if not pairs:
        raise DataError(f"{labels_name}: no label lines")
    seen: dict[str, str] = {}
    for test_name, train_name in pairs:
        if test_name not in images["test"] or train_name not in images["training"]:
            raise DataError(
                f"{labels_name}: pair {test_name} → {train_name} names an image the run does "
                "not have"
            )
        if seen.setdefault(test_name, train_name) != train_name:
            raise DataError(
                f"{labels_name}: {test_name} is labelled twice ({seen[test_name]} and {train_name})"
            )
    unlabelled = sorted(set(images["test"]) - set(seen))
    if unlabelled:
        raise DataError(f"{labels_name}: test image(s) {unlabelled[:5]} have no label")
    unused = sorted(set(images["training"]) - set(seen.values()))
    if unused:
        raise DataError(
            f"{labels_name}: training image(s) {unused[:5]} are no test item's class "
            "(extra files in training/?)"
        )


def _parse_class_labels(data: bytes, name: str) -> list[tuple[str, str]]:
    """``runNN/test/itemNN.png runNN/training/classMM.png`` lines → ``[("itemNN", "classMM")]``.

    The run prefix is optional; only the file stems matter.
    """
    pairs = []
    for lineno, line in enumerate(data.decode("utf-8", "replace").splitlines(), start=1):
        fields = line.split()
        if not fields:
            continue
        if len(fields) != 2:
            raise DataError(
                f"{name}, line {lineno}: expected 'test/itemNN.png "
                f"training/classMM.png', found {line[:80]!r}"
            )
        pairs.append(tuple(PurePosixPath(f).stem for f in fields))
    return pairs


# --------------------------------------------------------------------------------------------
# Counting
# --------------------------------------------------------------------------------------------


def count_keys(keys: Iterable[_Key]) -> dict[str, int]:
    """``{"alphabets", "characters", "drawings"}`` counts of a set of drawing keys."""
    keys = list(keys)
    return {
        "alphabets": len({k[0] for k in keys}),
        "characters": len({k[:2] for k in keys}),
        "drawings": len(keys),
    }


def count_zip(path: str | os.PathLike, kind: str) -> dict[str, int]:
    """Counts of the drawings (``kind`` = ``"images"`` or ``"strokes"``) in one zip, from its
    listing alone.

    :raises DataError: the zip is corrupt or truncated.
    """
    src = _ZipSource(Path(path))
    try:
        keys = {k for m in src.names() if (k := _parse_member(m, _EXT[kind])) is not None}
    finally:
        src.close()
    return count_keys(keys)


def count_runs_zip(path: str | os.PathLike) -> int:
    """Number of ``runNN/class_labels.txt`` entries in an ``all_runs.zip``."""
    src = _ZipSource(Path(path))
    try:
        runs = set()
        for member in src.names():
            parts = PurePosixPath(member).parts
            if (
                not _is_junk(parts)
                and len(parts) >= 2
                and parts[-1] == "class_labels.txt"
                and _RUN_RE.match(parts[-2])
            ):
                runs.add(parts[-2])
    finally:
        src.close()
    return len(runs)


def info(root: str | os.PathLike | None = None) -> dict:
    """Counts of what a data folder holds; see :meth:`Omniglot.info`."""
    with Omniglot(root) as data:
        return data.info()
