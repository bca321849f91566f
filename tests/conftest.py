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
    env = os.environ.get("GNS_PYRO_DATA")
    path = Path(env) if env else REPO_ROOT.parent / "shared" / "omniglot"
    if not path.is_dir():
        message = f"Omniglot data not found at {path} (set GNS_PYRO_DATA to the data folder)"
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    return path
