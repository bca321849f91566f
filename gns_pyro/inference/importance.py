"""An importance-sampling check of a Laplace sum that does not trust the Hessians.

:func:`importance_log_marginal` estimates the log P(I) that
:func:`~gns_pyro.inference.laplace.parse_log_marginal` approximates: the proposal is a mixture
of the modes' Laplace Gaussians, and the weights are the model's log joint (from its trace)
over the mixture density. It reports the estimate, its standard error, the effective sample
size and the ELBO (``gns-pyro likelihood --check-is N``).

Example::

    >>> log_p, modes = parse_log_marginal(parts, post.types, post.tokens, image)  # doctest: +SKIP
    >>> importance_log_marginal(parts, post.types, post.tokens, image, modes)  # doctest: +SKIP
"""

from __future__ import annotations

import math
from typing import NamedTuple

import pyro
import torch

from gns_pyro.inference.laplace import (
    MIN_CURVATURE,
    LaplaceResult,
    _as_float64,
    _parse_space,
    _same_structure,
)
from gns_pyro.inference.latent_space import LatentSpace

#: Degrees of freedom of Student-t proposal components (None: the Laplace Gaussians, which
#: is what the check is meant to test).
IS_DEGREES_OF_FREEDOM = None


class ImportanceEstimate(NamedTuple):
    """An importance-sampling estimate of log P(I) (:func:`importance_log_marginal`).

    :param log_marginal: log of the mean importance weight.
    :param standard_error: its standard error (delta method: sd(w) / (sqrt(N) mean(w))).
    :param effective_sample_size: ``(sum w)^2 / sum w^2``.
    :param elbo: the mean log weight: a lower bound on log P(I) in expectation.
    :param num_samples: N.
    """

    log_marginal: float
    standard_error: float
    effective_sample_size: float
    elbo: float
    num_samples: int


class GaussianComponent(NamedTuple):
    """A proposal component: a Gaussian (or Student-t) given by its mean and the
    eigendecomposition of its precision matrix (for Laplace, ``-H`` at the mode).

    :param mean: (d,).
    :param precision: (d,) eigenvalues of the precision, all positive.
    :param vectors: (d, d) eigenvectors, as columns.
    """

    mean: torch.Tensor
    precision: torch.Tensor
    vectors: torch.Tensor

    @classmethod
    def from_precision(cls, mean: torch.Tensor, precision_matrix: torch.Tensor, floor: float):
        """The component with this precision matrix, its eigenvalues taken in absolute value
        and floored at ``floor`` (a saddle's or a flat direction's curvature is not one)."""
        eig, vectors = torch.linalg.eigh(precision_matrix)
        return cls(mean, eig.abs().clamp(min=floor), vectors)

    def sample(self, n: int, generator, nu: int | None) -> torch.Tensor:
        """(n, d) draws; with ``nu`` a multivariate Student-t (a Gaussian draw over
        ``sqrt(chi^2_nu / nu)``)."""
        d = self.mean.numel()
        noise = torch.randn(n, d, generator=generator, dtype=self.mean.dtype)
        if nu is not None:
            normals = torch.randn(n, nu, generator=generator, dtype=self.mean.dtype)
            noise = noise / (normals.pow(2).sum(-1, keepdim=True) / nu).sqrt()
        return self.mean + (noise / self.precision.sqrt()) @ self.vectors.T

    def log_density(self, z: torch.Tensor, nu: int | None) -> torch.Tensor:
        """(n,) log densities of the rows of ``z`` (n, d)."""
        squared = (((z - self.mean) @ self.vectors) * self.precision.sqrt()).pow(2).sum(-1)
        d = self.mean.numel()
        half_log_det = 0.5 * self.precision.log().sum()
        if nu is None:
            return -0.5 * d * math.log(2 * math.pi) + half_log_det - 0.5 * squared
        return (
            math.lgamma((nu + d) / 2)
            - math.lgamma(nu / 2)
            - 0.5 * d * math.log(nu * math.pi)
            + half_log_det
            - 0.5 * (nu + d) * torch.log1p(squared / nu)
        )


def mixture_importance_sampling(
    log_joint,
    components: list[GaussianComponent],
    log_mass: torch.Tensor,
    same_space: list[list[int]] | None = None,
    num_samples: int = 1000,
    seed: int = 0,
    batch_size: int = 100,
    degrees_of_freedom: int | None = None,
) -> ImportanceEstimate:
    """Estimate ``log integral exp(log_joint)`` by importance sampling from a mixture.

    The mixture picks component ``c`` with probability ``softmax(log_mass)[c]``. Components
    may live in different spaces (for parses: different discrete structures): a sample of
    ``c`` is scored under the components of ``same_space[c]`` only, the mixture's density in
    that space, so that the estimate is the sum over spaces of each space's integral.

    :param log_joint: ``log_joint(c, z)``: the (n,) log joint of samples ``z`` (n, d) in the
        space of component ``c``.
    :param components: the mixture's components (:class:`GaussianComponent`).
    :param log_mass: (C,) unnormalized log weights of the components.
    :param same_space: for each component, the components sharing its space (itself
        included); default: all of them.
    :param batch_size: most samples scored in one call of ``log_joint``.
    :param degrees_of_freedom: Student-t components with this many degrees of freedom, or
        Gaussians (``None``).
    """
    if num_samples < 1:
        raise ValueError(f"num_samples must be at least 1, got {num_samples}")
    nu = degrees_of_freedom
    if nu is not None and nu < 1:
        raise ValueError(f"degrees_of_freedom must be a positive integer, got {nu}")
    C = len(components)
    same_space = same_space if same_space is not None else [list(range(C))] * C
    weights = torch.softmax(log_mass.double(), 0)
    generator = torch.Generator().manual_seed(seed)
    counts = torch.multinomial(weights, num_samples, replacement=True, generator=generator)
    counts = torch.bincount(counts, minlength=C)
    log_weights = []
    with torch.no_grad():
        for c in range(C):
            for begin in range(0, int(counts[c]), batch_size):
                m = min(batch_size, int(counts[c]) - begin)
                z = components[c].sample(m, generator, nu)
                log_q = torch.logsumexp(
                    torch.stack(
                        [weights[j].log() + components[j].log_density(z, nu) for j in same_space[c]]
                    ),
                    0,
                )
                log_weights.append(log_joint(c, z) - log_q)
    log_w = torch.cat(log_weights)
    log_mean = torch.logsumexp(log_w, 0) - math.log(num_samples)
    w = (log_w - log_w.max()).exp()
    ess = float(w.sum() ** 2 / w.pow(2).sum())
    relative_sd = float(w.std() / w.mean()) if num_samples > 1 else math.inf
    return ImportanceEstimate(
        float(log_mean),
        relative_sd / math.sqrt(num_samples),
        ess,
        float(log_w.mean()),
        num_samples,
    )


def importance_log_marginal(
    parts,
    types,
    tokens,
    image: torch.Tensor,
    results: list[LaplaceResult],
    num_samples: int = 1000,
    seed: int = 0,
    batch_size: int = 100,
    degrees_of_freedom: int | None = IS_DEGREES_OF_FREEDOM,
) -> ImportanceEstimate:
    """Estimate the log P(I) that :func:`parse_log_marginal` approximates, by importance
    sampling (:func:`mixture_importance_sampling`): the proposal is a mixture over the
    distinct modes, each the Gaussian of its Laplace approximation (mean the polished mode,
    covariance ``(-H)^-1`` with its eigenvalues in absolute value, floored), weighted by its
    Laplace mass. A sample is scored under the model and under every component of its own
    discrete structure, so parses sharing a structure share the mass they cover.

    The estimate needs no Hessian to be right, only the proposal to cover the posterior's
    mass: a low effective sample size says it does not.

    :param results: the parses' :class:`LaplaceResult` from :func:`parse_log_marginal` on
        the same ``parts``, ``types``, ``tokens`` and image.
    :param degrees_of_freedom: each component is a multivariate Student-t with this many
        degrees of freedom and the Laplace scale matrix (heavier tails than the posterior's,
        so the weights stay bounded), or with ``None`` the Laplace Gaussian itself.
    """
    parts, types, tokens, image = _as_float64(parts, types, tokens, image)
    kept = [k for k, r in enumerate(results) if r.duplicate_of is None]
    if not kept:
        raise ValueError("no modes: give the results of parse_log_marginal")
    components = [
        GaussianComponent.from_precision(
            results[k].location, results[k].negative_hessian, MIN_CURVATURE
        )
        for k in kept
    ]
    same_space = [
        [j for j, other in enumerate(kept) if _same_structure(types, k, other)] for k in kept
    ]
    width = max(1, min(batch_size, num_samples))
    spaces: dict[int, LatentSpace] = {}

    def log_joint(c: int, z: torch.Tensor) -> torch.Tensor:
        if c not in spaces:  # the mode's parse copied ``width`` times, trimmed: the
            # copies' padding (strokes of other parses) is no site of theirs
            copies = torch.full((width,), kept[c], dtype=torch.long)
            spaces[c] = _parse_space(parts, types[copies].trim(), tokens[copies].trim(), image)
        m = z.shape[0]  # a shorter chunk is padded with the mode, whose scores are dropped
        padded = torch.cat([z, components[c].mean.expand(width - m, -1)])
        return spaces[c].log_joint(_pack(spaces[c], padded))[:m]

    log_mass = torch.stack([results[k].log_marginal for k in kept])
    with pyro.validation_enabled(False):
        return mixture_importance_sampling(
            log_joint,
            components,
            log_mass,
            same_space,
            num_samples,
            seed,
            width,
            degrees_of_freedom,
        )


def _pack(space: LatentSpace, samples: torch.Tensor) -> torch.Tensor:
    """``z`` of ``space`` (whose items all share one structure) from per-item vectors
    (n, d) laid out as one item's entries: site by site."""
    m = samples.shape[0]
    chunks, at = [], 0
    for size in space.sizes:
        per_item = size // m
        chunks.append(samples[:, at : at + per_item].reshape(-1))
        at += per_item
    return torch.cat(chunks)
