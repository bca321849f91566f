"""Parsing score against human strokes on the held-out Tagalog drawings.

Tagalog's stroke data is never used in training. For each seeded Tagalog drawing: parse its
official image, and compare the MAP parse's strokes (its token's curves, warp applied) with
the drawer's own strokes:

* stroke-count accuracy: the parse has as many strokes as the drawer made;
* matched-stroke distance: an optimal one-to-one assignment (Hungarian) between predicted and
  human strokes under the modified Hausdorff distance (pixels, direction-agnostic), averaged
  over the matched pairs.

The same metrics are computed in the same run for a baseline that calls every skeleton edge
(between junctions and endpoints) one stroke. One JSON result per image is written atomically
under ``--out``, so an interrupted run resumes.
"""

from __future__ import annotations

import hashlib
import math
import time
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from gns_pyro.inference.skeleton import skeleton_graph
from gns_pyro.progress import Progress
from gns_pyro.splines import curve_points, resample_path
from gns_pyro.tasks.engine import Cluster, scatter
from gns_pyro.tasks.results import (
    ResultStore,
    Shard,
    image_digest,
    seeded_subset,
)


def modified_hausdorff(a: np.ndarray, b: np.ndarray) -> float:
    """Modified Hausdorff distance between point sets ``a`` (n, 2) and ``b`` (m, 2): the larger of
    the two mean nearest-point distances.
    """
    d = np.linalg.norm(a[:, None] - b[None], axis=-1)
    return float(max(d.min(1).mean(), d.min(0).mean()))


def compare(predicted: list[np.ndarray], human: list[np.ndarray]) -> dict:
    """Count match, order match and mean matched distance between two lists of stroke point
    sets (``predicted`` in the parse's drawing order, ``human`` in the drawer's)."""
    cost = np.array([[modified_hausdorff(p, h) for h in human] for p in predicted])
    rows, cols = linear_sum_assignment(cost)
    count_correct = len(predicted) == len(human)
    in_order = count_correct and bool((cols[rows.argsort()] == np.arange(len(human))).all())
    return {
        "predicted_strokes": len(predicted),
        "human_strokes": len(human),
        "count_correct": count_correct,
        "matched_distance": float(cost[rows, cols].mean()),
        # with the right count: does the matching pair the k-th stroke with the k-th? (the
        # predicted strokes come in the parse's drawing order)
        "order_correct": in_order,
    }


#: parses per image (the MAP parse is scored)
PARSES = 5


def consistent_comparison(result) -> bool:
    """Whether a saved comparison (:func:`compare`'s dict) agrees with itself: stroke counts
    are positive integers, ``count_correct`` is what they say, order is right only with the
    right count, and the matched distance is a finite, non-negative number of pixels."""
    try:
        predicted, human = result["predicted_strokes"], result["human_strokes"]
        distance = result["matched_distance"]
        counts = all(type(n) is int and n >= 1 for n in (predicted, human))
        return (
            counts
            and result["count_correct"] is (predicted == human)
            and result["order_correct"] in ((False,) if predicted != human else (True, False))
            and type(distance) is float
            and math.isfinite(distance)
            and distance >= 0.0
        )
    except (KeyError, TypeError):
        return False


def consistent_evaluation(saved) -> bool:
    """Both comparisons of a saved parse-eval result (the model's and the baseline's) agree
    with themselves; a hand-edited result that does not is recomputed."""
    return all(consistent_comparison(saved.get(side)) for side in ("gns", "baseline"))


def evaluate_image(parts, drawing, image: torch.Tensor, k: int = PARSES, seed: int = 0) -> dict:
    """Parse ``image`` and compare its MAP parse (and the skeleton-edge baseline) with ``drawing``'s
    human strokes.
    """
    from gns_pyro.data.preprocess import drawing_to_splines
    from gns_pyro.inference.posterior import infer

    human = [curve_points(cp) for cp in drawing_to_splines(drawing.strokes)]
    post = infer(image, parts, k=k, seed=seed)
    best = int(post.log_weights.argmax())
    predicted = post.tokens[best : best + 1].curves()[0]  # the token, as drawn
    graph = skeleton_graph(image.cpu())
    edges = [resample_path(path, 1.0) for _, _, path in graph.edges(data="path")]
    edges += [graph.nodes[n]["pos"][None] for n in graph.nodes if graph.degree(n) == 0]
    return {"gns": compare(predicted, human), "baseline": compare(edges, human)}


def summarize_scores(results: list[dict]) -> dict:
    """Count accuracy and mean matched distance of GNS and the baseline over finished results."""
    out = {"images": len(results)}
    for method in ("gns", "baseline"):
        rows = [r[method] for r in results]
        out[method] = {
            "count_accuracy": float(np.mean([r["count_correct"] for r in rows])) if rows else None,
            "matched_distance": float(np.mean([r["matched_distance"] for r in rows]))
            if rows
            else None,
        }
    return out


def print_scores(summary: dict) -> None:
    """One line per method (GNS, baseline) of a summary: count accuracy and distance."""
    for method in ("gns", "baseline"):
        m = summary[method]
        if m["count_accuracy"] is None:
            print(f"{method:9s} nothing scored")
            continue
        print(
            f"{method:9s} count accuracy {m['count_accuracy']:.3f}, "
            f"matched distance {m['matched_distance']:.2f} px"
        )


def drawing_digest(drawing) -> str:
    """Short digest of a drawing's strokes (the human answer a result was scored against)."""
    h = hashlib.sha256()
    for stroke in drawing.strokes:
        h.update(np.ascontiguousarray(stroke, dtype=np.float64).tobytes() + b"|")
    return h.hexdigest()[:16]


def run_parse_eval(
    data_dir,
    out_dir: Path,
    n: int = 40,
    seed: int = 0,
    weights=None,
    device=None,
    quiet: bool = False,
    shard: Shard | None = None,
    summarize: bool = False,
    cluster: Cluster | None = None,
) -> dict:
    """Parse ``n`` seeded Tagalog drawings and score them; see the module docstring.

    :param shard: do only this contiguous block of the chosen drawings.
    :param summarize: compute nothing; merge the results saved under ``out_dir``.
    :param cluster: run ``cluster.jobs`` shards as submitit jobs, then merge.
    """
    from gns_pyro.data import Omniglot
    from gns_pyro.pretrained import load_type_prior, weights_digest

    start = time.perf_counter()
    if cluster is not None:
        # bad weights or data fail here, once, not in every job
        load_type_prior(weights, device=device)
        with Omniglot(data_dir) as data:
            data.keys("background", "strokes", alphabets="Tagalog")
        kwargs = dict(
            data_dir=data_dir, out_dir=out_dir, n=n, seed=seed, weights=weights,
            device=str(device or "cpu"), quiet=quiet,
        )  # fmt: skip
        scatter(run_parse_eval, kwargs, cluster, Progress(cluster.jobs, "parse-eval jobs", quiet))
        if not cluster.wait:
            return {"submitted_jobs": cluster.jobs, "out": str(out_dir)}
        summarize = True
    parts = load_type_prior(weights, device=device)
    # a saved result is reused only if it was made with these settings, weights and inputs
    made_with = {"k": PARSES, "seed": seed, "weights": weights_digest(parts)}
    store = ResultStore(out_dir, required=("gns", "baseline"))
    results = []
    with Omniglot(data_dir) as data:
        keys = data.keys("background", "strokes", alphabets="Tagalog")
        chosen = (shard or Shard()).block(seeded_subset(len(keys), n, seed))
        progress = Progress(len(chosen), "parse-eval", quiet or summarize)
        for i in chosen:
            name = "_".join(keys[i])
            drawing = data.read_drawing(*keys[i])
            image = data.image_of(drawing)
            key = {**made_with, "image": image_digest(image), "strokes": drawing_digest(drawing)}
            saved = store.get(name, key, check=consistent_evaluation)
            if saved is not None or summarize:
                if saved is not None:
                    results.append(saved)
                progress.update(f"{'/'.join(keys[i])} ({'saved' if saved else 'missing'})")
                continue
            result = evaluate_image(parts, drawing, image, k=PARSES, seed=seed)
            results.append(store.put(name, key, result))
            g = result["gns"]
            progress.update(
                f"{'/'.join(keys[i])}: {g['predicted_strokes']} strokes "
                f"(human {g['human_strokes']}), {g['matched_distance']:.2f} px"
            )
        progress.close()
    summary = summarize_scores(results)
    summary.update(store.counts())
    summary["wall_seconds"] = round(time.perf_counter() - start, 1)
    return summary
