"""The Newton polish with the type prior's Hessian probed along the type's variables alone,
against probing every variable: the same estimates, measured cost, one run.

For each of the first ``--images`` seeded evaluation images (the order ``gns-pyro likelihood``
uses), parse with ``infer`` (K = 5, seed 0, as the command does), then polish the parses under
the smooth image model (:func:`~gns_pyro.inference.laplace.polish`, ``--polish-steps``) both
ways, alternating, ``--repeats`` times each. Prints one line per polish and, last, a JSON
object with the total seconds of each way, their ratio and the largest difference between the
two ways' Laplace estimates (rounding: the Hessians are equal).

    GNS_PYRO_DATA=../shared/omniglot OMP_NUM_THREADS=1 python benchmarks/laplace_hessian.py \\
        --weights weights/type_prior_v3_candidate.pt [--images 1] [--polish-steps 20]
"""

from __future__ import annotations

import argparse
import json
import os
import time

import torch

from gns_pyro.data import Omniglot
from gns_pyro.inference import laplace
from gns_pyro.inference.posterior import infer
from gns_pyro.pretrained import load_type_prior
from gns_pyro.tasks.results import seeded_order


def main(args: argparse.Namespace) -> dict:
    parts = load_type_prior(args.weights)
    smooth = parts.with_smooth_rendering()
    seconds = {"type variables": 0.0, "every variable": 0.0}
    difference = 0.0
    with Omniglot(os.environ.get("GNS_PYRO_DATA")) as data:
        keys = data.keys("evaluation", "images")
        for i in seeded_order(len(keys), args.images, 0):
            image = data.read_image(*keys[i], split="evaluation")
            post = infer(image, parts, k=5, seed=0)
            float64 = laplace._as_float64(smooth, post.types, post.tokens, image)
            estimates = {}
            for _ in range(args.repeats):
                for way in seconds:
                    space = laplace._parse_space(*float64)
                    if way == "every variable":
                        space.local_sites = None
                    began = time.perf_counter()
                    results = laplace.polish(space, args.polish_steps)
                    took = time.perf_counter() - began
                    seconds[way] += took
                    estimates[way] = torch.stack([r.log_marginal for r in results])
                    print(f"{'/'.join(keys[i])}, {way}: {took:.1f} s", flush=True)
            gap = (estimates["type variables"] - estimates["every variable"]).abs().max()
            difference = max(difference, float(gap))
    summary = {
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
        "ratio": round(seconds["every variable"] / seconds["type variables"], 2),
        "largest_estimate_difference": difference,
    }
    print(json.dumps(summary))
    return summary


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=None, help="type-prior weights (default: shipped)")
    parser.add_argument("--images", type=int, default=1)
    parser.add_argument("--polish-steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=2)
    return parser.parse_args(argv)


if __name__ == "__main__":
    torch.set_num_threads(1)
    main(parse_args())
