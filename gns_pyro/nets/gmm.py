"""Bivariate Gaussian mixtures: the output distribution of the location and stroke nets.

:class:`BivariateGMM` is a Pyro distribution over points in the plane with support
``real_vector`` (so Pyro's autoguides and ``biject_to`` accept it, unlike torch's
``MixtureSameFamily`` under torch >= 2.8). Its parameters are mixture weights (softmax of
logits), means, standard deviations and a correlation per component.

Temperature follows Ha & Eck (Sketch-RNN): logits are divided by ``T`` and standard deviations
multiplied by ``sqrt(T)``; ``T < 1`` gives tidier, more typical samples.

Example::

    >>> import torch
    >>> gmm = BivariateGMM(torch.zeros(3), torch.randn(3, 2), torch.ones(3, 2), torch.zeros(3))
    >>> gmm.sample((5,)).shape
    torch.Size([5, 2])
    >>> gmm.log_prob(torch.zeros(2)).shape
    torch.Size([])
"""

from __future__ import annotations

import math

import torch
from pyro.distributions import TorchDistribution, constraints
from torch.distributions.utils import lazy_property

#: Number of raw network outputs per mixture component: logit, 2 means, 2 log-scales, corr.
PARAMS_PER_COMPONENT = 6


class BivariateGMM(TorchDistribution):
    """Mixture of ``K`` correlated bivariate normals.

    :param logits: (..., K) unnormalized mixture log-weights.
    :param means: (..., K, 2).
    :param scales: (..., K, 2) standard deviations (> 0).
    :param corr: (..., K) correlations in (-1, 1).
    """

    arg_constraints = {
        "logits": constraints.real_vector,
        "means": constraints.real,
        "scales": constraints.positive,
        "corr": constraints.interval(-1.0, 1.0),
    }
    support = constraints.real_vector
    has_rsample = False

    def __init__(self, logits, means, scales, corr, validate_args=None):
        self.logits, self.means, self.scales, self.corr = torch.broadcast_tensors(
            logits.unsqueeze(-1), means, scales, corr.unsqueeze(-1)
        )
        self.logits, self.corr = self.logits[..., 0], self.corr[..., 0]
        batch_shape = self.logits.shape[:-1]
        super().__init__(batch_shape, torch.Size([2]), validate_args=validate_args)

    @property
    def num_components(self) -> int:
        """Number of mixture components K."""
        return self.logits.shape[-1]

    @lazy_property
    def log_weights(self) -> torch.Tensor:
        """Normalized log mixture weights (..., K)."""
        return self.logits.log_softmax(-1)

    def expand(self, batch_shape, _instance=None):
        """The same mixture broadcast to ``batch_shape``."""
        batch_shape = torch.Size(batch_shape)
        K = self.num_components
        return BivariateGMM(
            self.logits.expand(batch_shape + (K,)),
            self.means.expand(batch_shape + (K, 2)),
            self.scales.expand(batch_shape + (K, 2)),
            self.corr.expand(batch_shape + (K,)),
            validate_args=False,
        )

    def component_log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """(..., K) log density of ``value`` (..., 2) under each component."""
        z = (value.unsqueeze(-2) - self.means) / self.scales
        rho = self.corr
        one_minus = (1 - rho.pow(2)).clamp(min=1e-6)
        quad = (z[..., 0].pow(2) - 2 * rho * z[..., 0] * z[..., 1] + z[..., 1].pow(2)) / one_minus
        log_det = self.scales.log().sum(-1) + 0.5 * one_minus.log()
        return -0.5 * quad - log_det - math.log(2 * math.pi)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """log density of points ``value`` (..., 2)."""
        if self._validate_args:
            self._validate_sample(value)
        return torch.logsumexp(self.log_weights + self.component_log_prob(value), dim=-1)

    def sample(self, sample_shape=torch.Size()) -> torch.Tensor:
        """Points (sample_shape + batch_shape + (2,)): pick a component, then draw from its
        Gaussian.
        """
        shape = self._extended_shape(sample_shape)  # sample + batch + (2,)
        with torch.no_grad():
            logits = self.logits.expand(shape[:-1] + (self.num_components,))
            k = torch.distributions.Categorical(logits=logits).sample()
            pick = k[..., None, None].expand(*k.shape, 1, 2)
            mean = self.means.expand(shape[:-1] + self.means.shape[-2:]).gather(-2, pick)[..., 0, :]
            std = self.scales.expand(shape[:-1] + self.scales.shape[-2:]).gather(-2, pick)[
                ..., 0, :
            ]
            rho = self.corr.expand(shape[:-1] + (self.num_components,)).gather(-1, k[..., None])[
                ..., 0
            ]
            e = torch.randn(shape, dtype=mean.dtype, device=mean.device)
            # Cholesky factor of [[1, rho], [rho, 1]] applied to standard normals
            x0 = e[..., 0]
            x1 = rho * e[..., 0] + (1 - rho.pow(2)).clamp(min=0).sqrt() * e[..., 1]
            return mean + std * torch.stack([x0, x1], -1)

    def axis_tail_mass(self, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
        """Expected number of axes (0, 1 or 2) on which a draw falls outside ``[low, high]``.

        ``low`` and ``high`` (..., 2) broadcast against the batch shape. A draw outside the box
        is outside on at least one axis, so this bounds the mass outside the box from above
        (tightly when it is small), and it needs only each component's two marginal normals:
        no bivariate CDF. Differentiable in the mixture's parameters.
        """
        z_low = (low.unsqueeze(-2) - self.means) / self.scales
        z_high = (high.unsqueeze(-2) - self.means) / self.scales
        tails = (torch.special.ndtr(z_low) + torch.special.ndtr(-z_high)).sum(-1)  # (..., K)
        return (self.log_weights.exp() * tails).sum(-1)

    @property
    def mean(self) -> torch.Tensor:
        """Mixture mean (..., 2)."""
        return (self.log_weights.exp().unsqueeze(-1) * self.means).sum(-2)

    def with_temperature(self, temperature: float) -> BivariateGMM:
        """The same mixture at temperature ``T``: logits / T, standard deviations * sqrt(T)."""
        if temperature <= 0:
            raise ValueError(f"temperature must be positive, got {temperature}")
        if temperature == 1:
            return self
        return BivariateGMM(
            self.logits / temperature, self.means, self.scales * math.sqrt(temperature), self.corr
        )


def gmm_from_raw(
    raw: torch.Tensor,
    num_components: int,
    scale: float = 1.0,
    shift: torch.Tensor | float = 0.0,
    ridge: float = 1e-3,
    temperature: float = 1.0,
) -> BivariateGMM:
    """Make a :class:`BivariateGMM` from a network's raw outputs.

    :param raw: (..., 6 K) outputs: K logits, 2K means, 2K log-scales, K correlations (pre-tanh).
    :param scale: units of the output space per network unit (e.g. pixels); means become
        ``shift + scale * mean`` and standard deviations ``scale * sqrt(exp(2 s) + ridge)``.
    :param ridge: floor on the (network-unit) variance so a component cannot collapse.
    """
    K = num_components
    if raw.shape[-1] != PARAMS_PER_COMPONENT * K:
        raise ValueError(f"expected {PARAMS_PER_COMPONENT * K} raw outputs, got {raw.shape[-1]}")
    logits, means, log_scales, corr = raw.split([K, 2 * K, 2 * K, K], dim=-1)
    means = shift + scale * means.unflatten(-1, (K, 2))
    scales = scale * (torch.exp(2 * log_scales.clamp(-10, 10)) + ridge).sqrt().unflatten(-1, (K, 2))
    gmm = BivariateGMM(logits, means, scales, torch.tanh(corr) * (1 - 1e-4))
    return gmm.with_temperature(temperature)
