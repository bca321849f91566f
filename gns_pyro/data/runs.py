"""The layout of the one-shot classification runs: ``runNN/`` folders (under the data folder,
``one-shot-classification/``, ``all_runs/`` or both) or ``all_runs.zip``, each run holding
``training/classNN.png``, ``test/itemNN.png`` and ``class_labels.txt`` (:func:`find_runs`,
:func:`read_run`).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import torch

from gns_pyro.data.images import load_image
from gns_pyro.data.readers import FolderSource, Source, ZipSource, is_junk
from gns_pyro.errors import DataError
from gns_pyro.reading import check_file

#: A run's folder name.
RUN_RE = re.compile(r"^run\d+$")
# Folders that may hold runNN/ folders or all_runs.zip, relative to the data folder.
RUN_DIRS = ("", "one-shot-classification", "all_runs", "one-shot-classification/all_runs")


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


def find_runs(root: Path) -> dict[str, tuple[Source, str]]:
    """Run name -> (source, prefix of its members) of every run under the data folder ``root``
    (those with a ``class_labels.txt``), folders before ``all_runs.zip``, in run order.

    :raises UntrustedFile: an ``all_runs.zip`` that is not a regular file, or too large.
    """
    runs: dict[str, tuple[Source, str]] = {}
    for rel in RUN_DIRS:
        base = root / rel
        if not base.is_dir():
            continue
        for entry in sorted(base.iterdir()):
            if entry.is_dir() and RUN_RE.match(entry.name) and entry.name not in runs:
                if (entry / "class_labels.txt").is_file():
                    runs[entry.name] = (FolderSource(entry), "")
    for rel in RUN_DIRS:
        archive = root / rel / "all_runs.zip"
        if not archive.exists():
            continue
        check_file(archive, "zip")  # a FIFO or device is refused by name, not passed over
        src = ZipSource(archive)
        for member in src.names():
            parts = PurePosixPath(member).parts
            if is_junk(parts) or len(parts) < 2 or parts[-1] != "class_labels.txt":
                continue
            run = parts[-2]
            if RUN_RE.match(run) and run not in runs:
                runs[run] = (src, member[: -len("class_labels.txt")])
    return dict(sorted(runs.items(), key=lambda kv: int(kv[0][3:])))


def unlabelled_runs(root: Path) -> list[Path]:
    """Folders under ``root`` named like runs (``runNN``) that have no ``class_labels.txt``:
    :func:`find_runs` passes them over, and an error saying "no runs" should name them."""
    found = []
    for rel in RUN_DIRS:
        base = root / rel
        if base.is_dir():
            found += [
                entry
                for entry in sorted(base.iterdir())
                if entry.is_dir()
                and RUN_RE.match(entry.name)
                and not (entry / "class_labels.txt").is_file()
            ]
    return found


def read_run(name: str, src: Source, prefix: str) -> OneShotRun:
    """The run ``name`` whose members lie under ``prefix`` in ``src`` (see :func:`find_runs`).

    :raises DataError: labels and images of the run disagree (:func:`check_run`).
    """
    images: dict[str, dict[str, torch.Tensor]] = {"training": {}, "test": {}}
    for member in sorted(m for m in src.names() if m.startswith(prefix)):
        parts = PurePosixPath(member[len(prefix) :]).parts
        if (
            len(parts) == 2
            and parts[0] in images
            and parts[1].endswith(".png")
            and not is_junk(parts)
        ):
            images[parts[0]][parts[1][:-4]] = load_image(
                src.read(member), name=src.describe(member)
            )
    labels_name = prefix + "class_labels.txt"
    pairs = parse_class_labels(src.read(labels_name), src.describe(labels_name))
    check_run(pairs, images, src.describe(labels_name))
    return OneShotRun(name, images["training"], images["test"], pairs)


def check_run(pairs, images: dict, labels_name: str) -> None:
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


def parse_class_labels(data: bytes, name: str) -> list[tuple[str, str]]:
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


def count_runs_zip(path: str | os.PathLike) -> int:
    """Number of ``runNN/class_labels.txt`` entries in an ``all_runs.zip``."""
    src = ZipSource(Path(path))
    try:
        runs = set()
        for member in src.names():
            parts = PurePosixPath(member).parts
            if (
                not is_junk(parts)
                and len(parts) >= 2
                and parts[-1] == "class_labels.txt"
                and RUN_RE.match(parts[-2])
            ):
                runs.add(parts[-2])
    finally:
        src.close()
    return len(runs)
