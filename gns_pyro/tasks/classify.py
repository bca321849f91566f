"""One-shot classification by the two-way rule of the paper (Eq. 4-5).

For a test image ``I_T`` and a training image ``I_C`` (one per class), each parsed once into
``K`` weighted parses (:func:`gns_pyro.inference.infer`):

* ``log P(I_T | I_C) ~= logsumexp_k [refit_k(I_T) + log pi_k]`` over I_C's parses, where
  ``refit_k`` is the token refit log P(theta, I_T | psi_k) and ``pi_k`` the normalized weights;
* ``log P(I_C | I_T)`` the same with the roles swapped;
* ``log P(I_C) ~= logsumexp_k log pi~_k`` (unnormalized weights);
* ``score(C) = log P(I_C | I_T) + log P(I_T | I_C) - log P(I_C)``; the prediction is the
  argmax over classes.

All refits of one test image run as one batch: every class's parses against the test image,
and the test image's parses against every class image.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import time
from collections.abc import Sequence
from pathlib import Path

import torch

from gns_pyro.errors import DataError
from gns_pyro.fileio import atomic_write_bytes
from gns_pyro.inference.posterior import Posterior, infer
from gns_pyro.inference.refinement import RefineSettings, RefitSettings, RefitStart, refit_tokens
from gns_pyro.parses import Parses, Tokens
from gns_pyro.pretrained import weights_digest
from gns_pyro.progress import Progress
from gns_pyro.reading import load_tensors
from gns_pyro.tasks.engine import Cluster, scatter
from gns_pyro.tasks.results import ResultStore, Shard, image_digest, settings_key
from gns_pyro.tasks.trials import consistent_trial, summarize_trials, trusted_trial  # noqa: F401


@dataclasses.dataclass(frozen=True)
class ClassifySettings:
    """How one-shot classification parses and refits.

    :param k: parses per image.
    :param parse_steps: most refinement steps per parse (:class:`RefineSettings`).
    :param screen_steps: every class is first scored with refits from one start of this many
        steps; 0 skips the screen and refits every class in full.
    :param screen_parses: parses of each image (its best) that the screen refits; all five by
        default (fewer is faster and less sure to keep the true class).
    :param keep: classes rescored in full after the screen.
    :param race_steps: full refits race each parse from every start for this many steps
        (:class:`~gns_pyro.inference.refinement.RefitSettings`) ...
    :param refit_steps: ... then finish the best start for at most this many.
    :param race_downsample: the race steers by the coarse image model on blocks of this side
        (:class:`~gns_pyro.inference.refinement.RefineSettings` ``downsample``; 1: the full
        renderer); the finish and every score use the full model.
    :param seed: seed of the proposals and order search.
    """

    k: int = 5
    parse_steps: int = RefineSettings().steps
    screen_steps: int = 60
    # 1 (each image's best parse) is 5x cheaper but dropped the true class in 3 of the 200
    # trials of runs 01-10 with the shipped weights (all five: 1): see docs/results.rst
    screen_parses: int = 5
    keep: int = 3
    race_steps: int = RefitSettings().race.steps
    refit_steps: int = RefitSettings().finish.steps
    race_downsample: int = 1
    seed: int = 0

    def __post_init__(self):
        for name in ("k", "keep", "screen_parses", "race_downsample"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        for name in ("parse_steps", "screen_steps", "race_steps", "refit_steps"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, got {getattr(self, name)}")

    def full_refit(self) -> RefitSettings:
        """The refit that decides the kept classes."""
        default = RefitSettings()
        finish = dataclasses.replace(
            default.finish,
            steps=self.refit_steps,
            lr_decay=0.1 ** (1 / max(self.refit_steps, 1)),
        )
        race = dataclasses.replace(
            default.race, steps=self.race_steps, downsample=self.race_downsample
        )
        return RefitSettings(default.starts, race, finish)

    def screen_refit(self) -> RefitSettings:
        """A cheap refit from one wide start, used to rank all classes."""
        full = self.full_refit()
        return RefitSettings(
            (RefitStart(14.0, 0.44, False),),
            # the screen ranks by the full renderer (the coarse one dropped the true class once
            # in 60 trials: docs, "Toward faster inference")
            dataclasses.replace(full.race, steps=self.screen_steps, downsample=1),
            dataclasses.replace(full.finish, steps=0),
        )


def _grouped_logsumexp(values: torch.Tensor, groups: torch.Tensor, n: int) -> torch.Tensor:
    """logsumexp of ``values`` within each of ``n`` groups (groups: index per value)."""
    peak = torch.full((n,), -torch.inf, dtype=values.dtype, device=values.device)
    peak = peak.scatter_reduce(0, groups, values, "amax")
    total = torch.zeros(n, dtype=values.dtype, device=values.device)
    total = total.index_add(0, groups, (values - peak[groups]).exp())
    return peak + total.log()


def two_way_scores(
    class_posteriors: list[Posterior], test_posterior: Posterior, refit: RefitSettings
) -> dict[str, torch.Tensor]:
    """The two-way score (C,) of one test image against C classes, and its terms.

    All refits of the trial run as one batch: every class parse refit to the test image
    (for log P(I_T | I_C)) and every test parse refit to every class image (for
    log P(I_C | I_T)).
    """
    C = len(class_posteriors)
    device = test_posterior.types.locations.device
    # test image given each class: all class parses refit to the test image
    class_types = Parses.cat([p.types.to(device) for p in class_posteriors])
    owner = torch.cat(
        [torch.full((len(p.types),), c, device=device) for c, p in enumerate(class_posteriors)]
    )
    log_pi = torch.cat([p.log_weights.log_softmax(0) for p in class_posteriors]).to(device)
    test_image = test_posterior.image.to(device)
    # each class image given the test image: the test parses refit to every class image
    K = len(test_posterior.types)
    test_types = test_posterior.types[torch.arange(K, device=device).repeat(C)]
    class_images = torch.stack([p.image.to(device) for p in class_posteriors])
    N = len(class_types)
    values = refit_tokens(
        Parses.cat([class_types, test_types]).trim(),
        torch.cat([test_image.expand(N, *test_image.shape), class_images.repeat_interleave(K, 0)]),
        refit,
    ).log_joint.detach()
    forward, backward = values[:N], values[N:]
    log_test_given_class = _grouped_logsumexp(forward + log_pi, owner, C)
    log_pi_test = test_posterior.log_weights.log_softmax(0).detach().repeat(C)
    log_class_given_test = _grouped_logsumexp(
        backward + log_pi_test, torch.arange(C, device=device).repeat_interleave(K), C
    )
    log_class = torch.stack([p.log_weights.detach().logsumexp(0) for p in class_posteriors])
    return {
        "score": log_class_given_test + log_test_given_class - log_class.to(device),
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

    Every class is scored with a cheap refit (one start, ``screen_steps``, the
    ``screen_parses`` best parses of each image); the ``keep`` best are scored again with the
    full refit (several starts raced, then finished); the others get
    ``-inf``. ``screen`` holds the screening scores of all classes. With ``screen_steps=0`` or
    ``keep >= C`` every class gets the full refit.
    """
    C = len(class_posteriors)
    if settings.screen_steps == 0 or settings.keep >= C:
        full = two_way_scores(class_posteriors, test_posterior, settings.full_refit())
        return {**full, "screen": full["score"]}
    n = settings.screen_parses
    screen = two_way_scores(
        [p.best(n) for p in class_posteriors], test_posterior.best(n), settings.screen_refit()
    )
    kept = screen["score"].topk(settings.keep).indices.sort().values
    kept_posteriors = [class_posteriors[int(c)] for c in kept]
    final = two_way_scores(kept_posteriors, test_posterior, settings.full_refit())
    out = {"screen": screen["score"]}
    for name, value in final.items():
        full = torch.full((C,), -torch.inf, dtype=value.dtype, device=value.device)
        out[name] = full.index_copy(0, kept.to(value.device), value)
    return out


# ------------------------------------------------------------------------------ caching
def parse_key(parts, image: torch.Tensor, settings: ClassifySettings) -> dict:
    """Everything a cached parse depends on: its settings, the weights and the image."""
    from gns_pyro.inference import search
    from gns_pyro.inference.refinement import TOKEN_FIT
    from gns_pyro.inference.walks import WalkSettings

    return {
        "k": settings.k,
        "parse_steps": settings.parse_steps,
        "seed": settings.seed,
        "refine": settings_key(RefineSettings(steps=settings.parse_steps)),
        "token_fit": settings_key(TOKEN_FIT),
        "walks": dataclasses.asdict(WalkSettings()),
        "search": [search.MAX_CONFIGS, search.TOTAL_CONFIGS, search.SCREEN_CONFIGS],
        "weights": weights_digest(parts),
        "image": image_digest(image),
    }


def save_posterior(post: Posterior, path: Path, key: dict) -> None:
    """Cache a parse at ``path`` (atomically), tagged with ``key`` (what it was made from);
    :func:`load_posterior` gives it back only for the same key."""
    payload = {
        "key": json.dumps(key, sort_keys=True),
        "image": post.image,
        "types": dataclasses.asdict(post.types),
        "tokens": dataclasses.asdict(post.tokens),
        "log_weights": post.log_weights,
        "num_proposals": post.num_proposals,
    }
    atomic_write_bytes(path, lambda tmp: torch.save(payload, tmp))


def load_posterior(path: Path, key: dict) -> Posterior | None:
    """The cached parse at ``path``, or None if it is missing, damaged, or was made from
    anything else than ``key`` says (settings, weights, image).

    Read through the reading boundary (:func:`gns_pyro.reading.load_tensors`): a regular file
    of bounded size holding tensors and plain values only, so a tampered file cannot run code;
    a cache with a non-finite number in it is not trusted either.
    """
    try:
        d = load_tensors(path, "parse_cache")
        if d.get("key") != json.dumps(key, sort_keys=True):
            return None
        post = Posterior(
            d["image"],
            Parses(**d["types"]),
            Tokens(**d["tokens"]),
            d["log_weights"],
            d["num_proposals"],
        )
        if not _consistent_posterior(post, key):
            return None
    except Exception:  # missing, damaged or foreign: parse again
        return None
    values = [post.log_weights, *dataclasses.asdict(post.types).values()]
    values += dataclasses.asdict(post.tokens).values()
    floats = [v for v in values if torch.is_tensor(v) and v.is_floating_point()]
    return post if all(bool(torch.isfinite(v).all()) for v in floats) else None


def _consistent_posterior(post: Posterior, key: dict) -> bool:
    """Whether a cached parse's parts agree with each other and with its key: the image it
    holds is the keyed one, and types, tokens and weights count the same 1..k parses in the
    same slots (a hand-edited cache could break any of these and crash a trial later)."""
    K = post.types.batch_size
    return (
        torch.is_tensor(post.image)
        and post.image.dim() == 2
        and image_digest(post.image) == key.get("image")
        and 1 <= K <= int(key.get("k", K))
        and post.tokens.batch_size == K
        and post.tokens.same_slots(post.types)
        and torch.is_tensor(post.log_weights)
        and tuple(post.log_weights.shape) == (K,)
        and isinstance(post.num_proposals, int)
    )


def cached_posterior(
    parts, image: torch.Tensor, path: Path, settings: ClassifySettings
) -> Posterior:
    """Parse ``image`` once; later calls read ``path`` (when it was made from the same inputs)."""
    key = parse_key(parts, image, settings)
    post = load_posterior(path, key) if path.exists() else None
    if post is None:
        try:
            post = infer(
                image,
                parts,
                k=settings.k,
                seed=settings.seed,
                refine_settings=RefineSettings(steps=settings.parse_steps),
            )
        except DataError as err:  # say which image of which run (a blank one, say)
            raise DataError(f"{path.parent.name} {path.stem}: {err}") from None
        save_posterior(post, path, key)
    return post


def trial_store(out_dir) -> ResultStore:
    """Where classify keeps one result per trial."""
    return ResultStore(Path(out_dir) / "trials", required=("run", "item", "predicted", "correct"))


def classify_run(
    parts,
    run,
    out_dir: Path,
    settings: ClassifySettings = ClassifySettings(),
    items: list[str] | None = None,
    quiet: bool = False,
    store: ResultStore | None = None,
    summarize: bool = False,
) -> list[dict]:
    """Classify the test items of one run (all, or ``items``); one result per trial in
    ``store`` (default: ``out_dir/trials``).

    Finished trials are read back, not redone, when their result was made from the same
    inputs: settings, weights, and the class and test images (by content digest). Cached
    parses are reused on the same terms. With ``summarize`` nothing is computed: only saved
    results are returned.
    """
    out_dir = Path(out_dir)
    store = store if store is not None else trial_store(out_dir)
    classes = sorted(run.training)
    common = {
        "settings": settings_key(settings),
        "weights": weights_digest(parts),
        "classes": {c: image_digest(run.training[c]) for c in classes},
    }
    results = []
    class_posts = None
    items = items if items is not None else sorted(run.test)
    progress = Progress(len(items), f"classify {run.name}", quiet or summarize)
    for item in items:
        key = {**common, "test": image_digest(run.test[item]), "truth": run.labels[item]}
        # a hand-edited or damaged result that contradicts itself is redone (and counted so)
        saved = store.get(
            f"{run.name}_{item}",
            key,
            check=functools.partial(trusted_trial, classes=classes, truth=run.labels[item]),
        )
        if saved is not None or summarize:
            if saved is not None:
                results.append(saved)
            progress.update(f"{item} ({'saved' if saved else 'missing'})")
            continue
        start = time.perf_counter()
        if class_posts is None:
            parsing = Progress(len(classes), f"classify {run.name}: class images", quiet)
            class_posts = []
            for c in classes:
                path = out_dir / "parses" / run.name / f"{c}.pt"
                class_posts.append(cached_posterior(parts, run.training[c], path, settings))
                parsing.update(c)
            parsing.close()
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
        results.append(store.put(f"{run.name}_{item}", key, result))
        verdict = "right" if result["correct"] else f"wrong ({predicted}, truth {result['truth']})"
        progress.update(f"{item} {verdict}, {result['seconds']:.0f} s")
    progress.close()
    return results


def _selected_runs(data, data_dir, runs: Sequence[int] | None) -> dict:
    """The runs numbered ``runs`` (default: all) by name, each read (and checked: labels agree
    with images)."""
    from gns_pyro.errors import DataNotFoundError

    data_dir = data.root if data_dir is None else data_dir  # the folder read, not None
    names = data.run_names()
    if not names:
        raise DataNotFoundError(
            f"no one-shot runs (runNN folders or all_runs.zip) in {data_dir}"
            f"{data.unlabelled_note()}"
        )
    if runs is not None:
        wanted = {f"run{n:02d}" for n in runs}
        missing = wanted - set(names)
        if missing:
            raise DataError(
                f"runs {sorted(missing)} are not in {data_dir}; present: {names}"
                f"{data.unlabelled_note()}"
            )
        names = [n for n in names if n in wanted]
    return {n: data.one_shot_run(n) for n in names}


def parse_images(
    data_dir,
    out_dir,
    runs: Sequence[int] | None = None,
    settings: ClassifySettings = ClassifySettings(),
    weights: str | None = None,
    device=None,
    quiet: bool = False,
    shard: Shard | None = None,
) -> int:
    """Parse (into the cache under ``out_dir/parses``) every image of the runs numbered
    ``runs`` (default: all), or ``shard`` of them: the first stage of a scattered job, so that
    no image is parsed by two jobs. Returns the number of images in this shard."""
    from gns_pyro.data import Omniglot
    from gns_pyro.pretrained import load_type_prior

    with Omniglot(data_dir) as data:
        chosen = _selected_runs(data, data_dir, runs)
    images = [
        (run, name, pool[name])
        for run in chosen.values()
        for pool in (run.training, run.test)
        for name in sorted(pool)
    ]
    share = (shard or Shard()).block(images)
    parts = load_type_prior(weights, device=device)
    progress = Progress(len(share), "parse", quiet)
    for run, name, image in share:
        cached_posterior(parts, image, Path(out_dir) / "parses" / run.name / f"{name}.pt", settings)
        progress.update(f"{run.name}/{name}")
    progress.close()
    return len(share)


def run_trials(
    data_dir,
    out_dir,
    runs: Sequence[int] | None = None,
    shard: Shard | None = None,
    settings: ClassifySettings = ClassifySettings(),
    weights: str | None = None,
    device=None,
    quiet: bool = False,
    summarize: bool = False,
    cluster: Cluster | None = None,
) -> dict:
    """Classify the trials of the runs numbered ``runs`` (default: all), or this shard's
    block of them.

    :param runs: run numbers, e.g. ``range(1, 11)`` for run01-run10.
    :param shard: a contiguous block of the run-ordered trials (default: all).
    :param summarize: compute nothing; merge the results saved under ``out_dir``.
    :param cluster: run on submitit jobs in two stages (every image parsed once, images split
        among the jobs; then the trials split among them), then merge.
    """
    from gns_pyro.data import Omniglot
    from gns_pyro.errors import GNSError
    from gns_pyro.pretrained import load_type_prior

    start = time.perf_counter()
    with Omniglot(data_dir) as data:
        # every run is read (and checked) before any work starts
        chosen = _selected_runs(data, data_dir, runs)
    tasks = [(name, item) for name, run in chosen.items() for item in sorted(run.test)]
    shard = shard or Shard()
    share = shard.block(tasks)
    if not share:
        raise GNSError(
            f"nothing to do: {len(tasks)} trial(s) in the selected runs of {data_dir}, "
            f"none in shard {shard}"
        )
    if cluster is not None:
        load_type_prior(weights, device=device)  # bad weights fail here, not in each job
        common = dict(
            data_dir=data_dir, out_dir=out_dir, runs=runs, settings=settings,
            weights=weights, device=str(device or "cpu"), quiet=quiet,
        )  # fmt: skip
        # stage 1 (when waiting): every image parsed once, the images split among the jobs;
        # without waiting (a Slurm array left to run), each trial job parses what it needs
        jobs = Progress(cluster.jobs * (2 if cluster.wait else 1), "classify jobs", quiet)
        if cluster.wait:
            scatter(parse_images, common, cluster, jobs)
        scatter(run_trials, common, cluster, jobs)
        jobs.close()
        if not cluster.wait:
            return {"submitted_jobs": cluster.jobs, "out": str(out_dir)}
        summarize = True
    parts = load_type_prior(weights, device=device)
    store = trial_store(out_dir)
    by_run: dict[str, list[str]] = {}
    for run_name, item in share:
        by_run.setdefault(run_name, []).append(item)
    results = []
    for run_name, items in by_run.items():
        results += classify_run(
            parts, chosen[run_name], Path(out_dir), settings, items, quiet, store, summarize
        )
    return {**summarize_trials(results, time.perf_counter() - start), **store.counts()}
