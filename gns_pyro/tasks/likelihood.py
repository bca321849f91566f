"""Marginal likelihood of Omniglot images: mean Laplace log P(I) (paper Table 3).

For a seeded random subset of a split's images: parse each image, polish each of the ``K``
refined modes with Newton steps, take the Laplace approximation there and sum them
(:func:`gns_pyro.inference.laplace.parse_log_marginal`). Reports the mean in nats per image and
per pixel, and how many mode Hessians were negative definite. One JSON file per image is
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

from gns_pyro import argtypes
from gns_pyro.devices import add_device_argument, resolve_device
from gns_pyro.progress import Progress, add_quiet_argument
from gns_pyro.tasks.results import parse_shard, read_result, seeded_order, write_result


def run_likelihood(
    data_dir,
    out_dir: Path,
    split: str = "evaluation",
    n: int = 1000,
    seed: int = 0,
    k: int = 5,
    weights=None,
    polish_steps: int = 3,
    device=None,
    shard: str | None = None,
    quiet: bool = False,
) -> dict:
    from gns_pyro.data import Omniglot
    from gns_pyro.inference.laplace import parse_log_marginal
    from gns_pyro.inference.posterior import infer
    from gns_pyro.pretrained import load_type_prior, weights_digest

    start = time.perf_counter()
    parts = load_type_prior(weights, device=device)
    made_with = {"k": k, "polish": polish_steps, "weights": weights_digest(parts), "seed": seed}
    results = []
    with Omniglot(data_dir) as data:
        keys = data.keys(split, "images")
        shard_index, shard_count = parse_shard(shard)
        chosen = seeded_order(len(keys), n, seed)[shard_index - 1 :: shard_count]
        progress = Progress(len(chosen), "likelihood", quiet)
        for i in chosen:
            path = Path(out_dir) / f"{'_'.join(keys[i])}.json"
            saved = read_result(path)
            if saved is not None and all(saved.get(key) == v for key, v in made_with.items()):
                results.append(saved)
                progress.update(f"{saved['image']} (saved)")
                continue
            began = time.perf_counter()
            image = data.read_image(*keys[i], split=split)
            post = infer(image, parts, k=k, seed=seed)
            log_marginal, modes = parse_log_marginal(
                parts, post.types, post.tokens, image, polish_steps
            )
            result = {
                "image": "/".join(keys[i]),
                "log_marginal": float(log_marginal),
                "non_positive_definite": sum(not m.positive_definite for m in modes),
                "modes": len(modes),
                "polish_gain": [round(m.polish_gain, 3) for m in modes],
                "smallest_curvature": [round(m.smallest_curvature, 4) for m in modes],
                **made_with,
                "seconds": round(time.perf_counter() - began, 1),
            }
            write_result(path, result)
            results.append(result)
            progress.update(f"{result['image']}: {result['log_marginal']:.1f} nats")
        progress.close()
    values = np.array([r["log_marginal"] for r in results])
    return {
        "split": split,
        "k": k,
        "images": len(results),
        "mean_log_marginal": float(values.mean()),
        "median_log_marginal": float(np.median(values)),
        "mean_per_pixel": float(values.mean() / (105 * 105)),
        "non_positive_definite_modes": int(sum(r["non_positive_definite"] for r in results)),
        "modes": int(sum(r["modes"] for r in results)),
        "negative_definite_fraction": 1
        - sum(r["non_positive_definite"] for r in results)
        / max(1, sum(r["modes"] for r in results)),
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
    p.add_argument("--n", type=argtypes.positive_int, default=1000)
    p.add_argument("--seed", type=argtypes.seed, default=0)
    p.add_argument("--k", type=argtypes.positive_int, default=5)
    p.add_argument("--out", type=argtypes.out_folder, default="results/likelihood")
    p.add_argument(
        "--polish-steps",
        type=argtypes.nonnegative_int,
        default=3,
        help="Newton steps at each mode before Laplace",
    )
    p.add_argument("--weights", default=None, help="type-prior weights (default: the shipped ones)")
    p.add_argument("--shard", default=None, help="i/n: this job's share of the images (1-based)")
    p.add_argument("--json", action="store_true")
    add_quiet_argument(p)
    add_device_argument(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    summary = run_likelihood(
        args.data_dir,
        Path(args.out),
        args.split,
        args.n,
        args.seed,
        args.k,
        args.weights,
        args.polish_steps,
        resolve_device(args.device),
        args.shard,
        args.quiet,
    )
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"{summary['images']} {args.split} images: mean Laplace log P(I) "
            f"{summary['mean_log_marginal']:.1f} nats ({summary['mean_per_pixel']:.4f} per pixel)"
        )
    return 0
