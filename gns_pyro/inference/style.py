"""The style of a new alphabet from a few of its characters: q(z) by SVI.

Given types of one alphabet (the MAP parses of a few images, say ten), the posterior over the
alphabet's style ``z`` under GenerateAlphabet (:mod:`gns_pyro.models.alphabet`) is fitted by
``pyro.infer.SVI`` with an ``AutoNormal`` guide over the ``style`` site, the nets held fixed:
their outputs for the types are computed once and the model is the collapsed
:func:`~gns_pyro.models.alphabet.observed_alphabet` (the style enters after the nets), and
their parameters are hidden from the optimizer with ``poutine.block``. New characters in
that style are then GenerateType's samples with ``z`` drawn from q(z).

Example::

    >>> style = infer_style(parts, parses)                          # doctest: +SKIP
    >>> style.loc.shape, style.scale.shape                          # doctest: +SKIP
    (torch.Size([8]), torch.Size([8]))
    >>> new = sample_with_style(parts, style, n=12, temperature=0.5)  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import math

import pyro
import pyro.distributions as dist
import torch
from pyro import poutine
from pyro.infer.autoguide import AutoNormal, init_to_value

from gns_pyro.models.alphabet import STYLE_SITE, observed_alphabet
from gns_pyro.models.character import CharacterParts
from gns_pyro.models.type_prior import generate_type, type_log_prob
from gns_pyro.parses import Parses


@dataclasses.dataclass(frozen=True)
class StyleSettings:
    """SVI for q(z): ``steps`` of Adam at ``lr``, ``particles`` ELBO samples per step, from
    ``restarts`` starting points (z = 0, then draws from the prior): the posterior over a style
    can have several modes, and the fit with the best final ELBO (``check_particles``
    samples) is kept."""

    steps: int = 300
    lr: float = 0.05
    particles: int = 4
    restarts: int = 4
    check_particles: int = 64


@dataclasses.dataclass(frozen=True)
class AlphabetStyle:
    """q(z) = Normal(loc, scale) of one alphabet's style, and the ELBO history of its fit."""

    loc: torch.Tensor  # (D,)
    scale: torch.Tensor  # (D,)
    losses: tuple[float, ...] = ()

    def distribution(self) -> dist.Normal:
        """q(z) as a Pyro distribution (event shape (D,))."""
        return dist.Normal(self.loc, self.scale).to_event(1)


def _frozen(model):
    """``model`` with the nets' ``pyro.module`` parameters hidden from SVI (they stay fixed)."""
    return poutine.block(model, hide_types=["param"])


def infer_style(
    parts: CharacterParts,
    types: Parses,
    settings: StyleSettings = StyleSettings(),
    seed: int = 0,
) -> AlphabetStyle:
    """Fit q(z) of the alphabet that drew ``types`` (one alphabet, several types).

    :param parts: nets with a style (weights from ``gns-pyro train-alphabet``).
    :param types: (B,) types of the alphabet, e.g. MAP parses of its images.
    """
    if parts.style_dim == 0:
        raise ValueError("these nets have no style level; train it with gns-pyro train-alphabet")
    if len(types) < 1:
        raise ValueError("give at least one type of the alphabet")
    parts.eval()
    types = types.trim().to(parts.device)
    alphabet_of = torch.zeros(len(types), dtype=torch.long, device=parts.device)
    with torch.no_grad():  # the nets are fixed: their outputs for the types, once
        base = parts.with_style(None).observe(types)

    def model():
        observed_alphabet(parts, alphabet_of, 1, base)

    pyro.set_rng_seed(seed)
    starts = torch.randn(settings.restarts, 1, parts.style_dim).to(parts.device, parts.dtype)
    starts[0] = 0.0
    best = None
    for start in starts:
        fit = _fit_style(_frozen(model), start, settings)
        if best is None or fit[0] < best[0]:
            best = fit
    return best[1]


def _fit_style(model, start: torch.Tensor, settings: StyleSettings):
    """One SVI fit of q(z) from ``start``: (final -ELBO estimate, :class:`AlphabetStyle`)."""
    with pyro.get_param_store().scope():  # the user's param store is left as it was
        guide = AutoNormal(model, init_loc_fn=init_to_value(values={STYLE_SITE: start}))
        svi = pyro.infer.SVI(
            model,
            guide,
            pyro.optim.Adam({"lr": settings.lr}),
            pyro.infer.Trace_ELBO(num_particles=settings.particles, vectorize_particles=False),
        )
        losses = []
        with pyro.validation_enabled(False):
            for _ in range(settings.steps):
                loss = svi.step()
                if not math.isfinite(loss):
                    raise ValueError("the style's ELBO became non-finite")
                losses.append(loss)
            with torch.no_grad():
                final = pyro.infer.Trace_ELBO(num_particles=settings.check_particles).loss(
                    model, guide
                )
        loc = guide.locs.style.detach()[0].clone()
        scale = guide.scales.style.detach()[0].clone()
    return final, AlphabetStyle(loc, scale, tuple(losses))


@torch.no_grad()
def sample_with_style(
    parts: CharacterParts,
    style: AlphabetStyle,
    n: int,
    temperature: float = 1.0,
    max_strokes: int | None = None,
    seed: int | None = None,
) -> tuple[Parses, torch.Tensor]:
    """``n`` new types of the alphabet, each with its own ``z ~ q(z)``; returns them and their
    log P(psi | z) at T = 1."""
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    if seed is not None:
        pyro.set_rng_seed(seed)
    parts.eval()
    if max_strokes is not None:
        max_strokes = min(max_strokes, parts.max_parts)
    with pyro.validation_enabled(False):
        z = style.distribution().sample(torch.Size([n])).to(parts.device, parts.dtype)
        styled = parts.with_style(z)
        types = generate_type(styled, batch_size=n, temperature=temperature, max_parts=max_strokes)
        log_prob = type_log_prob(styled, types)
    if not (torch.isfinite(types.locations).all() and torch.isfinite(log_prob).all()):
        raise ValueError(f"sampling at temperature {temperature} gave non-finite strokes")
    return types, log_prob


def style_log_likelihood(parts: CharacterParts, types: Parses, z: torch.Tensor) -> torch.Tensor:
    """log P(psi | z) (B,) of ``types`` under one style ``z`` (D,)."""
    return type_log_prob(parts.with_style(z.expand(len(types), -1)), types)
