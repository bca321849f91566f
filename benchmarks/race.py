"""Full refits of one-shot trials with the race on the coarse image model, against the fine one.

The full refit of the classes a trial's screen kept races three starts for ``race_steps``
steps, then finishes the best start. This script takes trials that ``gns-pyro classify``
finished with default settings (their parses cached under ``--cache``, their screen scores in
``trials/``), keeps
the same classes, and reruns the full refit twice, alternating trial by trial on one thread:
with the race on the full renderer (the default; it must reproduce the saved prediction) and
on the coarse image model (:class:`~gns_pyro.renderer.RenderSettings` ``downsample=2``; the
finish stays on the full renderer, and every reported log joint is the full model's). It prints
the seconds of each, the predictions that differ, and the errors of each.

    GNS_PYRO_DATA=../shared/omniglot OMP_NUM_THREADS=1 python benchmarks/race.py \\
        --cache runs/cls_v3 --weights weights/type_prior_v3_frame.pt --select 4,7,10
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch
from screen import add_cache_arguments, cached_trials  # benchmarks/screen.py, beside this script

from gns_pyro.pretrained import load_type_prior
from gns_pyro.reading import read_json
from gns_pyro.tasks.classify import ClassifySettings, two_way_scores
from gns_pyro.tasks.results import settings_key


def main(args) -> dict:
    torch.set_num_threads(1)
    parts = load_type_prior(args.weights)
    settings = ClassifySettings()
    fine = settings.full_refit()
    coarse = ClassifySettings(race_downsample=2).full_refit()
    variants = {"fine": fine, "coarse": coarse}
    seconds = {v: [] for v in variants}
    errors = dict.fromkeys(variants, 0)
    differ, reproduced, trials = [], 0, 0
    for run, item, classes, posts, test in cached_trials(parts, args, settings):
        # the trial classify saved with these settings (a folder may hold others)
        trials_here = (Path(args.cache) / "trials").glob(f"{run.name}_{item}.*.json")
        saved = [read_json(p, "result") for p in trials_here]
        saved = [t for t in saved if t.get("key", {}).get("settings") == settings_key(settings)]
        if len(saved) != 1:
            continue
        trial = saved[0]
        screen = trial["screen_scores"]
        kept = sorted(sorted(screen, key=screen.get, reverse=True)[: settings.keep])
        trials += 1
        predicted = {}
        for name, refit in variants.items():
            start = time.perf_counter()
            score = two_way_scores([posts[classes.index(c)] for c in kept], test, refit)
            seconds[name].append(time.perf_counter() - start)
            predicted[name] = kept[int(score["score"].argmax())]
            errors[name] += predicted[name] != run.labels[item]
        reproduced += predicted["fine"] == trial["predicted"]
        if predicted["fine"] != predicted["coarse"]:
            differ.append(f"{run.name} {item}: {predicted} truth {run.labels[item]}")
    report = {
        "trials": trials,
        "fine_reproduces_saved_prediction": reproduced,
        "seconds": {k: round(sum(v), 1) for k, v in seconds.items()},
        "median_seconds": {
            k: round(float(torch.tensor(v).median()), 2) for k, v in seconds.items()
        },
        "errors": errors,
        "predictions_that_differ": differ,
    }
    print(json.dumps(report, indent=1))
    return report


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    add_cache_arguments(ap)
    return ap.parse_args(argv)


if __name__ == "__main__":
    main(parse_args())
