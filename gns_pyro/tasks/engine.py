"""Scale-out for the resumable tasks on `submitit <https://github.com/facebookincubator/submitit>`_.

A task (classify, likelihood, parse-eval) is a function that does shard ``i/n`` of its work and
saves every finished item in a :class:`~gns_pyro.tasks.results.ResultStore`. :func:`scatter`
runs its ``n`` shards as submitit jobs, either as processes on this machine (submitit's
``LocalExecutor``: laptops, one big node, CI) or as a Slurm job array (``SlurmExecutor``), and
waits for them; the caller then reads the merged result back from the store. Nothing is
scheduled by hand: submitit starts, watches, cancels and reports the jobs.

Why submitit and not Dask: the work is a handful of long, independent, resumable shards that
write their own results, which is exactly a Slurm job array; submitit maps a Python function
onto one with nothing to run beside it (no scheduler or worker processes to keep alive on a
login node), and its local executor runs the same code path on a laptop and in CI.

Example (two local processes, one torch thread each)::

    >>> from gns_pyro.tasks.likelihood import run_likelihood
    >>> cluster = Cluster(jobs=2)     # doctest: +SKIP
    >>> scatter(run_likelihood, {"data_dir": None, "out_dir": "results/likelihood"}, cluster)

submitit passes functions, arguments and results between the processes as pickles in a job
folder, and unpickling runs code. So the job folder is private to the run: a fresh directory
with mode 0700 that this run created (:func:`private_job_folder`), never a folder that others
can write to, and never one whose entries the run did not create.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from gns_pyro.errors import GNSError
from gns_pyro.tasks.results import Shard


@dataclasses.dataclass(frozen=True)
class Cluster:
    """Where and how the shards of a task run.

    :param jobs: number of shards, one submitit job each.
    :param executor: ``"local"`` (processes on this machine) or ``"slurm"`` (a job array).
    :param threads: torch threads per job; default: this machine's cores shared by the jobs
        (local) or ``cpus`` (Slurm). Never more compute threads than cores.
    :param folder: where this run's private job folder (logs and pickles) is made. ``None``:
        the system's temporary folder for local jobs (the folder is removed once every job
        succeeded); Slurm needs a folder the compute nodes see, so ``None`` is refused there.
        See :func:`private_job_folder`.
    :param partition: Slurm partition (``None``: the cluster's default).
    :param time_min: wall-time limit per job, minutes.
    :param cpus: CPUs per Slurm job.
    :param gpus: GPUs per Slurm job (run with ``device="cuda"``).
    :param mem_gb: memory per Slurm job, GB.
    :param wait: wait for the jobs and return their summaries; ``False`` returns after
        submitting (merge later by summarizing).
    """

    jobs: int = 1
    executor: str = "local"
    threads: int | None = None
    folder: str | Path | None = None
    partition: str | None = None
    time_min: int = 24 * 60
    cpus: int = 2
    gpus: int = 0
    mem_gb: int = 16
    wait: bool = True

    def __post_init__(self):
        if self.executor not in ("local", "slurm"):
            raise ValueError(f"executor must be 'local' or 'slurm', got {self.executor!r}")
        if self.jobs < 1:
            raise ValueError(f"jobs must be at least 1, got {self.jobs}")
        if self.executor == "slurm" and self.folder is None:
            raise ValueError("Slurm jobs need a job folder on a shared file system")
        if self.executor == "slurm" and not (shutil.which("sbatch") and shutil.which("srun")):
            raise GNSError(
                "--slurm: no Slurm on this machine (sbatch and srun are not on PATH); run "
                "without --slurm for local jobs"
            )

    def threads_per_job(self) -> int:
        """Torch threads each job runs with."""
        if self.threads is not None:
            return self.threads
        if self.executor == "slurm":
            return self.cpus
        return max(1, (os.cpu_count() or 1) // self.jobs)


def exit_with_parent(parent: int, interval: float = 0.5, stop_file: str | None = None) -> None:
    """End this process (exit status 1) as soon as process ``parent`` has ended, or
    ``stop_file`` exists (the parent cancelled its jobs), so that jobs started by a killed or
    interrupted command do not go on writing results. A daemon thread checks every
    ``interval`` seconds. Local jobs only: a Slurm job outlives the shell that submitted it
    on purpose."""

    def alive() -> bool:
        try:
            os.kill(parent, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        try:  # a killed parent not yet reaped is a zombie: gone for our purpose
            with open(f"/proc/{parent}/stat") as f:
                return f.read().rsplit(")", 1)[-1].split()[0] != "Z"
        except OSError:
            return True

    def watch():
        while alive() and not (stop_file and os.path.exists(stop_file)):
            time.sleep(interval)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def run_shard(
    function,
    kwargs: dict,
    shard: Shard,
    threads: int,
    parent: int | None,
    stop_file: str | None = None,
):
    """What one job runs: shard ``shard`` of ``function`` with ``threads`` torch threads."""
    import torch

    if parent is not None:
        exit_with_parent(parent, stop_file=stop_file)
    torch.set_num_threads(threads)
    return function(**kwargs, shard=shard)


def private_job_folder(root: str | Path | None) -> Path:
    """A fresh directory for one run's submitit files, which only this user can enter.

    submitit unpickles the results it finds in its folder, so whoever can write there can run
    code in this process. The folder is made by :func:`tempfile.mkdtemp` (mode 0700, a new
    name, created atomically): no entry in it predates the run, and no one else can add one.

    :param root: where to make it; ``None``: the system's temporary folder. A given ``root``
        (and the folder above it) must be a real directory of this user that neither group nor
        others can write to (else someone could swap it for theirs); it is created with mode
        0700 if missing.
    :raises GNSError: naming the folder and what is wrong with it.
    """
    if root is None:
        return Path(tempfile.mkdtemp(prefix="gns-pyro-jobs-"))
    root = Path(root)
    try:
        root.mkdir(mode=0o700, parents=True, exist_ok=True)
        for folder in (root, root.absolute().parent):
            _check_private(folder)
        return Path(tempfile.mkdtemp(prefix="run-", dir=root))
    except OSError as err:
        raise GNSError(f"job folder {root}: {err.strerror or err}") from None


def _check_private(folder: Path) -> None:
    info = os.lstat(folder)
    if stat.S_ISLNK(info.st_mode) or not stat.S_ISDIR(info.st_mode):
        raise GNSError(f"job folder {folder} is not a plain directory (a link or a file)")
    if info.st_uid != os.getuid():
        raise GNSError(
            f"job folder {folder} belongs to another user (uid {info.st_uid}); submitit's "
            "pickles run code when read, so they must live in a folder of your own"
        )
    if info.st_mode & 0o022:
        raise GNSError(
            f"job folder {folder} can be written by group or others (mode "
            f"{stat.S_IMODE(info.st_mode):o}); submitit's pickles run code when read: "
            f"run 'chmod go-w {folder}' or choose another --out"
        )


def _executor(cluster: Cluster, folder: Path):
    import submitit

    threads = cluster.threads_per_job()
    # the thread caps must be in the environment before torch starts in the job
    setup = [f"export OMP_NUM_THREADS={threads} MKL_NUM_THREADS={threads}"]
    if cluster.executor == "local":
        executor = submitit.LocalExecutor(folder=folder)
        executor.update_parameters(timeout_min=cluster.time_min, setup=setup)
    else:
        executor = submitit.SlurmExecutor(folder=folder)
        params = {
            "time": cluster.time_min,
            "cpus_per_task": cluster.cpus,
            "mem": f"{cluster.mem_gb}GB",
            "setup": setup,
        }
        if cluster.gpus:
            params["gpus_per_node"] = cluster.gpus
        if cluster.partition:
            params["partition"] = cluster.partition
        executor.update_parameters(**params)
    return executor


def scatter(function, kwargs: dict, cluster: Cluster, progress=None) -> list:
    """Run ``function(**kwargs, shard=Shard(i, n))`` for ``i = 1..n`` as submitit jobs.

    :param function: a module-level task function taking ``shard``
        (a :class:`~gns_pyro.tasks.results.Shard`).
    :param kwargs: its other arguments (picklable).
    :param cluster: where to run.
    :param progress: a :class:`~gns_pyro.progress.Progress` over the jobs, or None.
    :returns: the jobs' return values in shard order (``[]`` when ``cluster.wait`` is false).
    :raises GNSError: naming the failed job and its log file.
    """
    folder = private_job_folder(cluster.folder)
    executor = _executor(cluster, folder)
    local = cluster.executor == "local"
    parent = os.getpid() if local else None
    stop = str(folder / "cancelled") if local else None
    threads = cluster.threads_per_job()
    n = cluster.jobs
    # local jobs start with Ctrl-C ignored (the disposition is inherited): a terminal's Ctrl-C
    # reaches the whole process group, and only this process should answer it, by cancelling
    # the jobs, not every job with a traceback of its own
    with _interrupts_ignored_by_children(local), executor.batch():
        jobs = [
            executor.submit(run_shard, function, kwargs, Shard(i, n), threads, parent, stop)
            for i in range(1, n + 1)
        ]
    if not cluster.wait:
        return []
    reaper = _start_reaper(folder, jobs) if local else None
    interrupted = False
    results: list = [None] * n
    try:
        pending = set(range(n))
        while pending:
            for i in sorted(pending):
                if jobs[i].done():
                    pending.discard(i)
                    results[i] = _result(jobs[i], i + 1, n)
                    if progress is not None:
                        progress.update(f"job {i + 1}/{n} finished")
            time.sleep(0.5)
    except BaseException as err:  # Ctrl-C or a failed job: stop the others too
        # after Ctrl-C this process is about to end, and the reaper, left running, then ends
        # the jobs and removes their folder; a failed job's folder stays for the log it names
        interrupted = isinstance(err, KeyboardInterrupt)
        if stop is not None:
            Path(stop).touch()  # local jobs watch for it: they ignore Ctrl-C (see above)
        for job in jobs:
            if not job.done():
                job.cancel(check=False)
        raise
    finally:
        if reaper is not None and not interrupted:
            reaper.terminate()
            reaper.wait()
    if cluster.executor == "local":  # every job succeeded: its logs and pickles are spent
        discard_job_folder(folder)
    return results


def _start_reaper(folder: Path, jobs: list) -> subprocess.Popen:
    """Start :mod:`gns_pyro.tasks.reaper` beside the local jobs: if this process dies (even by
    SIGKILL), it kills them within a fraction of a second and removes ``folder``."""
    from gns_pyro.tasks import reaper

    controllers = [str(p.pid) for p in (getattr(job, "_process", None) for job in jobs) if p]
    with _interrupts_ignored_by_children(True):
        return subprocess.Popen(
            [sys.executable, "-I", "-S", reaper.__file__, str(os.getpid()), str(folder)]
            + controllers,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            close_fds=True,
        )


@contextlib.contextmanager
def _interrupts_ignored_by_children(local: bool):
    """Within the block SIGINT is ignored, so processes started in it inherit that (local
    jobs); restored after, in this process."""
    if not local or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def discard_job_folder(folder: Path) -> None:
    """Remove a finished run's job folder (tests replace this to read the jobs' logs)."""
    shutil.rmtree(folder, ignore_errors=True)


def _result(job, i: int, n: int):
    import submitit

    try:
        return job.result()
    except submitit.core.utils.FailedJobError as err:
        lines = [line for line in str(err).splitlines() if line.strip()]
        errors = [line for line in lines if "Error" in line] or lines or [""]
        last = errors[-1]
        raise GNSError(f"job {i}/{n} failed: {last.strip()} (log: {job.paths.stderr})") from None
    except submitit.core.utils.UncompletedJobError as err:
        reason = _why_unfinished(job)
        first = str(err).splitlines()[0] if str(err).strip() else "no result"
        raise GNSError(f"job {i}/{n} did not finish: {reason or first}") from None


#: a job folder's disk with less room than this is reported as full
FULL_DISK_BYTES = 1 << 20


def _why_unfinished(job) -> str | None:
    """What the job's own log says went wrong (its last error line), or that the disk of its
    folder is full (then the log could not be written either); None if neither tells."""
    try:
        path = Path(job.paths.stderr)
        info = os.stat(path)
        if stat.S_ISREG(info.st_mode):
            with open(path, "rb") as f:
                f.seek(max(0, info.st_size - 65536))
                lines = f.read().decode("utf-8", "replace").splitlines()
            errors = [line.strip() for line in lines if "Error" in line]
            if errors:
                return f"{errors[-1][:300]} (log: {path})"
    except (OSError, AttributeError):
        pass
    try:
        folder = Path(job.paths.folder)
        if shutil.disk_usage(folder).free < FULL_DISK_BYTES:
            return f"the disk of its job folder {folder} is full"
    except (OSError, AttributeError):
        pass
    return None
