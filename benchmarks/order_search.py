"""The order search with shared net inputs against teacher forcing of every ordering, one run.

``infer`` scores every (order, direction) configuration of its proposals with the type prior.
:func:`~gns_pyro.inference.order_scores.shared_type_log_prob` evaluates each distinct input of
the nets once; teacher forcing (:func:`~gns_pyro.models.type_prior.type_log_prob`) runs the
nets over every stroke of every configuration. For each of ``--images`` class images of
one-shot run ``--run`` this times ``infer`` (default settings) with each, alternating on the
same image, and prints one line per image and scorer and, last, a JSON object with the totals,
their ratio, and whether both returned the same parses (the largest difference of their log
weights: rounding, as the scores are the same up to it).

    OMP_NUM_THREADS=1 python benchmarks/order_search.py --images 6 [--run 2]
"""

from __future__ import annotations

import argparse
import json
import time

import torch
from type_site import add_run_arguments  # benchmarks/type_site.py, beside this script

import gns_pyro.inference.search as search_module
from gns_pyro.data import Omniglot
from gns_pyro.inference.order_scores import shared_type_log_prob
from gns_pyro.inference.posterior import infer
from gns_pyro.models.type_prior import type_log_prob
from gns_pyro.pretrained import load_type_prior

SCORERS = {"teacher_forcing": type_log_prob, "shared": shared_type_log_prob}


def main(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    parts = load_type_prior(args.weights)
    with Omniglot(args.data_dir) as data:
        run = data.one_shot_runs()[args.run - 1]
    names = sorted(run.training)[: args.images]
    seconds = dict.fromkeys(SCORERS, 0.0)
    largest, same = 0.0, 0
    try:
        for name in names:
            posts = {}
            for scorer, fn in SCORERS.items():
                search_module.shared_type_log_prob = fn
                start = time.perf_counter()
                posts[scorer] = infer(run.training[name], parts, seed=args.seed)
                took = time.perf_counter() - start
                seconds[scorer] += took
                print(f"{name} infer {scorer}: {took:.1f} s", flush=True)
            a, b = posts["teacher_forcing"], posts["shared"]
            same += bool(a.types.control_points.shape == b.types.control_points.shape) and bool(
                torch.allclose(a.types.control_points, b.types.control_points, atol=0.01)
            )
            largest = max(largest, float((a.log_weights - b.log_weights).abs().max()))
    finally:
        search_module.shared_type_log_prob = shared_type_log_prob
    return {
        "images": len(names),
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
        "speedup": round(seconds["teacher_forcing"] / seconds["shared"], 2),
        "same_parses": same,
        "largest_log_weight_difference": largest,
        "settings": {**vars(args), "threads": torch.get_num_threads()},
    }


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--weights", default=None, help="type-prior weights (default: shipped)")
    add_run_arguments(p)
    return p.parse_args(argv)


if __name__ == "__main__":
    print(json.dumps(main(parse_args())))
