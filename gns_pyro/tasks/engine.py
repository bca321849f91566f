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
    >>> cluster = Cluster(jobs=2, folder="results/likelihood/.jobs")     # doctest: +SKIP
    >>> scatter(run_likelihood, {"data_dir": None, "out_dir": "results/likelihood"}, cluster)
"""

from __future__ import annotations

import dataclasses
import os
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
    :param folder: submitit's folder for job logs and pickles.
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
    folder: str = ".jobs"
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

    def threads_per_job(self) -> int:
        """Torch threads each job runs with."""
        if self.threads is not None:
            return self.threads
        if self.executor == "slurm":
            return self.cpus
        return max(1, (os.cpu_count() or 1) // self.jobs)


def exit_with_parent(parent: int, interval: float = 1.0) -> None:
    """End this process (exit status 1) as soon as process ``parent`` has ended, so that jobs
    started by a killed command do not go on writing results. A daemon thread checks every
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
        while alive():
            time.sleep(interval)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def run_shard(function, kwargs: dict, shard: Shard, threads: int, parent: int | None):
    """What one job runs: shard ``shard`` of ``function`` with ``threads`` torch threads."""
    import torch

    if parent is not None:
        exit_with_parent(parent)
    torch.set_num_threads(threads)
    return function(**kwargs, shard=shard)


def _executor(cluster: Cluster):
    import submitit

    threads = cluster.threads_per_job()
    # the thread caps must be in the environment before torch starts in the job
    setup = [f"export OMP_NUM_THREADS={threads} MKL_NUM_THREADS={threads}"]
    if cluster.executor == "local":
        executor = submitit.LocalExecutor(folder=cluster.folder)
        executor.update_parameters(timeout_min=cluster.time_min, setup=setup)
    else:
        executor = submitit.SlurmExecutor(folder=cluster.folder)
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
    Path(cluster.folder).mkdir(parents=True, exist_ok=True)
    executor = _executor(cluster)
    parent = os.getpid() if cluster.executor == "local" else None
    threads = cluster.threads_per_job()
    n = cluster.jobs
    with executor.batch():  # one Slurm job array, or n local processes
        jobs = [
            executor.submit(run_shard, function, kwargs, Shard(i, n), threads, parent)
            for i in range(1, n + 1)
        ]
    if not cluster.wait:
        return []
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
    except BaseException:  # Ctrl-C or a failed job: stop the others too
        for job in jobs:
            if not job.done():
                job.cancel(check=False)
        raise
    return results


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
        raise GNSError(f"job {i}/{n} did not finish: {str(err).splitlines()[0]}") from None
