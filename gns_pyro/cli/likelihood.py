"""``gns-pyro likelihood``: mean Laplace log P(I) over a seeded subset of a split
(:mod:`gns_pyro.tasks.likelihood`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from gns_pyro.cli import argtypes
from gns_pyro.cli.common import (
    add_cluster_arguments,
    add_device_argument,
    add_quiet_argument,
    device_of,
    print_submitted,
    scale_out_of,
)


def add_parser(subparsers) -> None:
    """Register ``gns-pyro likelihood``."""
    p = subparsers.add_parser(
        "likelihood",
        help="mean Laplace log P(I) over a seeded subset of a split",
        description="Marginal likelihood of Omniglot images: mean Laplace log P(I) "
        "(paper Table 3).",
    )
    p.add_argument("--data-dir", default=None)
    p.add_argument("--split", choices=("background", "evaluation"), default="evaluation")
    p.add_argument("--n", type=argtypes.positive_int, default=1000)
    p.add_argument("--seed", type=argtypes.seed, default=0)
    p.add_argument("--k", type=argtypes.positive_int, default=5)
    p.add_argument("--out", type=argtypes.out_folder, default="results/likelihood")
    p.add_argument(
        "--polish-steps",
        type=argtypes.nonnegative_int,
        default=3,
        help="Newton steps at each mode before Laplace",
    )
    p.add_argument("--weights", default=None, help="type-prior weights (default: the shipped ones)")
    p.add_argument("--json", action="store_true")
    add_quiet_argument(p)
    add_device_argument(p)
    add_cluster_arguments(p, "images")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """``gns-pyro likelihood``: prints the summary."""
    from gns_pyro.tasks.likelihood import run_likelihood
    from gns_pyro.tasks.results import store_line

    out = Path(args.out)
    scale_out = scale_out_of(args, out)
    summary = run_likelihood(
        args.data_dir,
        out,
        args.split,
        args.n,
        args.seed,
        args.k,
        args.weights,
        args.polish_steps,
        device_of(args),
        quiet=args.quiet,
        **scale_out,
    )
    if args.json:
        print(json.dumps(summary))
    elif not print_submitted(summary, out):
        mean = summary["mean_log_marginal"]
        value = "-" if mean is None else f"{mean:.1f} nats ({summary['mean_per_pixel']:.4f}/pixel)"
        print(f"{summary['images']} {args.split} images: mean Laplace log P(I) {value}", end="")
        print(store_line(summary))
    return 0
