"""How well cheaper screens rank the classes of one-shot trials, on parses already cached.

One-shot classification first scores every class with a short refit (the screen) and rescores
only the ``keep`` best in full. This script takes the parses that ``gns-pyro classify`` cached
under ``--cache`` and, trial by trial, runs the screen in several variants on the same parses:
the parses it refits per image (``--parses``: the best n) and the image model it steers by
(``fine``: the full renderer; ``coarse``: :class:`~gns_pyro.renderer.RenderSettings`
``downsample=2``, with the log joints still the full model's). For each variant it reports
the seconds per screen (the variants alternate trial by trial, one thread) and how often the
true class is among the ``keep`` best (the screen's recall: a class the screen drops cannot be
predicted).

    GNS_PYRO_DATA=../shared/omniglot OMP_NUM_THREADS=1 python benchmarks/screen.py \\
        --cache runs/cls_v3 --weights weights/type_prior_v3_frame.pt --select 4,7,10
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

import torch

from gns_pyro.data import Omniglot
from gns_pyro.data.location import resolve_data_dir
from gns_pyro.inference.refinement import RefitSettings
from gns_pyro.pretrained import load_type_prior
from gns_pyro.tasks.classify import ClassifySettings, load_posterior, parse_key, two_way_scores


def screen_refit(steps: int, downsample: int) -> RefitSettings:
    """The classify screen's refit (one wide start, no finish), on the chosen image model."""
    base = ClassifySettings(screen_steps=steps).screen_refit()
    return dataclasses.replace(base, race=dataclasses.replace(base.race, downsample=downsample))


def cached(parts, folder: Path, name: str, image, settings: ClassifySettings):
    """The parse classify cached for ``image`` as ``folder/name.pt`` (made with ``parts``)."""
    post = load_posterior(folder / f"{name}.pt", parse_key(parts, image, settings))
    if post is None:
        raise SystemExit(f"no cached parse {folder / name}.pt for these weights and settings")
    return post


def cached_trials(parts, args, settings: ClassifySettings):
    """Each test item of the selected runs with its cached parses: ``(run, item, classes,
    class posteriors, test posterior)``."""
    with Omniglot(resolve_data_dir(args.data)) as data:
        for number in args.select:
            run = data.one_shot_run(f"run{number:02d}")
            folder = Path(args.cache) / "parses" / run.name
            classes = sorted(run.training)
            posts = [cached(parts, folder, c, run.training[c], settings) for c in classes]
            for item in sorted(run.test)[: args.items]:
                test = cached(parts, folder, item, run.test[item], settings)
                yield run, item, classes, posts, test


def main(args) -> dict:
    torch.set_num_threads(1)
    parts = load_type_prior(args.weights)
    settings = ClassifySettings()
    variants = [(m, n) for n in args.parses for m in args.models]
    found = {v: {"seconds": [], "ranks": []} for v in variants}
    trials = 0
    for run, item, classes, posts, test in cached_trials(parts, args, settings):
        truth = classes.index(run.labels[item])
        trials += 1
        for model, n in variants:
            refit = screen_refit(args.steps, 2 if model == "coarse" else 1)
            start = time.perf_counter()
            score = two_way_scores([p.best(n) for p in posts], test.best(n), refit)["score"]
            found[(model, n)]["seconds"].append(time.perf_counter() - start)
            rank = int((score > score[truth]).sum()) + 1  # 1: the truth screened best
            found[(model, n)]["ranks"].append(rank)
    report = {
        "trials": trials,
        "keep": args.keep,
        "variants": [
            {
                "model": m,
                "parses": n,
                "median_seconds": float(torch.tensor(v["seconds"]).median()),
                "total_seconds": sum(v["seconds"]),
                "truth_kept": sum(r <= args.keep for r in v["ranks"]),
                "truth_ranks": v["ranks"],
            }
            for (m, n), v in found.items()
        ],
    }
    print(json.dumps(report, indent=1))
    return report


def add_cache_arguments(ap: argparse.ArgumentParser) -> None:
    """Where the cached parses are and which trials to take (shared with ``race.py``)."""
    ap.add_argument("--cache", required=True, help="a classify --out folder (its parses/)")
    ap.add_argument("--weights", default=None, help="the weights the parses were made with")
    ap.add_argument("--data", default=None, help="Omniglot data folder (default: GNS_PYRO_DATA)")
    ap.add_argument("--select", type=lambda s: [int(x) for x in s.split(",")], default=[4])
    ap.add_argument("--items", type=int, default=20, help="test items per run")


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_cache_arguments(ap)
    ap.add_argument("--parses", type=lambda s: [int(x) for x in s.split(",")], default=[5, 1])
    ap.add_argument("--models", type=lambda s: s.split(","), default=["fine", "coarse"])
    ap.add_argument("--steps", type=int, default=60)
    ap.add_argument("--keep", type=int, default=3)
    return ap.parse_args(argv)


if __name__ == "__main__":
    main(parse_args())
