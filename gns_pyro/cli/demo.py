"""``gns-pyro demo``: the model's tasks end to end, with no downloaded data
(:mod:`gns_pyro.tasks.demo`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from gns_pyro.cli import argtypes
from gns_pyro.cli.common import add_device_argument, add_quiet_argument, device_of


def add_parser(subparsers) -> None:
    """Register ``gns-pyro demo``."""
    p = subparsers.add_parser(
        "demo",
        help="sample concepts, parse one, draw exemplars, classify one-shot (no data needed)",
        description="The model's tasks end to end on the shipped weights, with no downloaded "
        "data: sample new concepts, draw exemplars, parse one, classify one-shot among them.",
    )
    p.add_argument(
        "--out",
        type=argtypes.out_folder,
        default="demo",
        help="folder for the pictures and summary.json",
    )
    p.add_argument(
        "--concepts", type=argtypes.count(1, 2_000), default=16, help="new concepts to sample"
    )
    p.add_argument(
        "--ways", type=argtypes.count(1, 20), default=5, help="classes in the one-shot task"
    )
    p.add_argument("--seed", type=argtypes.seed, default=0, help="random seed")
    p.add_argument(
        "--parse-steps", type=argtypes.count(1, 10_000), default=60, help="joint refinement steps"
    )
    p.add_argument(
        "--refit-steps", type=argtypes.count(1, 10_000), default=20, help="token refit steps"
    )
    p.add_argument(
        "--weights",
        type=argtypes.input_path,
        default=None,
        help="type-prior weights (default: the shipped ones)",
    )
    add_quiet_argument(p)
    add_device_argument(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """``gns-pyro demo``: prints the summary as JSON."""
    from gns_pyro.errors import GNSError
    from gns_pyro.tasks.demo import run_demo

    if args.ways < 2 or args.concepts < args.ways:
        raise GNSError("--ways must be >= 2 and --concepts >= --ways")
    summary = run_demo(
        Path(args.out),
        args.concepts,
        args.ways,
        args.seed,
        args.parse_steps,
        args.refit_steps,
        args.weights,
        device_of(args),
        args.quiet,
    )
    print(json.dumps(summary))
    return 0
