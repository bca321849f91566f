"""Where ``infer`` and one classification trial spend their time, on one thread.

Parses the class images and the first test image of one one-shot run (trial 1 of run 01 by
default) with stage timers, then classifies that trial, then repeats one ``infer`` and the
trial under ``cProfile`` to split the SVI steps into their parts. Prints tables and, on its
last line, a JSON object:

* ``infer``: seconds per stage summed over the parsed images, and each stage's share:
  ``proposals`` (skeleton and random walks), ``order_search``, ``token_fit`` (SVI, types
  held), ``joint_refine`` (SVI, types and tokens), ``rest`` (checks, final scoring);
* ``trial``: ``screen`` (one-start refits of every class, both directions) and ``full`` (the
  kept classes: starts raced, then finished), ``rest``;
* ``svi_split``: within the SVI steps of one ``infer`` and of the trial (under cProfile, which
  slows Python code more than arithmetic, so Python's share is an upper bound):
  ``render_forward`` (the image renderer), ``canvases_forward`` (the canvases the nets read),
  ``nets_forward``, ``backward`` (autograd, all of it), ``optimizer``, ``pyro_python`` (time in
  Pyro's own Python functions: traces, messengers, ELBO bookkeeping), ``other`` (log-probs and
  everything else);
* ``render_limit``: forward + backward of the renderer alone, on the trial's refit batch, per
  step, against a full SVI step on the same batch: the floor a step cannot go under.

    OMP_NUM_THREADS=1 python benchmarks/profile_inference.py [--run 1] [--classes 20]
        [--data-dir D] [--out results/profile]

``--out`` keeps the parses (the classify cache), so a rerun times only the trial unless
``--fresh``. Tiny settings for a smoke run: ``--classes 2 --parse-steps 5 --token-steps 5``.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import dataclasses
import json
import pstats
import time
from collections import defaultdict
from pathlib import Path

import torch
from pyro.infer import SVI

import gns_pyro.inference.posterior as posterior_module
import gns_pyro.inference.refinement as refinement_module
import gns_pyro.tasks.classify as classify_module
from gns_pyro.data import Omniglot
from gns_pyro.inference.posterior import infer
from gns_pyro.inference.refinement import TOKEN_FIT, RefineSettings, refit_tokens
from gns_pyro.parses import Parses
from gns_pyro.pretrained import load_type_prior
from gns_pyro.renderer import render

INFER_STAGES = ("proposals", "order_search", "token_fit", "joint_refine")
TRIAL_STAGES = ("screen", "full")


class StageClock:
    """Wall seconds per named stage, by wrapping the functions that do each stage."""

    def __init__(self):
        self.seconds = defaultdict(float)

    def timed(self, name_of, function):
        def wrapper(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[name_of(*args, **kwargs)] += time.perf_counter() - start

        return wrapper

    @contextlib.contextmanager
    def watching(self):
        """Time the stages of ``infer`` and ``trial_scores`` while inside."""
        patches = [
            (posterior_module, "propose_strokes", lambda *a, **k: "proposals"),
            (posterior_module, "best_orders", lambda *a, **k: "order_search"),
            (refinement_module, "refine", _refine_stage),
            (classify_module, "two_way_scores", _trial_stage),
        ]
        saved = [(module, name, getattr(module, name)) for module, name, _ in patches]
        try:
            for module, name, label in patches:
                setattr(module, name, self.timed(label, getattr(module, name)))
            yield self
        finally:
            for module, name, function in saved:
                setattr(module, name, function)


def _refine_stage(parts, types, tokens, image, settings=None, refine_type=True, **kwargs):
    # inside infer, the types-held refinement is the token fit (in a trial, the refits)
    return "joint_refine" if refine_type else "token_fit"


def _trial_stage(class_posteriors, test_posterior, refit):
    one_start = len(refit.starts) == 1 and refit.finish.steps == 0
    return "screen" if one_start else "full"


def table(title: str, seconds: dict, total: float, stages) -> dict:
    rows = {name: seconds.get(name, 0.0) for name in stages}
    rows["rest"] = max(total - sum(rows.values()), 0.0)
    print(f"\n{title} (total {total:.1f} s)")
    for name, value in rows.items():
        print(f"  {name:<16} {value:8.1f} s  {100 * value / total:5.1f}%")
    return {name: {"seconds": v, "share": v / total} for name, v in rows.items()}


@contextlib.contextmanager
def profiling_svi_steps():
    """A ``cProfile.Profile`` that runs only inside ``SVI.step`` while inside."""
    profile = cProfile.Profile()
    seconds = [0.0]  # wall time inside the steps, profiler included
    step = SVI.step

    def profiled_step(self, *args, **kwargs):
        start = time.perf_counter()
        profile.enable()
        try:
            return step(self, *args, **kwargs)
        finally:
            profile.disable()
            seconds[0] += time.perf_counter() - start

    SVI.step = profiled_step
    try:
        yield profile, seconds
    finally:
        SVI.step = step


def svi_split(profiled: tuple) -> dict:
    """Split the cumulative time of ``SVI.step`` by the functions it calls."""
    profile, [step] = profiled
    stats = pstats.Stats(profile).stats  # (file, line, name) -> (cc, nc, tottime, cumtime, ...)

    def cumulative(match) -> float:
        return sum(v[3] for key, v in stats.items() if match(*key))

    def own(match) -> float:
        return sum(v[2] for key, v in stats.items() if match(*key))

    parts = {
        "render_forward": cumulative(lambda f, _, n: n == "render" and "gns_pyro/renderer" in f),
        "canvases_forward": cumulative(
            lambda f, _, n: (
                (n in ("render_canvases", "stroke_canvases") and "renderer" in f)
                or (n in ("update_state", "observe") and "models/character" in f)
            )
        ),
        "nets_forward": cumulative(lambda f, _, n: n == "_call_impl" and "torch/nn" in f),
        "backward": cumulative(
            lambda f, _, n: n == "backward" and f.endswith("autograd/__init__.py")
        ),
        "optimizer": cumulative(lambda f, _, n: n == "__call__" and "pyro/optim/optim.py" in f),
        "pyro_python": own(lambda f, _, n: "/pyro/" in f and "pyro/optim" not in f),
    }
    parts["other"] = max(step - sum(parts.values()), 0.0)
    print(f"\nSVI steps under cProfile ({step:.1f} s)")
    for name, value in parts.items():
        print(f"  {name:<16} {value:8.1f} s  {100 * value / max(step, 1e-9):5.1f}%")
    return {"svi_seconds": step, **{k: {"seconds": v, "share": v / step} for k, v in parts.items()}}


def render_limit(types: Parses, image: torch.Tensor, steps: int) -> dict:
    """Renderer forward + backward alone vs a full refit step, same batch, per step."""
    settings = RefineSettings(steps=steps, patience=10**9)
    refit = dataclasses.replace(
        classify_module.ClassifySettings(screen_steps=steps).screen_refit(), race=settings
    )
    start = time.perf_counter()
    tokens = refit_tokens(types, image, refit).tokens
    per_step = (time.perf_counter() - start) / steps
    points = tokens.locations.detach().requires_grad_()
    tokens = dataclasses.replace(tokens, locations=points)
    target = image.expand(types.batch_size, *image.shape).to(points.dtype)
    start = time.perf_counter()
    for _ in range(steps):
        probs = render(tokens).clamp(1e-6, 1 - 1e-6)
        loss = -(target * probs.log() + (1 - target) * (1 - probs).log()).sum()
        loss.backward()
    render_step = (time.perf_counter() - start) / steps
    print(f"\nrefit batch of {types.batch_size} parses: SVI step {1000 * per_step:.1f} ms, ")
    print(
        f"  renderer forward+backward alone {1000 * render_step:.1f} ms "
        f"({100 * render_step / per_step:.0f}% of a step)"
    )
    return {
        "parses": types.batch_size,
        "svi_step_ms": 1000 * per_step,
        "render_fwd_bwd_ms": 1000 * render_step,
        "share": render_step / per_step,
    }


def main(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    parts = load_type_prior()
    settings = classify_module.ClassifySettings(parse_steps=args.parse_steps)
    token_fit = dataclasses.replace(TOKEN_FIT, steps=args.token_steps)
    with Omniglot(args.data_dir) as data:
        run = data.one_shot_runs()[args.run - 1]
    classes = sorted(run.training)[: args.classes]
    item = sorted(run.test)[0]
    out = Path(args.out) / run.name
    key = {"parse_steps": args.parse_steps, "token_steps": args.token_steps, "k": settings.k}

    def parse(image):  # infer as classify parses, with the token fit's steps of --token-steps
        return infer(
            image,
            parts,
            k=settings.k,
            seed=settings.seed,
            refine_settings=RefineSettings(steps=settings.parse_steps),
            token_fit=token_fit,
        )

    clock = StageClock()
    parsed = []
    with clock.watching():
        for name, image in [*((c, run.training[c]) for c in classes), (item, run.test[item])]:
            path = out / f"{name}.pt"
            cached = classify_module.load_posterior(path, {**key, "image": name})
            if args.fresh or cached is None:
                t0 = time.perf_counter()
                post = parse(image)
                parsed.append(time.perf_counter() - t0)
                classify_module.save_posterior(post, path, {**key, "image": name})
    infer_total = sum(parsed)
    report = {"images_parsed": len(parsed)}
    if parsed:
        report["infer"] = table(
            f"infer over {len(parsed)} images", clock.seconds, infer_total, INFER_STAGES
        )
        report["infer_median_seconds"] = sorted(parsed)[len(parsed) // 2]
    posts = [classify_module.load_posterior(out / f"{c}.pt", {**key, "image": c}) for c in classes]
    test = classify_module.load_posterior(out / f"{item}.pt", {**key, "image": item})
    clock = StageClock()
    start = time.perf_counter()
    with clock.watching():
        classify_module.trial_scores(posts, test, settings)
    report["trial"] = table(
        f"one {len(classes)}-way trial", clock.seconds, time.perf_counter() - start, TRIAL_STAGES
    )
    with profiling_svi_steps() as profiled:
        parse(run.test[item])
    report["svi_split_infer"] = svi_split(profiled)
    with profiling_svi_steps() as profiled:
        classify_module.trial_scores(posts, test, settings)
    report["svi_split_trial"] = svi_split(profiled)
    types = Parses.cat([p.types for p in posts]).trim()
    report["render_limit"] = render_limit(types, test.image, args.limit_steps)
    report["settings"] = {**vars(args), "threads": torch.get_num_threads()}
    return report


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data-dir", default=None)
    p.add_argument("--run", type=int, default=1, help="one-shot run (1-20)")
    p.add_argument("--classes", type=int, default=20, help="classes of the trial (2-20)")
    p.add_argument("--parse-steps", type=int, default=RefineSettings().steps)
    p.add_argument("--token-steps", type=int, default=TOKEN_FIT.steps)
    p.add_argument("--limit-steps", type=int, default=20, help="steps of the renderer check")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", default="results/profile", help="parse cache")
    p.add_argument("--fresh", action="store_true", help="parse again even if cached")
    return p.parse_args(argv)


if __name__ == "__main__":
    print(json.dumps(main(parse_args())))
