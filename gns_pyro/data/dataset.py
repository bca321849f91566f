"""Processed stroke data sets: Omniglot drawings as one padded batch of minimal splines.

Converting 19,280 drawings to minimal splines takes minutes, so the result is cached on disk,
keyed by everything that determines it (split, alphabets, :class:`SplineSettings`, and the
names, sizes and modification times of the source files). Training never redoes it.

Example::

    >>> ds = load_spline_dataset(exclude_alphabets=["Tagalog"])  # doctest: +SKIP
    >>> ds.parses.control_points.shape                          # doctest: +SKIP
    torch.Size([4500, 29, 34, 2])
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import pickle
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import torch

from gns_pyro.data.omniglot import Omniglot, resolve_data_dir
from gns_pyro.data.preprocess import SplineSettings, drawing_to_splines, motor_to_image
from gns_pyro.errors import DataError
from gns_pyro.fileio import atomic_write_bytes
from gns_pyro.parses import Parses
from gns_pyro.reading import load_tensors
from gns_pyro.splines import path_length

#: Bumped when the processing itself changes, so old caches are not reused.
CACHE_FORMAT = 3  # 2: caches record the drawings dropped by min_stroke_length; 3: content keys


def default_cache_dir() -> Path:
    """``$GNS_PYRO_CACHE``, else ``$XDG_CACHE_HOME/gns_pyro/processed`` (``~/.cache/...``)."""
    if os.environ.get("GNS_PYRO_CACHE"):
        return Path(os.environ["GNS_PYRO_CACHE"]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "gns_pyro" / "processed"


def check_cache_folder(folder: Path) -> None:
    """Make sure ``folder`` is (or can become) a folder this process can write a cache into.

    :raises DataError: naming the folder (and ``GNS_PYRO_CACHE`` when that named it) when it
        is a file, cannot be created, or cannot be written.
    """
    named = " (GNS_PYRO_CACHE)" if os.environ.get("GNS_PYRO_CACHE") else ""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise DataError(f"cache folder {folder}{named} is a file, not a folder") from None
    except OSError as err:
        raise DataError(f"cache folder {folder}{named}: {err.strerror or err}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise DataError(f"cache folder {folder}{named} is not writable")


@dataclasses.dataclass
class SplineDataset:
    """Drawings as minimal splines, with their labels (one entry per drawing, same order)."""

    parses: Parses
    alphabets: list[str]
    characters: list[str]
    stems: list[str]
    settings: SplineSettings
    #: drawings of the source left out because every stroke was under ``min_stroke_length``
    dropped: int = 0
    #: where the drawings were read from (:meth:`~gns_pyro.data.omniglot.Omniglot.stroke_sources`)
    sources: list[dict] | None = None
    #: named groups of this set's characters (ids as :attr:`character_ids`), e.g. the two
    #: parts of a validation set; a subset does not keep them
    groups: dict[str, set] | None = None

    def __len__(self) -> int:
        return len(self.parses)

    @property
    def character_ids(self) -> list[str]:
        """``"<alphabet>/<character>"`` of each drawing (characters repeat across alphabets)."""
        return [f"{a}/{c}" for a, c in zip(self.alphabets, self.characters)]

    def subset(self, index: Iterable[int] | torch.Tensor) -> SplineDataset:
        """The drawings at ``index`` (positions in this dataset), as a new dataset."""
        index = torch.as_tensor(
            list(index) if not torch.is_tensor(index) else index, dtype=torch.long
        )
        pick = index.tolist()
        return SplineDataset(
            self.parses[index],
            [self.alphabets[i] for i in pick],
            [self.characters[i] for i in pick],
            [self.stems[i] for i in pick],
            self.settings,
            self.dropped,
            self.sources,
        )

    def split_by_character(
        self, fraction: float, seed: int = 0
    ) -> tuple[SplineDataset, SplineDataset]:
        """Split whole characters: ``fraction`` of them (seeded) go to the second part."""
        return self.split_holding(self.held_characters(fraction, seed))

    def held_characters(self, fraction: float, seed: int = 0, besides: Iterable[str] = ()) -> set:
        """A seeded ``fraction`` of the characters (ids as :attr:`character_ids`), drawn from
        those not in ``besides``."""
        ids = sorted(set(self.character_ids) - set(besides))
        if not ids:
            return set()
        rng = np.random.default_rng(seed)
        return set(rng.choice(ids, size=max(1, round(fraction * len(ids))), replace=False).tolist())

    def split_holding(self, held: Iterable[str]) -> tuple[SplineDataset, SplineDataset]:
        """The drawings of characters not in ``held``, and those of characters in it."""
        held = set(held)
        second = [i for i, c in enumerate(self.character_ids) if c in held]
        first = [i for i, c in enumerate(self.character_ids) if c not in held]
        return self.subset(first), self.subset(second)


def _cache_key(data: Omniglot, split: str, alphabets: list[str], settings: SplineSettings) -> str:
    record = {
        "format": CACHE_FORMAT,
        "split": split,
        "alphabets": alphabets,
        "settings": settings.as_dict(),
        # the content of every stroke source, extra ones included: a file changed in place
        # (its size and modification time kept) never meets a stale cache
        "sources": data.fingerprint("strokes", split),
    }
    return hashlib.sha1(json.dumps(record, sort_keys=True).encode()).hexdigest()[:16]


# what a damaged, truncated or foreign cache file raises when loaded without running code
# UntrustedFile (not a regular file, too large, not loadable) is a ValueError
_UNREADABLE = (pickle.UnpicklingError, RuntimeError, EOFError, KeyError, TypeError, ValueError)


def load_spline_dataset(
    data_dir: str | os.PathLike | None = None,
    split: str = "background",
    alphabets: Iterable[str] | None = None,
    exclude_alphabets: Iterable[str] = (),
    settings: SplineSettings = SplineSettings(),
    cache_dir: str | os.PathLike | None = None,
    use_cache: bool = True,
    progress: bool = False,
    strokes: Iterable[str | os.PathLike] = (),
) -> SplineDataset:
    """Load the stroke drawings of a split as minimal splines (cached on disk).

    :param data_dir: Omniglot folder (default: ``GNS_PYRO_DATA`` or the user cache folder).
    :param alphabets: alphabets to use (default: every alphabet with stroke data).
    :param exclude_alphabets: alphabets to leave out (e.g. ``["Tagalog"]``, held out for parsing).
    :param settings: spline conversion settings (part of the cache key).
    :param cache_dir: where processed sets are cached (default :func:`default_cache_dir`).
    :param strokes: extra stroke sources read after the official files (see
        :class:`~gns_pyro.data.omniglot.Omniglot`); part of the cache key.
    """
    with Omniglot(resolve_data_dir(data_dir), strokes=strokes) as data:
        present = data.alphabets(split, kind="strokes")
        chosen = present if alphabets is None else list(alphabets)
        unknown = sorted(set(chosen) - set(present)) + sorted(set(exclude_alphabets) - set(present))
        if unknown:
            raise DataError(f"no {split} stroke data for alphabet(s) {unknown}; present: {present}")
        chosen = sorted(set(chosen) - set(exclude_alphabets))
        if not chosen:
            raise DataError("no alphabets left to load after exclusions")
        key = _cache_key(data, split, chosen, settings)
        path = Path(cache_dir or default_cache_dir()) / f"splines_{split}_{key}.pt"
        if use_cache and path.exists():
            # weights_only: a cache file holds tensors, lists and strings, never code to run
            try:
                saved = load_tensors(path, "spline_cache")
                floats = [v for v in saved["parses"].values() if v.is_floating_point()]
                if not all(bool(torch.isfinite(v).all()) for v in floats):
                    raise ValueError("it holds a number that is not finite")
                return SplineDataset(
                    Parses(**saved["parses"]),
                    *saved["labels"],
                    settings,
                    saved["dropped"],
                    data.stroke_sources(split),
                )
            except _UNREADABLE as err:
                warnings.warn(f"rebuilding unreadable spline cache {path}: {err}", stacklevel=2)
                path.unlink(missing_ok=True)
        if use_cache:  # before minutes of work, not after it
            check_cache_folder(path.parent)
        drawings = data.drawings(split, chosen)
        if progress:
            from tqdm import tqdm

            drawings = tqdm(drawings, desc=f"minimal splines ({split})", unit="drawing")
        splines, labels, dropped = [], ([], [], []), 0
        for d in drawings:
            if settings.min_stroke_length > 0 and not any(
                path_length(motor_to_image(s)) >= settings.min_stroke_length for s in d.strokes
            ):
                dropped += 1  # as in the paper: a drawing left with no stroke is dropped
                continue
            try:
                splines.append(drawing_to_splines(d.strokes, settings))
            except DataError as err:
                raise DataError(f"{d.alphabet}/{d.character}/{d.stem}: {err}") from err
            labels[0].append(d.alphabet)
            labels[1].append(d.character)
            labels[2].append(d.stem)
    parses = Parses.from_control_points(splines)
    if use_cache:
        fields = {f.name: getattr(parses, f.name) for f in dataclasses.fields(parses)}
        payload = {"parses": fields, "labels": [list(x) for x in labels], "dropped": dropped}
        atomic_write_bytes(path, lambda tmp: torch.save(payload, tmp))
        sources = data.stroke_sources(split)
    return SplineDataset(parses, *[list(x) for x in labels], settings, dropped, sources)
