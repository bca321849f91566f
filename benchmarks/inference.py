"""Inference costs: full ``infer`` per image, batched token refit vs one at a time, Laplace.

Prints a JSON object on its last line:

* ``infer_seconds_median`` over ``--n-images`` seeded evaluation images (proposals, search,
  refinement with default settings);
* ``refit_batched_seconds`` / ``refit_one_by_one_seconds`` / ``refit_speedup``: refitting the
  tokens of 100 parses to one image as one batch vs one parse at a time (same steps);
* ``laplace_seconds_per_parse``: Newton polish (``--polish-steps``) and Laplace at one mode.

    python benchmarks/inference.py [--n-images 20] [--data-dir D]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

import numpy as np
import torch

from gns_pyro.data import Omniglot
from gns_pyro.inference import RefineSettings, infer
from gns_pyro.inference.laplace import parse_log_marginal
from gns_pyro.inference.refinement import RefitSettings, RefitStart, refit_tokens
from gns_pyro.parses import Parses
from gns_pyro.pretrained import load_type_prior


def main(args: argparse.Namespace) -> dict:
    parts = load_type_prior()
    with Omniglot(args.data_dir) as data:
        keys = data.keys("evaluation", "images")
        rng = np.random.default_rng(args.seed)
        pick = rng.choice(len(keys), size=args.n_images, replace=False)
        images = [data.read_image(*keys[i], split="evaluation") for i in pick]
    seconds, posteriors = [], []
    for image in images:
        start = time.perf_counter()
        posteriors.append(infer(image, parts, k=5, seed=args.seed))
        seconds.append(time.perf_counter() - start)

    types = Parses.cat([p.types for p in posteriors])[: args.n_refit].trim()
    settings = RefitSettings(
        starts=(RefitStart(14.0, 0.44, False),),
        race=RefineSettings(steps=args.refit_steps, patience=10**6),
        finish=RefineSettings(steps=0),
    )
    start = time.perf_counter()
    refit_tokens(types, images[0], settings)
    t_batched = time.perf_counter() - start
    start = time.perf_counter()
    for i in range(len(types)):
        refit_tokens(types[i].trim(), images[0], settings)
    t_single = time.perf_counter() - start

    start = time.perf_counter()
    _, results = parse_log_marginal(
        parts, posteriors[0].types, posteriors[0].tokens, images[0], args.polish_steps
    )
    t_laplace = (time.perf_counter() - start) / len(results)

    result = {
        "torch_threads": torch.get_num_threads(),
        "n_images": len(images),
        "infer_seconds_median": round(statistics.median(seconds), 2),
        "infer_seconds_max": round(max(seconds), 2),
        "n_refit_parses": len(types),
        "refit_steps": args.refit_steps,
        "refit_batched_seconds": round(t_batched, 2),
        "refit_one_by_one_seconds": round(t_single, 2),
        "refit_speedup": round(t_single / t_batched, 1),
        "laplace_seconds_per_parse": round(t_laplace, 2),
        "laplace_dims": [r.dim for r in results],
    }
    print(json.dumps(result))
    return result


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--n-images", type=int, default=20)
    parser.add_argument("--n-refit", type=int, default=100)
    parser.add_argument("--refit-steps", type=int, default=30)
    parser.add_argument("--polish-steps", type=int, default=3)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


if __name__ == "__main__":
    main(parse_args())
