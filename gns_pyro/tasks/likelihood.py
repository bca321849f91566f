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

import time
from pathlib import Path

import numpy as np

from gns_pyro.data.images import OMNIGLOT_IMAGE_SIZE
from gns_pyro.progress import Progress
from gns_pyro.tasks.engine import Cluster, scatter
from gns_pyro.tasks.results import (
    ResultStore,
    Shard,
    image_digest,
    seeded_order,
)


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
    shard: Shard | None = None,
    quiet: bool = False,
    summarize: bool = False,
    cluster: Cluster | None = None,
) -> dict:
    """Mean Laplace log P(I) over ``n`` seeded images of ``split``; see the module docstring.

    :param shard: do only this contiguous block of the chosen images.
    :param summarize: compute nothing; merge the results saved under ``out_dir``.
    :param cluster: run ``cluster.jobs`` shards as submitit jobs, then merge.
    :returns: the summary (means over the images done, and the store's counts).
    """
    from gns_pyro.data import Omniglot
    from gns_pyro.inference.laplace import parse_log_marginal
    from gns_pyro.inference.posterior import infer
    from gns_pyro.pretrained import load_type_prior, weights_digest

    start = time.perf_counter()
    if cluster is not None:
        # bad weights or data fail here, once, not in every job
        load_type_prior(weights, device=device)
        with Omniglot(data_dir) as data:
            data.keys(split, "images")
        kwargs = dict(
            data_dir=data_dir, out_dir=out_dir, split=split, n=n, seed=seed, k=k,
            weights=weights, polish_steps=polish_steps, device=str(device or "cpu"),
            quiet=quiet,
        )  # fmt: skip
        scatter(run_likelihood, kwargs, cluster, Progress(cluster.jobs, "likelihood jobs", quiet))
        if not cluster.wait:
            return {"submitted_jobs": cluster.jobs, "out": str(out_dir)}
        summarize = True
    parts = load_type_prior(weights, device=device)
    made_with = {"k": k, "polish": polish_steps, "weights": weights_digest(parts), "seed": seed}
    store = ResultStore(out_dir, required=("log_marginal", "non_positive_definite", "modes"))
    results = []
    with Omniglot(data_dir) as data:
        keys = data.keys(split, "images")
        chosen = (shard or Shard()).block(seeded_order(len(keys), n, seed))
        progress = Progress(len(chosen), "likelihood", quiet or summarize)
        for i in chosen:
            name = "_".join(keys[i])
            image = data.read_image(*keys[i], split=split)
            key = {**made_with, "split": split, "image": image_digest(image)}
            saved = store.get(name, key)
            if saved is not None or summarize:
                if saved is not None:
                    results.append(saved)
                progress.update(f"{name} (saved)" if saved else f"{name} (missing)")
                continue
            began = time.perf_counter()
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
                "seconds": round(time.perf_counter() - began, 1),
            }
            results.append(store.put(name, key, result))
            progress.update(f"{result['image']}: {result['log_marginal']:.1f} nats")
        progress.close()
    return {
        "split": split,
        "k": k,
        "images": len(results),
        **summarize_marginals(results, image_pixels=OMNIGLOT_IMAGE_SIZE**2),
        **store.counts(),
        "wall_seconds": round(time.perf_counter() - start, 1),
    }


def summarize_marginals(results: list[dict], image_pixels: int) -> dict:
    """Means over finished images (``None`` when there are none)."""
    if not results:
        return {
            "mean_log_marginal": None,
            "median_log_marginal": None,
            "mean_per_pixel": None,
            "non_positive_definite_modes": 0,
            "modes": 0,
            "negative_definite_fraction": None,
        }
    values = np.array([r["log_marginal"] for r in results])
    bad = int(sum(r["non_positive_definite"] for r in results))
    modes = int(sum(r["modes"] for r in results))
    return {
        "mean_log_marginal": float(values.mean()),
        "median_log_marginal": float(np.median(values)),
        "mean_per_pixel": float(values.mean() / image_pixels),
        "non_positive_definite_modes": bad,
        "modes": modes,
        "negative_definite_fraction": 1 - bad / max(1, modes),
    }
