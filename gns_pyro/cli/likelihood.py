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
    p.add_argument("--data-dir", type=argtypes.input_path, default=None)
    p.add_argument("--split", choices=("background", "evaluation"), default="evaluation")
    p.add_argument("--n", type=argtypes.count(1, 20_000), default=1000)
    p.add_argument("--seed", type=argtypes.seed, default=0)
    p.add_argument("--k", type=argtypes.count(1, 50), default=5)
    p.add_argument("--out", type=argtypes.out_folder, default="results/likelihood")
    add_marginal_arguments(p)
    p.add_argument(
        "--weights",
        type=argtypes.input_path,
        default=None,
        help="type-prior weights (default: the shipped ones)",
    )
    p.add_argument("--json", action="store_true")
    add_quiet_argument(p)
    add_device_argument(p)
    add_cluster_arguments(p, "images")
    p.set_defaults(func=run)


def add_marginal_arguments(p: argparse.ArgumentParser) -> None:
    """Options of the Laplace step (and its check) shared by ``likelihood`` and ``marginal``."""
    from gns_pyro.inference.laplace import GRADIENT_TOLERANCE, POLISH_STEPS
    from gns_pyro.tasks.likelihood import RENDERERS

    p.add_argument(
        "--polish-steps",
        type=argtypes.count(0, 10_000),
        default=POLISH_STEPS,
        help="most Newton steps at each mode before Laplace; a mode stops earlier once its "
        f"gradient norm is below {GRADIENT_TOLERANCE:g} and -H is positive definite "
        f"(default {POLISH_STEPS})",
    )
    p.add_argument(
        "--renderer",
        choices=RENDERERS,
        default="smooth",
        help="image model of the Laplace step: the smooth renderer (twice differentiable, "
        "what Laplace needs) or the reference one the parses are refined with "
        "(default smooth)",
    )
    p.add_argument(
        "--check-is",
        type=argtypes.count(0, 1_000_000),
        default=0,
        metavar="N",
        help="also estimate log P(I) by importance sampling with N samples from the "
        "mixture of the modes' Laplace Gaussians (reports its standard error, effective "
        "sample size and ELBO; default 0: no check)",
    )


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
        renderer=args.renderer,
        check_is=args.check_is,
        **scale_out,
    )
    if args.json:
        print(json.dumps(summary))
    elif not print_submitted(summary, out):
        mean = summary["mean_log_marginal"]
        value = "-" if mean is None else f"{mean:.1f} nats ({summary['mean_per_pixel']:.4f}/pixel)"
        print(f"{summary['images']} {args.split} images: mean Laplace log P(I) {value}", end="")
        print(store_line(summary))
        if summary["modes"]:
            print(
                f"modes: {summary['negative_definite_fraction']:.1%} negative definite, "
                f"{summary['converged_fraction']:.1%} converged (gradient norm below tolerance)"
            )
        check = summary.get("importance")
        if check:
            print(
                f"importance check on {check['images']} images: mean IS log P(I) "
                f"{check['mean_log_marginal']:.1f}, Laplace - IS "
                f"{check['mean_laplace_minus_is']:+.2f} "
                f"(mean |.| {check['mean_abs_laplace_minus_is']:.2f}), median ESS "
                f"{check['median_effective_sample_size']:.0f}, mean ELBO {check['mean_elbo']:.1f}"
            )
    return 0
