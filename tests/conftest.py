"""Shared fixtures. Keep this file small: it applies to every test under tests/."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def omniglot_dir() -> Path:
    """The Omniglot data folder: ``$GNS_PYRO_DATA``, else ``<repo>/../shared/omniglot``.

    Missing data skips the test locally but fails it on CI (``$CI`` set), where a silently
    skipped data test would hide a broken setup.
    """
    return _shared("GNS_PYRO_DATA", "omniglot", "Omniglot data", "the data folder")


def _shared(variable: str, default: str, what: str, hint: str) -> Path:
    """``$variable``, else ``<repo>/../shared/<default>``; skipped when missing, failed on CI."""
    env = os.environ.get(variable)
    path = Path(env) if env else REPO_ROOT.parent / "shared" / default
    if not path.exists():
        message = f"{what} not found at {path} (set {variable} to {hint})"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path


@pytest.fixture(scope="session")
def reconstructed_strokes() -> Path:
    """The reconstructed background strokes of all 30 alphabets: ``$GNS_PYRO_STROKES``, else
    ``<repo>/../shared/omniglot-reconstructed/strokes_background.zip`` (skipped when missing,
    failed on CI, as :func:`omniglot_dir`)."""
    return _shared(
        "GNS_PYRO_STROKES",
        "omniglot-reconstructed/strokes_background.zip",
        "reconstructed strokes",
        "their zip",
    )


# What the shared development copy holds (see shared/omniglot/README.md) ...
SHARED_COUNTS = {
    "images_background": {"alphabets": 30, "characters": 964, "drawings": 19280},
    "images_evaluation": {"alphabets": 20, "characters": 659, "drawings": 13180},
    "strokes_background": {"alphabets": 8, "characters": 242, "drawings": 4840},
    "strokes_evaluation": {"alphabets": 0, "characters": 0, "drawings": 0},
    "one_shot_runs": 10,
}
# ... and what a full official download holds.
FULL_COUNTS = {
    **SHARED_COUNTS,
    "strokes_background": {"alphabets": 30, "characters": 964, "drawings": 19280},
    "strokes_evaluation": {"alphabets": 20, "characters": 659, "drawings": 13180},
    "one_shot_runs": 20,
}


@pytest.fixture(scope="session")
def omniglot_counts(omniglot_dir) -> dict:
    """What ``Omniglot.info()`` must report for the data folder in use."""
    root = omniglot_dir
    full = (root / "strokes_background.zip").exists() or (root / "strokes_background").is_dir()
    return FULL_COUNTS if full else SHARED_COUNTS


@pytest.fixture
def kept_job_folders(monkeypatch):
    """The job folders of the submitit runs in this test, kept after the run (normally a
    successful local run removes its private folder) so that the test can read the logs."""
    from gns_pyro.tasks import engine

    kept: list = []
    monkeypatch.setattr(engine, "discard_job_folder", kept.append)
    return kept


@pytest.fixture(scope="session", autouse=True)
def _temporary_files_stay_in_the_session(tmp_path_factory):
    """The code under test puts local job folders (a failed run keeps its logs on purpose) and
    other temporary files under pytest's own temporary tree, not the system's ``/tmp``."""
    import tempfile

    folder = tmp_path_factory.mktemp("system-tmp")
    patch = pytest.MonkeyPatch()
    patch.setenv("TMPDIR", str(folder))  # for the commands tests start as processes
    patch.setattr(tempfile, "tempdir", str(folder))  # for this process (tempfile caches it)
    yield folder
    patch.undo()
