"""The reaper kills what a dead parent started, and nothing else (gns_pyro.tasks.reaper)."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

from gns_pyro.tasks import reaper

pytestmark = pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")


def _sleeper() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])


def test_descendants_finds_children_and_grandchildren():
    shell = subprocess.Popen(["sh", "-c", f"{sys.executable} -c 'import time; time.sleep(60)'; :"])
    try:
        deadline = time.monotonic() + 10
        while len(reaper.descendants(os.getpid())) < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        found = reaper.descendants(os.getpid())
        assert shell.pid in found
        assert len(reaper.descendants(shell.pid)) == 1  # the Python under the shell
        assert set(reaper.descendants(shell.pid)) < set(found)
    finally:
        for pid in reaper.descendants(shell.pid):
            os.kill(pid, 9)
        shell.kill()
        shell.wait()


def test_a_recorded_process_whose_pid_was_reused_is_left_alone():
    proc = _sleeper()
    try:
        reaper.kill_all({proc.pid: "not its start time"})
        time.sleep(0.2)
        assert proc.poll() is None
        started = reaper.descendants(os.getpid())[proc.pid]  # its real start time
        reaper.kill_all({proc.pid: started})
        assert proc.wait(timeout=5) == -9
    finally:
        proc.kill()
        proc.wait()


def test_the_reaper_waits_while_its_parent_lives_and_leaves_the_folder(tmp_path):
    """Ended by SIGTERM (the parent's ordinary cleanup), it kills nothing and removes nothing."""
    job = _sleeper()
    watcher = subprocess.Popen(
        [sys.executable, "-I", "-S", reaper.__file__, str(os.getpid()), str(tmp_path), str(job.pid)]
    )
    try:
        time.sleep(0.5)
        assert watcher.poll() is None and job.poll() is None
        watcher.terminate()
        watcher.wait(timeout=5)
        assert job.poll() is None and tmp_path.is_dir()
    finally:
        job.kill()
        job.wait()
