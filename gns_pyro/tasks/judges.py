"""Machine judges of the generation tasks: classifier two-sample tests (C2ST).

* :func:`concepts_test` -- new concepts: real background characters (one drawing each)
  against unconditional samples of the type prior (one exemplar each), per temperature; and,
  as a control of format (:func:`format_control`), official images against the same
  drawings' strokes drawn by the project's renderer.
* :func:`exemplars_test` -- new exemplars: for evaluation characters, the drawings of 19
  people against 19 exemplars generated from the parse of the remaining drawing ("drawing
  1", the first in name order), beside two baselines scored the same way: copies of drawing 1
  under random affine jitter only, and exemplars of unconditional samples at T = 1.

Each test trains a fresh judge (:func:`gns_pyro.evaluate.judges.two_sample_test`) with the
characters as groups, so a held-out character was never seen in training, on either side.
Both sides are binarized and pooled alike; generated exemplars are rendered as ``gns-pyro
exemplars`` draws them (the default blur, no pixel noise). 50% accuracy: the judge cannot tell
generated from real.

Shell::

    gns-pyro judge concepts --n 300 --seed 0 --json
    gns-pyro judge exemplars --characters 30 --seed 0 --out results/judge --json
"""

from __future__ import annotations

import math
from collections import defaultdict
from pathlib import Path

import pyro
import torch
import torch.nn.functional as F

from gns_pyro.evaluate.judges import JudgeSettings, two_sample_test
from gns_pyro.models.joint import sample_exemplars
from gns_pyro.renderer import DEFAULT_BLUR, render
from gns_pyro.sample import sample_types
from gns_pyro.tasks.results import seeded_subset


def _render_tokens(parts, tokens) -> torch.Tensor:
    """Ink probabilities of tokens, drawn as ``gns-pyro exemplars`` draws them."""
    with torch.no_grad():
        return render(tokens, blur=DEFAULT_BLUR, noise=0.0, settings=parts.render_settings).cpu()


def cached_parse(parts, image: torch.Tensor, path: Path | None):
    """The posterior of one image with one-shot classification's parse settings, read from
    (or, when missing or made from anything else, computed and written to) ``path``."""
    from gns_pyro.inference import posterior
    from gns_pyro.tasks.classify import ClassifySettings, load_posterior, parse_key, save_posterior

    settings = ClassifySettings()
    key = parse_key(parts, image, settings)
    post = None if path is None else load_posterior(path, key)
    if post is None:
        post = posterior.infer(image, parts, k=settings.k, seed=settings.seed)
        if path is not None:
            save_posterior(post, path, key)
    return post


def _characters(data, split: str, kind: str = "images") -> dict[tuple[str, str], list[str]]:
    """(alphabet, character) -> its stems of ``kind``, sorted, from the archive listing."""
    stems: dict[tuple[str, str], list[str]] = defaultdict(list)
    for alphabet, character, stem in data.keys(split=split, kind=kind):
        stems[(alphabet, character)].append(stem)
    return {key: sorted(value) for key, value in sorted(stems.items())}


def _one_drawing_each(characters: dict, n: int, seed: int) -> list[tuple[str, str, str]]:
    """Up to ``n`` seeded characters of ``characters`` (:func:`_characters`), a seeded stem of
    each: ``(alphabet, character, stem)``."""
    keys = list(characters)
    generator = torch.Generator().manual_seed(seed)
    picked = []
    for i in seeded_subset(len(keys), n, seed):
        stems = characters[keys[i]]
        picked.append((*keys[i], stems[int(torch.randint(len(stems), (1,), generator=generator))]))
    return picked


def concepts_test(
    data,
    parts,
    n: int = 300,
    temperatures: tuple[float, ...] = (0.5, 1.0),
    seed: int = 0,
    settings: JudgeSettings = JudgeSettings(),
) -> dict:
    """C2ST of new concepts: ``n`` real background characters (a seeded drawing of each)
    against ``n`` unconditional samples at each temperature, one exemplar each."""
    pyro.set_rng_seed(seed)
    picked = _one_drawing_each(_characters(data, "background"), n, seed)
    real = torch.stack([data.read_image(*key, split="background") for key in picked])
    report = {"real": len(real), "tests": {}}
    control = format_control(data, parts, n, seed, settings)
    if control is not None:
        report["tests"]["control: official images vs the same drawings rendered"] = control
    for temperature in temperatures:
        types, _ = sample_types(len(real), temperature=temperature, seed=seed, parts=parts)
        generated = _render_tokens(parts, sample_exemplars(types, 1))
        result = two_sample_test(real, generated, settings=settings)
        report["tests"][f"T={temperature:g}"] = result.to_json()
    return report


def format_control(
    data, parts, n: int, seed: int, settings: JudgeSettings = JudgeSettings()
) -> dict | None:
    """C2ST of format alone: official images of up to ``n`` background drawings (one per
    character with stroke data) against the same drawings' strokes drawn by the renderer that
    draws generated exemplars. Near 50%: the judges cannot win on how ink is drawn. None when
    the data folder has no stroke data."""
    from gns_pyro.data.preprocess import drawing_to_splines
    from gns_pyro.errors import DataNotFoundError
    from gns_pyro.parses import Parses

    try:
        characters = _characters(data, "background", kind="strokes")
    except DataNotFoundError:
        return None
    official, drawn = [], []
    for key in _one_drawing_each(characters, n, seed):
        drawing = data.read_drawing(*key, split="background")
        official.append(data.image_of(drawing))
        types = Parses.from_control_points([drawing_to_splines(drawing.strokes)])
        drawn.append(_render_tokens(parts, types)[0])
    if len(official) < 4:
        return None
    return two_sample_test(torch.stack(official), torch.stack(drawn), settings=settings).to_json()


def jittered_copies(
    image: torch.Tensor, n: int, generator: torch.Generator, scale: float = 0.1, degrees=10.0
) -> torch.Tensor:
    """``n`` copies of a (H, W) image under random affine jitter: scale in ``1 +- scale`` per
    axis, rotation within ``+- degrees``, shift within 4 % of the side; (n, H, W) in [0, 1]."""
    H = image.shape[-1]
    u = torch.rand(n, 5, generator=generator) * 2 - 1
    angle = u[:, 0] * math.radians(degrees)
    sx, sy = 1 + scale * u[:, 1], 1 + scale * u[:, 2]
    cos, sin = torch.cos(angle), torch.sin(angle)
    theta = torch.stack(
        [
            torch.stack([cos / sx, -sin / sx, 0.08 * u[:, 3]], -1),
            torch.stack([sin / sy, cos / sy, 0.08 * u[:, 4]], -1),
        ],
        1,
    )
    grid = F.affine_grid(theta, (n, 1, H, H), align_corners=False)
    source = image.float().expand(n, 1, H, H)
    return F.grid_sample(source, grid, align_corners=False, padding_mode="zeros")[:, 0]


def exemplars_test(
    data,
    parts,
    characters: int = 30,
    seed: int = 0,
    settings: JudgeSettings = JudgeSettings(),
    cache_dir: str | Path | None = None,
    progress=None,
) -> dict:
    """C2ST of new exemplars on ``characters`` seeded evaluation characters, with the two
    baselines (module docstring). Parses of drawing 1 are cached under ``cache_dir`` (as
    one-shot classification caches them), so a killed run resumes without parsing again."""
    from gns_pyro.tasks.exemplars import exemplars_from_posterior

    pyro.set_rng_seed(seed)  # the exemplars' motor noise
    table = _characters(data, "evaluation")
    keys = list(table)
    picked = [keys[i] for i in seeded_subset(len(keys), characters, seed)]
    generator = torch.Generator().manual_seed(seed)
    real, exemplars, jittered, groups = [], [], [], []
    for g, (alphabet, character) in enumerate(picked):
        stems = table[(alphabet, character)]
        first = data.read_image(alphabet, character, stems[0], split="evaluation")
        path = None if cache_dir is None else Path(cache_dir) / f"{alphabet}_{character}.pt"
        post = cached_parse(parts, first, path)
        others = stems[1:]
        real += [data.read_image(alphabet, character, s, split="evaluation") for s in others]
        tokens = exemplars_from_posterior(post, len(others), generator=generator)
        exemplars.append(_render_tokens(parts, tokens))
        jittered.append(jittered_copies(first, len(others), generator))
        groups += [g] * len(others)
        if progress is not None:
            progress.update(f"{alphabet}/{character}")
    real = torch.stack(real)
    groups = torch.tensor(groups)
    unconditional, _ = sample_types(len(picked), temperature=1.0, seed=seed, parts=parts)
    per_character = len(real) // len(picked)
    prior = _render_tokens(parts, sample_exemplars(unconditional, per_character))
    sides = {
        "exemplars": torch.cat(exemplars),
        "jittered_copies": torch.cat(jittered),
        "unconditional_T=1": prior[: len(real)],
    }
    report = {"characters": len(picked), "real": len(real), "tests": {}}
    for name, generated in sides.items():
        result = two_sample_test(real, generated, groups, groups[: len(generated)], settings)
        report["tests"][name] = result.to_json()
    return report
