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

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from gns_pyro import argtypes
from gns_pyro.devices import add_device_argument, resolve_device
from gns_pyro.inference.skeleton import skeleton_graph
from gns_pyro.progress import Progress, add_quiet_argument
from gns_pyro.splines import basis_on_grid, resample_path
from gns_pyro.tasks.results import read_result, seeded_subset, write_result


def curve(control_points: np.ndarray, n: int = 60) -> np.ndarray:
    """Points along a spline given by its control points."""
    return basis_on_grid(len(control_points), n).numpy() @ np.asarray(control_points, float)


def modified_hausdorff(a: np.ndarray, b: np.ndarray) -> float:
    d = np.linalg.norm(a[:, None] - b[None], axis=-1)
    return float(max(d.min(1).mean(), d.min(0).mean()))


def compare(predicted: list[np.ndarray], human: list[np.ndarray]) -> dict:
    """Count match and mean matched distance between two lists of stroke point sets."""
    cost = np.array([[modified_hausdorff(p, h) for h in human] for p in predicted])
    rows, cols = linear_sum_assignment(cost)
    return {
        "predicted_strokes": len(predicted),
        "human_strokes": len(human),
        "count_correct": len(predicted) == len(human),
        "matched_distance": float(cost[rows, cols].mean()),
    }


#: parses per image (the MAP parse is scored)
PARSES = 5


def evaluate_image(parts, drawing, image: torch.Tensor, k: int = PARSES, seed: int = 0) -> dict:
    from gns_pyro.data.preprocess import drawing_to_splines
    from gns_pyro.inference.posterior import infer
    from gns_pyro.render import apply_affine

    human = [curve(cp) for cp in drawing_to_splines(drawing.strokes)]
    post = infer(image, parts, k=k, seed=seed)
    best = int(post.log_weights.argmax())
    token = post.tokens[best]
    warped = apply_affine(token.control_points, token.num_control, token.affine)[0]
    counts = token.num_control[0].tolist()
    warped = warped.detach().cpu()
    predicted = [curve(warped[s, : counts[s]].numpy()) for s in range(len(counts)) if counts[s]]
    graph = skeleton_graph(image.cpu())
    edges = [resample_path(path, 1.0) for _, _, path in graph.edges(data="path")]
    edges += [graph.nodes[n]["pos"][None] for n in graph.nodes if graph.degree(n) == 0]
    return {"gns": compare(predicted, human), "baseline": compare(edges, human)}


def summarize(results: list[dict]) -> dict:
    out = {"images": len(results)}
    for method in ("gns", "baseline"):
        rows = [r[method] for r in results]
        out[method] = {
            "count_accuracy": float(np.mean([r["count_correct"] for r in rows])),
            "matched_distance": float(np.mean([r["matched_distance"] for r in rows])),
        }
    return out


def run_parse_eval(
    data_dir,
    out_dir: Path,
    n: int = 40,
    seed: int = 0,
    weights=None,
    device=None,
    quiet: bool = False,
) -> dict:
    from gns_pyro.data import Omniglot
    from gns_pyro.pretrained import load_type_prior, weights_digest

    start = time.perf_counter()
    parts = load_type_prior(weights, device=device)
    # a saved result is reused only if it was made with these settings and weights
    made_with = {"k": PARSES, "seed": seed, "weights": weights_digest(parts)}
    results = []
    with Omniglot(data_dir) as data:
        keys = data.keys("background", "strokes", alphabets="Tagalog")
        chosen = seeded_subset(len(keys), n, seed)
        progress = Progress(len(chosen), "parse-eval", quiet)
        for i in chosen:
            path = Path(out_dir) / f"{'_'.join(keys[i])}.json"
            saved = read_result(path)
            if saved is not None and all(saved.get(k) == v for k, v in made_with.items()):
                results.append(saved)
                progress.update(f"{'/'.join(keys[i])} (saved)")
                continue
            drawing = data.read_drawing(*keys[i])
            result = evaluate_image(parts, drawing, data.image_of(drawing), k=PARSES, seed=seed)
            result.update(made_with)
            write_result(path, result)
            results.append(result)
            g = result["gns"]
            progress.update(
                f"{'/'.join(keys[i])}: {g['predicted_strokes']} strokes "
                f"(human {g['human_strokes']}), {g['matched_distance']:.2f} px"
            )
        progress.close()
    summary = summarize(results)
    summary["wall_seconds"] = round(time.perf_counter() - start, 1)
    return summary


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "parse-eval",
        help="score parses against human strokes (held-out Tagalog)",
        description=__doc__.splitlines()[0],
    )
    p.add_argument("--data-dir", default=None)
    p.add_argument(
        "--n", type=argtypes.positive_int, default=40, help="number of Tagalog drawings (seeded)"
    )
    p.add_argument("--seed", type=argtypes.seed, default=0)
    p.add_argument("--out", type=argtypes.out_folder, default="results/parse_eval")
    p.add_argument("--weights", default=None, help="type-prior weights (default: the shipped ones)")
    p.add_argument("--json", action="store_true")
    add_quiet_argument(p)
    add_device_argument(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    summary = run_parse_eval(
        args.data_dir,
        Path(args.out),
        args.n,
        args.seed,
        args.weights,
        resolve_device(args.device),
        args.quiet,
    )
    if args.json:
        print(json.dumps(summary))
    else:
        for method in ("gns", "baseline"):
            m = summary[method]
            print(
                f"{method:9s} count accuracy {m['count_accuracy']:.3f}, "
                f"matched distance {m['matched_distance']:.2f} px"
            )
    return 0
