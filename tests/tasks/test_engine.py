import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

PARENT = textwrap.dedent(
    """
    import os, sys, time
    from pathlib import Path
    from gns_pyro.tasks.engine import Cluster, scatter

    def report_and_sleep(pid_file, shard):
        Path(pid_file).write_text(str(os.getpid()))  # the job is running now
        time.sleep(60)

    if __name__ == "__main__":
        scatter(report_and_sleep, {"pid_file": sys.argv[1]}, Cluster(jobs=1, folder=sys.argv[2]))
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX re-parenting")
def test_workers_end_when_their_parent_is_killed(tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    pid_file = tmp_path / "worker.pid"
    parent = subprocess.Popen(
        [sys.executable, str(script), str(pid_file), str(tmp_path / "jobs")],
        stderr=subprocess.DEVNULL,
    )
    worker = _wait_for_job(pid_file, parent)
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    killed = time.monotonic()
    while time.monotonic() < killed + 20:
        try:
            os.kill(worker, 0)  # still there?
        except ProcessLookupError:
            break
        if _is_zombie(worker):
            break
        time.sleep(0.05)
    else:
        os.kill(worker, signal.SIGKILL)
        pytest.fail("the worker outlived its killed parent by 20 s")
    # the job's watchdog looks every half second: it is gone well within 2 s
    assert time.monotonic() - killed < 2.0


def _descendants(root: int) -> set[int]:
    """Processes below ``root``, read from /proc (the test's own walk)."""
    parents = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open(f"/proc/{name}/stat") as f:
                    parents[int(name)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError):
                pass
    found, todo = set(), [root]
    while todo:
        above = todo.pop()
        below = [pid for pid, ppid in parents.items() if ppid == above]
        todo += [pid for pid in below if pid not in found]
        found.update(below)
    return found


@pytest.mark.skipif(not os.path.isdir("/proc"), reason="reads /proc")
def test_a_killed_parent_takes_every_job_process_with_it_at_once(tmp_path):
    """SIGKILL right after the jobs were started, before any task could import torch and start
    its own watch: the reaper ends every process of the run (shell wrappers, controllers,
    tasks) within a second and removes the run's job folder."""
    script = tmp_path / "parent.py"
    script.write_text(PARENT)
    root = tmp_path / "jobs"
    parent = subprocess.Popen(
        [sys.executable, str(script), str(tmp_path / "worker.pid"), str(root)],
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    started = set()
    while len(started) < 3:  # sh wrapper, submitit's controller, the reaper (at least)
        assert time.monotonic() < deadline and parent.poll() is None, "the run never started"
        time.sleep(0.05)
        started = _descendants(parent.pid)
    time.sleep(0.2)
    started |= _descendants(parent.pid)
    assert any(root.iterdir())  # the run's job folder
    os.kill(parent.pid, signal.SIGKILL)
    parent.wait()
    killed = time.monotonic()
    alive = set(started)
    while alive and time.monotonic() < killed + 10:
        alive = {pid for pid in alive if not _is_zombie(pid)}
        time.sleep(0.02)
    took = time.monotonic() - killed
    for pid in alive:
        os.kill(pid, signal.SIGKILL)
    assert not alive, "processes of the run outlived their killed parent by 10 s"
    assert took < 1.0, f"the last process of the run ended {took:.2f} s after its parent"
    deadline = time.monotonic() + 2
    while any(root.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert list(root.iterdir()) == []


def default_sigint() -> None:
    """Run in a child before it starts: Ctrl-C (SIGINT) interrupts it, as in a terminal.

    A shell starts a background job (``nohup pytest ... &``) with SIGINT ignored, and its
    children inherit that; Python then installs no KeyboardInterrupt handler, and a test that
    sends SIGINT would find the child deaf to it.
    """
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _wait_for_job(pid_file, parent, timeout: float = 60) -> int:
    """The PID a job wrote to ``pid_file`` once it runs (its parent must stay alive)."""
    deadline = time.monotonic() + timeout
    while not pid_file.exists() or not pid_file.read_text():
        assert time.monotonic() < deadline and parent.poll() is None, "the job never started"
        time.sleep(0.2)
    return int(pid_file.read_text())


def _assert_ends_within(worker: int, seconds: float) -> None:
    """Fail (and kill it) unless the job ``worker`` has ended within ``seconds``."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not _is_zombie(worker):
        time.sleep(0.2)
    if not _is_zombie(worker):
        os.kill(worker, signal.SIGKILL)
        pytest.fail("the job outlived its interrupted parent")


def _is_zombie(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split(")")[-1].split()[0] == "Z"
    except OSError:
        return True


JOBS = textwrap.dedent(
    """
    import os, time
    from pathlib import Path
    from gns_pyro.errors import DataError

    def fail(shard):
        raise DataError(f"shard {shard} found a broken image")

    def threads(shard):
        import torch
        return str(shard), torch.get_num_threads(), os.environ["OMP_NUM_THREADS"]

    def report_and_sleep(pid_file, shard):
        Path(pid_file).write_text(str(os.getpid()))
        time.sleep(60)

    def die(shard):
        os._exit(3)  # killed, say: no result of its own

    def die_of_a_full_disk(shard):
        import sys
        print("OSError: [Errno 28] No space left on device", file=sys.stderr, flush=True)
        os._exit(3)  # could not write its result

    def job_folder(shard):
        import stat
        import submitit
        folder = submitit.JobEnvironment().paths.folder
        return str(folder), stat.S_IMODE(os.stat(folder).st_mode)
    """
)


@pytest.fixture
def job_module(tmp_path, monkeypatch):
    """Functions in a module the job processes can import (submitit pickles by reference)."""
    (tmp_path / "engine_jobs.py").write_text(JOBS)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    import importlib

    return importlib.import_module("engine_jobs")


def test_jobs_get_their_shard_and_their_share_of_threads(job_module, tmp_path):
    from gns_pyro.tasks.engine import Cluster, scatter

    results = scatter(job_module.threads, {}, Cluster(jobs=2, threads=1, folder=tmp_path / "j"))
    assert results == [("1/2", 1, "1"), ("2/2", 1, "1")]


def test_a_failed_job_is_one_error_naming_its_log(job_module, tmp_path):
    from gns_pyro.errors import GNSError
    from gns_pyro.tasks.engine import Cluster, scatter

    with pytest.raises(GNSError, match=r"job 1/1 failed: .*broken image.*log: .*_log.err"):
        scatter(job_module.fail, {}, Cluster(jobs=1, folder=tmp_path / "j"))


CTRL_C = textwrap.dedent(
    """
    import sys
    from gns_pyro.tasks.engine import Cluster, scatter
    import engine_jobs

    if __name__ == "__main__":
        try:
            scatter(engine_jobs.report_and_sleep, {"pid_file": sys.argv[1]},
                    Cluster(jobs=1, folder=sys.argv[2]))
        except KeyboardInterrupt:
            sys.exit(130)
    """
)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_ctrl_c_stops_the_parent_and_cancels_its_jobs(job_module, tmp_path):
    script = tmp_path / "parent.py"
    script.write_text(CTRL_C)
    pid_file = tmp_path / "worker.pid"
    parent = subprocess.Popen(
        [sys.executable, str(script), str(pid_file), str(tmp_path / "j")],
        preexec_fn=default_sigint,
    )
    worker = _wait_for_job(pid_file, parent)
    os.kill(parent.pid, signal.SIGINT)
    sent = time.monotonic()
    assert parent.wait(timeout=10) == 130
    assert time.monotonic() - sent < 3  # the parent answers Ctrl-C within seconds
    _assert_ends_within(worker, 10)
    # the run's job folder goes with it (the reaper removes it once the parent has ended)
    root = tmp_path / "j"
    deadline = time.monotonic() + 5
    while any(root.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert list(root.iterdir()) == []


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_a_terminal_ctrl_c_to_the_whole_group_is_answered_by_the_parent_alone(job_module, tmp_path):
    """A terminal sends Ctrl-C to every process of the foreground group, jobs included: the
    jobs ignore it (no traceback of theirs), the parent cancels them and exits 130."""
    script = tmp_path / "parent.py"
    script.write_text(CTRL_C)
    pid_file = tmp_path / "worker.pid"

    def own_group_default_sigint():
        os.setpgrp()
        default_sigint()

    parent = subprocess.Popen(
        [sys.executable, str(script), str(pid_file), str(tmp_path / "j")],
        preexec_fn=own_group_default_sigint,
        stderr=subprocess.PIPE,
        text=True,
    )
    worker = _wait_for_job(pid_file, parent)
    os.killpg(parent.pid, signal.SIGINT)
    assert parent.wait(timeout=10) == 130
    _assert_ends_within(worker, 10)
    time.sleep(1)  # whatever the jobs' controllers would print, they have printed by now
    assert "Traceback" not in parent.stderr.read()


class PlantedPickle:
    """Unpickling this creates ``marker``: what an attacker would put in a shared folder."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def test_a_pickle_planted_in_the_result_folder_never_runs(job_module, tmp_path):
    """Local jobs keep their pickles in a fresh private folder, not in OUT/.jobs.

    A job that dies leaves no result pickle of its own; submitit then reads whatever is at the
    result's name, so a folder others can write to would hand the parent their pickle."""
    import argparse
    import pickle

    from gns_pyro.cli.common import cluster_from_args
    from gns_pyro.errors import GNSError
    from gns_pyro.tasks.engine import scatter

    out, marker = tmp_path / "out", tmp_path / "planted-pickle-ran"
    (out / ".jobs").mkdir(parents=True)
    planted = pickle.dumps(PlantedPickle(marker))
    first = os.getpid()  # local job ids are process ids: plant one for each likely id
    for pid in range(first, first + 3000):
        for name in (f"{pid}_0_result.pkl", f"{pid}_result.pkl", f"{pid}_submitted.pkl"):
            (out / ".jobs" / name).write_bytes(planted)
    flags = dict(summarize=False, shard=None, workers=2, slurm=False, no_wait=False)
    flags.update(threads=1, slurm_partition=None, slurm_time=10, slurm_cpus=1)
    flags.update(slurm_gpus=0, slurm_mem=1)
    cluster = cluster_from_args(argparse.Namespace(**flags), out)
    with pytest.raises(GNSError, match="did not finish"):
        scatter(job_module.die, {}, cluster)
    assert not marker.exists()
    pickle.loads(planted)  # the plant itself works: it would have run
    assert marker.exists()


def test_a_job_that_died_is_reported_with_its_last_error_line(job_module, tmp_path):
    from gns_pyro.errors import GNSError
    from gns_pyro.tasks.engine import Cluster, scatter

    with pytest.raises(GNSError, match=r"did not finish: OSError: .*No space left on device"):
        scatter(job_module.die_of_a_full_disk, {}, Cluster(jobs=1, folder=tmp_path / "j"))


def test_the_job_folder_is_private_to_the_run_and_removed_after_it(job_module, tmp_path):
    from gns_pyro.tasks.engine import Cluster, scatter

    root = tmp_path / "jobs"
    [(folder, mode)] = scatter(job_module.job_folder, {}, Cluster(jobs=1, folder=root))
    assert Path(folder).parent == root and mode == 0o700
    assert not Path(folder).exists() and list(root.iterdir()) == []


@pytest.mark.parametrize("where", ["root", "parent"])
def test_a_job_folder_others_can_write_to_is_refused(tmp_path, where):
    from gns_pyro.errors import GNSError
    from gns_pyro.tasks.engine import private_job_folder

    root = tmp_path / "shared" / ".jobs"
    root.mkdir(parents=True)
    (root if where == "root" else root.parent).chmod(0o777)
    with pytest.raises(GNSError, match=r"can be written by group or others .*chmod go-w"):
        private_job_folder(root)
    assert list(root.iterdir()) == []


def test_a_linked_job_folder_is_refused(tmp_path):
    from gns_pyro.errors import GNSError
    from gns_pyro.tasks.engine import private_job_folder

    (tmp_path / "elsewhere").mkdir()
    (tmp_path / ".jobs").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(GNSError, match="not a plain directory"):
        private_job_folder(tmp_path / ".jobs")


def test_slurm_jobs_need_a_shared_job_folder():
    from gns_pyro.tasks.engine import Cluster

    with pytest.raises(ValueError, match="shared file system"):
        Cluster(jobs=2, executor="slurm")
