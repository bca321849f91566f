"""The type as one site against a site per offset: same numbers, measured cost, in one run.

Parse refinement and Laplace's method score the log joint of parses many times. The per-site
program (:func:`~gns_pyro.inference.refinement.parse_model`) steps the stroke net offset by
offset; the collapsed one (:func:`~gns_pyro.inference.refinement.collapsed_parse_model`)
scores each type in one teacher-forced pass. For each of ``--images`` images of one-shot run
``--run`` this times, alternating the two formulations on the same image:

* ``infer`` (default settings) with the joint refinement through each model;
* with ``--laplace``, ``parse_log_marginal`` of the collapsed ``infer``'s parses (smooth
  renderer, as ``gns-pyro likelihood``) over each latent space.

It prints one line per image and formulation and, last, a JSON object with the totals, their
ratio and the largest difference between the two formulations' log weights and Laplace
estimates.

    OMP_NUM_THREADS=1 python benchmarks/type_site.py --images 6 [--laplace 2] [--run 2]
"""

from __future__ import annotations

import argparse
import json
import time

import pyro
import torch
from pyro import poutine

import gns_pyro.inference.laplace as laplace_module
import gns_pyro.inference.refinement as refinement_module
from gns_pyro.data import Omniglot
from gns_pyro.inference.guides import ParseGuide
from gns_pyro.inference.laplace import LatentSpace, parse_log_marginal
from gns_pyro.inference.posterior import infer
from gns_pyro.pretrained import load_type_prior


def _per_site_guide(*args, **kwargs):
    kwargs["type_table"] = False
    return ParseGuide(*args, **kwargs)


def _per_site_space(parts, types, tokens, image) -> LatentSpace:
    """The Laplace space over parse_model's sites: one per start location and offset."""
    from pyro.poutine.util import site_is_subsample

    from gns_pyro.models.sites import loc_site, offset_site
    from gns_pyro.models.token import TOKEN_LOCATIONS, TOKEN_SHAPES

    guide = ParseGuide(types, tokens)
    with pyro.get_param_store().scope():
        trace = poutine.trace(guide).get_trace()
    mode = {
        n: s["value"].detach()
        for n, s in trace.nodes.items()
        if s["type"] == "sample" and not site_is_subsample(s)
    }
    strokes, offsets = types.stroke_mask, types.offset_mask
    masks = {TOKEN_LOCATIONS: strokes.unsqueeze(-1), TOKEN_SHAPES: offsets.unsqueeze(-1)}
    for _, i, t in guide.type_sites:
        present = strokes[:, i] if t is None else offsets[:, i, t]
        masks[loc_site(i) if t is None else offset_site(i, t)] = present.unsqueeze(-1)
    return LatentSpace(
        refinement_module.parse_model,
        mode,
        (parts, types, image),
        masks=masks,
        batch_size=types.batch_size,
    )


FORMULATIONS = {
    # name: (refinement model, refinement guide, Laplace space)
    "per_site": (refinement_module.parse_model, _per_site_guide, _per_site_space),
    "collapsed": (
        refinement_module.collapsed_parse_model,
        ParseGuide,
        laplace_module._parse_space,
    ),
}


def _use(name: str) -> None:
    model, guide, space = FORMULATIONS[name]
    refinement_module.collapsed_parse_model = model  # what refine() calls
    refinement_module.ParseGuide = guide
    laplace_module._parse_space = space


def main(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    parts = load_type_prior()
    with Omniglot(args.data_dir) as data:
        run = data.one_shot_runs()[args.run - 1]
    names = sorted(run.training)[: args.images]
    seconds = {f"{stage}_{name}": 0.0 for stage in ("infer", "laplace") for name in FORMULATIONS}
    gap = {"log_weights": 0.0, "laplace": 0.0}
    try:
        for n, name in enumerate(names):
            posts = {}
            for form in FORMULATIONS:
                _use(form)
                start = time.perf_counter()
                posts[form] = infer(run.training[name], parts, seed=args.seed)
                took = time.perf_counter() - start
                seconds[f"infer_{form}"] += took
                print(f"{name} infer {form}: {took:.1f} s", flush=True)
            diff = (posts["per_site"].log_weights - posts["collapsed"].log_weights).abs().max()
            gap["log_weights"] = max(gap["log_weights"], float(diff))
            if n >= args.laplace:
                continue
            post, smooth, estimates = posts["collapsed"], parts.with_smooth_rendering(), {}
            for form in FORMULATIONS:
                _use(form)
                start = time.perf_counter()
                estimates[form], _ = parse_log_marginal(smooth, post.types, post.tokens, post.image)
                took = time.perf_counter() - start
                seconds[f"laplace_{form}"] += took
                print(f"{name} laplace {form}: {took:.1f} s", flush=True)
            diff = (estimates["per_site"] - estimates["collapsed"]).abs()
            gap["laplace"] = max(gap["laplace"], float(diff))
    finally:
        _use("collapsed")
    report = {"images": len(names), "laplace_images": min(args.laplace, len(names))}
    report["seconds"] = {k: round(v, 1) for k, v in seconds.items()}
    for stage in ("infer", "laplace"):
        if seconds[f"{stage}_collapsed"] > 0:
            ratio = seconds[f"{stage}_per_site"] / seconds[f"{stage}_collapsed"]
            report[f"{stage}_speedup"] = round(ratio, 2)
    report["largest_difference"] = gap
    report["settings"] = {**vars(args), "threads": torch.get_num_threads()}
    return report


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default=None)
    p.add_argument("--run", type=int, default=2, help="one-shot run (1-20)")
    p.add_argument("--images", type=int, default=6, help="class images parsed")
    p.add_argument("--laplace", type=int, default=0, help="of them, how many get Laplace")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    return p.parse_args(argv)


if __name__ == "__main__":
    print(json.dumps(main(parse_args())))
