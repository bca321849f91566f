"""``infer(image) -> Posterior``: the paper's parsing pipeline in one call.

1. propose stroke sets by random walks on the skeleton (:mod:`.walks`), fit minimal splines;
2. choose each proposal's stroke order and direction by the type prior, keep the top ``k``
   (:mod:`.search`);
3. refine all continuous type and token variables of the ``k`` parses against the image: the
   tokens first with the types held, then everything together (:mod:`.refinement`);
4. weight them: ``log pi_k = log P(psi_k, theta_k, I)``, normalized over the ``k``.

Example::

    >>> from gns_pyro.inference import infer
    >>> post = infer(image, k=5)  # image: (105, 105) bool, ink = True   # doctest: +SKIP
    >>> post.map.num_strokes, post.weights.sum()                       # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import numpy as np
import torch

from gns_pyro.data.images import MAX_INK_FRACTION, OMNIGLOT_IMAGE_SIZE, SPECK_PIXELS
from gns_pyro.data.preprocess import SplineSettings
from gns_pyro.errors import DataError
from gns_pyro.fileio import atomic_write_bytes
from gns_pyro.inference.refinement import TOKEN_FIT, RefineSettings, refine_parses
from gns_pyro.inference.search import MAX_CONFIGS, TOTAL_CONFIGS, best_orders
from gns_pyro.inference.walks import WalkSettings, propose_strokes
from gns_pyro.parses import Parses, Tokens
from gns_pyro.splines import fit_minimal_spline, resample_path

#: more separate pieces than this (after removing specks) is refused; Omniglot's evaluation
#: images have at most 6 (3,000 checked)
MAX_PIECES = 20


@dataclasses.dataclass
class Posterior:
    """``k`` parses of one image with their weights (best first)."""

    image: torch.Tensor  # (H, H) bool, H the domain's image size
    types: Parses  # (K)
    tokens: Tokens  # (K), in the slots of types
    log_weights: torch.Tensor  # (K,) unnormalized: log P(psi_k, theta_k, I)
    num_proposals: int

    def __post_init__(self):
        if not isinstance(self.tokens, Tokens):
            got = type(self.tokens).__name__
            raise TypeError(f"a posterior's tokens must be Tokens, got {got}")

    @property
    def weights(self) -> torch.Tensor:
        """Normalized weights (K,) of the parses: ``softmax(log_weights)``."""
        return torch.softmax(self.log_weights, 0)

    def best(self, n: int) -> Posterior:
        """The ``n`` most probable parses (all of them if there are fewer), best first."""
        if n < 1:
            raise ValueError(f"a posterior keeps at least one parse, got n = {n}")
        order = self.log_weights.argsort(descending=True)[:n]
        return dataclasses.replace(
            self,
            types=self.types[order],
            tokens=self.tokens[order],
            log_weights=self.log_weights[order],
        )

    @property
    def map(self) -> Parses:
        """The most probable parse (its type), batch of one."""
        return self.types[int(self.log_weights.argmax())]

    def to_json(self) -> list[dict]:
        """One dict per parse, best first: ``strokes`` (the type's control points, pixels),
        ``token_strokes`` (the token's control points with its warp applied: what
        :meth:`plot` draws and what was fitted to the image), the token's ``affine``
        (s_x, s_y, t_x, t_y), ``blur`` and ``noise``, and its ``log_weight`` and ``weight``."""
        tokens = self.tokens
        warped = tokens.drawn_control_points()

        def rounded(arrays):
            return [cp.astype(float).round(2).tolist() for cp in arrays]

        return [
            {
                "strokes": rounded(strokes),
                "token_strokes": rounded(token_strokes),
                "affine": [round(float(v), 4) for v in tokens.affine[b]],
                "blur": round(float(tokens.blur[b]), 4),
                "noise": round(float(tokens.noise[b]), 5),
                "log_weight": float(lw),
                "weight": float(w),
            }
            for b, (strokes, token_strokes, lw, w) in enumerate(
                zip(
                    self.types.to_control_points_list(),
                    warped,
                    self.log_weights,
                    self.weights,
                )
            )
        ]

    def plot(self, path: str | os.PathLike | None = None, max_parses: int = 5):
        """The image with each parse drawn over it: the token's strokes (what was fitted to the
        image, warp applied), coloured in order, with dots at their starts."""
        import matplotlib.pyplot as plt

        n = min(max_parses, len(self.tokens))
        fig, axes = plt.subplots(1, n, figsize=(2.4 * n, 2.9), squeeze=False)
        colors = plt.get_cmap("tab10")
        curves = self.tokens[:n].curves()
        for j, (ax, w) in enumerate(zip(axes[0], self.weights)):
            ax.imshow(self.image.cpu().numpy(), cmap="Greys", alpha=0.35)
            for i, curve in enumerate(curves[j]):
                ax.plot(curve[:, 0], curve[:, 1], color=colors(i % 10), lw=2)
                ax.plot(curve[0, 0], curve[0, 1], "o", color=colors(i % 10), ms=5)
            strokes = len(curves[j])
            # a weight rounds to 0.00 for all but the best parses: the log weight tells them apart
            ax.set_title(
                f"parse {j}: {strokes} stroke{'s' if strokes != 1 else ''}\n"
                f"log w {float(self.log_weights[j]):.1f}, w {float(w):.2g}",
                fontsize=9,
            )
            ax.set_xlim(0, self.image.shape[-1] - 1)
            ax.set_ylim(self.image.shape[-2] - 1, 0)
            ax.axis("off")
        fig.tight_layout()
        if path is not None:
            # atomically, as every output: a link at ``path`` is replaced, not written through
            atomic_write_bytes(
                Path(path), lambda tmp: fig.savefig(tmp, format="png", dpi=100, bbox_inches="tight")
            )
            plt.close(fig)
        return fig


def check_image(image, size: int = OMNIGLOT_IMAGE_SIZE) -> torch.Tensor:
    """A (size, size) bool ink mask with specks of noise removed, or a :class:`DataError` that
    names the problem (shape, values, no ink, inverted, only specks, too many pieces).

    :param size: the model's image side in pixels (105 for Omniglot; a domain's
        ``image_size``).
    """
    image = torch.as_tensor(image)
    if image.shape != (size, size):
        raise DataError(f"the image must be {size}×{size}, got shape {tuple(image.shape)}")
    if image.dtype != torch.bool:
        values = image.unique()
        if not bool(((values == 0) | (values == 1)).all()):
            raise DataError(
                "the image must be binary (ink = 1 / True); load files with "
                "gns_pyro.data.load_image, which converts grayscale"
            )
        image = image.bool()
    if not bool(image.any()):
        raise DataError("the image has no ink: nothing to parse")
    ink = float(image.float().mean())
    if ink > MAX_INK_FRACTION:
        raise DataError(
            f"the image is {ink:.0%} ink; characters are dark strokes on a light background "
            "(is it inverted?)"
        )
    return _remove_specks(image)


def _remove_specks(image: torch.Tensor) -> torch.Tensor:
    """Drop pieces of ink of at most :data:`SPECK_PIXELS` pixels; refuse noise-like images."""
    from skimage.measure import label

    pieces = label(image.cpu().numpy(), connectivity=2)
    sizes = np.bincount(pieces.ravel())
    specks = np.flatnonzero(sizes[1:] <= SPECK_PIXELS) + 1
    kept = len(sizes) - 1 - len(specks)
    if kept == 0:
        raise DataError(
            f"the image has only specks of ink (pieces of {SPECK_PIXELS} pixels or fewer): "
            "nothing to parse"
        )
    if kept > MAX_PIECES:
        raise DataError(
            f"the image has {kept} separate pieces of ink, more than {MAX_PIECES}: "
            "is it noise, or several characters?"
        )
    if len(specks) == 0:
        return image
    clean = ~np.isin(pieces, specks) & (pieces > 0)
    return torch.from_numpy(clean).to(image.device)


def proposals_to_parses(proposals: list[list[np.ndarray]], settings=SplineSettings()) -> Parses:
    """Stroke polylines -> minimal splines, packed as one batch."""
    drawings = []
    for strokes in proposals:
        drawings.append(
            [
                fit_minimal_spline(
                    resample_path(s, settings.spacing), settings.threshold, settings.max_control
                ).control_points
                for s in strokes
            ]
        )
    return Parses.from_control_points(drawings)


def within_caps(candidates: Parses, parts) -> Parses:
    """The proposals that the nets can score: at most ``parts.max_parts`` strokes, each of at
    most ``parts.max_steps`` offsets (nets trained with small caps cannot read larger ones).

    :raises DataError: when no proposal fits, naming the caps.
    """
    offsets = candidates.offset_mask.sum(-1).amax(-1)
    fits = (candidates.num_strokes <= parts.max_parts) & (offsets <= parts.max_steps)
    if not bool(fits.any()):
        raise DataError(
            f"every parse proposed for this image has more strokes (at least "
            f"{int(candidates.num_strokes.min())}) or offsets than these nets can read (at "
            f"most {parts.max_parts} strokes of {parts.max_steps} offsets)"
        )
    return candidates if bool(fits.all()) else candidates[fits].trim()


def infer(
    image,
    parts=None,
    k: int = 5,
    seed: int = 0,
    walks: WalkSettings = WalkSettings(),
    refine_settings: RefineSettings = RefineSettings(),
    max_configs: int = MAX_CONFIGS,
    total_configs: int = TOTAL_CONFIGS,
    token_fit: RefineSettings = TOKEN_FIT,
    progress=None,
) -> Posterior:
    """Parse one image: proposals, order/direction search, refinement, weights.

    :param image: (H, H) ink mask (bool or 0/1), H the parts' ``image_size`` (105 for
        Omniglot); see :func:`check_image`.
    :param parts: type-prior nets (default: the shipped weights); their device and image size
        are used.
    :param k: parses to keep.
    :param walks: random-walk proposal settings (:mod:`.walks`).
    :param refine_settings: the joint refinement phase (:func:`.refinement.refine_parses`).
    :param max_configs: most stroke orders/directions tried per proposal (:mod:`.search`).
    :param total_configs: orders/directions tried in all.
    :param token_fit: the token-fitting phase that precedes the joint one.
    :param progress: called with a short note after each stage (e.g. a
        :class:`gns_pyro.progress.Stages`), or None.
    """
    from gns_pyro.pretrained import load_type_prior

    parts = parts if parts is not None else load_type_prior()
    image = check_image(image, parts.image_size)
    image = image.to(parts.device)
    report = progress if progress is not None else (lambda note: None)
    proposals = propose_strokes(image, walks, seed=seed)
    report(f"{len(proposals)} stroke proposals from the skeleton")
    candidates = within_caps(proposals_to_parses(proposals), parts).to(parts.device, parts.dtype)
    types, _ = best_orders(
        parts, candidates, k=k, max_configs=max_configs, seed=seed, total_configs=total_configs
    )
    report(f"searched stroke orders and directions, refining the best {len(types)}")
    refined = refine_parses(parts, types, image, refine_settings, token_fit)
    report("refined")
    order = refined.log_joint.argsort(descending=True)
    return Posterior(
        image, refined.types[order], refined.tokens[order], refined.log_joint[order], len(proposals)
    )
