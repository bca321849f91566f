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
    LatentSpace,
    _as_float64,
    _parse_space,
    _same_structure,
)

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
    sampling: the proposal is a mixture over the distinct modes, each the Gaussian of its
    Laplace approximation (mean the polished mode, covariance ``(-H)^-1`` with its eigenvalues
    in absolute value, floored), weighted by its Laplace mass. A sample is scored under the
    model and under every component of its own discrete structure, so parses sharing a
    structure share the mass they cover.

    The estimate needs no Hessian to be right, only the proposal to cover the posterior's
    mass: a low effective sample size says it does not.

    :param results: the parses' :class:`LaplaceResult` from :func:`parse_log_marginal` on
        the same ``parts``, ``types``, ``tokens`` and image.
    :param degrees_of_freedom: each component is a multivariate Student-t with this many
        degrees of freedom and the Laplace scale matrix (heavier tails than the posterior's,
        so the weights stay bounded), or with ``None`` the Laplace Gaussian itself.
    """
    if num_samples < 1:
        raise ValueError(f"num_samples must be at least 1, got {num_samples}")
    if degrees_of_freedom is not None and degrees_of_freedom < 1:
        raise ValueError(f"degrees_of_freedom must be a positive integer, got {degrees_of_freedom}")
    parts, types, tokens, image = _as_float64(parts, types, tokens, image)
    kept = [k for k, r in enumerate(results) if r.duplicate_of is None]
    if not kept:
        raise ValueError("no modes: give the results of parse_log_marginal")
    mass = torch.stack([results[k].log_marginal for k in kept]).double()
    weights = torch.softmax(mass, 0)
    generator = torch.Generator().manual_seed(seed)
    counts = torch.multinomial(weights, num_samples, replacement=True, generator=generator)
    counts = torch.bincount(counts, minlength=len(kept))
    components = []
    for k in kept:
        eig, vectors = torch.linalg.eigh(results[k].negative_hessian)
        eig = eig.abs().clamp(min=MIN_CURVATURE)
        components.append((results[k].location, eig, vectors))

    nu = degrees_of_freedom

    def log_density(z: torch.Tensor, component) -> torch.Tensor:  # (n, d) -> (n,)
        mean, eig, vectors = component
        squared = (((z - mean) @ vectors) * eig.sqrt()).pow(2).sum(-1)  # Mahalanobis^2
        d = mean.numel()
        if nu is None:
            return -0.5 * d * math.log(2 * math.pi) + 0.5 * eig.log().sum() - 0.5 * squared
        return (
            math.lgamma((nu + d) / 2)
            - math.lgamma(nu / 2)
            - 0.5 * d * math.log(nu * math.pi)
            + 0.5 * eig.log().sum()
            - 0.5 * (nu + d) * torch.log1p(squared / nu)
        )

    log_weights = []
    with pyro.validation_enabled(False), torch.no_grad():
        for c, k in enumerate(kept):
            n = int(counts[c])
            if n == 0:
                continue
            mean, eig, vectors = components[c]
            same = [j for j, other in enumerate(kept) if _same_structure(types, k, other)]
            width = min(batch_size, n)
            copies = torch.full((width,), k, dtype=torch.long)
            # trimmed: the copies' padding (strokes of other parses) is no site of theirs
            space = _parse_space(parts, types[copies].trim(), tokens[copies].trim(), image)
            for begin in range(0, n, width):
                m = min(width, n - begin)
                noise = torch.randn(m, mean.numel(), generator=generator, dtype=torch.float64)
                if nu is not None:  # a Student-t draw: a Gaussian over sqrt(chi^2_nu / nu)
                    normals = torch.randn(m, nu, generator=generator, dtype=torch.float64)
                    chi2 = normals.pow(2).sum(-1, keepdim=True)
                    noise = noise / (chi2 / nu).sqrt()
                z = mean + (noise / eig.sqrt()) @ vectors.T
                # a last, shorter chunk is padded with the mean, whose scores are dropped
                padded = torch.cat([z, mean.expand(width - m, -1)])
                f = space.log_joint(_pack(space, padded))[:m]
                log_q = torch.logsumexp(
                    torch.stack([weights[j].log() + log_density(z, components[j]) for j in same]),
                    0,
                )
                log_weights.append(f - log_q)
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
