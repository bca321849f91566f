"""Marginal likelihood of Omniglot images: mean Laplace log P(I) (paper Table 3), checked by
importance sampling.

For a seeded random subset of a split's images: parse each image, polish each of the ``K``
refined modes with Newton steps to a maximum of the log joint, take the Laplace approximation
there and sum over the distinct maxima (:func:`image_log_marginal`,
:func:`gns_pyro.inference.laplace.parse_log_marginal`). By default the Laplace step scores the
parses under the smooth renderer (``RenderSettings(smooth=True)``), the model whose log joint
is twice differentiable; parsing itself uses the reference renderer, as every other task does.
With ``check_is`` each image's log P(I) is also estimated by importance sampling from the
mixture of the modes' Laplace Gaussians
(:func:`~gns_pyro.inference.importance.importance_log_marginal`), with its standard error,
effective sample size and ELBO.

Reports the mean in nats per image and per pixel, and per mode the gradient norm, the smallest
eigenvalue of -H and whether it converged. One JSON file per image is written atomically under
``--out``; a rerun resumes. Images are done in a seeded random order that does not depend on
``n`` (:func:`~gns_pyro.tasks.results.seeded_order`), so a job stopped after ``m`` images has
measured exactly the subset that ``--n m`` names."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from gns_pyro.data.images import OMNIGLOT_IMAGE_SIZE
from gns_pyro.inference.laplace import GRADIENT_TOLERANCE, POLISH_STEPS
from gns_pyro.progress import Progress
from gns_pyro.tasks.engine import Cluster, scatter
from gns_pyro.tasks.results import (
    ResultStore,
    Shard,
    image_digest,
    seeded_order,
)

#: The image models the Laplace step can use.
RENDERERS = ("smooth", "reference")


def run_likelihood(
    data_dir,
    out_dir: Path,
    split: str = "evaluation",
    n: int = 1000,
    seed: int = 0,
    k: int = 5,
    weights=None,
    polish_steps: int = POLISH_STEPS,
    device=None,
    shard: Shard | None = None,
    quiet: bool = False,
    summarize: bool = False,
    cluster: Cluster | None = None,
    renderer: str = "smooth",
    check_is: int = 0,
) -> dict:
    """Mean Laplace log P(I) over ``n`` seeded images of ``split``; see the module docstring.

    :param shard: do only this contiguous block of the chosen images.
    :param summarize: compute nothing; merge the results saved under ``out_dir``.
    :param cluster: run ``cluster.jobs`` shards as submitit jobs, then merge.
    :param renderer: ``"smooth"`` or ``"reference"``: the image model of the Laplace step.
    :param check_is: importance samples per image for the independent check (0: none).
    :returns: the summary (means over the images done, and the store's counts).
    """
    from gns_pyro.data import Omniglot
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
            quiet=quiet, renderer=renderer, check_is=check_is,
        )  # fmt: skip
        scatter(run_likelihood, kwargs, cluster, Progress(cluster.jobs, "likelihood jobs", quiet))
        if not cluster.wait:
            return {"submitted_jobs": cluster.jobs, "out": str(out_dir)}
        summarize = True
    parts = load_type_prior(weights, device=device)
    made_with = {
        "k": k,
        "polish": polish_steps,
        "gradient_tolerance": GRADIENT_TOLERANCE,
        "renderer": renderer,
        "check_is": check_is,
        "weights": weights_digest(parts),
        "seed": seed,
    }
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
            saved = store.get(name, key, check=consistent_marginal)
            if saved is not None or summarize:
                if saved is not None:
                    results.append(saved)
                progress.update(f"{name} (saved)" if saved else f"{name} (missing)")
                continue
            result = {
                "image": "/".join(keys[i]),
                **image_log_marginal(parts, image, k, seed, polish_steps, renderer, check_is),
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


def image_log_marginal(
    parts,
    image,
    k: int = 5,
    seed: int = 0,
    polish_steps: int = POLISH_STEPS,
    renderer: str = "smooth",
    check_is: int = 0,
    refine_settings=None,
    progress=None,
) -> dict:
    """Parse one image and estimate its log P(I): the JSON record of one image.

    :param renderer: ``"smooth"`` (Laplace under ``parts.with_smooth_rendering()``) or
        ``"reference"`` (under the renderer the parses were refined with).
    :param check_is: importance samples for the check (0: none).
    :param progress: passed to :func:`~gns_pyro.inference.posterior.infer`.
    :returns: ``log_marginal``, per mode ``modes_detail`` (log-marginal, gradient norm,
        smallest eigenvalue of -H, converged, duplicate_of, Newton steps), counts, and with
        ``check_is`` an ``importance`` record (estimate, standard error, ESS, ELBO).
    """
    from gns_pyro.inference.importance import importance_log_marginal
    from gns_pyro.inference.laplace import parse_log_marginal
    from gns_pyro.inference.posterior import infer
    from gns_pyro.inference.refinement import RefineSettings

    if renderer not in RENDERERS:
        raise ValueError(f"renderer must be one of {RENDERERS}, got {renderer!r}")
    began = time.perf_counter()
    post = infer(
        image,
        parts,
        k=k,
        seed=seed,
        refine_settings=refine_settings or RefineSettings(),
        progress=progress,
    )
    scoring = parts.with_smooth_rendering() if renderer == "smooth" else parts
    log_marginal, modes = parse_log_marginal(scoring, post.types, post.tokens, image, polish_steps)
    result = {
        "log_marginal": float(log_marginal),
        "non_positive_definite": sum(not m.positive_definite for m in modes),
        "converged": sum(m.converged for m in modes),
        "modes": len(modes),
        "distinct_modes": sum(m.duplicate_of is None for m in modes),
        "modes_detail": [
            {
                "log_marginal": round(float(m.log_marginal), 4),
                "dim": m.dim,
                "gradient_norm": float(f"{m.gradient_norm:.4g}"),
                "smallest_curvature": float(f"{m.smallest_curvature:.4g}"),
                "negative_curvatures": m.negative_curvatures,
                "converged": m.converged,
                "newton_steps": m.steps,
                "polish_gain": round(m.polish_gain, 4),
                "duplicate_of": m.duplicate_of,
            }
            for m in modes
        ],
    }
    if check_is:
        check = importance_log_marginal(
            scoring, post.types, post.tokens, image, modes, num_samples=check_is, seed=seed
        )
        result["importance"] = {
            "log_marginal": check.log_marginal,
            "standard_error": check.standard_error,
            "effective_sample_size": check.effective_sample_size,
            "elbo": check.elbo,
            "samples": check.num_samples,
        }
    result["seconds"] = round(time.perf_counter() - began, 1)
    return result


def consistent_marginal(result: dict) -> bool:
    """Whether a saved likelihood result agrees with itself: its ``log_marginal`` is the
    log-sum-exp of its distinct modes' (to the 4 decimals they are stored with), their counts
    match, and every number is finite; a hand-edited or damaged one is not trusted."""
    try:
        modes = result["modes_detail"]
        distinct = [float(m["log_marginal"]) for m in modes if m["duplicate_of"] is None]
        total = float(result["log_marginal"])
        return (
            bool(distinct)
            and len(modes) == result["modes"]
            and len(distinct) == result.get("distinct_modes", len(distinct))
            and all(np.isfinite(distinct))
            and np.isfinite(total)
            and abs(float(np.logaddexp.reduce(distinct)) - total) < 1e-3 * max(1.0, len(modes))
        )
    except (KeyError, TypeError, ValueError):
        return False


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
            "converged_fraction": None,
        }
    values = np.array([r["log_marginal"] for r in results])
    bad = int(sum(r["non_positive_definite"] for r in results))
    modes = int(sum(r["modes"] for r in results))
    summary = {
        "mean_log_marginal": float(values.mean()),
        "median_log_marginal": float(np.median(values)),
        "mean_per_pixel": float(values.mean() / image_pixels),
        "non_positive_definite_modes": bad,
        "modes": modes,
        "negative_definite_fraction": 1 - bad / max(1, modes),
        "converged_fraction": sum(r.get("converged", 0) for r in results) / max(1, modes),
    }
    checked = [r for r in results if "importance" in r]
    if checked:
        gaps = np.array([r["log_marginal"] - r["importance"]["log_marginal"] for r in checked])
        summary["importance"] = {
            "images": len(checked),
            "mean_log_marginal": float(np.mean([r["importance"]["log_marginal"] for r in checked])),
            "mean_laplace_minus_is": float(gaps.mean()),
            "mean_abs_laplace_minus_is": float(np.abs(gaps).mean()),
            "median_effective_sample_size": float(
                np.median([r["importance"]["effective_sample_size"] for r in checked])
            ),
            "mean_elbo": float(np.mean([r["importance"]["elbo"] for r in checked])),
        }
    return summary
