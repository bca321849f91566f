"""Small helpers shared by the resumable tasks: seeded subsets and one JSON file per result."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from gns_pyro.pretrained import atomic_write_bytes


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


def parse_shard(text: str | None) -> tuple[int, int]:
    """``"i/n"`` (1 <= i <= n) -> ``(i, n)``; ``None`` -> ``(1, 1)``, the whole job.

    :raises GNSError: naming the accepted form, for anything else.
    """
    from gns_pyro.errors import GNSError

    if text is None:
        return 1, 1
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise GNSError(f"--shard must look like i/n (e.g. 2/4), got {text!r}") from None
    if not 1 <= i <= n:
        hint = (
            "; shards count from 1 (for Slurm's 0-based array index use "
            "$((SLURM_ARRAY_TASK_ID + 1))/n)"
            if i == 0 and n > 0
            else ""
        )
        raise GNSError(f"--shard i/n needs 1 <= i <= n, got {text!r}{hint}")
    return i, n


def read_result(path: Path) -> dict | None:
    """A saved result, or None when it is missing, unreadable or not a JSON object (then it is
    redone)."""
    try:
        saved = json.loads(Path(path).read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError):
        return None
    return saved if isinstance(saved, dict) else None


def write_result(path: Path, result: dict) -> None:
    """Write ``result`` as JSON atomically: a killed job never leaves half a file."""
    text = json.dumps(result)
    atomic_write_bytes(Path(path), lambda tmp: Path(tmp).write_text(text))
