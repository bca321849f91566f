"""One-shot classification by the two-way rule of the paper (Eq. 4-5).

For a test image ``I_T`` and a training image ``I_C`` (one per class), each parsed once into
``K`` weighted parses (:func:`gns_pyro.inference.infer`):

* ``log P(I_T | I_C) ~= logsumexp_k [refit_k(I_T) + log pi_k]`` over I_C's parses, where
  ``refit_k`` is the token refit log P(theta, I_T | psi_k) and ``pi_k`` the normalized weights;
* ``log P(I_C | I_T)`` the same with the roles swapped;
* ``log P(I_C) ~= logsumexp_k log pi~_k`` (unnormalized weights);
* ``score(C) = log P(I_C | I_T) + log P(I_T | I_C) - log P(I_C)``; the prediction is the
  argmax over classes.

All refits of one test image run as two batches: every class's parses against the test image,
and the test image's parses against every class image.
"""

from __future__ import annotations

import dataclasses
import os
import time
from pathlib import Path

import torch

from gns_pyro.inference.posterior import Posterior, infer
from gns_pyro.inference.refinement import RefineSettings, refit_tokens
from gns_pyro.parses import Parses
from gns_pyro.pretrained import atomic_write_bytes
from gns_pyro.tasks.results import read_result, write_result


@dataclasses.dataclass(frozen=True)
class ClassifySettings:
    """``k`` parses per image; each trial screens all classes with a short refit
    (``screen_steps``) and rescores the best ``keep`` classes with a long one (``refit_steps``).
    """

    k: int = 3
    parse_steps: int = RefineSettings().steps
    screen_steps: int = 30
    refit_steps: int = 150
    keep: int = 4
    refit_lr: float = 1.0
    seed: int = 0

    def refit(self, steps: int) -> RefineSettings:
        return RefineSettings(steps=steps, lr_coordinates=self.refit_lr)


def _grouped_logsumexp(values: torch.Tensor, groups: torch.Tensor, n: int) -> torch.Tensor:
    """logsumexp of ``values`` within each of ``n`` groups (groups: index per value)."""
    peak = torch.full((n,), -torch.inf, dtype=values.dtype).scatter_reduce(
        0, groups, values, "amax"
    )
    total = torch.zeros(n, dtype=values.dtype).index_add(0, groups, (values - peak[groups]).exp())
    return peak + total.log()


def two_way_scores(
    class_posteriors: list[Posterior], test_posterior: Posterior, refit: RefineSettings
) -> dict[str, torch.Tensor]:
    """The two-way score (C,) of one test image against C classes, and its terms."""
    C = len(class_posteriors)
    # test image given each class: all class parses refit to the test image, one batch
    class_types = Parses.cat([p.types for p in class_posteriors]).trim()
    owner = torch.cat([torch.full((len(p.types),), c) for c, p in enumerate(class_posteriors)])
    log_pi = torch.cat([p.log_weights.log_softmax(0) for p in class_posteriors]).detach()
    forward = refit_tokens(class_types, test_posterior.image, refit).log_joint.detach()
    log_test_given_class = _grouped_logsumexp(forward + log_pi, owner, C)
    # each class image given the test image: the test parses refit to every class image
    K = len(test_posterior.types)
    test_types = test_posterior.types[torch.arange(K).repeat(C)]
    class_images = torch.stack([p.image for p in class_posteriors]).repeat_interleave(K, 0)
    backward = refit_tokens(test_types, class_images, refit).log_joint.detach()
    log_pi_test = test_posterior.log_weights.log_softmax(0).detach().repeat(C)
    log_class_given_test = _grouped_logsumexp(
        backward + log_pi_test, torch.arange(C).repeat_interleave(K), C
    )
    log_class = torch.stack([p.log_weights.detach().logsumexp(0) for p in class_posteriors])
    return {
        "score": log_class_given_test + log_test_given_class - log_class,
        "log_test_given_class": log_test_given_class,
        "log_class_given_test": log_class_given_test,
        "log_class": log_class,
    }


def trial_scores(
    class_posteriors: list[Posterior],
    test_posterior: Posterior,
    settings: ClassifySettings = ClassifySettings(),
) -> dict[str, torch.Tensor]:
    """Scores (C,) of one test image against C classes, screened then rescored.

    A token refit is far from converged after a few dozen steps (on run01 the refit log
    P(I_T | psi) of the true class went from about -2500 after 30 steps to -700 after 300), and
    converging it for every class costs too much. So all classes are scored with
    ``screen_steps`` and the ``keep`` best are scored again with ``refit_steps``; the others
    get ``-inf``. ``screen`` holds the screening scores of all classes.
    """
    screen = two_way_scores(class_posteriors, test_posterior, settings.refit(settings.screen_steps))
    C = len(class_posteriors)
    if settings.keep >= C or settings.refit_steps <= settings.screen_steps:
        return {**screen, "screen": screen["score"]}
    kept = screen["score"].topk(settings.keep).indices.sort().values
    kept_posteriors = [class_posteriors[int(c)] for c in kept]
    final = two_way_scores(kept_posteriors, test_posterior, settings.refit(settings.refit_steps))
    out = {"screen": screen["score"]}
    for name, value in final.items():
        full = torch.full((C,), -torch.inf, dtype=value.dtype)
        out[name] = full.index_copy(0, kept, value)
    return out


# ------------------------------------------------------------------------------ caching
def _parse_settings(settings: ClassifySettings) -> dict:
    """The settings a cached parse depends on."""
    return {"k": settings.k, "parse_steps": settings.parse_steps, "seed": settings.seed}


def _save_posterior(post: Posterior, path: Path, settings: ClassifySettings) -> None:
    payload = {
        "settings": _parse_settings(settings),
        "image": post.image,
        "types": dataclasses.asdict(post.types),
        "tokens": dataclasses.asdict(post.tokens),
        "log_weights": post.log_weights,
        "num_proposals": post.num_proposals,
    }
    atomic_write_bytes(path, lambda tmp: torch.save(payload, tmp))


def _load_posterior(path: Path, settings: ClassifySettings | None = None) -> Posterior | None:
    """The cached parse at ``path``, or None if it is missing, damaged, or was made with other
    parse settings than ``settings``."""
    try:
        d = torch.load(path, weights_only=False)
        if settings is not None and d.get("settings", _parse_settings(settings)) != _parse_settings(
            settings
        ):
            return None
        return Posterior(
            d["image"],
            Parses(**d["types"]),
            Parses(**d["tokens"]),
            d["log_weights"],
            d["num_proposals"],
        )
    except Exception:  # missing or damaged: parse again
        return None


def cached_posterior(
    parts, image: torch.Tensor, path: Path, settings: ClassifySettings
) -> Posterior:
    """Parse ``image`` once; later calls read ``path``."""
    post = _load_posterior(path, settings) if path.exists() else None
    if post is None:
        post = infer(
            image,
            parts,
            k=settings.k,
            seed=settings.seed,
            refine_settings=RefineSettings(steps=settings.parse_steps),
        )
        _save_posterior(post, path, settings)
    return post


def classify_run(
    parts,
    run,
    out_dir: Path,
    settings: ClassifySettings = ClassifySettings(),
    items: list[str] | None = None,
) -> list[dict]:
    """Classify the test items of one run (all, or ``items``); one result file per trial.

    Finished trials (their result file exists, made with the same settings) are read back, not
    redone; so are cached parses made with the same parse settings.
    """
    out_dir = Path(out_dir)
    classes = sorted(run.training)
    current = dataclasses.asdict(settings)
    results = []
    class_posts = None
    for item in items if items is not None else sorted(run.test):
        result_path = out_dir / "trials" / f"{run.name}_{item}.json"
        saved = read_result(result_path)
        if saved is not None and saved.get("settings", current) == current:
            results.append(saved)
            continue
        start = time.perf_counter()
        if class_posts is None:
            class_posts = [
                cached_posterior(
                    parts, run.training[c], out_dir / "parses" / run.name / f"{c}.pt", settings
                )
                for c in classes
            ]
        test_post = cached_posterior(
            parts, run.test[item], out_dir / "parses" / run.name / f"{item}.pt", settings
        )
        terms = trial_scores(class_posts, test_post, settings)
        predicted = classes[int(terms["score"].argmax())]
        result = {
            "run": run.name,
            "item": item,
            "predicted": predicted,
            "truth": run.labels[item],
            "correct": predicted == run.labels[item],
            "scores": dict(zip(classes, terms["score"].tolist())),
            "screen_scores": dict(zip(classes, terms["screen"].tolist())),
            "seconds": time.perf_counter() - start,
            "settings": dataclasses.asdict(settings),
        }
        write_result(result_path, result)
        results.append(result)
    return results


def summarize(results: list[dict], wall_seconds: float) -> dict:
    per_run: dict[str, dict] = {}
    for r in results:
        entry = per_run.setdefault(r["run"], {"trials": 0, "errors": 0})
        entry["trials"] += 1
        entry["errors"] += int(not r["correct"])
    for entry in per_run.values():
        entry["error_rate"] = entry["errors"] / entry["trials"]
    trials = len(results)
    errors = sum(not r["correct"] for r in results)
    return {
        "trials": trials,
        "errors": errors,
        "error_rate": errors / trials if trials else None,
        "per_run": per_run,
        "wall_seconds": round(wall_seconds, 1),
    }


def parse_selection(text: str) -> list[int]:
    """``"1-3,7"`` -> ``[1, 2, 3, 7]``."""
    chosen = []
    for part in text.split(","):
        if "-" in part:
            a, b = part.split("-")
            chosen += list(range(int(a), int(b) + 1))
        elif part.strip():
            chosen.append(int(part))
    return chosen


def run_trials(
    data_dir,
    out_dir,
    select: str | None = None,
    shard: str | None = None,
    workers: int = 1,
    settings: ClassifySettings = ClassifySettings(),
    weights: str | None = None,
) -> dict:
    """Classify the selected runs' trials (this shard's share), in ``workers`` processes."""
    from gns_pyro.data import Omniglot

    start = time.perf_counter()
    with Omniglot(data_dir) as data:
        names = data.run_names()
    if select:
        wanted = {f"run{n:02d}" for n in parse_selection(select)}
        missing = wanted - set(names)
        if missing:
            from gns_pyro.errors import DataError

            raise DataError(f"runs {sorted(missing)} are not in {data_dir}; present: {names}")
        names = [n for n in names if n in wanted]
    tasks = [(n, f"item{i:02d}") for n in names for i in range(1, 21)]
    if shard:
        i, n = (int(x) for x in shard.split("/"))
        if not 1 <= i <= n:
            raise ValueError(f"--shard must be i/n with 1 <= i <= n, got {shard}")
        tasks = tasks[i - 1 :: n]
    by_run: dict[str, list[str]] = {}
    for run_name, item in tasks:
        by_run.setdefault(run_name, []).append(item)
    jobs = [(data_dir, out_dir, r, items, settings, weights) for r, items in by_run.items()]
    if workers > 1 and len(jobs) > 1:
        import multiprocessing as mp

        with mp.get_context("spawn").Pool(min(workers, len(jobs))) as pool:
            chunks = pool.map(_run_job, jobs)
    else:
        chunks = [_run_job(job) for job in jobs]
    results = [r for chunk in chunks for r in chunk]
    return summarize(results, time.perf_counter() - start)


def _run_job(job) -> list[dict]:
    data_dir, out_dir, run_name, items, settings, weights = job
    from gns_pyro.data import Omniglot
    from gns_pyro.pretrained import load_type_prior

    if os.environ.get("GNS_PYRO_WORKER_THREADS"):
        torch.set_num_threads(int(os.environ["GNS_PYRO_WORKER_THREADS"]))
    parts = load_type_prior(weights)
    with Omniglot(data_dir) as data:
        run = data.one_shot_run(run_name)
    return classify_run(parts, run, Path(out_dir), settings, items)
