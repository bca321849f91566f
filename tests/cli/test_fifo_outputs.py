"""A FIFO where an output goes: a PNG output replaces it (the atomic writer renames over the
name, it never opens the FIFO, so nothing blocks); a FIFO given as a result folder is refused
with one line."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX FIFOs")


def _gns_pyro(*args, cwd):
    return subprocess.run(
        [sys.executable, "-m", "gns_pyro.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,  # a write that opened the FIFO would block here instead of finishing
    )


def test_a_fifo_png_output_is_replaced_not_opened(tmp_path):
    os.mkfifo(tmp_path / "out.png")
    done = _gns_pyro("sample", "--n", "1", "--out", "out.png", "--quiet", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "out.png").is_file()
    assert (tmp_path / "out.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_a_fifo_as_the_result_folder_is_one_line(tmp_path):
    os.mkfifo(tmp_path / "results")
    done = _gns_pyro("parse-eval", "--n", "1", "--out", "results", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        "gns-pyro parse-eval: error: argument --out: 'results' is a special file (FIFO, "
        "device or socket), not a folder (see gns-pyro parse-eval --help)"
    ]
