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

import functools
import hashlib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import torch

from gns_pyro.data.images import load_image
from gns_pyro.data.location import ENV_VAR, default_data_dir, download_hint, resolve_data_dir
from gns_pyro.data.readers import (
    EXTENSIONS,
    DrawingKey,
    Source,
    count_keys,
    count_zip,
    natural_key,
    open_extra_strokes,
    open_source,
    parse_member,
)
from gns_pyro.data.runs import OneShotRun, count_runs_zip, find_runs, read_run, unlabelled_runs
from gns_pyro.data.strokes import Drawing, parse_drawer, parse_strokes
from gns_pyro.errors import DataError, DataNotFoundError
from gns_pyro.reading import check_file

__all__ = [
    "COMPONENTS",
    "ENV_VAR",
    "SPLITS",
    "CharacterImage",
    "Drawing",
    "Omniglot",
    "OneShotRun",
    "count_keys",
    "count_runs_zip",
    "count_zip",
    "default_data_dir",
    "download_hint",
    "info",
    "parse_drawer",
    "parse_strokes",
    "resolve_data_dir",
]

SPLITS = ("background", "evaluation")
"""The two halves of Omniglot: 30 background alphabets and 20 evaluation alphabets."""


COMPONENTS = ("images_background", "images_evaluation", "strokes_background", "strokes_evaluation")
"""The drawing collections :meth:`Omniglot.info` counts, named like the official zips."""


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


class Omniglot:
    """The Omniglot data in one folder (zips and/or extracted folders).

    Indexes are built from archive listings on first use and cached, and zips stay open, so
    fetching many single items (e.g. :meth:`image_of` for every drawing) is fast. Use as a context
    manager, or call :meth:`close`, to release the zip handles.

    :param root: the data folder; ``None`` means :func:`resolve_data_dir` (``$GNS_PYRO_DATA`` or
        the per-user cache).
    :param strokes: extra stroke sources, read after the folder's own stroke files: zips or
        folders in the official layout named ``strokes_background...`` or
        ``strokes_evaluation...`` (e.g. the reconstructed background strokes of all 30
        alphabets). Where a drawing is in both, the official file wins;
        :meth:`stroke_sources` counts the overlaps.
    :raises DataNotFoundError: the folder does not exist.

    Example::

        >>> with Omniglot() as data:                               # doctest: +SKIP
        ...     print(data.info()["images_background"])
        {'alphabets': 30, 'characters': 964, 'drawings': 19280}
    """

    def __init__(
        self,
        root: str | os.PathLike | None = None,
        strokes: Iterable[str | os.PathLike] = (),
    ):
        self.root = resolve_data_dir(root)
        if self.root.exists() and not self.root.is_dir():
            raise DataNotFoundError(
                f"the Omniglot data folder {self.root} is not a folder (a file, a FIFO or a "
                f"device); give the folder that holds the data (--data-dir or {ENV_VAR})"
            )
        if not self.root.is_dir():
            raise DataNotFoundError(
                f"Omniglot data folder not found: {self.root}; run `gns-pyro data download "
                f"--data-dir {self.root}` to fetch it (or set {ENV_VAR} to where the data is)"
            )
        if isinstance(strokes, (str, os.PathLike)):
            strokes = [strokes]
        #: extra stroke sources, ``(split, source)``, after the data folder's own files
        self.extra_strokes: list[tuple[str, Source]] = [open_extra_strokes(p) for p in strokes]
        self._sources: dict[str, list[Source]] = {}
        self._indexes: dict[str, dict[DrawingKey, tuple[Source, str]]] = {}
        self._source_counts: dict[str, list[dict]] = {}
        self._runs: dict[str, tuple[Source, str]] | None = None

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

    def _index(self, kind: str, split: str) -> dict[DrawingKey, tuple[Source, str]]:
        """(alphabet, character, stem) → (source, member) for ``kind`` in {images, strokes}."""
        if split not in SPLITS:
            raise DataError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
        component = f"{kind}_{split}"
        if component not in self._indexes:
            sources = []
            # The full variant first; small variants only add drawings it lacks.
            for name in (component, f"{component}_small1", f"{component}_small2"):
                src = open_source(self.root, name)
                if src is not None:
                    sources.append(src)
            official = len(sources)
            if kind == "strokes":  # extra sources last: the official files win
                sources += [src for s, src in self.extra_strokes if s == split]
            index: dict[DrawingKey, tuple[Source, str]] = {}
            ext = EXTENSIONS[kind]
            counts = []
            for i, src in enumerate(sources):
                seen = added = 0
                for member in src.names():
                    key = parse_member(member, ext)
                    if key is None:
                        continue
                    seen += 1
                    if key not in index:
                        index[key] = (src, member)
                        added += 1
                counts.append(
                    {
                        "source": str(src.path),
                        "extra": i >= official,
                        "drawings": seen,
                        "added": added,
                        "overlapping": seen - added,
                    }
                )
            self._sources[component] = sources
            self._source_counts[component] = counts
            ordered = sorted(index.items(), key=lambda kv: natural_key(kv[0]))
            self._indexes[component] = dict(ordered)
        return self._indexes[component]

    def _select(
        self, kind: str, split: str, alphabets: Iterable[str] | str | None
    ) -> list[DrawingKey]:
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

    def _drawing(self, split: str, key: DrawingKey) -> Drawing:
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

    def _image(self, split: str, key: DrawingKey) -> torch.Tensor:
        src, member = self._lookup("images", split, key)
        return load_image(src.read(member), name=src.describe(member))

    def _lookup(self, kind: str, split: str, key: DrawingKey) -> tuple[Source, str]:
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
        if self.extra_strokes:
            out["stroke_sources"] = {
                split: self.stroke_sources(split)
                for split in SPLITS
                if any(s == split for s, _ in self.extra_strokes)
            }
        return out

    def fingerprint(self, kind: str, split: str) -> str:
        """A digest of the files behind ``kind`` (images or strokes) of ``split``: every
        source's name and the content of each zip, or of each file in a folder (not where the
        folder lies: moved data keeps its caches).
        Caches built from the data are keyed by it, so a file changed in place (even to the
        same size, its modification time restored) never meets a stale cache."""
        self._index(kind, split)
        digest = hashlib.sha256()
        for src in self._sources[f"{kind}_{split}"]:
            path = Path(src.path)
            digest.update(path.name.encode())
            files = [(n, path / n) for n in sorted(src.names())] if path.is_dir() else [("", path)]
            for name, file in files:
                digest.update(f"|{name}:{content_digest(file, kind)}".encode())
        return digest.hexdigest()[:16]

    def stroke_sources(self, split: str = "background") -> list[dict]:
        """Where a split's stroke drawings come from, in the order they are read: for each
        zip or folder ``{"source", "extra", "drawings", "added", "overlapping"}``.

        A drawing (alphabet, character, stem) is taken from the first source that holds it:
        the data folder's official files, then the extra sources given to the constructor.
        ``overlapping`` counts the drawings a source holds that an earlier one already gave
        (for an extra source: drawings the official files hold too, whose official version is
        used).
        """
        self._index("strokes", split)
        return [dict(c) for c in self._source_counts[f"strokes_{split}"]]

    # -- one-shot runs --------------------------------------------------------------------

    def _run_index(self) -> dict[str, tuple[Source, str]]:
        """Run name → (source, prefix of its members), folders before all_runs.zip."""
        if self._runs is None:
            self._runs = find_runs(self.root)
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
                f"{self.root}{self.unlabelled_note()}; {download_hint('runs')}"
            )
        return [self.one_shot_run(name) for name in names]

    def one_shot_run(self, name: str) -> OneShotRun:
        """One run by name, e.g. ``one_shot_run("run01")``."""
        try:
            src, prefix = self._run_index()[name]
        except KeyError:
            raise DataNotFoundError(
                f"no one-shot run {name!r} in {self.root}{self.unlabelled_note()}"
            ) from None
        return read_run(name, src, prefix)

    def unlabelled_note(self) -> str:
        """For an error saying runs are missing: the ``runNN`` folders passed over for want of
        a ``class_labels.txt`` (``""`` if none)."""
        missing = unlabelled_runs(self.root)
        if not missing:
            return ""
        shown = ", ".join(str(p / "class_labels.txt") for p in missing[:3])
        more = f" and {len(missing) - 3} more" if len(missing) > 3 else ""
        return f" (a run needs its class_labels.txt; missing: {shown}{more})"


#: the reading boundary's kind (size cap) of one file in a folder of images or strokes
READ_KIND = {"images": "image", "strokes": "drawing"}


def content_digest(path: Path, kind: str) -> str:
    """SHA-256 of a data file's bytes (a zip, or one file of a folder of ``kind``), read in
    chunks; remembered while the file's identity, size and change time stay the same (the
    change time, unlike the modification time, cannot be set back), so a process hashes each
    file once."""
    info = os.stat(path)
    return _content_digest(str(path), info.st_ino, info.st_size, info.st_ctime_ns, kind)


@functools.lru_cache(maxsize=65_536)
def _content_digest(path: str, inode: int, size: int, ctime_ns: int, kind: str) -> str:
    check_file(path, "zip" if path.endswith(".zip") else READ_KIND.get(kind, "image"))
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def info(root: str | os.PathLike | None = None) -> dict:
    """Counts of what a data folder holds; see :meth:`Omniglot.info`."""
    with Omniglot(root) as data:
        return data.info()
