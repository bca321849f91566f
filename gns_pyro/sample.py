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

New characters in the style of an alphabet (:func:`sample_in_style`, the hierarchical prior
of :mod:`gns_pyro.models.alphabet`)::

    gns-pyro sample --alphabet my_alphabet/ --n 12 --out in_style.png   # 2-100 PNGs in the folder
"""

from __future__ import annotations

import dataclasses
import math
import os

import pyro
import torch

from gns_pyro.errors import DataError, GNSError
from gns_pyro.inference.style import AlphabetStyle, infer_style, sample_with_style
from gns_pyro.inference.style import StyleSettings as StyleFit
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


#: fewest and most images that ``sample_in_style`` (and ``sample --alphabet``) reads: a style
#: needs several characters of the alphabet, and each image is parsed (~16 s on one thread)
MIN_STYLE_IMAGES, MAX_STYLE_IMAGES = 2, 100


@dataclasses.dataclass(frozen=True)
class StyleSamples:
    """New characters in the style of a few given ones (:func:`sample_in_style`)."""

    given: Parses  # (M,) the MAP parse of each given image
    style: AlphabetStyle  # q(z) fitted to them
    types: Parses  # (n,) the new types
    log_prob: torch.Tensor  # (n,) log P(psi | z) of each new type, at its own z


def style_masks(images, size: int) -> list[torch.Tensor]:
    """The ink masks of an alphabet's images (paths, arrays or masks), each checked as
    ``infer`` needs it.

    :raises DataError: naming the image (its path, else its position) that cannot be used,
        a blank one for instance.
    """
    from gns_pyro.data.images import load_image
    from gns_pyro.inference.posterior import check_image

    masks = []
    for i, image in enumerate(images):
        try:
            masks.append(check_image(load_image(image, size=size), size))
        except DataError as err:  # which of the many images
            name = str(image) if isinstance(image, (str, os.PathLike)) else f"image {i + 1}"
            message = str(err)
            raise DataError(message if name in message else f"{name}: {message}") from None
    return masks


def sample_in_style(
    images,
    n: int,
    parts: CharacterParts | None = None,
    temperature: float = 0.5,
    seed: int = 0,
    k: int = 5,
    style_settings: StyleFit = StyleFit(),  # noqa: B008 (frozen settings)
    max_strokes: int | None = MAX_SAMPLE_STROKES,
    progress=None,
) -> StyleSamples:
    """New characters of the alphabet that drew ``images``: each image is parsed with
    :func:`~gns_pyro.inference.infer` (the nets at ``z = 0``), the alphabet's style q(z) is
    fitted to the MAP parses (:func:`~gns_pyro.inference.style.infer_style`), and ``n`` types
    are drawn with ``z ~ q(z)`` (:func:`~gns_pyro.inference.style.sample_with_style`).

    :param images: 2 to 100 images (paths, arrays or masks, as :func:`load_image` reads them).
    :param parts: nets with an alphabet level (default: the shipped ones).
    :param progress: called with a note after each parse (or None).

    Example::

        >>> images = sorted(Path("my_alphabet").glob("*.png"))  # doctest: +SKIP
        >>> result = sample_in_style(images, n=12)               # doctest: +SKIP
        >>> result.types.batch_size                              # doctest: +SKIP
        12
    """
    from gns_pyro.inference.posterior import infer
    from gns_pyro.pretrained import load_alphabet_prior

    images = list(images)
    if not MIN_STYLE_IMAGES <= len(images) <= MAX_STYLE_IMAGES:
        raise GNSError(
            f"give {MIN_STYLE_IMAGES} to {MAX_STYLE_IMAGES} images of the alphabet, got "
            f"{len(images)}"
        )
    if n < 1:
        raise GNSError(f"n must be at least 1, got {n}")
    parts = parts if parts is not None else load_alphabet_prior()
    if parts.style_dim == 0:
        raise GNSError("these nets have no alphabet level; use gns-pyro train-alphabet weights")
    masks = style_masks(images, parts.image_size)
    unstyled = parts.with_style(None)
    given = []
    for i, mask in enumerate(masks):
        given.append(infer(mask, unstyled, k=k, seed=seed).map)
        if progress is not None:
            progress(f"parsed image {i + 1}/{len(masks)}")
    given = Parses.cat(given)
    style = infer_style(parts, given, style_settings, seed=seed)
    types, log_prob = sample_with_style(parts, style, n, temperature, max_strokes, seed)
    return StyleSamples(given, style, types, log_prob)


def save_style_grid(given: torch.Tensor, types: Parses, path, settings=None) -> None:
    """Save a grid: the given images (M, H, W) in the first row(s), then the new types,
    rendered plainly; rows of ``max(M, 6)`` pictures (at most 10)."""
    ncols = min(max(len(given), 6), 10)
    pictures = render(types, noise=0.0, settings=settings).cpu()
    first = given.to(pictures.dtype)
    pad = (-len(first)) % ncols
    blank = torch.zeros(pad, *first.shape[1:], dtype=pictures.dtype)
    save_grid(torch.cat([first, blank, pictures]), path, ncols=ncols)
