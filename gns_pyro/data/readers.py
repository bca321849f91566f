"""Readers of the official files: a zip or the folder extracted from it, listed as POSIX member
names and read as bytes (:func:`open_source`), and the names of the drawings in them
(``.../<Alphabet>/characterNN/<stem>.png|.txt``, :func:`parse_member`), counted from listings
alone (:func:`count_zip`). Junk entries that macOS adds (``__MACOSX/``, ``.DS_Store``, ``._*``)
are ignored.
"""

from __future__ import annotations

import os
import re
import zipfile
import zlib
from collections.abc import Iterable
from pathlib import Path, PurePosixPath

from gns_pyro.data.location import download_hint
from gns_pyro.errors import DataError, DataNotFoundError
from gns_pyro.reading import check_file, open_zip, read_bytes, read_zip_member

#: File extension of each kind of drawing file.
EXTENSIONS = {"images": ".png", "strokes": ".txt"}

CHARACTER_RE = re.compile(r"^character\d+$")


def is_junk(parts: tuple[str, ...]) -> bool:
    """Whether a path (its parts) is an entry that macOS adds to archives."""
    return any(p == "__MACOSX" or p == ".DS_Store" or p.startswith("._") for p in parts)


class Source:
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


class FolderSource(Source):
    """An extracted folder."""

    def __init__(self, path: Path):
        self.path = path

    def names(self) -> list[str]:
        out = []
        for dirpath, dirnames, filenames in os.walk(self.path):
            # Prune junk folders rather than walking into them.
            dirnames[:] = [d for d in dirnames if not is_junk((d,))]
            rel = Path(dirpath).relative_to(self.path).as_posix()
            prefix = "" if rel == "." else rel + "/"
            out.extend(prefix + f for f in filenames if not is_junk((f,)))
        return out

    def read(self, name: str) -> bytes:
        path = self.path / name
        try:
            return read_bytes(path, "drawing")
        except FileNotFoundError as err:
            raise DataNotFoundError(f"file not found: {path}") from err
        except OSError as err:
            raise DataError(f"cannot read {path}: {err}") from err

    def describe(self, name: str) -> str:
        return str(self.path / name)


class ZipSource(Source):
    """A zip kept open for fast repeated reads; reopened after a fork, whose shared file offset
    would otherwise garble reads done by several worker processes."""

    def __init__(self, path: Path):
        self.path = path
        self._zip: zipfile.ZipFile | None = None
        self._pid = -1

    def _handle(self) -> zipfile.ZipFile:
        if self._zip is None or self._pid != os.getpid():
            try:
                self._zip = open_zip(self.path)
            except FileNotFoundError as err:
                raise DataNotFoundError(f"file not found: {self.path}") from err
            except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:
                raise DataError(corrupt_message(self.path, err)) from err
            self._pid = os.getpid()
        return self._zip

    def names(self) -> list[str]:
        return [n for n in self._handle().namelist() if not n.endswith("/")]

    def read(self, name: str) -> bytes:
        try:
            return read_zip_member(self._handle(), name, "drawing")
        except KeyError as err:
            raise DataNotFoundError(f"{self.path}: no entry {name!r}") from err
        except (zipfile.BadZipFile, zlib.error, OSError, EOFError) as err:
            raise DataError(corrupt_message(self.path, err, name)) from err

    def describe(self, name: str) -> str:
        return f"{self.path}:{name}"

    def close(self) -> None:
        if self._zip is not None and self._pid == os.getpid():
            self._zip.close()
        self._zip = None

    def __getstate__(self) -> dict:
        # Open file handles do not pickle; the copy reopens on first use.
        return {"path": self.path, "_zip": None, "_pid": -1}


def corrupt_message(path: Path, err: BaseException, member: str | None = None) -> str:
    where = f"{path} (entry {member})" if member else str(path)
    return f"{where}: corrupt or truncated zip file ({err}); delete it and {download_hint()}"


def open_source(root: Path, name: str) -> Source | None:
    """The folder ``root/name`` if it holds any file, else the zip ``root/name.zip``, else None.

    :raises UntrustedFile: ``root/name.zip`` is there but is not a regular file (a FIFO would
        block, a device never ends) or is larger than a zip may be.
    """
    folder = root / name
    if folder.is_dir():
        src = FolderSource(folder)
        if src.names():
            return src
    archive = root / f"{name}.zip"
    if archive.exists():  # a FIFO or device there is refused by name, not passed over
        check_file(archive, "zip")
        return ZipSource(archive)
    return None


def open_extra_strokes(path: str | os.PathLike) -> tuple[str, Source]:
    """An extra stroke source named by the user: a zip or folder in the official layout whose
    name says its split (``strokes_background[...].zip`` or ``strokes_evaluation[...]``), such
    as a reconstruction of the stroke files that the official small downloads lack.

    :returns: ``(split, source)``.
    :raises DataNotFoundError: nothing at ``path``.
    :raises DataError: a name that says no split, or a file that is not a zip.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise DataNotFoundError(f"stroke source not found: {path}")
    name = path.name[: -len(".zip")] if path.name.endswith(".zip") else path.name
    split = next((s for s in ("background", "evaluation") if name.startswith(f"strokes_{s}")), None)
    if split is None:
        raise DataError(
            f"{path}: an extra stroke source is a zip or folder named strokes_background... or "
            "strokes_evaluation... (its name says which split it adds to)"
        )
    if path.is_dir():
        return split, FolderSource(path)
    if not path.is_file() or not zipfile.is_zipfile(path):
        raise DataError(f"{path}: not a zip file or a folder of stroke files")
    return split, ZipSource(path)


#: A drawing's labels in a listing: (alphabet, character, stem).
DrawingKey = tuple[str, str, str]


def parse_member(name: str, ext: str) -> DrawingKey | None:
    """``.../<Alphabet>/characterNN/<stem><ext>`` → key, or None for anything else.

    Only the last three path parts matter, so any prefix (``images_background/``, a doubly
    extracted folder, ...) is accepted.
    """
    parts = PurePosixPath(name).parts
    if len(parts) < 3 or is_junk(parts):
        return None
    alphabet, character, filename = parts[-3:]
    if not filename.endswith(ext) or not CHARACTER_RE.match(character):
        return None
    return alphabet, character, filename[: -len(ext)]


def natural_key(key: DrawingKey) -> tuple:
    # character9 before character10, should an alphabet ever pass 99 characters.
    alphabet, character, stem = key
    return alphabet, int(character[len("character") :]), character, stem


def count_keys(keys: Iterable[DrawingKey]) -> dict[str, int]:
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
    src = ZipSource(Path(path))
    try:
        keys = {k for m in src.names() if (k := parse_member(m, EXTENSIONS[kind])) is not None}
    finally:
        src.close()
    return count_keys(keys)
