"""Ends a run's local jobs when the command that started them dies, even by SIGKILL.

A killed ``gns-pyro`` cannot clean up after itself: its local jobs (a ``/bin/sh`` wrapper, a
submitit controller and the task process under it) would run on until each noticed on its own,
which a task can do only once it has imported torch and its work (a few seconds). This small
process watches instead. :func:`gns_pyro.tasks.engine.scatter` starts it as a script (standard
library only, so it is up in a few hundredths of a second) beside the jobs::

    python -I -S reaper.py PARENT_PID JOB_FOLDER [PID ...]

Every ``INTERVAL`` seconds it records the processes descended from ``PARENT_PID`` (from
``/proc`` where there is one; the given PIDs, the jobs' controllers, everywhere). Once the
parent has gone (this process is re-parented), it kills every recorded process that is still
the same process (its start time unchanged, so a reused PID is left alone), removes
``JOB_FOLDER`` (the run's private job folder; no one is left to read its logs) and exits. The
parent ends it with SIGTERM when the jobs are done or cancelled in the ordinary way.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time

#: seconds between two looks at the parent and its descendants
INTERVAL = 0.1


def _stat(pid: int) -> tuple[int, str] | None:
    """``(parent pid, start time)`` of ``pid`` from ``/proc``, or None if unknown."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except (OSError, IndexError):
        return None
    return int(fields[1]), fields[19].decode()


def descendants(root: int) -> dict[int, str]:
    """Processes below ``root`` (children, grandchildren, ...) with their start times."""
    try:
        entries = [int(name) for name in os.listdir("/proc") if name.isdigit()]
    except OSError:
        return {}
    children: dict[int, list[int]] = {}
    started: dict[int, str] = {}
    for pid in entries:
        info = _stat(pid)
        if info is not None:
            children.setdefault(info[0], []).append(pid)
            started[pid] = info[1]
    found: dict[int, str] = {}
    todo = [root]
    while todo:
        for child in children.get(todo.pop(), []):
            if child not in found:
                found[child] = started[child]
                todo.append(child)
    return found


def kill_all(recorded: dict[int, str | None]) -> None:
    """SIGKILL each recorded process that is still the one recorded, leaves first."""
    for pid, started in sorted(recorded.items(), reverse=True):
        if pid == os.getpid():
            continue
        info = _stat(pid)
        if started is not None and (info is None or info[1] != started):
            continue  # gone, or its PID now belongs to another process
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def watch(parent: int, folder: str, pids: list[int]) -> None:
    """Record ``parent``'s descendants until it dies, then kill them and remove ``folder``."""
    recorded: dict[int, str | None] = {pid: (_stat(pid) or (0, None))[1] for pid in pids}
    while os.getppid() == parent:
        seen = descendants(parent)
        seen.pop(os.getpid(), None)
        # keep what is still alive (a job re-parented early), add what is new
        recorded = {p: s for p, s in recorded.items() if _stat(p) is not None or s is None}
        recorded.update(seen)
        time.sleep(INTERVAL)
    # the parent is gone: whatever it started goes too, with what lies below it now
    for pid in list(recorded):
        recorded.update(descendants(pid))
    kill_all(recorded)
    shutil.rmtree(folder, ignore_errors=True)


def main(argv: list[str]) -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a terminal's Ctrl-C is the parent's to answer
    parent, folder, *pids = argv
    watch(int(parent), folder, [int(p) for p in pids])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
