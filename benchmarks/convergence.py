"""Do the default refinement schedules reach the optimum of a long reference run, and how fast?

Two comparisons on seeded items from the one-shot runs, each as one batch:

* **token refits** (one-shot classification): ``--refits`` pairs (a parse of a class image, a
  test image of the same run), refit by :func:`~gns_pyro.inference.refinement.refit_tokens`
  with the default :class:`~gns_pyro.inference.refinement.RefitSettings`, against the
  reference's refit: Adam for 1,500 steps from blur 14 px and pixel noise 0.44, learning rates
  0.167 (strokes) and 0.088 (blur and noise);
* **parse refinements**: the ``--parses-per-image`` best proposals of ``--images`` images,
  refined by :func:`~gns_pyro.inference.refinement.refine_parses` (token fit, then joint),
  against the reference's refinement: joint Adam for 1,500 steps from the same wide start,
  learning rates 0.044 (strokes) and 0.31 (blur and noise).

For each it prints the fraction of items whose log joint ends within 5 nats of the reference's
or above it, the median gap (reference minus ours; negative: ours is higher) and the time
ratio (reference seconds / ours), measured in this process, one after the other. The last
line is a JSON object with everything.

    python benchmarks/convergence.py [--refits 24] [--images 10] [--seed 0] [--cache DIR]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from gns_pyro.data import Omniglot
from gns_pyro.inference.posterior import check_image, proposals_to_parses
from gns_pyro.inference.refinement import (
    RefineSettings,
    RefitSettings,
    RefitStart,
    initial_tokens,
    refine,
    refine_parses,
    refit_tokens,
)
from gns_pyro.inference.search import best_orders
from gns_pyro.inference.walks import propose_strokes
from gns_pyro.parses import Parses
from gns_pyro.pretrained import load_type_prior
from gns_pyro.tasks.classify import ClassifySettings, cached_posterior

NEVER = 10**9  # patience that never stops a run early

#: The reference's token refit (GNS-Modeling's refit for classification).
REFERENCE_REFIT = RefitSettings(
    starts=(RefitStart(14.0, 0.44, False),),
    race=RefineSettings(
        steps=1500, lr_coordinates=0.167, lr_affine=0.01, lr_render=0.088, patience=NEVER
    ),
    finish=RefineSettings(steps=0),
)
#: The reference's parse refinement, from the same wide start.
REFERENCE_PARSE = RefineSettings(
    steps=1500,
    lr_coordinates=0.044,
    lr_affine=0.044,
    lr_render=0.31,
    init_blur=14.0,
    init_noise=0.44,
    patience=NEVER,
)


def compare(ours: torch.Tensor, reference: torch.Tensor, seconds: float, ref_seconds: float):
    gap = (reference - ours).double()
    return {
        "items": int(gap.numel()),
        "within_5_nats": float((gap < 5).double().mean()),
        "median_gap": float(gap.median()),
        "p90_gap": float(gap.quantile(0.9)),
        "seconds": round(seconds, 1),
        "reference_seconds": round(ref_seconds, 1),
        "time_ratio": round(ref_seconds / seconds, 1),
    }


def search(parts, image: torch.Tensor, k: int, seed: int) -> Parses:
    proposals = propose_strokes(check_image(image), seed=seed)
    return best_orders(parts, proposals_to_parses(proposals), k=k, seed=seed)[0]


def timed(fn):
    start = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - start


def main(args: argparse.Namespace) -> dict:
    torch.manual_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    parts = load_type_prior()
    with Omniglot(args.data_dir) as data:
        runs = [data.one_shot_run(n) for n in data.run_names()[: args.runs]]
    # token refits: a seeded class image and test image of one run; one of the class image's
    # parses (as classification makes them, read from its cache when --cache has them)
    settings = ClassifySettings()
    types, images = [], []
    for _ in range(args.refits):
        run = runs[rng.integers(len(runs))]
        cls = sorted(run.training)[rng.integers(20)]
        item = sorted(run.test)[rng.integers(20)]
        path = Path(args.cache) / "parses" / run.name / f"{cls}.pt"
        post = cached_posterior(parts, run.training[cls], path, settings)
        types.append(post.types[int(rng.integers(len(post.types)))])
        images.append(run.test[item])
    types = Parses.cat(types).trim()
    images = torch.stack(images)
    ours, t_ours = timed(lambda: refit_tokens(types, images))
    ref, t_ref = timed(lambda: refit_tokens(types, images, REFERENCE_REFIT))
    refits = compare(ours.log_joint, ref.log_joint, t_ours, t_ref)
    print("token refits:", json.dumps(refits), flush=True)

    # parse refinements: the best proposals of seeded images, refined as one batch
    types, images = [], []
    for _ in range(args.images):
        run = runs[rng.integers(len(runs))]
        group = run.training if rng.random() < 0.5 else run.test
        image = group[sorted(group)[rng.integers(20)]]
        found = search(parts, image, args.parses_per_image, args.seed)
        types.append(found)
        images.append(image.expand(len(found), 105, 105))
    types = Parses.cat(types).trim()
    images = torch.cat(images)
    ours, t_ours = timed(lambda: refine_parses(parts, types, images))
    ref, t_ref = timed(
        lambda: refine(
            parts, types, initial_tokens(types, REFERENCE_PARSE), images, REFERENCE_PARSE
        )
    )
    parses = compare(ours.log_joint, ref.log_joint, t_ours, t_ref)
    print("parse refinements:", json.dumps(parses), flush=True)
    result = {
        "seed": args.seed,
        "torch_threads": torch.get_num_threads(),
        "refits": refits,
        "parse_refinements": parses,
    }
    print(json.dumps(result))
    return result


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--runs", type=int, default=10, help="draw from the first N runs")
    parser.add_argument("--refits", type=int, default=24)
    parser.add_argument("--images", type=int, default=10)
    parser.add_argument("--parses-per-image", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--cache",
        default=None,
        help="a `gns-pyro classify --out` folder whose cached parses to reuse",
    )
    args = parser.parse_args(argv)
    if args.cache is None:
        args.cache = tempfile.mkdtemp(prefix="gns-convergence-")
    return args


if __name__ == "__main__":
    main(parse_args())
