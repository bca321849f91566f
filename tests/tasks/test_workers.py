import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

PARENT = textwrap.dedent(
    """
    import multiprocessing as mp, os, sys, time
    from gns_pyro.tasks.classify import exit_with_parent

    def report_and_sleep(_):
        print(os.getpid(), flush=True)  # the worker is running a task now
        time.sleep(60)

    if __name__ == "__main__":
        ctx = mp.get_context("spawn")
        with ctx.Pool(1, initializer=exit_with_parent, initargs=(os.getpid(), 0.2)) as pool:
            pool.map_async(report_and_sleep, [0])
            time.sleep(60)
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX re-parenting")
def test_workers_end_when_their_parent_is_killed(tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    parent = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    worker = int(parent.stdout.readline())
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            os.kill(worker, 0)  # still there?
        except ProcessLookupError:
            return
        if _is_zombie(worker):
            return
        time.sleep(0.2)
    os.kill(worker, signal.SIGKILL)
    pytest.fail("the worker outlived its killed parent by 20 s")


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True
