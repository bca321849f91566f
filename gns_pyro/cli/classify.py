"""``gns-pyro classify``: one-shot classification over the official 20-way runs."""

from __future__ import annotations

import argparse
import json

from gns_pyro.cli import argtypes
from gns_pyro.cli.common import (
    add_cluster_arguments,
    add_device_argument,
    add_quiet_argument,
    device_of,
    parse_selection,
    print_submitted,
    scale_out_of,
)
from gns_pyro.tasks.classify import ClassifySettings, run_trials
from gns_pyro.tasks.results import store_line


def add_parser(subparsers) -> None:
    """Register ``gns-pyro classify``."""
    defaults = ClassifySettings()
    p = subparsers.add_parser(
        "classify",
        help="one-shot classification on the 20-way runs",
        description="Parse every training and test image once (cached under --out), refit in "
        "both directions, score with the two-way rule; one result file per trial, written "
        "atomically, so a killed job resumes where it stopped.",
    )
    p.add_argument(
        "--runs",
        type=argtypes.input_path,
        default=None,
        help="folder holding the runs (default: the Omniglot data folder)",
    )
    p.add_argument("--select", default=None, help="run numbers, e.g. 1-10 or 1,3,5")
    p.add_argument(
        "--out",
        type=argtypes.out_folder,
        default="results/classify",
        help="results and cache folder",
    )
    p.add_argument("--k", type=argtypes.count(1, 50), default=defaults.k, help="parses per image")
    p.add_argument(
        "--parse-steps",
        type=argtypes.count(1, 10_000),
        default=defaults.parse_steps,
        help="most refinement steps",
    )
    p.add_argument(
        "--screen-steps",
        type=argtypes.count(0, 10_000),
        default=defaults.screen_steps,
        help="steps of the one-start refit that ranks all classes (0: no screen)",
    )
    p.add_argument(
        "--screen-parses",
        type=argtypes.count(1, 50),
        default=defaults.screen_parses,
        help="parses of each image (its best) that the screen refits (1: about 5x cheaper, "
        "but the true class dropped in 3 of 200 trials)",
    )
    p.add_argument(
        "--keep",
        type=argtypes.count(1, 20),
        default=defaults.keep,
        help="classes rescored with the full refit",
    )
    p.add_argument(
        "--race-steps",
        type=argtypes.count(1, 10_000),
        default=defaults.race_steps,
        help="full refit: steps each start runs before the best is kept",
    )
    p.add_argument(
        "--refit-steps",
        type=argtypes.count(1, 10_000),
        default=defaults.refit_steps,
        help="full refit: most steps the best start then runs",
    )
    p.add_argument(
        "--race-downsample",
        type=argtypes.count(1, 4),
        default=defaults.race_downsample,
        help="full refit: the race steers by a coarse image model on blocks of this side "
        "(1: the full renderer; scores always use it)",
    )
    p.add_argument(
        "--seed", type=argtypes.seed, default=defaults.seed, help="seed of proposals and search"
    )
    p.add_argument(
        "--weights",
        type=argtypes.input_path,
        default=None,
        help="type-prior weights (default: the shipped ones)",
    )
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    add_quiet_argument(p)
    add_device_argument(p)
    add_cluster_arguments(p, "work (all images parsed once, then the trials)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """``gns-pyro classify``: one-shot classification over the selected runs."""
    settings = ClassifySettings(
        k=args.k,
        parse_steps=args.parse_steps,
        screen_steps=args.screen_steps,
        screen_parses=args.screen_parses,
        keep=args.keep,
        race_steps=args.race_steps,
        refit_steps=args.refit_steps,
        race_downsample=args.race_downsample,
        seed=args.seed,
    )
    scale_out = scale_out_of(args, args.out)
    runs = parse_selection(args.select) if args.select is not None else None
    summary = run_trials(
        args.runs,
        args.out,
        runs,
        settings=settings,
        weights=args.weights,
        device=device_of(args),
        quiet=args.quiet,
        **scale_out,
    )
    if args.json:
        print(json.dumps(summary))
    elif print_submitted(summary, args.out):
        pass
    elif not summary["trials"]:
        print(f"no finished trials under {args.out}{store_line(summary)}")
    else:
        print(
            f"{summary['trials']} trials, {summary['errors']} errors "
            f"(error rate {summary['error_rate']:.3f}), {summary['wall_seconds']:.0f} s"
            f"{store_line(summary)}"
        )
    return 0
