"""What Laplace's method needs: nets x renderer on a synthetic one-stroke drawing.

For each type-prior weights file and each renderer (reference, smooth), refine a one-stroke
parse of a horizontal bar image, polish it to a maximum (:func:`parse_log_marginal`) and check
the Laplace estimate by importance sampling (:func:`importance_log_marginal`). Prints one JSON
object per combination and a list of them on the last line: gradient norm, smallest eigenvalue
of -H, convergence, Laplace and IS estimates, IS standard error, effective sample size and ELBO.

    python benchmarks/laplace_smoothness.py --weights shipped PATH/type_prior.pt \\
        [--polish-steps 40] [--samples 200]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from gns_pyro.inference.importance import importance_log_marginal
from gns_pyro.inference.laplace import parse_log_marginal
from gns_pyro.inference.refinement import RefineSettings, initial_tokens, refine
from gns_pyro.parses import Parses
from gns_pyro.pretrained import load_type_prior


def bar_parse(parts):
    """A horizontal bar image and a one-stroke parse of it, refined for 30 steps."""
    bar = np.array([[22.0, 32.0], [50.0, 29.0], [79.0, 31.0]])
    types = Parses.from_control_points([[bar]], dtype=torch.float32)
    image = torch.zeros(105, 105, dtype=torch.bool)
    image[29:33, 20:81] = True
    tokens = initial_tokens(types).replace(blur=torch.tensor([1.5]), noise=torch.tensor([0.02]))
    refined = refine(parts, types, tokens, image, RefineSettings(steps=30))
    return refined.types, refined.tokens, image


def measure(parts, polish_steps: int, samples: int) -> dict:
    types, tokens, image = bar_parse(parts)
    began = time.perf_counter()
    laplace, (mode,) = parse_log_marginal(parts, types, tokens, image, polish_steps)
    check = importance_log_marginal(parts, types, tokens, image, [mode], num_samples=samples)
    return {
        "gradient_norm": mode.gradient_norm,
        "smallest_curvature": mode.smallest_curvature,
        "converged": mode.converged,
        "newton_steps": mode.steps,
        "laplace": float(laplace),
        "importance": check.log_marginal,
        "standard_error": check.standard_error,
        "effective_sample_size": check.effective_sample_size,
        "samples": samples,
        "elbo": check.elbo,
        "seconds": round(time.perf_counter() - began, 1),
    }


def main(args: argparse.Namespace) -> list[dict]:
    rows = []
    for weights in args.weights:
        parts = load_type_prior(None if weights == "shipped" else weights)
        for renderer in ("reference", "smooth"):
            scoring = parts.with_smooth_rendering(renderer == "smooth")
            row = {"weights": weights, "renderer": renderer}
            row.update(measure(scoring, args.polish_steps, args.samples))
            print(json.dumps(row), flush=True)
            rows.append(row)
    print(json.dumps(rows))
    return rows


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", nargs="+", default=["shipped"])
    parser.add_argument("--polish-steps", type=int, default=40)
    parser.add_argument("--samples", type=int, default=200)
    return parser.parse_args(argv)


if __name__ == "__main__":
    torch.set_num_threads(1)
    main(parse_args())
