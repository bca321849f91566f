"""The one reading boundary: every file gns-pyro did not just write is read through here.

Images, stroke files, zips, results, caches, weights and their records, checkpoints: before a
byte is parsed, the path must be a regular file (not a FIFO, which would block, nor a device
such as ``/dev/zero``, which never ends, nor a folder) no larger than the cap of its kind
(:data:`SIZE_LIMITS`), and it is read through one descriptor that is checked again after
opening (so a file swapped for a FIFO between the check and the read is refused too). JSON is
parsed without NaN (infinities are allowed: a class a trial never rescored scores -inf) and at
most :data:`MAX_JSON_DEPTH` deep; tensors are loaded with
``weights_only=True`` (no code runs) from the bytes already read; zips are checked for their
member count and uncompressed total before anything is extracted.

A file that fails is *not trusted* (:class:`UntrustedFile`, a :class:`~gns_pyro.errors.DataError`
whose message names the file and the problem): a result is then recomputed, a cache rebuilt,
and a user's input refused with that one line.

Example::

    >>> from gns_pyro.reading import read_json
    >>> read_json("results/classify/trials/run01_item01.json", "result")  # doctest: +SKIP
"""

from __future__ import annotations

import io
import json
import math
import os
import stat
import warnings
import zipfile
from pathlib import Path

from gns_pyro.errors import DataError

MB = 1 << 20

#: Largest file of each kind that is read at all, in bytes. An Omniglot PNG is about 1 KB, a
#: result about 2 KB, the shipped weights 5.6 MB, a 30-alphabet spline cache 69 MB.
SIZE_LIMITS = {
    "image": 64 * MB,
    "drawing": 8 * MB,  # one stroke file, or one KanjiVG SVG
    "zip": 2048 * MB,
    "result": 16 * MB,
    "record": 16 * MB,  # JSON that describes weights or a training run
    "parse_cache": 64 * MB,
    "spline_cache": 2048 * MB,
    "nearest_cache": 1024 * MB,
    "weights": 1024 * MB,
    "checkpoint": 4096 * MB,
}

#: Most members of a zip, and most bytes they may hold uncompressed together (Omniglot's
#: largest zip holds about 20,000 members and 14 MB).
MAX_ZIP_MEMBERS = 200_000
MAX_ZIP_UNCOMPRESSED = 4096 * MB

#: Deepest nesting of lists and objects a JSON file may have (results nest about 4 deep).
MAX_JSON_DEPTH = 64


class UntrustedFile(DataError):
    """A file that is not what its kind must be: not a regular file, too large, not parseable,
    or with content that fails its checks. Results and caches are then recomputed."""


def _kind_of(mode: int) -> str:
    for test, name in (
        (stat.S_ISDIR, "folder"),
        (stat.S_ISFIFO, "FIFO"),
        (stat.S_ISCHR, "character device"),
        (stat.S_ISBLK, "block device"),
        (stat.S_ISSOCK, "socket"),
    ):
        if test(mode):
            return name
    return "special file"


def check_file(path: str | os.PathLike, kind: str) -> int:
    """The size of ``path`` if it is a regular file within the cap of ``kind``.

    :raises UntrustedFile: naming the path and the problem (missing files raise
        ``FileNotFoundError`` as ``os.stat`` does).
    """
    return _checked_size(os.stat(path), Path(path), kind)


def _checked_size(info: os.stat_result, path: Path, kind: str) -> int:
    if kind not in SIZE_LIMITS:
        raise ValueError(f"unknown file kind {kind!r}; known: {sorted(SIZE_LIMITS)}")
    if not stat.S_ISREG(info.st_mode):
        raise UntrustedFile(f"{path} is a {_kind_of(info.st_mode)}, not a regular file")
    limit = SIZE_LIMITS[kind]
    if info.st_size > limit:
        raise UntrustedFile(
            f"{path} holds {info.st_size:,} bytes, more than a {kind.replace('_', ' ')} may "
            f"({limit:,})"
        )
    return info.st_size


def read_bytes(path: str | os.PathLike, kind: str) -> bytes:
    """The bytes of ``path``, a regular file within the cap of ``kind`` (checked on the open
    descriptor, so that a file swapped between a check and the read is caught too)."""
    path = Path(path)
    check_file(path, kind)
    # O_NONBLOCK: should the path have become a FIFO since the check, opening does not block
    fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0))
    with os.fdopen(fd, "rb") as f:
        limit = _checked_size(os.fstat(fd), path, kind)
        data = f.read(limit + 1)
    if len(data) > limit:  # it grew while being read
        raise UntrustedFile(f"{path} grew past the {limit:,} bytes a {kind} may hold")
    return data


def _constant(name: str) -> float:
    if name == "NaN":
        raise ValueError("NaN is not a number this file may hold")
    return float("inf") if name == "Infinity" else float("-inf")


def read_json(path: str | os.PathLike, kind: str):
    """The JSON value in ``path``: no NaN, at most :data:`MAX_JSON_DEPTH` deep.

    :raises UntrustedFile: for a file that is not a regular file of the size of ``kind``, not
        UTF-8, not JSON, too deep, or holding NaN or integers too long to convert.
    """
    data = read_bytes(path, kind)
    try:
        value = json.loads(data.decode("utf-8"), parse_constant=_constant)
    except (UnicodeDecodeError, ValueError, RecursionError) as err:
        message = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise UntrustedFile(f"{path} is not valid JSON here: {message[:200]}") from None
    check_json_value(value, str(path))
    return value


def check_json_value(value, name: str) -> None:
    """Refuse values deeper than :data:`MAX_JSON_DEPTH` or holding NaN (walked without
    recursion, so a deep value cannot overflow the stack)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_JSON_DEPTH:
            raise UntrustedFile(f"{name} nests deeper than {MAX_JSON_DEPTH} levels")
        if isinstance(item, float) and math.isnan(item):
            raise UntrustedFile(f"{name} holds NaN")
        if isinstance(item, dict):
            stack.extend((v, depth + 1) for v in item.values())
        elif isinstance(item, list):
            stack.extend((v, depth + 1) for v in item)


def load_tensors(path: str | os.PathLike, kind: str, map_location="cpu"):
    """``torch.load(..., weights_only=True)`` of the bytes of ``path`` (a regular file within
    the cap of ``kind``): tensors and plain values only, never code.

    :raises UntrustedFile: for a file that is not one, or that torch cannot load that way.
    """
    import pickle

    import torch

    data = read_bytes(path, kind)
    try:
        with warnings.catch_warnings():  # torch warns in lines of its own on old formats
            warnings.simplefilter("ignore")
            return torch.load(io.BytesIO(data), map_location=map_location, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, ValueError, KeyError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UntrustedFile(
            f"{path} is not a tensor file gns-pyro can load: {first[:200]}"
        ) from None


def open_zip(path: str | os.PathLike) -> zipfile.ZipFile:
    """A zip archive whose member count and uncompressed total are within
    :data:`MAX_ZIP_MEMBERS` and :data:`MAX_ZIP_UNCOMPRESSED` (checked from its directory,
    before anything is extracted).

    :raises UntrustedFile: naming the archive and the limit it passes, or saying that it is
        not a zip archive at all (empty, truncated, another format).
    """
    path = Path(path)
    check_file(path, "zip")
    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, EOFError, ValueError) as err:
        raise UntrustedFile(f"{path} is not a readable zip archive ({err})") from None
    try:
        members = archive.infolist()
        if len(members) > MAX_ZIP_MEMBERS:
            raise UntrustedFile(
                f"{path} has {len(members):,} members, more than {MAX_ZIP_MEMBERS:,}"
            )
        total = sum(m.file_size for m in members)
        if total > MAX_ZIP_UNCOMPRESSED:
            raise UntrustedFile(
                f"{path} would unpack to {total:,} bytes, more than {MAX_ZIP_UNCOMPRESSED:,}"
            )
    except BaseException:
        archive.close()
        raise
    return archive


def read_zip_member(archive: zipfile.ZipFile, name: str, kind: str) -> bytes:
    """One member's bytes, if its stated size is within the cap of ``kind``; a member that
    unpacks to more than it states is refused by ``zipfile`` itself (CRC and size checks)."""
    info = archive.getinfo(name)
    limit = SIZE_LIMITS[kind]
    if info.file_size > limit:
        raise UntrustedFile(
            f"{archive.filename}:{name} unpacks to {info.file_size:,} bytes, more than a "
            f"{kind} may ({limit:,})"
        )
    return archive.read(info)
