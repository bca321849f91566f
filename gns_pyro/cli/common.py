"""The options that several commands share, and their translation into the library's types.

* ``--device`` (:func:`add_device_argument`) -> a :class:`torch.device`;
* ``--quiet`` (:func:`add_quiet_argument`);
* the scale-out flags ``--workers``, ``--threads``, ``--shard``, ``--summarize`` and
  ``--slurm*`` (:func:`add_cluster_arguments`) -> a :class:`~gns_pyro.tasks.engine.Cluster`
  (:func:`cluster_from_args`) and a :class:`~gns_pyro.tasks.results.Shard`
  (:func:`parse_shard`);
* ``--select`` of classify -> run numbers (:func:`parse_selection`);
* the one-line report of a task whose jobs were submitted, not waited for
  (:func:`print_submitted`).

Example::

    >>> parse_shard("2/4")
    Shard(index=2, count=4)
    >>> parse_selection("1-3,7")
    [1, 2, 3, 7]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from gns_pyro.cli import argtypes
from gns_pyro.errors import GNSError
from gns_pyro.tasks.engine import Cluster
from gns_pyro.tasks.results import Shard


# ------------------------------------------------------------------------------ device, quiet
def add_device_argument(parser: argparse.ArgumentParser) -> None:
    """Add ``--device`` (checked by argparse: cpu, cuda, cuda:N or auto) to ``parser``."""
    parser.add_argument(
        "--device",
        type=argtypes.device,
        default="cpu",
        help="torch device: cpu (default), cuda, cuda:N, or auto (CUDA when present)",
    )


def device_of(args: argparse.Namespace):
    """The :class:`torch.device` that ``--device`` names."""
    from gns_pyro.devices import resolve_device

    return resolve_device(args.device)


def add_quiet_argument(parser: argparse.ArgumentParser) -> None:
    """``--quiet``: no progress on stderr (results and errors are still printed)."""
    parser.add_argument("--quiet", action="store_true", help="no progress lines or bars")


# ------------------------------------------------------------------------------ selections
#: Highest run number --select accepts (Omniglot has 20; a folder of your own may have more).
MAX_RUN = 999


def parse_selection(text: str) -> list[int]:
    """``"1-3,7"`` -> ``[1, 2, 3, 7]``.

    :raises GNSError: for anything but comma-separated run numbers (>= 1) and ranges ``a-b``
        with ``a <= b``.
    """
    if not text.strip():
        raise GNSError(
            "--select is empty; give run numbers such as 1-10 or 1,3,5 (or leave it out)"
        )
    chosen = []
    for part in text.split(","):
        bounds = part.strip().split("-")
        digits = all(b.strip().isascii() and b.strip().isdigit() for b in bounds)
        if not digits or len(bounds) > 2 or any(len(b.strip()) > 6 for b in bounds):
            raise GNSError(
                f"--select takes run numbers and ranges such as 1-10 or 1,3,5; got {text!r}"
            )
        a, b = int(bounds[0]), int(bounds[-1])
        if not 1 <= a <= b:
            raise GNSError(f"--select: {part.strip()!r} is not a range a-b with 1 <= a <= b")
        if b > MAX_RUN:
            raise GNSError(f"--select: run {b} is past {MAX_RUN} (Omniglot has 20 runs)")
        chosen += list(range(a, b + 1))
    return sorted(set(chosen))


#: The most shards a job may be split into (as many as the largest ``--workers``).
MAX_SHARDS = 1_024


def parse_shard(text: str | None) -> Shard:
    """``"i/n"`` (1 <= i <= n) -> ``Shard(i, n)``; ``None`` -> ``Shard(1, 1)``, the whole job.

    :raises GNSError: naming the accepted form, for anything else.
    """
    if text is None:
        return Shard(1, 1)
    try:
        i, n = (int(x) for x in text.split("/"))
    except ValueError:
        raise GNSError(f"--shard must look like i/n (e.g. 2/4), got {text!r}") from None
    if not 1 <= i <= n:
        hint = (
            "; shards count from 1 (for Slurm's 0-based array index use "
            "$((SLURM_ARRAY_TASK_ID + 1))/n)"
            if i == 0 and n > 0
            else ""
        )
        raise GNSError(f"--shard i/n needs 1 <= i <= n, got {text!r}{hint}")
    if n > MAX_SHARDS:
        raise GNSError(f"--shard i/n: at most {MAX_SHARDS:,} shards, got n = {n:,}")
    return Shard(i, n)


# ------------------------------------------------------------------------------ scale-out
def add_cluster_arguments(parser: argparse.ArgumentParser, what: str = "items") -> None:
    """The scale-out flags shared by classify, likelihood and parse-eval."""
    g = parser.add_argument_group("scale-out (submitit)")
    g.add_argument(
        "--workers",
        type=argtypes.count(1, 1_024),
        default=1,
        help=f"split the {what} into this many jobs (submitit), local processes unless --slurm; "
        "1 runs in this process",
    )
    g.add_argument(
        "--threads",
        type=argtypes.count(1, 1_024),
        default=None,
        help="torch threads per job (default: cores / workers locally, --slurm-cpus on Slurm)",
    )
    g.add_argument(
        "--shard",
        default=None,
        help="i/n (1-based): do only this block of the work, e.g. from a Slurm array task as "
        "$((SLURM_ARRAY_TASK_ID + 1))/n; merge with --summarize",
    )
    g.add_argument(
        "--summarize",
        action="store_true",
        help="compute nothing: merge the results that jobs saved under --out and say how many "
        "are missing",
    )
    g.add_argument("--slurm", action="store_true", help="submit the jobs as a Slurm job array")
    g.add_argument("--slurm-partition", default=None, help="Slurm partition")
    g.add_argument(
        "--slurm-time", type=argtypes.count(1, 43_200), default=24 * 60, help="minutes per job"
    )
    g.add_argument("--slurm-cpus", type=argtypes.count(1, 1_024), default=2, help="CPUs per job")
    g.add_argument("--slurm-gpus", type=argtypes.count(0, 64), default=0, help="GPUs per job")
    g.add_argument("--slurm-mem", type=argtypes.count(1, 4_096), default=16, help="GB per job")
    g.add_argument(
        "--no-wait",
        action="store_true",
        help="with --slurm: submit and return; merge later with --summarize",
    )


def cluster_from_args(args: argparse.Namespace, out_dir) -> Cluster | None:
    """The :class:`Cluster` the flags ask for, or None to run in this process.

    :raises GNSError: for flags that do not go together.
    """
    if args.summarize and (args.shard or args.workers > 1 or args.slurm):
        raise GNSError("--summarize only reads results: drop --workers, --shard and --slurm")
    if args.shard and (args.workers > 1 or args.slurm):
        raise GNSError("--shard is one job's share; it does not combine with --workers or --slurm")
    if args.no_wait and not args.slurm:
        raise GNSError("--no-wait is for --slurm jobs")
    if args.workers == 1 and not args.slurm:
        return None
    return Cluster(
        jobs=args.workers,
        executor="slurm" if args.slurm else "local",
        threads=args.threads,
        # local jobs: a fresh private folder under the system's temporary folder; Slurm
        # jobs need one the nodes see, made private inside OUT/.jobs (see private_job_folder)
        folder=Path(out_dir) / ".jobs" if args.slurm else None,
        partition=args.slurm_partition,
        time_min=args.slurm_time,
        cpus=args.slurm_cpus,
        gpus=args.slurm_gpus,
        mem_gb=args.slurm_mem,
        wait=not args.no_wait,
    )


def scale_out_of(args: argparse.Namespace, out_dir) -> dict:
    """The scale-out keyword arguments of a resumable task (``shard``, ``summarize``,
    ``cluster``), checked."""
    cluster = cluster_from_args(args, out_dir)
    shard = parse_shard(args.shard) if args.shard is not None else None
    return {"shard": shard, "summarize": args.summarize, "cluster": cluster}


def print_submitted(summary: dict, out_dir) -> bool:
    """Say how many jobs were submitted (and how to merge them), if that is what ``summary``
    reports; returns whether it was."""
    if "submitted_jobs" not in summary:
        return False
    print(f"submitted {summary['submitted_jobs']} jobs; merge with --summarize --out {out_dir}")
    return True


def add_strokes_argument(parser) -> None:
    """``--strokes PATH`` (repeatable): extra stroke sources read after the official files."""
    parser.add_argument(
        "--strokes",
        type=argtypes.input_path,
        action="append",
        default=[],
        metavar="PATH",
        help="an extra stroke source, read after the data folder's own stroke files: a zip or "
        "folder in the official layout named strokes_background... (e.g. the reconstructed "
        "strokes of all 30 alphabets); where a drawing is in both, the official file wins. "
        "Repeatable; none by default",
    )
