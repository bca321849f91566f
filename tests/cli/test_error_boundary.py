"""``gns-pyro``'s one error boundary: every error a user can act on is one line on stderr with
status 2 (130 for Ctrl-C), a bug is one line with status 1, and ``--debug`` shows tracebacks."""

from __future__ import annotations

import errno
import io
import os
import subprocess
import sys

import pytest

import gns_pyro.cli as cli
from gns_pyro.errors import DataError


def command_raising(monkeypatch, error: BaseException) -> None:
    """Make ``gns-pyro sample`` raise ``error`` once it runs."""
    real = cli.build_parser

    def build_parser():
        parser = real()
        sample = parser._subparsers._group_actions[0].choices["sample"]

        def fail(args):
            raise error

        sample.set_defaults(func=fail)
        return parser

    monkeypatch.setattr(cli, "build_parser", build_parser)


@pytest.mark.parametrize(
    "error, line",
    [
        (
            OSError(errno.ENOSPC, "No space left on device", "/full/out/a.png"),
            "gns-pyro: error: /full/out/a.png: No space left on device",
        ),
        (
            PermissionError(errno.EACCES, "Permission denied", "/ro/out"),
            "gns-pyro: error: /ro/out: Permission denied",
        ),
        (
            OSError(errno.ENAMETOOLONG, "File name too long", "x" * 300),
            "gns-pyro: error: " + "x" * 300 + ": File name too long",
        ),
        (
            OSError(errno.ELOOP, "Too many levels of symbolic links", "/a", None, "/b"),
            "gns-pyro: error: /a -> /b: Too many levels of symbolic links",
        ),
        (DataError("image.png is blank"), "gns-pyro: error: image.png is blank"),
        (
            ValueError("k must be at least 1,\ngot 0"),
            "gns-pyro: error: ValueError: k must be at least 1, got 0",
        ),
        (
            RecursionError("maximum recursion depth exceeded"),
            "gns-pyro: error: input nested too deeply",
        ),
        (
            MemoryError(),
            "gns-pyro: error: out of memory (ask for less: fewer items, a smaller --n or --k)",
        ),
    ],
)
def test_an_error_the_user_can_act_on_is_one_line_with_status_2(monkeypatch, capsys, error, line):
    command_raising(monkeypatch, error)
    assert cli.main(["sample"]) == 2
    captured = capsys.readouterr()
    assert captured.err == line + "\n"


def test_a_failed_allocation_in_torch_is_out_of_memory_not_a_bug(monkeypatch, capsys):
    """torch's allocators raise RuntimeError, not MemoryError."""
    command_raising(
        monkeypatch,
        RuntimeError(
            "[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate "
            "memory: you tried to allocate 68719476736 bytes. Error code 12"
        ),
    )
    assert cli.main(["sample"]) == 2
    assert capsys.readouterr().err == (
        "gns-pyro: error: out of memory (ask for less: fewer items, a smaller --n or --k)\n"
    )


def test_a_torch_save_that_cannot_write_names_the_output(tmp_path):
    """torch.save reports a failed write (disk full, file-size limit) as a RuntimeError of
    its zip writer; the atomic writer turns it into an OSError naming the output."""
    from gns_pyro.fileio import atomic_write_bytes

    def failing(tmp):
        raise RuntimeError("[enforce fail at inline_container.cc:672] . unexpected pos 64 vs 0")

    out = tmp_path / "checkpoint.pt"
    with pytest.raises(OSError, match="could not be written") as err:
        atomic_write_bytes(out, failing)
    assert err.value.filename == str(out)
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_anywhere_in_main_is_status_130(monkeypatch, capsys):
    """Also while the commands are imported (building the parser imports torch)."""

    def interrupted():
        raise KeyboardInterrupt

    monkeypatch.setattr(cli, "build_parser", interrupted)
    assert cli.main(["sample"]) == 130
    assert capsys.readouterr().err == "gns-pyro: interrupted\n"


def test_a_bug_is_one_line_asking_for_a_report(monkeypatch, capsys):
    command_raising(monkeypatch, KeyError("stroke_mask"))
    assert cli.main(["sample"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("gns-pyro: internal error: KeyError: 'stroke_mask' (please report it")
    assert err.count("\n") == 1 and "Traceback" not in err


@pytest.mark.parametrize("how", ["flag first", "flag last", "environment"])
def test_debug_shows_the_traceback(monkeypatch, how):
    command_raising(monkeypatch, OSError(errno.ENOSPC, "No space left on device", "/full"))
    argv = ["sample"]
    if how == "environment":
        monkeypatch.setenv("GNS_PYRO_DEBUG", "1")
    else:
        argv = ["--debug", *argv] if how == "flag first" else [*argv, "--debug"]
    with pytest.raises(OSError, match="No space left"):
        cli.main(argv)


def test_a_bad_flag_is_one_line(capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main(["sample", "--n", "many"])
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "usage" not in err
    assert err.startswith("gns-pyro sample: error: argument --n") and "--help" in err


@pytest.mark.skipif(not hasattr(__import__("os"), "fork"), reason="POSIX resource limits")
def test_a_full_disk_while_writing_is_one_line_naming_the_output(tmp_path):
    """Simulated with RLIMIT_FSIZE: the write fails with EFBIG, the command says so in one
    line naming the file, and leaves no partial file behind."""
    import os
    import resource
    import subprocess
    import sys

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (2000, 2000))

    out = tmp_path / "concepts.png"
    proc = subprocess.run(
        [sys.executable, "-m", "gns_pyro.cli", "sample", "--n", "16", "--out", str(out)],
        preexec_fn=small_files,
        capture_output=True,
        text=True,
        # no .pyc writes under the limit: a truncated cache file would break later imports
        env={**os.environ, "OMP_NUM_THREADS": "1", "PYTHONDONTWRITEBYTECODE": "1"},
        timeout=300,
    )
    assert proc.returncode == 2
    assert proc.stderr == f"gns-pyro: error: {out}: File too large\n"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.skipif(not os.path.exists("/dev/full"), reason="needs /dev/full")
@pytest.mark.parametrize("argv", [["--help"], ["--version"], ["data", "--help"]])
def test_a_full_standard_output_is_one_line_naming_it(argv):
    """argparse swallows the failed write of ``--help``; the console script still says that
    its output was lost, and where."""
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            [sys.executable, "-m", "gns_pyro.cli", *argv],
            stdout=full,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
        )
    assert done.returncode == 2
    assert done.stderr.splitlines() == ["gns-pyro: error: standard output: No space left on device"]


def test_the_named_stream_names_itself_and_keeps_an_error_that_was_swallowed():
    from gns_pyro.cli.streams import NamedStream

    class Full(io.StringIO):
        def write(self, text):
            raise OSError(errno.ENOSPC, "No space left on device")

    stream = NamedStream(Full(), "standard output")
    with pytest.raises(OSError) as caught:
        stream.write("x")
    assert caught.value.filename == "standard output"
    try:
        stream.write("y")
    except OSError:
        pass  # as argparse does
    with pytest.raises(OSError, match="standard output"):
        stream.flush()
    stream.flush()  # reported once


@pytest.mark.parametrize("closed", [">&-", "2>&-", ">&- 2>&-"])
def test_a_command_started_with_its_output_closed_runs_quietly(tmp_path, closed):
    """``gns-pyro ... >&-``: Python sets sys.stdout to None; the command still works (its
    output goes nowhere), and an error on a closed stderr is not printed to stdout."""
    import shlex

    script = (
        f"{shlex.quote(sys.executable)} -m gns_pyro.cli data info --data-dir "
        f"{shlex.quote(str(tmp_path))} --json {closed}; echo status $?"
    )
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip().splitlines()[-1] == "status 0", done.stderr
    assert "Traceback" not in done.stderr and "internal error" not in done.stderr
    missing = tmp_path / "missing"
    script = (
        f"{shlex.quote(sys.executable)} -m gns_pyro.cli data info --data-dir "
        f"{shlex.quote(str(missing))} 2>&-; echo status $?"
    )
    done = subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip().splitlines() == ["status 2"]  # nothing else on stdout


def test_a_warning_on_the_console_is_one_line(capsys):
    cli._one_line_warning(
        "rebuilding unreadable spline cache /c.pt:\n  torch says\nmore", UserWarning, "x.py", 3
    )
    err = capsys.readouterr().err
    assert err == "gns-pyro: warning: rebuilding unreadable spline cache /c.pt: torch says more\n"
