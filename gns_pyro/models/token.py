"""GenerateToken and the image model: P(theta | psi) and P(I | theta) as Pyro programs.

A token is one drawing of a type: motor noise on each stroke's start (``token_locations``) and
shape (``token_shapes``: control points relative to the stroke's start, all but the first), a
global affine warp ``affine = (s_x, s_y, t_x, t_y)`` applied about the centroid of all control
points, and the render variables ``blur`` (sigma) and ``noise`` (epsilon). The image is
``I ~ Bernoulli(render(theta))`` per pixel.

Noise scales are the values fitted for BPL (Lake et al., Science 2015), collected in
:class:`TokenPrior`.

=====================  ============  =========================================================
site                   value         distribution
=====================  ============  =========================================================
``token_locations``    (B, S, 2)     N(y_i, diag(1.3536, 1.2056)^2), masked to real strokes
``token_shapes``       (B, S, P, 2)  N(type shape, 3.3593^2) per coordinate, masked to real
                                     control points (the shape is ``cp[1:] - cp[0]``)
``affine``             (B, 4)        N([1, 1, 0, 0], Sigma_A)
``blur``               (B,)          Uniform(0.5, 16)
``noise``              (B,)          Uniform(1e-4, 0.5)
``image``              (B, H, W)     Bernoulli(render(theta)), observed when an image is given
=====================  ============  =========================================================

Example::

    >>> import numpy as np
    >>> from gns_pyro.parses import Parses
    >>> types = Parses.from_control_points([[np.array([[20., 20.], [50., 70.], [80., 30.]])]])
    >>> tokens = generate_token(types)
    >>> tokens.affine.shape, tokens.blur.shape
    (torch.Size([1, 4]), torch.Size([1]))
"""

from __future__ import annotations

import dataclasses

import pyro
import pyro.distributions as dist
import torch

from gns_pyro.data.images import OMNIGLOT_IMAGE_SIZE
from gns_pyro.models.sites import types_plate
from gns_pyro.parses import Parses, Tokens
from gns_pyro.renderer import RenderSettings, block_average, render

TOKEN_LOCATIONS = "token_locations"
TOKEN_SHAPES = "token_shapes"
AFFINE = "affine"
BLUR = "blur"
NOISE = "noise"
IMAGE = "image"


@dataclasses.dataclass(frozen=True)
class TokenPrior:
    """Scales of the token model (pixels), BPL's fitted values by default."""

    location_sd: tuple[float, float] = (1.3536, 1.2056)
    shape_sd: float = 3.3593
    affine_scale_cov: tuple[tuple[float, float], tuple[float, float]] = (
        (0.0470, 0.0223),
        (0.0223, 0.0359),
    )
    affine_translation_sd: tuple[float, float] = (5.2658, 5.0867)
    blur_range: tuple[float, float] = (0.5, 16.0)
    noise_range: tuple[float, float] = (1e-4, 0.5)

    def affine_distribution(self, batch_size: int, dtype, device) -> dist.MultivariateNormal:
        """The (B, 4) Gaussian over the token warp (s_x, s_y, t_x, t_y)."""
        cov = torch.zeros(4, 4, dtype=dtype, device=device)
        cov[:2, :2] = torch.tensor(self.affine_scale_cov, dtype=dtype, device=device)
        cov[2, 2], cov[3, 3] = (s**2 for s in self.affine_translation_sd)
        mean = torch.tensor([1.0, 1.0, 0.0, 0.0], dtype=dtype, device=device)
        return dist.MultivariateNormal(mean, covariance_matrix=cov).expand([batch_size])


DEFAULT_TOKEN_PRIOR = TokenPrior()


def type_shapes(parses: Parses) -> torch.Tensor:
    """(B, S, P, 2) control points 1.. of each stroke relative to its start (cumsum of offsets)."""
    steps = parses.offsets * parses.offset_mask.unsqueeze(-1).to(parses.offsets.dtype)
    return steps.cumsum(dim=2)


def with_shapes(parses: Parses, locations: torch.Tensor, shapes: torch.Tensor) -> Parses:
    """The strokes of ``parses`` with new starts and relative shapes (offsets re-derived,
    masked), as plain :class:`~gns_pyro.parses.Parses` in the same slots."""
    prev = torch.cat([torch.zeros_like(shapes[:, :, :1]), shapes[:, :, :-1]], dim=2)
    offsets = (shapes - prev) * parses.offset_mask.unsqueeze(-1).to(shapes.dtype)
    locations = locations * parses.stroke_mask.unsqueeze(-1).to(locations.dtype)
    return Parses(locations, offsets, parses.stroke_mask, parses.offset_mask)


def generate_token(types: Parses, prior: TokenPrior = DEFAULT_TOKEN_PRIOR, plate=None) -> Tokens:
    """Sample (or score, under conditioning) one token per type; returns the
    :class:`~gns_pyro.parses.Tokens`: the token's strokes (the types' slots) plus ``affine``,
    ``blur`` and ``noise``; :func:`gns_pyro.renderer.render` applies the warp.
    """
    B = types.batch_size
    dtype, device = types.locations.dtype, types.locations.device
    stroke_mask = types.stroke_mask.unsqueeze(-1)
    point_mask = types.offset_mask.unsqueeze(-1)
    loc_sd = torch.tensor(prior.location_sd, dtype=dtype, device=device)
    with types_plate(B, plate):
        locations = pyro.sample(
            TOKEN_LOCATIONS,
            dist.Normal(types.locations, loc_sd).mask(stroke_mask).to_event(2),
        )
        shapes = pyro.sample(
            TOKEN_SHAPES,
            dist.Normal(type_shapes(types), prior.shape_sd).mask(point_mask).to_event(3),
        )
        affine = pyro.sample(AFFINE, prior.affine_distribution(B, dtype, device))
        lo, hi = (torch.tensor(r, dtype=dtype, device=device) for r in prior.blur_range)
        blur = pyro.sample(BLUR, dist.Uniform(lo, hi).expand([B]))
        lo, hi = (torch.tensor(r, dtype=dtype, device=device) for r in prior.noise_range)
        noise = pyro.sample(NOISE, dist.Uniform(lo, hi).expand([B]))
    return Tokens.of(with_shapes(types, locations, shapes), affine, blur, noise)


class PixelBernoulli(dist.Bernoulli):
    """Independent Bernoulli pixels given by their ink probabilities.

    The same distribution as :class:`~pyro.distributions.Bernoulli` (``probs``); its
    ``log_prob`` reads ``log p`` or ``log(1 - p)`` per pixel directly instead of going through
    logits, which makes scoring an image about twice as fast -- the image term is most of the
    cost of a token refit.
    """

    def log_prob(self, value):
        """Per-pixel log P(value): ``log p`` where the pixel is ink, ``log(1 - p)`` elsewhere."""
        if self._validate_args:
            self._validate_sample(value)
        probs = self.probs
        return torch.where(value > 0.5, probs, 1 - probs).log()


class BlockBernoulli(dist.TorchDistribution):
    """The coarse image model's pixels: each coarse pixel stands for a ``factor`` x ``factor``
    block of Bernoulli pixels that share its probability ``p``.

    The value is the block's ink fraction ``v`` in [0, 1]; ``log_prob`` is
    ``factor^2 (v log p + (1 - v) log(1 - p))``, the log-likelihood of the block's pixels if
    every one of them had the coarse probability. An approximation of the full image model that
    refinement steers by (:class:`~gns_pyro.renderer.RenderSettings` ``downsample``), not a
    model whose values are reported.
    """

    arg_constraints = {"probs": dist.constraints.unit_interval}
    support = dist.constraints.unit_interval

    def __init__(self, probs: torch.Tensor, factor: int, validate_args=None):
        self.probs, self.factor = probs, factor
        super().__init__(probs.shape, validate_args=validate_args)

    def expand(self, batch_shape, _instance=None):
        """The same blocks, broadcast to ``batch_shape``."""
        return BlockBernoulli(self.probs.expand(batch_shape), self.factor)

    def sample(self, sample_shape=torch.Size()):
        """Ink fractions of blocks drawn pixel by pixel (multiples of ``1 / factor^2``)."""
        shape = self._extended_shape(sample_shape)
        with torch.no_grad():
            n = self.factor**2
            draws = torch.rand((n,) + shape, dtype=self.probs.dtype, device=self.probs.device)
            return (draws < self.probs.expand(shape)).to(self.probs.dtype).mean(0)

    def log_prob(self, value):
        """``factor^2 (v log p + (1 - v) log(1 - p))`` per coarse pixel."""
        if self._validate_args:
            self._validate_sample(value)
        p = self.probs
        return self.factor**2 * (value * p.log() + (1 - value) * (-p).log1p())


#: Pixel probabilities are kept this far from 0 and 1.
PROBABILITY_FLOOR = 1e-6


def image_distribution(
    tokens: Tokens, size: int = OMNIGLOT_IMAGE_SIZE, settings: RenderSettings | None = None
) -> dist.TorchDistribution:
    """Bernoulli pixels of ``render(tokens)`` on a ``size`` x ``size`` frame, probabilities
    kept :data:`PROBABILITY_FLOOR` away from 0 and 1: clamped, or with ``settings.smooth``
    mapped affinely onto ``[floor, 1 - floor]`` (smooth, as the smooth image model must be).

    :param settings: the renderer's (``size`` is then ignored); default ``RenderSettings(size)``.
    """
    settings = settings or RenderSettings(size=size)
    probs = render(tokens, settings=settings)
    if settings.smooth:
        probs = PROBABILITY_FLOOR + (1 - 2 * PROBABILITY_FLOOR) * probs
    else:
        probs = probs.clamp(PROBABILITY_FLOOR, 1 - PROBABILITY_FLOOR)
    if settings.downsample > 1:
        return BlockBernoulli(probs, settings.downsample).to_event(2)
    return PixelBernoulli(probs=probs).to_event(2)


def image_model(
    tokens: Tokens,
    image: torch.Tensor | None = None,
    plate=None,
    size: int = OMNIGLOT_IMAGE_SIZE,
    settings: RenderSettings | None = None,
) -> torch.Tensor:
    """``I ~ Bernoulli(render(theta))``; observed when ``image`` (B, H, H) is given.

    The frame is the observed image's (``size`` is then ignored), else ``size`` x ``size``.
    ``settings`` choose the renderer (e.g. ``smooth=True``; its ``size`` must be the frame's).
    With ``settings.downsample`` the site is the coarse model's (:class:`BlockBernoulli`): it
    observes the image's block averages, and a draw is a coarse image.

    :raises ValueError: if ``image`` is not a batch of square images.
    """
    if image is not None:
        if image.dim() != 3 or image.shape[-1] != image.shape[-2]:
            raise ValueError(
                f"image must be a batch of square images (B, H, H), got {tuple(image.shape)}"
            )
        size = image.shape[-1]
    with types_plate(tokens.batch_size, plate):
        obs = None if image is None else image.to(tokens.locations.dtype)
        if settings is not None and settings.size != size:
            raise ValueError(f"render settings of size {settings.size} for a {size} px frame")
        if obs is not None and settings is not None:
            obs = block_average(obs, settings.downsample)
        return pyro.sample(IMAGE, image_distribution(tokens, size, settings), obs=obs)
