"""``gns-pyro parse-eval``: parses scored against human strokes on the held-out Tagalog
drawings (:mod:`gns_pyro.tasks.parse_eval`)."""

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
    """Register ``gns-pyro parse-eval``."""
    p = subparsers.add_parser(
        "parse-eval",
        help="score parses against human strokes (held-out Tagalog)",
        description="Parsing score against human strokes on the held-out Tagalog drawings.",
    )
    p.add_argument("--data-dir", type=argtypes.input_path, default=None)
    p.add_argument(
        "--n",
        type=argtypes.count(1, 10_000),
        default=40,
        help="number of Tagalog drawings (seeded)",
    )
    p.add_argument("--seed", type=argtypes.seed, default=0)
    p.add_argument("--out", type=argtypes.out_folder, default="results/parse_eval")
    p.add_argument(
        "--weights",
        type=argtypes.input_path,
        default=None,
        help="type-prior weights (default: the shipped ones)",
    )
    p.add_argument("--json", action="store_true")
    add_quiet_argument(p)
    add_device_argument(p)
    add_cluster_arguments(p, "drawings")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """``gns-pyro parse-eval``: prints both methods' scores."""
    from gns_pyro.tasks.parse_eval import print_scores, run_parse_eval
    from gns_pyro.tasks.results import store_line

    out = Path(args.out)
    scale_out = scale_out_of(args, out)
    summary = run_parse_eval(
        args.data_dir,
        out,
        args.n,
        args.seed,
        args.weights,
        device_of(args),
        args.quiet,
        **scale_out,
    )
    if args.json:
        print(json.dumps(summary))
    elif not print_submitted(summary, out):
        print_scores(summary)
        print(f"{summary['images']} drawings{store_line(summary)}")
    return 0
