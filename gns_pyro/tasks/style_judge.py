"""The style judge: do new characters drawn in the style of an alphabet belong to it?

An alphabet classifier (:func:`gns_pyro.evaluate.judges.train_judge`, labels = alphabets,
groups = characters) is trained on the real images of ``alphabets`` seeded evaluation
alphabets, with a seeded 30% of each alphabet's characters held out. Then:

* **ceiling** -- its accuracy on the held-out real characters;
* **in style** -- for each alphabet, ten of its *training* characters (drawing 1 of each,
  images the judge saw as real) are parsed, the alphabet's style q(z) is fitted to their MAP
  parses, and ``samples`` new characters are drawn in it (:func:`gns_pyro.sample.sample_in_style`
  in pieces, parses cached); the judge's accuracy at naming their alphabet, in all and per
  alphabet;
* **unconditional** -- the same number of samples of the prior with ``z = 0``, each labelled
  with every alphabet in turn: the share the judge gives each alphabet, i.e. chance for samples
  that carry no alphabet's style (1 / alphabets when the judge is unbiased);
* **novelty** -- the cosine similarity (:func:`gns_pyro.nearest.image_features`) of each new
  character to the nearest of its ten examples, beside two real references: two drawings of
  the same character (what a copy scores) and a character against the nearest of ten others
  of its alphabet.

Generated characters are drawn as one exemplar each (the default blur, no pixel noise), as
the concepts test draws them; both sides are binarized and pooled alike.

Shell::

    gns-pyro judge style --alphabets 5 --seed 0 --out results/judge --json
"""

from __future__ import annotations

from pathlib import Path

import pyro
import torch

from gns_pyro.evaluate.judges import JudgeSettings, held_out_groups, judge_accuracy, train_judge
from gns_pyro.inference.style import StyleSettings, infer_style, sample_with_style
from gns_pyro.models.joint import sample_exemplars
from gns_pyro.nearest import image_features
from gns_pyro.parses import Parses
from gns_pyro.sample import MAX_SAMPLE_STROKES
from gns_pyro.tasks.judges import _characters, _render_tokens, cached_parse
from gns_pyro.tasks.results import seeded_subset

#: characters whose parses give an alphabet's style (the task of Lake et al., 2015: ten)
GIVEN_CHARACTERS = 10


def _map_parse(data, parts, alphabet, character, stem, cache_dir):
    """The MAP parse of one evaluation image (:func:`~gns_pyro.tasks.judges.cached_parse`)."""
    image = data.read_image(alphabet, character, stem, split="evaluation")
    path = None if cache_dir is None else Path(cache_dir) / f"{alphabet}_{character}_{stem}.pt"
    return image, cached_parse(parts, image, path).map


def style_test(
    data,
    parts,
    alphabets: int = 5,
    samples: int = 20,
    temperature: float = 0.5,
    seed: int = 0,
    settings: JudgeSettings = JudgeSettings(),
    style_settings: StyleSettings = StyleSettings(),
    cache_dir: str | Path | None = None,
    progress=None,
) -> dict:
    """The style judge on ``alphabets`` seeded evaluation alphabets (module docstring).

    :param parts: nets with an alphabet level (``parts.style_dim > 0``).
    :param samples: new characters per alphabet, in its style (and unconditional).
    """
    if parts.style_dim == 0:
        raise ValueError("the style judge needs nets with an alphabet level (train-alphabet)")
    table = _characters(data, "evaluation")
    names = sorted({a for a, _ in table})
    if not 2 <= alphabets <= len(names):
        raise ValueError(f"alphabets must be in 2 .. {len(names)}, got {alphabets}")
    chosen = [names[i] for i in seeded_subset(len(names), alphabets, seed)]
    keys = [k for k in table if k[0] in chosen]
    images, labels, groups = [], [], []
    for g, (alphabet, character) in enumerate(keys):
        for stem in table[(alphabet, character)]:
            images.append(data.read_image(alphabet, character, stem, split="evaluation"))
            labels.append(chosen.index(alphabet))
            groups.append(g)
    images, labels, groups = torch.stack(images), torch.tensor(labels), torch.tensor(groups)
    judge, ceiling = train_judge(images, labels, groups, settings)
    held = set(held_out_groups(groups, settings).tolist())
    if progress is not None:
        progress.update(f"alphabet judge trained ({ceiling.accuracy:.1%} on held-out characters)")
    in_style, style_labels, novelty, references = (
        [],
        [],
        [],
        {"same_character": [], "same_alphabet": []},
    )
    pyro.set_rng_seed(seed)
    for a, alphabet in enumerate(chosen):
        trained = [i for i, k in enumerate(keys) if k[0] == alphabet and i not in held]
        picked = [trained[i] for i in seeded_subset(len(trained), GIVEN_CHARACTERS, seed)]
        given_images, given_parses = [], []
        for i in picked:
            character = keys[i][1]
            stem = table[keys[i]][0]
            image, parse = _map_parse(
                data, parts.with_style(None), alphabet, character, stem, cache_dir
            )
            given_images.append(image)
            given_parses.append(parse)
        style = infer_style(parts, Parses.cat(given_parses), style_settings, seed=seed)
        types, _ = sample_with_style(
            parts, style, samples, temperature, MAX_SAMPLE_STROKES, seed=seed * 1000 + a
        )
        drawn = _render_tokens(parts, sample_exemplars(types, 1))
        in_style.append(drawn)
        style_labels += [a] * samples
        examples = image_features(torch.stack(given_images).float())
        novelty.append((image_features(drawn) @ examples.T).max(1).values)
        # references: drawing 2 of each given character against its drawing 1, and drawing 1
        # against the nearest of the other nine given characters
        seconds = torch.stack(
            [
                data.read_image(alphabet, keys[i][1], table[keys[i]][1], split="evaluation")
                for i in picked
            ]
        )
        references["same_character"].append((image_features(seconds.float()) * examples).sum(1))
        among = examples @ examples.T
        among.fill_diagonal_(-1.0)
        references["same_alphabet"].append(among.max(1).values)
        if progress is not None:
            progress.update(f"{alphabet}: {samples} new characters in its style")
    in_style = torch.cat(in_style)
    style_labels = torch.tensor(style_labels)
    style_result = judge_accuracy(judge, in_style, style_labels, settings)
    per_alphabet = {
        alphabet: judge_accuracy(
            judge, in_style[style_labels == a], style_labels[style_labels == a], settings
        ).accuracy
        for a, alphabet in enumerate(chosen)
    }
    unconditional, _ = sample_with_style(
        parts, _zero_style(parts), samples * len(chosen), temperature, MAX_SAMPLE_STROKES, seed
    )
    plain = _render_tokens(parts, sample_exemplars(unconditional, 1))
    shares = [
        judge_accuracy(judge, plain, torch.full((len(plain),), a), settings).accuracy
        for a in range(len(chosen))
    ]
    novelty = torch.cat(novelty)
    same_character = torch.cat(references["same_character"])
    same_alphabet = torch.cat(references["same_alphabet"])
    return {
        "alphabets": chosen,
        "given_per_alphabet": GIVEN_CHARACTERS,
        "samples_per_alphabet": samples,
        "temperature": temperature,
        "ceiling_held_out_real": ceiling.to_json(),
        "in_style": style_result.to_json(),
        "in_style_per_alphabet": per_alphabet,
        "unconditional_share_per_alphabet": {"mean": sum(shares) / len(shares), "each": shares},
        "chance": 1.0 / len(chosen),
        "in_style_over_ceiling": style_result.accuracy / ceiling.accuracy,
        "in_style_over_unconditional": style_result.accuracy / max(sum(shares) / len(shares), 1e-9),
        "novelty": {
            "nearest_example_similarity_median": float(novelty.median()),
            "nearest_example_similarity_max": float(novelty.max()),
            "same_character_similarity_median": float(same_character.median()),
            "same_alphabet_nearest_similarity_median": float(same_alphabet.median()),
            "near_copies": int((novelty >= same_character.median()).sum()),
            "generated": len(novelty),
        },
    }


def _zero_style(parts):
    """q(z) at z = 0 with no spread: the nets as the unconditional prior."""
    from gns_pyro.inference.style import AlphabetStyle

    zero = torch.zeros(parts.style_dim, device=parts.device, dtype=parts.dtype)
    return AlphabetStyle(zero, torch.full_like(zero, 1e-8))
