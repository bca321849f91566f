"""The ``gns-pyro data`` command: ``info`` in-process and as the installed console script."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from gns_pyro.cli import main


def last_json_line(text: str) -> dict:
    return json.loads(text.strip().splitlines()[-1])


@pytest.mark.data
def test_data_info_json(omniglot_dir, capsys, omniglot_counts):
    assert main(["data", "info", "--data-dir", str(omniglot_dir), "--json"]) == 0
    out = last_json_line(capsys.readouterr().out)
    assert out.pop("data_dir") == str(omniglot_dir)
    assert out == omniglot_counts


@pytest.mark.data
def test_data_info_table_uses_env_var(omniglot_dir, capsys, monkeypatch):
    monkeypatch.setenv("GNS_PYRO_DATA", str(omniglot_dir))
    assert main(["data", "info"]) == 0
    out = capsys.readouterr().out
    assert str(omniglot_dir) in out
    assert "images_background" in out and "19280" in out and "one-shot runs" in out


@pytest.mark.data
def test_console_script_info_json(omniglot_dir, omniglot_counts):
    script = Path(sys.executable).parent / "gns-pyro"
    if not script.exists():
        pytest.skip(f"console script not installed next to {sys.executable}")
    env = {k: v for k, v in os.environ.items() if k != "GNS_PYRO_DATA"}
    proc = subprocess.run(
        [str(script), "data", "info", "--json", "--data-dir", str(omniglot_dir)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    out = last_json_line(proc.stdout)
    out.pop("data_dir")
    assert out == omniglot_counts


def test_data_info_missing_dir(tmp_path, capsys):
    assert main(["data", "info", "--data-dir", str(tmp_path / "nowhere")]) == 2
    err = capsys.readouterr().err
    assert "gns-pyro data download" in err and "nowhere" in err


def test_data_info_corrupt_zip(tmp_path, capsys):
    (tmp_path / "images_evaluation.zip").write_bytes(os.urandom(2048))
    assert main(["data", "info", "--data-dir", str(tmp_path), "--json"]) == 2
    assert "images_evaluation.zip" in capsys.readouterr().err


def test_data_info_empty_dir(tmp_path, capsys):
    assert main(["data", "info", "--data-dir", str(tmp_path), "--json"]) == 0
    out = last_json_line(capsys.readouterr().out)
    assert out["one_shot_runs"] == 0
    assert out["images_background"] == {"alphabets": 0, "characters": 0, "drawings": 0}


def test_data_requires_subcommand(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["data"])
    assert exc.value.code == 2


@pytest.mark.data
def test_data_check_render_json(omniglot_dir, capsys):
    argv = ["data", "check-render", "--data-dir", str(omniglot_dir), "--n", "20", "--json"]
    assert main(argv) == 0
    result = last_json_line(capsys.readouterr().out)
    assert result["n"] == 20 and 0.7 < result["mean_iou"] <= 1.0
    assert set(result["per_alphabet"]) <= {
        "Balinese",
        "Early_Aramaic",
        "Greek",
        "Japanese_(katakana)",
        "Korean",
        "Latin",
        "Sanskrit",
        "Tagalog",
    }


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("delay", [0.2, 0.6, 1.2])
def test_ctrl_c_while_the_console_script_starts_is_one_line(tmp_path, delay):
    """SIGINT while ``gns-pyro`` is still importing torch and Pyro (the commands' imports run
    inside the error boundary): status 130 and one line, no traceback."""
    import shutil
    import signal
    import time

    script = Path(sys.executable).with_name("gns-pyro")
    script = script if script.exists() else Path(shutil.which("gns-pyro") or "")
    if not script.is_file():
        pytest.skip("the gns-pyro console script is not installed next to this Python")
    proc = subprocess.Popen(
        [str(script), "sample", "--n", "2", "--out", str(tmp_path / "s")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    try:
        code = proc.wait(timeout=20)
    finally:
        proc.kill()
    err = proc.stderr.read()
    assert code == 130, err
    assert "Traceback" not in err
    assert err.strip().splitlines() == ["gns-pyro: interrupted"]


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize("after_line", [1, 3])
def test_ctrl_c_stops_a_long_command_within_seconds(tmp_path, after_line):
    """SIGINT during the demo (sampling, then parsing) ends it within about a second (the
    README's promise; 1.5 s allowed on a loaded machine): exit 130, one line, no traceback."""
    import signal
    import time

    proc = subprocess.Popen(
        [sys.executable, "-m", "gns_pyro.cli", "demo", "--out", str(tmp_path / "demo")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        # as in a terminal: a background launch (`nohup pytest ... &`) would start the command
        # with SIGINT ignored, and Python would then never raise KeyboardInterrupt
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    for _ in range(after_line):  # wait for progress: the command is deep in its work
        assert proc.stderr.readline(), "the demo printed no progress"
    proc.send_signal(signal.SIGINT)
    sent = time.monotonic()
    try:
        code = proc.wait(timeout=10)
    finally:
        proc.kill()
    assert time.monotonic() - sent < 1.5
    err = proc.stderr.read()
    assert code == 130 and "Traceback" not in err
    assert err.strip().splitlines()[-1] == "gns-pyro: interrupted"
