"""Writing files so that a killed job never leaves half of one.

Every result, cache, checkpoint and weights file gns-pyro writes goes through
:func:`atomic_write_bytes`: the data goes to a temporary file beside the target, which is then
renamed over it (an atomic step on POSIX file systems), with the permissions a plain ``open()``
would have given.

Example::

    >>> atomic_write_bytes(path, lambda tmp: Path(tmp).write_text("done"))  # doctest: +SKIP
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import tempfile
from pathlib import Path


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write_bytes(path: str | os.PathLike, write) -> None:
    """Write via ``write(tmp_path)`` to a temp file beside ``path``, then rename over it.

    Parent folders are created. The file gets mode ``0o666`` less the umask (``mkstemp`` alone
    would make it private). On any failure, or Ctrl-C, the temp file is removed and ``path``
    is untouched.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        write(tmp)
        os.replace(tmp, path)
    except OSError as err:
        Path(tmp).unlink(missing_ok=True)
        if err.filename is None or str(err.filename) == tmp:
            # a writer's error (a full disk, a file-size limit) names no file, or the temp
            # file: name the output the user asked for
            raise OSError(err.errno, err.strerror or str(err), str(path)) from err
        raise
    except RuntimeError as err:
        # torch.save reports a failed write (a full disk, a file-size limit) as a RuntimeError
        # of its zip writer, without the errno
        Path(tmp).unlink(missing_ok=True)
        first = str(err).splitlines()[0] if str(err) else type(err).__name__
        raise OSError(
            errno.EIO,
            f"could not be written (a full disk or a file-size limit?): {first}",
            str(path),
        ) from err
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_json(record: dict, path: str | os.PathLike) -> None:
    """Write ``record`` as indented JSON to ``path``, atomically."""
    text = json.dumps(record, indent=2, sort_keys=False) + "\n"
    atomic_write_bytes(Path(path), lambda tmp: Path(tmp).write_text(text))


def file_sha256(path: str | os.PathLike) -> str:
    """SHA-256 of a file's bytes (a training record stores it for its weights file)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
