"""Fetch the official Omniglot files into the data folder.

The files come from the ``python/`` folder of the public ``brendenlake/omniglot`` GitHub
repository. Each is written to a hidden temporary file in the data folder and moved into place
with :func:`os.replace` only after it is verified, so the folder never holds a half-written or
corrupt file, whether the download fails, is refused, or is interrupted with Ctrl-C.

Verification: the MD5 checksum where one is published (the two image zips; torchvision publishes
the same values), otherwise a zip integrity test (:meth:`zipfile.ZipFile.testzip`) plus the
expected numbers of alphabets, characters and drawings (or runs). A file already present is kept
when it passes these checks — the MD5 or, failing that, integrity + counts, so a re-encoded copy
of the official data (pixel-identical, different bytes) is accepted too.

Example::

    >>> from gns_pyro.data import download_omniglot
    >>> download_omniglot("~/.cache/gns_pyro/omniglot", what="strokes")   # doctest: +SKIP
    [('strokes_background.zip', 'downloaded'), ('strokes_evaluation.zip', 'downloaded')]
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path

from tqdm import tqdm  # plain bar: tqdm.auto warns in Jupyter without ipywidgets

from gns_pyro.data.omniglot import count_runs_zip, count_zip, resolve_data_dir
from gns_pyro.errors import DataError
from gns_pyro.reading import check_file, open_zip

BASE_URL = "https://github.com/brendenlake/omniglot/raw/master/python"
"""Where the official files live; ``--base-url`` replaces it (a mirror, or a local folder)."""

_CHUNK = 1 << 20
_NET_HINT = " (check the network connection, or pass --base-url to use a mirror or local copy)"


@dataclass(frozen=True)
class OfficialFile:
    """One official file and how to recognise a good copy of it.

    :ivar url_path: its path below the base URL.
    :ivar kind: ``"images"``, ``"strokes"`` or ``"runs"`` (what ``--what`` selects it by).
    :ivar md5: the published MD5 checksum, when there is one.
    :ivar counts: expected ``(alphabets, characters, drawings)`` in an images/strokes zip.
    :ivar runs: expected number of one-shot runs in a runs zip.
    """

    url_path: str
    kind: str
    md5: str | None = None
    counts: tuple[int, int, int] | None = None
    runs: int | None = None


OFFICIAL_FILES: dict[str, OfficialFile] = {
    "images_background.zip": OfficialFile(
        "images_background.zip",
        "images",
        md5="68d2efa1b9178cc56df9314c21c6e718",
        counts=(30, 964, 19280),
    ),
    "images_evaluation.zip": OfficialFile(
        "images_evaluation.zip",
        "images",
        md5="6b91aef0f799c5bb55b94e3f2daec811",
        counts=(20, 659, 13180),
    ),
    "strokes_background.zip": OfficialFile(
        "strokes_background.zip", "strokes", counts=(30, 964, 19280)
    ),
    "strokes_evaluation.zip": OfficialFile(
        "strokes_evaluation.zip", "strokes", counts=(20, 659, 13180)
    ),
    "all_runs.zip": OfficialFile("one-shot-classification/all_runs.zip", "runs", runs=20),
}
"""Local file name → :class:`OfficialFile`. Module-level so tests can swap in tiny files."""

WHAT = ("images", "strokes", "runs", "all")
"""The choices of ``--what``."""


def files_for(what: str = "all") -> list[str]:
    """Names of the official files that ``what`` (one of :data:`WHAT`) selects."""
    if what not in WHAT:
        raise DataError(f"unknown --what {what!r}; expected one of {', '.join(WHAT)}")
    return [name for name, spec in OFFICIAL_FILES.items() if what in ("all", spec.kind)]


def download_omniglot(
    data_dir: str | os.PathLike | None = None,
    what: str = "all",
    base_url: str = BASE_URL,
    *,
    progress: bool | None = None,
    timeout: float = 60.0,
) -> list[tuple[str, str]]:
    """Download the official files selected by ``what`` into ``data_dir``.

    :param data_dir: the data folder (created if needed); ``None`` means
        :func:`~gns_pyro.data.omniglot.resolve_data_dir`.
    :param what: ``"images"``, ``"strokes"``, ``"runs"`` or ``"all"``.
    :param base_url: URL of the official ``python/`` folder or a copy of it (``file://`` and
        plain local paths work too).
    :param progress: show a progress bar; ``None`` shows it only on a terminal.
    :param timeout: seconds to wait for the server before giving up.
    :returns: ``(file name, "downloaded" | "present")`` per file.
    :raises DataError: a network error, or a file that fails verification (nothing is saved).
    """
    root = resolve_data_dir(data_dir)
    names = files_for(what)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as err:
        raise DataError(f"cannot create the data folder {root}: {err}") from err
    base = _as_url(base_url)
    results = []
    for name in names:
        spec = OFFICIAL_FILES[name]
        dest = root / name
        _remove_stale_parts(root, name)
        if dest.is_file() and _problem(dest, spec, md5=_md5_of(dest)) is None:
            results.append((name, "present"))
            continue
        _fetch(f"{base}/{spec.url_path}", dest, spec, progress=progress, timeout=timeout)
        results.append((name, "downloaded"))
    return results


#: a partial download untouched for this long (seconds) was left by a killed process
STALE_PART_SECONDS = 600


def _remove_stale_parts(root: Path, name: str) -> None:
    """Delete ``.NAME.*.part`` files that a killed download left behind. A download in
    progress writes its file continuously, so only files idle for
    :data:`STALE_PART_SECONDS` are removed."""
    for part in root.glob(f".{name}.*.part"):
        with contextlib.suppress(OSError):
            if time.time() - part.stat().st_mtime > STALE_PART_SECONDS:
                part.unlink()


def verify(path: str | os.PathLike, name: str | None = None) -> None:
    """Check a local copy of an official file; raise :class:`DataError` saying what is wrong.

    Example::

        >>> verify("~/.cache/gns_pyro/omniglot/images_background.zip")  # doctest: +SKIP
    """
    path = Path(path).expanduser()
    name = name or path.name
    if name not in OFFICIAL_FILES:
        raise DataError(f"{name} is not one of the official files: {', '.join(OFFICIAL_FILES)}")
    problem = _problem(path, OFFICIAL_FILES[name], md5=_md5_of(path))
    if problem:
        raise DataError(f"{path}: {problem}")


def _as_url(base_url: str) -> str:
    # A plain folder path is accepted for convenience; urllib needs a file:// URL for it.
    if "://" not in base_url:
        base_url = Path(base_url).expanduser().resolve().as_uri()
    try:
        urllib.parse.urlsplit(base_url)
    except ValueError as err:
        raise DataError(f"--base-url {base_url!r} is not a URL: {err}") from None
    return base_url.rstrip("/")


def _md5_of(path: Path) -> str:
    digest = hashlib.md5(usedforsecurity=False)
    check_file(path, "zip")  # a regular file of sane size: a FIFO would block the read
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(_CHUNK), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _problem(path: Path, spec: OfficialFile, md5: str, *, strict_md5: bool = False) -> str | None:
    """What is wrong with ``path`` as a copy of ``spec`` (None when it is good).

    A matching MD5 settles it. Without a published MD5 — or, unless ``strict_md5``, with one that
    does not match — the file must pass the zip integrity test and hold the expected counts.
    """
    if spec.md5 is not None:
        if md5 == spec.md5:
            return None
        if strict_md5:
            return f"checksum mismatch (MD5 {md5}, expected {spec.md5})"
    try:
        with open_zip(path) as zf:
            bad = zf.testzip()
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as err:  # UntrustedFile too
        return f"not a valid zip file ({err})"
    if bad is not None:
        return f"zip entry {bad} is corrupt (CRC check failed)"
    try:
        if spec.counts is not None:
            c = count_zip(path, spec.kind)
            found = (c["alphabets"], c["characters"], c["drawings"])
            if found != spec.counts:
                return (
                    "unexpected content: {}/{}/{} alphabets/characters/drawings, expected "
                    "{}/{}/{}".format(*found, *spec.counts)
                )
        if spec.runs is not None:
            runs = count_runs_zip(path)
            if runs != spec.runs:
                return f"unexpected content: {runs} one-shot runs, expected {spec.runs}"
    except DataError as err:
        return str(err)
    return None


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fetch(
    url: str, dest: Path, spec: OfficialFile, *, progress: bool | None, timeout: float
) -> None:
    # The temporary file lives in the destination folder so os.replace is an atomic rename.
    fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".part", dir=dest.parent)
    tmp = Path(tmp_name)
    try:
        digest = hashlib.md5(usedforsecurity=False)
        with os.fdopen(fd, "wb") as out:
            try:
                with urllib.request.urlopen(url, timeout=timeout) as response:
                    length = response.headers.get("Content-Length")
                    total = int(length) if length and length.isdigit() else None
                    received = 0
                    with tqdm(
                        total=total,
                        unit="B",
                        unit_scale=True,
                        unit_divisor=1024,
                        desc=dest.name,
                        disable=None if progress is None else not progress,
                        leave=False,
                    ) as bar:
                        while chunk := response.read(_CHUNK):
                            out.write(chunk)
                            digest.update(chunk)
                            received += len(chunk)
                            bar.update(len(chunk))
            except urllib.error.HTTPError as err:
                raise DataError(f"could not download {url}: HTTP {err.code} {err.reason}") from err
            except urllib.error.URLError as err:
                raise DataError(f"could not download {url}: {err.reason}{_NET_HINT}") from err
            except (OSError, http.client.HTTPException) as err:
                raise DataError(f"could not download {url}: {err}{_NET_HINT}") from err
        if total is not None and received != total:
            raise DataError(f"could not download {url}: got {received} of {total} bytes")
        problem = _problem(tmp, spec, md5=digest.hexdigest(), strict_md5=True)
        if problem:
            raise DataError(f"downloaded {url} is not valid, nothing was saved: {problem}")
        # mkstemp makes the file private (0600); give it the permissions a normal file gets.
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, dest)
    except BaseException:
        # Includes KeyboardInterrupt: never leave a partial file behind.
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise
