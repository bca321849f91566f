"""What the resumable tasks (classify, likelihood, parse-eval) share: seeded subsets, shard
arithmetic, and :class:`ResultStore`, one JSON file per finished item, keyed by what made it.

Example::

    >>> store = ResultStore(tmp_path)                       # doctest: +SKIP
    >>> key = {"k": 5, "weights": "ab12", "image": "9f00"}
    >>> store.get("image_01", key) is None                  # nothing yet: compute it
    True
    >>> store.put("image_01", key, {"log_marginal": -420.0})
    >>> store.get("image_01", key)["log_marginal"]          # same inputs: reused
    -420.0
    >>> store.get("image_01", {**key, "k": 1}) is None      # anything else: recompute
    True
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

from gns_pyro.fileio import atomic_write_bytes
from gns_pyro.reading import UntrustedFile, read_json


def seeded_subset(count: int, n: int, seed: int) -> list[int]:
    """``min(n, count)`` distinct indices below ``count``, sorted, chosen by ``seed``."""
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(count, size=min(n, count), replace=False).tolist())


def seeded_order(count: int, n: int, seed: int) -> list[int]:
    """``min(n, count)`` distinct indices below ``count`` in a seeded random order.

    Prefix-stable: the first ``m`` for any ``n >= m`` are the ``m`` chosen with ``n = m``, so a
    job stopped early has done exactly the subset that ``n = m`` asks for, not a biased one.
    """
    return np.random.default_rng(seed).permutation(count)[: min(n, count)].tolist()


class Shard(NamedTuple):
    """Shard ``index`` of ``count`` (1-based) of a task's work: a contiguous block of its items
    (:func:`shard_block`). ``Shard(1, 1)`` is the whole job; ``str(Shard(2, 4))`` is ``"2/4"``.

    Example::

        >>> Shard(2, 4).block(list(range(8)))
        [2, 3]
    """

    index: int = 1
    count: int = 1

    def block(self, items: Sequence) -> list:
        """This shard's block of ``items``.

        :raises ValueError: unless ``1 <= index <= count``.
        """
        if not 1 <= self.index <= self.count:
            raise ValueError(f"a shard needs 1 <= index <= count, got {self.index}/{self.count}")
        return shard_block(list(items), self.index, self.count)

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"


def shard_block(items: list, i: int, n: int) -> list:
    """Shard ``i`` of ``n`` (1-based): a contiguous block of ``items``, blocks as equal as they
    can be. Contiguous, not strided, so that a shard of run-ordered work touches as few runs as
    possible: 10 shards of runs 01-10 are one run each."""
    total = len(items)
    return items[(i - 1) * total // n : i * total // n]


def image_digest(image) -> str:
    """Short content digest of a binary image (tensor or array): a result remembers which
    image it is about, so a renamed or replaced image is never matched with an old result."""
    data = np.ascontiguousarray(
        image.detach().cpu().numpy() if hasattr(image, "detach") else np.asarray(image),
        dtype=np.uint8,
    )
    return hashlib.sha256(data.tobytes()).hexdigest()[:16]


def read_result(path: Path) -> dict | None:
    """A saved result, or None when it is missing, unreadable or not a JSON object (then it is
    redone)."""
    try:
        saved = read_json(path, "result")
    except (OSError, UntrustedFile):
        return None
    return saved if isinstance(saved, dict) else None


def write_result(path: Path, result: dict) -> None:
    """Write ``result`` as JSON atomically: a killed job never leaves half a file."""
    text = json.dumps(result)
    atomic_write_bytes(Path(path), lambda tmp: Path(tmp).write_text(text))


class ResultStore:
    """Finished items of a resumable task, one JSON file each under ``folder``.

    Every result is saved with the ``key`` it was made from: the settings that shape it, a
    digest of the weights and digests of the input image(s). :meth:`get` returns a saved result
    only when its key equals the one asked for, and each key has its own file (the name carries
    a digest of the key), so a store folder can be shared by jobs with other settings, weights
    or data: their results live side by side, never mixed up or overwritten. Files are written
    atomically, so a killed job leaves whole results only.

    Counters for the summary: ``reused`` (read back), ``computed`` (new), ``recomputed`` (its
    file was there but damaged, edited or not trusted) and ``missing`` (asked for with ``get``
    but never ``put``, e.g. when only summarizing).

    :param folder: where the JSON files go (created on the first :meth:`put`).
    :param required: fields a result must have; a file with the right key but without them
        (hand-edited, or from an older version) is recomputed, not trusted.
    """

    def __init__(self, folder: str | Path, required: tuple[str, ...] = ()):
        self.folder = Path(folder)
        self.required = tuple(required)
        self.reused = self.computed = self.recomputed = 0
        self._stale: set[str] = set()
        self._found: dict[str, bool] = {}  # name -> did the last get find it
        self._put: set[str] = set()

    def path(self, name: str, key: dict) -> Path:
        """The file that holds the result called ``name`` made from ``key``: the name carries
        a digest of the key, so results of other settings, weights or images live beside it."""
        digest = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:12]
        return self.folder / f"{name}.{digest}.json"

    def get(self, name: str, key: dict, check=None) -> dict | None:
        """The result saved under ``name`` if it was made from ``key`` (and, given ``check``,
        ``check(result)`` holds: a derived fact the result must agree with); else None, and a
        file there that fails is counted as recomputed when it is put again."""
        path = self.path(name, key)
        saved = read_result(path)
        if saved is None and not path.exists():  # a result of a version before keyed names
            saved = read_result(self.folder / f"{name}.json")
        found = (
            saved is not None
            and saved.get("key") == json.loads(json.dumps(key))
            and all(field in saved for field in self.required)
            and (check is None or bool(check(saved)))
        )
        self._found[name] = found
        if found:
            self.reused += 1
            return saved
        if path.exists():  # its own file, damaged or edited: redone and counted as such
            self._stale.add(name)
        return None

    def put(self, name: str, key: dict, result: dict) -> dict:
        """Save ``result`` (with ``key`` added) under ``name``; returns what was saved."""
        saved = {**result, "key": key}
        write_result(self.path(name, key), saved)
        self._put.add(name)
        if name in self._stale:
            self.recomputed += 1
        else:
            self.computed += 1
        return saved

    @property
    def missing(self) -> int:
        """Results asked for but neither found nor computed."""
        return sum(not found and name not in self._put for name, found in self._found.items())

    def counts(self) -> dict:
        """``{"reused", "computed", "recomputed", "missing"}`` for a summary."""
        return {
            "reused": self.reused,
            "computed": self.computed,
            "recomputed": self.recomputed,
            "missing": self.missing,
        }


def store_line(summary: dict) -> str:
    """``"; 3 reused, 1 recomputed, 2 missing"``: what the result store did (nonzero counts)."""
    parts = [f"{summary[c]} {c}" for c in ("reused", "recomputed", "missing") if summary.get(c)]
    return "; " + ", ".join(parts) if parts else ""


#: Settings added after results were first cached, with the value every earlier version used
#: implicitly: left out of the keys at that value, so results made before they existed (the
#: same computation) stay valid, and any other value makes a new key.
IMPLICIT_SETTINGS = {"screen_parses": 5, "downsample": 1, "race_downsample": 1}


def settings_key(settings) -> dict:
    """A settings dataclass as a key: its fields, less those at their implicit value."""
    missing = object()
    return {
        name: value
        for name, value in dataclasses.asdict(settings).items()
        if IMPLICIT_SETTINGS.get(name, missing) != value
    }
