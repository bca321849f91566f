"""How well the renderer reproduces the official Omniglot images from the stroke data.

Each drawing is converted to minimal splines, rendered (default blur and noise), binarized at
0.5, and compared with the official PNG of the same drawer by intersection over union.

Example::

    >>> from gns_pyro.data.fidelity import render_iou
    >>> render_iou(n=500)["mean_iou"]                    # doctest: +SKIP
    0.84
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import numpy as np
import torch

from gns_pyro.data.omniglot import Omniglot
from gns_pyro.data.preprocess import SplineSettings, drawing_to_splines
from gns_pyro.parses import Parses
from gns_pyro.renderer import DEFAULT_BLUR, RenderSettings, render


def render_iou(
    data_dir: str | os.PathLike | None = None,
    n: int = 500,
    seed: int = 0,
    split: str = "background",
    blur: float = DEFAULT_BLUR,
    threshold: float = 0.5,
    settings: SplineSettings = SplineSettings(),
    batch_size: int = 250,
    strokes: Iterable[str | os.PathLike] = (),
    render_settings: RenderSettings = RenderSettings(),
) -> dict:
    """Mean IoU between rendered stroke data and official images over ``n`` seeded drawings.

    With ``settings.min_stroke_length`` above 0, drawings left with no stroke are skipped and
    counted in ``dropped``.

    :param strokes: extra stroke sources read after the official files (see
        :class:`~gns_pyro.data.omniglot.Omniglot`); the drawings are then sampled from all of
        them, and the result counts them per alphabet.
    :param render_settings: the renderer's (e.g. ``RenderSettings(smooth=True)``, the smooth
        image model).
    :returns: ``{"n", "mean_iou", "median_iou", "min_iou", "per_alphabet": {name: mean},
        "per_alphabet_n": {name: drawings}, "dropped"}``.
    """
    with Omniglot(data_dir, strokes=strokes) as data:
        keys = data.keys(split, "strokes")
        rng = np.random.default_rng(seed)
        pick = sorted(rng.choice(len(keys), size=min(n, len(keys)), replace=False).tolist())
        ious, alphabets, dropped = [], [], 0
        for start in range(0, len(pick), batch_size):
            chunk = [keys[i] for i in pick[start : start + batch_size]]
            drawings = [data.read_drawing(a, c, s, split) for a, c, s in chunk]
            keep = [i for i, d in enumerate(drawings) if _has_long_stroke(d.strokes, settings)]
            dropped += len(drawings) - len(keep)
            drawings, chunk = [drawings[i] for i in keep], [chunk[i] for i in keep]
            images = torch.stack([data.image_of(d) for d in drawings])
            splines = [drawing_to_splines(d.strokes, settings) for d in drawings]
            parses = Parses.from_control_points(splines)
            with torch.no_grad():
                rendered = render(parses, blur=blur, settings=render_settings) > threshold
            inter = (rendered & images).sum((1, 2)).double()
            union = (rendered | images).sum((1, 2)).double().clamp(min=1)
            ious.append(inter / union)
            alphabets += [a for a, _, _ in chunk]
    iou = torch.cat(ious).numpy()
    names = np.array(alphabets)
    per_alphabet = {a: float(iou[names == a].mean()) for a in sorted(set(alphabets))}
    return {
        "n": int(len(iou)),
        "mean_iou": float(iou.mean()),
        "median_iou": float(np.median(iou)),
        "min_iou": float(iou.min()),
        "per_alphabet": per_alphabet,
        "per_alphabet_n": {a: int((names == a).sum()) for a in per_alphabet},
        "dropped": dropped,
    }


def _has_long_stroke(strokes, settings: SplineSettings) -> bool:
    """Whether any stroke's pen path reaches ``settings.min_stroke_length``."""
    from gns_pyro.data.preprocess import motor_to_image
    from gns_pyro.splines import path_length

    return any(path_length(motor_to_image(s)) >= settings.min_stroke_length for s in strokes)
