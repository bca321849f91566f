"""Marginal likelihood of Omniglot images: mean Laplace log P(I) (paper Table 3).

For a seeded random subset of a split's images: parse each image, take the Laplace
approximation at each of the ``K`` refined modes and sum them
(:func:`gns_pyro.inference.laplace.parse_log_marginal`). Reports the mean in nats per image and
per pixel, and how many mode Hessians were not negative definite. One JSON file per image is
written atomically under ``--out``; a rerun resumes. Images are done in a seeded random order
that does not depend on ``n`` (:func:`~gns_pyro.tasks.results.seeded_order`), so a job stopped
after ``m`` images has measured exactly the subset that ``--n m`` names.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from gns_pyro.tasks.results import read_result, seeded_order, write_result


def run_likelihood(
    data_dir,
    out_dir: Path,
    split: str = "evaluation",
    n: int = 1000,
    seed: int = 0,
    k: int = 5,
    weights=None,
) -> dict:
    from gns_pyro.data import Omniglot
    from gns_pyro.inference.laplace import parse_log_marginal
    from gns_pyro.inference.posterior import infer
    from gns_pyro.pretrained import load_type_prior

    start = time.perf_counter()
    parts = load_type_prior(weights)
    results = []
    with Omniglot(data_dir) as data:
        keys = data.keys(split, "images")
        for i in seeded_order(len(keys), n, seed):
            path = Path(out_dir) / f"{'_'.join(keys[i])}.json"
            saved = read_result(path)
            if saved is not None and saved.get("k", k) == k:
                results.append(saved)
                continue
            began = time.perf_counter()
            image = data.read_image(*keys[i], split=split)
            post = infer(image, parts, k=k, seed=seed)
            log_marginal, modes = parse_log_marginal(parts, post.types, post.tokens, image)
            result = {
                "image": "/".join(keys[i]),
                "log_marginal": float(log_marginal),
                "non_positive_definite": sum(not m.positive_definite for m in modes),
                "modes": len(modes),
                "k": k,
                "seconds": round(time.perf_counter() - began, 1),
            }
            write_result(path, result)
            results.append(result)
    values = np.array([r["log_marginal"] for r in results])
    return {
        "split": split,
        "k": k,
        "images": len(results),
        "mean_log_marginal": float(values.mean()),
        "mean_per_pixel": float(values.mean() / (105 * 105)),
        "non_positive_definite_modes": int(sum(r["non_positive_definite"] for r in results)),
        "modes": int(sum(r["modes"] for r in results)),
        "wall_seconds": round(time.perf_counter() - start, 1),
    }


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "likelihood",
        help="mean Laplace log P(I) over a seeded subset of a split",
        description=__doc__.splitlines()[0],
    )
    p.add_argument("--data-dir", default=None)
    p.add_argument("--split", choices=("background", "evaluation"), default="evaluation")
    p.add_argument("--n", type=int, default=1000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--k", type=int, default=5)
    p.add_argument("--out", default="results/likelihood")
    p.add_argument("--weights", default=None)
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    summary = run_likelihood(
        args.data_dir, Path(args.out), args.split, args.n, args.seed, args.k, args.weights
    )
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"{summary['images']} {args.split} images: mean log P(I) >= "
            f"{summary['mean_log_marginal']:.1f} nats ({summary['mean_per_pixel']:.4f} per pixel)"
        )
    return 0
