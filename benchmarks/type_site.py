"""The type as one site against a site per offset: the same parses, measured cost, one run.

Parse refinement scores the log joint of K parses at every SVI step. The per-site program
(:func:`~gns_pyro.inference.refinement.parse_model`) steps the stroke net offset by offset;
the collapsed one (:func:`~gns_pyro.inference.refinement.collapsed_parse_model`, what
``refine`` uses) scores each type in one teacher-forced pass. For each of ``--images`` class
images of one-shot run ``--run`` this times ``infer`` (default settings) with the joint
refinement through each model, alternating the two on the same image, and prints one line per
image and model and, last, a JSON object with the totals, their ratio and the largest
difference between the two models' log weights (rounding: the objective is the same).

    OMP_NUM_THREADS=1 python benchmarks/type_site.py --images 6 [--run 2]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

import gns_pyro.inference.refinement as refinement_module
from gns_pyro.data import Omniglot
from gns_pyro.inference.guides import ParseGuide
from gns_pyro.inference.posterior import infer
from gns_pyro.pretrained import load_type_prior


def _per_site_guide(*args, **kwargs):
    kwargs["type_table"] = False
    return ParseGuide(*args, **kwargs)


#: name: (the model refine() optimizes, its guide)
FORMULATIONS = {
    "per_site": (refinement_module.parse_model, _per_site_guide),
    "collapsed": (refinement_module.collapsed_parse_model, ParseGuide),
}


def _use(name: str) -> None:
    refinement_module.collapsed_parse_model, refinement_module.ParseGuide = FORMULATIONS[name]


def main(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    parts = load_type_prior()
    with Omniglot(args.data_dir) as data:
        run = data.one_shot_runs()[args.run - 1]
    names = sorted(run.training)[: args.images]
    seconds = dict.fromkeys(FORMULATIONS, 0.0)
    largest = 0.0
    try:
        for name in names:
            posts = {}
            for form in FORMULATIONS:
                _use(form)
                start = time.perf_counter()
                posts[form] = infer(run.training[name], parts, seed=args.seed)
                took = time.perf_counter() - start
                seconds[form] += took
                print(f"{name} infer {form}: {took:.1f} s", flush=True)
            gap = (posts["per_site"].log_weights - posts["collapsed"].log_weights).abs().max()
            largest = max(largest, float(gap))
    finally:
        _use("collapsed")
    return {
        "images": len(names),
        "seconds": {k: round(v, 1) for k, v in seconds.items()},
        "speedup": round(seconds["per_site"] / seconds["collapsed"], 2),
        "largest_log_weight_difference": largest,
        "settings": {**vars(args), "threads": torch.get_num_threads()},
    }


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_run_arguments(p)
    return p.parse_args(argv)


def add_run_arguments(p: argparse.ArgumentParser) -> None:
    """The arguments of a benchmark that parses class images of one run (shared with
    ``order_search.py``)."""
    p.add_argument("--data-dir", default=None)
    p.add_argument("--run", type=int, default=2, help="one-shot run (1-20)")
    p.add_argument("--images", type=int, default=6, help="class images parsed")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)


if __name__ == "__main__":
    print(json.dumps(main(parse_args())))
