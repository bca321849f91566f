"""``gns-pyro demo``: the model's tasks end to end, with no downloaded data.

Everything comes from the shipped type prior:

1. sample new concepts (types) at temperature 0.5 and draw them (``concepts.png``);
2. draw two exemplars (tokens, binarized renders) of each of the first ``ways`` concepts: one
   is the training image of its class, the other a test image;
3. parse the first test image (``parse.png``) and draw new exemplars of it (``exemplars.png``);
4. one-shot classification of the test images among the classes by the two-way rule
   (:mod:`gns_pyro.tasks.classify`);
5. write ``summary.json`` (also printed as the last line).
"""

from __future__ import annotations

import time
from pathlib import Path

import pyro
import torch

from gns_pyro.fileio import save_json
from gns_pyro.inference.posterior import infer
from gns_pyro.inference.refinement import RefineSettings
from gns_pyro.models.joint import sample_exemplars
from gns_pyro.pretrained import load_type_prior
from gns_pyro.progress import Progress, Stages
from gns_pyro.renderer import DEFAULT_BLUR, render
from gns_pyro.sample import sample_types
from gns_pyro.tasks.classify import ClassifySettings, trial_scores
from gns_pyro.tasks.exemplars import exemplars_from_posterior
from gns_pyro.viz import save_grid


def run_demo(
    out: Path,
    concepts: int = 16,
    ways: int = 5,
    seed: int = 0,
    parse_steps: int = 60,
    refit_steps: int = 20,
    weights=None,
    device=None,
    quiet: bool = False,
) -> dict:
    """The demo's tasks on the shipped weights; writes pictures and ``summary.json`` to ``out`` and
    returns the summary.
    """
    start = time.perf_counter()
    stages = Stages("demo", quiet)
    out.mkdir(parents=True, exist_ok=True)
    parts = load_type_prior(weights, device=device)
    types, log_prob = sample_types(concepts, temperature=0.5, seed=seed, parts=parts)
    save_grid(render(types, noise=0.0), out / "concepts.png")
    stages(f"sampled {concepts} new concepts -> {out / 'concepts.png'}")

    pyro.set_rng_seed(seed + 1)
    with torch.no_grad():
        tokens = sample_exemplars(types[torch.arange(ways)], 2)
        images = render(tokens, blur=DEFAULT_BLUR, noise=0.0) > 0.5
    train_images, test_images = images[0::2], images[1::2]
    save_grid(
        torch.cat([train_images, test_images]).float(), out / "one_shot_images.png", ncols=ways
    )

    refine = RefineSettings(steps=parse_steps)
    parsing = Progress(2 * ways, "demo: parse", quiet)
    train_posts, test_posts = [], []
    for posts, images, kind in (
        (train_posts, train_images, "training"),
        (test_posts, test_images, "test"),
    ):
        for i, img in enumerate(images):
            posts.append(infer(img, parts, k=3, seed=seed, refine_settings=refine))
            parsing.update(f"{kind} image {i + 1}")
    parsing.close()
    test_posts[0].plot(out / "parse.png", max_parses=3)
    new = exemplars_from_posterior(test_posts[0], 9, generator=torch.Generator().manual_seed(seed))
    save_grid(
        torch.cat([test_images[0].float()[None], render(new, blur=DEFAULT_BLUR, noise=0.0)]),
        out / "exemplars.png",
        ncols=10,
    )

    # five classes: no screen, every class gets the full (raced) refit
    settings = ClassifySettings(
        k=3, screen_steps=0, race_steps=refit_steps, refit_steps=refit_steps
    )
    classifying = Progress(ways, "demo: classify", quiet)
    predictions = []
    for i, post in enumerate(test_posts):
        predictions.append(int(trial_scores(train_posts, post, settings)["score"].argmax()))
        classifying.update(f"test image {i + 1} -> class {predictions[-1] + 1}")
    classifying.close()
    correct = sum(int(p == i) for i, p in enumerate(predictions))
    summary = {
        "concepts": concepts,
        "concept_log_prob_mean": float(log_prob.mean()),
        "concept_strokes_mean": float(types.num_strokes.float().mean()),
        "parse_strokes": int(test_posts[0].map.num_strokes.item()),
        "one_shot": {
            "ways": ways,
            "correct": correct,
            "accuracy": correct / ways,
            "predictions": predictions,
        },
        "files": sorted(p.name for p in out.glob("*.png")),
        "wall_seconds": round(time.perf_counter() - start, 1),
    }
    save_json(summary, out / "summary.json")
    return summary
