"""download: fetching from a local mirror of the official python/ folder, verification, cleanup.

The official file table is swapped for tiny synthetic files, so no test touches the network.
"""

from __future__ import annotations

import hashlib
import http.server
import importlib
import os
import threading
import time
import zipfile
from functools import partial
from pathlib import Path

import pytest

from gns_pyro.cli import main
from gns_pyro.data import Omniglot
from gns_pyro.data.download import OfficialFile, download_omniglot, files_for
from gns_pyro.errors import DataError

# The module itself (the package re-exports names from it, so reach it through sys.modules).
download_module = importlib.import_module("gns_pyro.data.download")

STROKES = "START\n1.0,-2.0,0\n3.0,-4.0,10\nBREAK\n5.0,-6.0,20\nBREAK\n"


def _zip(path: Path, entries: dict[str, str | bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in entries.items():
            zf.writestr(name, content)
    return path


def _png() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("1", (105, 105), 1).save(buf, format="PNG")
    return buf.getvalue()


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture
def mirror(tmp_path, monkeypatch) -> Path:
    """A folder laid out like the official ``python/`` folder, with tiny files, and the official
    file table patched to describe them."""
    root = tmp_path / "mirror"
    png = _png()
    _zip(
        root / "images_background.zip",
        {
            "images_background/Latin/character01/0001_01.png": png,
            "images_background/Latin/character01/0001_02.png": png,
            "__MACOSX/images_background/._x": b"junk",
        },
    )
    _zip(
        root / "images_evaluation.zip",
        {
            "images_evaluation/Atlantean/character01/0002_01.png": png,
        },
    )
    _zip(
        root / "strokes_background.zip",
        {
            "strokes_background/Latin/character01/0001_01.txt": STROKES,
            "strokes_background/Latin/character01/0001_02.txt": STROKES,
        },
    )
    _zip(
        root / "strokes_evaluation.zip",
        {
            "strokes_evaluation/Atlantean/character01/0002_01.txt": STROKES,
        },
    )
    _zip(
        root / "one-shot-classification" / "all_runs.zip",
        {
            "run01/class_labels.txt": "run01/test/item01.png run01/training/class01.png\n",
            "run01/training/class01.png": png,
            "run01/test/item01.png": png,
            "run02/class_labels.txt": "run02/test/item01.png run02/training/class01.png\n",
            "run02/training/class01.png": png,
            "run02/test/item01.png": png,
        },
    )
    table = {
        "images_background.zip": OfficialFile(
            "images_background.zip",
            "images",
            md5=_md5(root / "images_background.zip"),
            counts=(1, 1, 2),
        ),
        "images_evaluation.zip": OfficialFile(
            "images_evaluation.zip",
            "images",
            md5=_md5(root / "images_evaluation.zip"),
            counts=(1, 1, 1),
        ),
        "strokes_background.zip": OfficialFile(
            "strokes_background.zip", "strokes", counts=(1, 1, 2)
        ),
        "strokes_evaluation.zip": OfficialFile(
            "strokes_evaluation.zip", "strokes", counts=(1, 1, 1)
        ),
        "all_runs.zip": OfficialFile("one-shot-classification/all_runs.zip", "runs", runs=2),
    }
    monkeypatch.setattr(download_module, "OFFICIAL_FILES", table)
    return root


def _listing(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_download_all(mirror, tmp_path):
    dest = tmp_path / "data"
    results = download_omniglot(dest, what="all", base_url=mirror.as_uri(), progress=False)
    assert results == [(name, "downloaded") for name in files_for("all")]
    assert _listing(dest) == sorted(files_for("all"))  # no temporary files left
    info = Omniglot(dest).info()
    assert info["images_background"] == {"alphabets": 1, "characters": 1, "drawings": 2}
    assert info["strokes_evaluation"] == {"alphabets": 1, "characters": 1, "drawings": 1}
    assert info["one_shot_runs"] == 2
    assert (dest / "strokes_background.zip").stat().st_mode & 0o044  # not left private (0600)


def test_already_present_is_skipped(mirror, tmp_path):
    dest = tmp_path / "data"
    download_omniglot(dest, what="strokes", base_url=mirror.as_uri(), progress=False)
    # The mirror is gone: a second run must not need it.
    gone = tmp_path / "gone"
    assert download_omniglot(dest, what="strokes", base_url=gone.as_uri()) == [
        ("strokes_background.zip", "present"),
        ("strokes_evaluation.zip", "present"),
    ]


def test_invalid_present_file_is_replaced(mirror, tmp_path):
    dest = tmp_path / "data"
    dest.mkdir()
    (dest / "images_evaluation.zip").write_bytes(b"half a file")
    results = dict(download_omniglot(dest, what="images", base_url=mirror.as_uri(), progress=False))
    assert results["images_evaluation.zip"] == "downloaded"
    assert _md5(dest / "images_evaluation.zip") == _md5(mirror / "images_evaluation.zip")


def test_checksum_mismatch_leaves_nothing(mirror, tmp_path, monkeypatch):
    table = dict(download_module.OFFICIAL_FILES)
    table["images_background.zip"] = OfficialFile(
        "images_background.zip", "images", md5="0" * 32, counts=(1, 1, 2)
    )
    monkeypatch.setattr(download_module, "OFFICIAL_FILES", table)
    dest = tmp_path / "data"
    with pytest.raises(DataError, match="checksum mismatch"):
        download_omniglot(dest, what="images", base_url=mirror.as_uri(), progress=False)
    assert _listing(dest) == []


def test_count_mismatch_leaves_nothing(mirror, tmp_path, monkeypatch):
    table = dict(download_module.OFFICIAL_FILES)
    table["all_runs.zip"] = OfficialFile("one-shot-classification/all_runs.zip", "runs", runs=20)
    monkeypatch.setattr(download_module, "OFFICIAL_FILES", table)
    dest = tmp_path / "data"
    with pytest.raises(DataError, match="2 one-shot runs, expected 20"):
        download_omniglot(dest, what="runs", base_url=mirror.as_uri(), progress=False)
    assert _listing(dest) == []


def test_corrupt_download_leaves_nothing(mirror, tmp_path):
    (mirror / "strokes_evaluation.zip").write_bytes(b"PK\x03\x04 definitely not a zip")
    dest = tmp_path / "data"
    with pytest.raises(DataError, match="not a valid zip"):
        download_omniglot(dest, what="strokes", base_url=mirror.as_uri(), progress=False)
    assert _listing(dest) == ["strokes_background.zip"]


def test_interrupt_cleans_up(mirror, tmp_path, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(download_module, "_problem", interrupted)
    dest = tmp_path / "data"
    dest.mkdir()
    with pytest.raises(KeyboardInterrupt):
        download_omniglot(dest, what="runs", base_url=mirror.as_uri(), progress=False)
    assert _listing(dest) == []


def test_missing_remote_file(tmp_path):
    dest = tmp_path / "data"
    with pytest.raises(DataError, match="could not download"):
        download_omniglot(dest, what="runs", base_url=(tmp_path / "empty").as_uri(), progress=False)
    assert _listing(dest) == []


def test_plain_folder_base_url(mirror, tmp_path):
    dest = tmp_path / "data"
    results = download_omniglot(dest, what="runs", base_url=str(mirror))
    assert results == [("all_runs.zip", "downloaded")]


@pytest.fixture
def http_mirror(mirror):
    """The mirror served over loopback HTTP."""
    handler = partial(http.server.SimpleHTTPRequestHandler, directory=str(mirror))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_http_download_and_404(http_mirror, tmp_path):
    dest = tmp_path / "data"
    assert download_omniglot(dest, what="images", base_url=http_mirror, progress=True) == [
        ("images_background.zip", "downloaded"),
        ("images_evaluation.zip", "downloaded"),
    ]
    with pytest.raises(DataError, match="HTTP 404"):
        download_omniglot(dest, what="runs", base_url=http_mirror + "/nothing-here", progress=False)
    assert _listing(dest) == ["images_background.zip", "images_evaluation.zip"]


def test_cli_download(mirror, tmp_path, capsys):
    dest = tmp_path / "data"
    argv = [
        "data",
        "download",
        "--data-dir",
        str(dest),
        "--what",
        "strokes",
        "--base-url",
        mirror.as_uri(),
        "--no-progress",
    ]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "strokes_background.zip: downloaded" in out
    assert main(argv) == 0
    assert "already present" in capsys.readouterr().out


def test_cli_download_error_exit_code(tmp_path, capsys):
    argv = [
        "data",
        "download",
        "--data-dir",
        str(tmp_path / "data"),
        "--what",
        "runs",
        "--base-url",
        (tmp_path / "empty").as_uri(),
    ]
    assert main(argv) == 2
    assert "could not download" in capsys.readouterr().err


def test_unknown_what():
    with pytest.raises(DataError, match="--what"):
        files_for("everything")


def test_stale_partial_download_is_removed(mirror, tmp_path):
    """A .part file left by a killed download (idle > 10 min) is cleaned up; a fresh one,
    which may belong to a download in progress, is left alone."""
    dest = tmp_path / "data"
    dest.mkdir()
    stale = dest / ".all_runs.zip.abc123.part"
    fresh = dest / ".all_runs.zip.def456.part"
    stale.write_bytes(b"half a file")
    fresh.write_bytes(b"being written")
    old = time.time() - 3600
    os.utime(stale, (old, old))
    download_omniglot(dest, what="runs", base_url=mirror.as_uri(), progress=False)
    assert not stale.exists() and fresh.exists()
