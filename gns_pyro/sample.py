"""New concepts: sample character types from the trained type prior.

Example::

    >>> from gns_pyro.sample import sample_types
    >>> types, log_prob = sample_types(n=4, temperature=0.5, seed=0)   # doctest: +SKIP

Shell::

    gns-pyro sample --n 36 --temperature 0.5 --seed 0 --out concepts.png --json
    gns-pyro sample --n 4 --exemplars 9 --seed 0 --out grid.png   # 9 new tokens of each
    gns-pyro sample --n 12 --nearest --out novelty.png   # each beside its nearest background image

With ``--exemplars K`` each row of the grid is one new concept (its type rendered plainly)
followed by K exemplars: tokens sampled from GenerateToken, rendered with the renderer's
default blur and no pixel noise, so the pictures show motor variability and the warp rather
than observation noise.

With ``--nearest`` each concept is drawn beside the most similar official background image
(:mod:`gns_pyro.nearest`), a check that new concepts are not copies of training characters.
"""

from __future__ import annotations

import math

import pyro
import torch

from gns_pyro.errors import GNSError
from gns_pyro.models.character import CharacterParts
from gns_pyro.models.type_prior import generate_type, type_log_prob
from gns_pyro.parses import Parses, Tokens
from gns_pyro.pretrained import load_type_prior
from gns_pyro.renderer import DEFAULT_BLUR, render
from gns_pyro.viz import save_grid

#: most strokes of a new concept: as the reference's generator, a type stops by force at the
#: 10th stroke (Omniglot drawings have at most 13 strokes of 5 px or more, 2.5 on average)
MAX_SAMPLE_STROKES = 10


@torch.no_grad()
def sample_types(
    n: int,
    temperature: float = 1.0,
    seed: int | None = None,
    parts: CharacterParts | None = None,
    max_strokes: int | None = MAX_SAMPLE_STROKES,
) -> tuple[Parses, torch.Tensor]:
    """Sample ``n`` types; returns them and their log P(psi) under the model at T = 1.

    :param max_strokes: a type stops by force after this many strokes (``None``: the model's
        own cap, ``parts.max_parts``; use it for domains with many parts, such as kanji).
    """
    if n < 1:
        raise ValueError(f"--n must be at least 1, got {n}")
    parts = parts if parts is not None else load_type_prior()
    parts.eval()
    if seed is not None:
        pyro.set_rng_seed(seed)
    with pyro.validation_enabled(False):
        types = generate_type(parts, batch_size=n, temperature=temperature, max_parts=max_strokes)
        log_prob = type_log_prob(parts, types)
    if not (torch.isfinite(types.locations).all() and torch.isfinite(log_prob).all()):
        raise GNSError(
            f"sampling at temperature {temperature} gave non-finite strokes or log-probabilities"
        )
    return types, log_prob


def types_to_json(types: Parses, log_prob: torch.Tensor) -> list[dict]:
    """One dict per type: its control points per stroke and its log P(psi)."""
    return [
        {
            "strokes": [cp.astype(float).round(2).tolist() for cp in strokes],
            "log_prob": float(lp),
        }
        for strokes, lp in zip(types.to_control_points_list(), log_prob)
    ]


def tokens_to_json(tokens: Tokens) -> list[dict]:
    """Tokens as drawn: each stroke's control points with the affine warp applied (x = column,
    y = row, pixels), and the warp, blur and noise."""
    points = tokens.drawn_points().detach().cpu()
    records = []
    for b in range(tokens.batch_size):
        counts = tokens.num_control[b].tolist()
        record = {
            "strokes": [
                points[b, i, :c].double().numpy().round(2).tolist()
                for i, c in enumerate(counts)
                if c
            ]
        }
        for name in ("affine", "blur", "noise"):
            record[name] = [round(float(v), 4) for v in getattr(tokens, name)[b].reshape(-1)]
        records.append(record)
    return records


def save_exemplar_grid(types: Parses, tokens: Tokens, path, settings=None) -> None:
    """Save a grid with one row per type: the type rendered plainly, then its exemplars.

    :param tokens: ``len(types) * K`` tokens, the ``K`` exemplars of each type in a row (as
        :func:`~gns_pyro.models.joint.sample_exemplars` returns them), rendered with the
        renderer's default blur and no pixel noise.
    :param path: the PNG file to write.
    :param settings: the frame (:class:`~gns_pyro.renderer.RenderSettings`; default: the
        renderer's).
    """
    n = len(types)
    per_type = tokens.batch_size // n
    pictures = render(tokens, blur=DEFAULT_BLUR, noise=0.0, settings=settings)
    rows = torch.cat(
        [
            render(types, noise=0.0, settings=settings).unsqueeze(1),
            pictures.unflatten(0, (n, per_type)),
        ],
        dim=1,
    )
    save_grid(rows.flatten(0, 1), path, ncols=per_type + 1)


def save_nearest_grid(types: Parses, records: list[dict], path, data_dir=None) -> list[dict]:
    """Save a grid of (type, its nearest official background image) pairs
    (:mod:`gns_pyro.nearest`); returns ``records`` (one per type) with the neighbour's key and
    similarity added.

    :param data_dir: the Omniglot data folder (default: ``$GNS_PYRO_DATA``).
    """
    from gns_pyro.data import Omniglot
    from gns_pyro.nearest import BackgroundIndex

    drawn = render(types, noise=0.0).cpu()
    index = BackgroundIndex.load(data_dir)
    found, similarity = index.nearest(drawn > 0.5)
    with Omniglot(data_dir) as data:
        neighbours = [data.read_image(*index.keys[i].split("/"), split="background") for i in found]
    pairs = torch.stack([drawn, torch.stack(neighbours).to(drawn.dtype)], dim=1).flatten(0, 1)
    save_grid(pairs, path, ncols=2 * min(len(types), 6))
    return [
        {**r, "nearest": index.keys[i], "nearest_similarity": round(float(s), 4)}
        for r, i, s in zip(records, found, similarity)
    ]


@torch.no_grad()
def sample_statistics(
    parts: CharacterParts,
    n: int = 1000,
    temperature: float = 1.0,
    seed: int = 0,
    batch_size: int = 250,
    max_strokes: int | None = None,
) -> dict:
    """Checks of the prior's samples: stroke counts, ink inside the frame, finiteness.

    A sample keeps its ink inside the frame when every point of its rendered curves lies in
    ``[0, image_size - 1]`` on both axes (``[0, 104]`` for Omniglot);
    ``fraction_inside_frame_se`` is that fraction's binomial standard error. ``max_strokes`` is
    the stroke cap (default: none but the model's own, so the numbers describe the model;
    ``gns-pyro sample`` caps at :data:`MAX_SAMPLE_STROKES`).
    """
    from gns_pyro.renderer import sample_strokes

    counts, inside, finite = [], [], []
    pyro.set_rng_seed(seed)
    for start in range(0, n, batch_size):
        m = min(batch_size, n - start)
        types, log_prob = sample_types(m, temperature, None, parts, max_strokes=max_strokes)
        points, ink = sample_strokes(
            types.control_points[types.stroke_mask], types.num_control[types.stroke_mask]
        )
        real = ink > 0
        ok = ((points >= 0) & (points <= parts.image_size - 1)).all(-1) | ~real  # (N, E)
        owner = types.stroke_mask.nonzero()[:, 0]
        stroke_ok = ok.all(-1)
        # an item is inside iff all its strokes are: count failing strokes per item
        fails = torch.zeros(m, device=owner.device).index_add(0, owner, (~stroke_ok).float())
        inside.append(fails == 0)
        counts.append(types.num_strokes)
        finite.append(torch.isfinite(log_prob) & torch.isfinite(types.offsets).flatten(1).all(1))
    counts, inside, finite = torch.cat(counts), torch.cat(inside), torch.cat(finite)
    outside = counts[~inside].float()
    return {
        "n": n,
        "temperature": temperature,
        "max_strokes": max_strokes or parts.max_parts,
        "mean_strokes": float(counts.float().mean()),
        "largest_strokes": int(counts.max()),
        "fraction_inside_frame": float(inside.float().mean()),
        # binomial standard error of that fraction: 1,000 samples near 90% give about 0.009
        "fraction_inside_frame_se": math.sqrt(
            float(inside.float().mean()) * (1 - float(inside.float().mean())) / n
        ),
        "mean_strokes_when_outside": float(outside.mean()) if len(outside) else None,
        "all_finite": bool(finite.all()),
    }
