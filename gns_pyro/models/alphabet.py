"""GenerateAlphabet: the hierarchical type prior, an alphabet level above GenerateType.

Each alphabet ``a`` has a style vector, and each character type of the alphabet is drawn by
GenerateType with its nets reading that style (:meth:`CharacterParts.with_style`, a
:class:`~gns_pyro.nets.style.StyleAdapter`)::

    for each alphabet a:   z_a ~ Normal(0, I)                    # style
        for each type j:   psi_j ~ GenerateType(nets, z_a)        # as generate_type

With ``z = 0`` the nets are the unconditional type prior; marginalizing ``z`` gives the
hierarchical model's own unconditional prior (:func:`marginal_type_log_prob`).

The same program samples alphabets (``generate_alphabet(parts, alphabet_of=...)``), scores
given types (``parses=``), trains nets and styles by SVI (an ``AutoNormal`` guide over
``style``, :mod:`gns_pyro.train.style`), and infers the style of a new alphabet from parses of
a few of its characters (:func:`gns_pyro.inference.style.infer_style`).

Example::

    >>> parts = CharacterParts(style_dim=4).eval()                     # doctest: +SKIP
    >>> alphabet_of = torch.tensor([0, 0, 1, 1])                        # two alphabets
    >>> types = generate_alphabet(parts, alphabet_of, num_alphabets=2)  # doctest: +SKIP
    >>> trace = poutine.trace(generate_alphabet).get_trace(parts, alphabet_of, 2, parses=types)
"""

from __future__ import annotations

import math

import pyro
import pyro.distributions as dist
import torch
from pyro import poutine

from gns_pyro.models.character import CharacterParts
from gns_pyro.models.type_prior import generate_type

#: names of the alphabet level's plate and of its site
ALPHABETS_PLATE = "alphabets"
STYLE_SITE = "style"


def style_prior(dim: int, num_alphabets: int, device=None, dtype=torch.float32):
    """Normal(0, I) over the style vectors (num_alphabets, dim) of a plate of alphabets."""
    zero = torch.zeros((), device=device, dtype=dtype)
    return dist.Normal(zero, 1.0).expand([num_alphabets, dim]).to_event(1)


def generate_alphabet(
    parts: CharacterParts,
    alphabet_of: torch.Tensor,
    num_alphabets: int | None = None,
    parses=None,
    temperature: float = 1.0,
    max_parts: int | None = None,
    types_scale: float = 1.0,
    style: torch.Tensor | None = None,
):
    """Sample (or, with ``parses``, observe) types of a plate of alphabets; returns the types.

    :param parts: nets with a style (``CharacterParts(style_dim=D)`` or trained weights).
    :param alphabet_of: (B,) the alphabet (0 .. num_alphabets - 1) of each type.
    :param num_alphabets: size of the plate of alphabets (default: ``alphabet_of.max() + 1``).
    :param parses: types to observe (B of them), as in :func:`generate_type`.
    :param temperature: GenerateType's temperature (the style is drawn at T = 1).
    :param max_parts: cap on strokes per type.
    :param types_scale: weight of the types' sites (``num_drawings / batch`` when a
        minibatch stands for a larger set).
    :param style: (num_alphabets, D) values of the style site, to observe (else sampled).
    """
    if parts.style_dim == 0:
        raise ValueError("the alphabet level needs nets with a style (style_dim > 0)")
    alphabet_of = torch.as_tensor(alphabet_of, dtype=torch.long, device=parts.device)
    if alphabet_of.dim() != 1 or alphabet_of.numel() == 0:
        raise ValueError("alphabet_of must be a non-empty vector: the alphabet of each type")
    num_alphabets = int(alphabet_of.max()) + 1 if num_alphabets is None else num_alphabets
    if int(alphabet_of.min()) < 0 or int(alphabet_of.max()) >= num_alphabets:
        raise ValueError(f"alphabet indices must be in 0 .. {num_alphabets - 1}")
    if parses is not None and len(parses) != len(alphabet_of):
        raise ValueError(f"{len(parses)} parses for {len(alphabet_of)} alphabet labels")
    if not (math.isfinite(types_scale) and types_scale > 0):
        raise ValueError(f"types_scale must be positive and finite, got {types_scale}")
    with pyro.plate(ALPHABETS_PLATE, num_alphabets):
        z = pyro.sample(
            STYLE_SITE,
            style_prior(parts.style_dim, num_alphabets, parts.device, parts.dtype),
            obs=style,
        )
    with poutine.scale(scale=types_scale):
        return generate_type(
            parts.with_style(z[alphabet_of]),
            batch_size=len(alphabet_of),
            parses=parses,
            temperature=temperature,
            max_parts=max_parts,
        )


#: name of the one site of :func:`observed_alphabet` that scores the known types
TYPES_SITE = "types"


def observed_alphabet(parts: CharacterParts, alphabet_of: torch.Tensor, num_alphabets: int, base):
    """GenerateAlphabet for known types, collapsed: the ``style`` site, then one factor
    ``types`` = log P(psi_j | z_a(j)) per type, computed from ``base``, the types' teacher-forced
    outputs of the nets without a style (``parts.with_style(None).observe(types)``).

    The same log joint as :func:`generate_alphabet` with ``parses=`` (tested), but the nets do
    not run again for each value of ``z`` -- the style enters after them -- which is what
    fitting q(z) with the nets fixed needs (:mod:`gns_pyro.inference.style`).
    """
    from gns_pyro.models.character import styled_observation

    alphabet_of = torch.as_tensor(alphabet_of, dtype=torch.long, device=parts.device)
    with pyro.plate(ALPHABETS_PLATE, num_alphabets):
        z = pyro.sample(
            STYLE_SITE, style_prior(parts.style_dim, num_alphabets, parts.device, parts.dtype)
        )
    shift = parts.style(z[alphabet_of])
    with pyro.plate(TYPES_SITE + "_plate", len(alphabet_of)):
        pyro.factor(TYPES_SITE, parts.observed_log_prob(styled_observation(base, shift)))


@torch.no_grad()
def marginal_type_log_prob(
    parts: CharacterParts, parses, num_samples: int = 64, generator=None, base=None
) -> torch.Tensor:
    """log P(psi) (B,) of each type under the hierarchical prior with its style marginalized:
    log mean_s P(psi | z_s), z_s ~ Normal(0, I), the same ``num_samples`` draws for every type
    (a Monte Carlo estimate, biased low by Jensen's inequality for few samples).

    The nets run once; each style only adds its shifts to their outputs.
    """
    from gns_pyro.models.character import styled_observation

    if parts.style_dim == 0:
        raise ValueError("nets without a style: use type_log_prob")
    if num_samples < 1:
        raise ValueError(f"num_samples must be positive, got {num_samples}")
    if base is None:  # the nets' outputs without a style (a caller may have them already)
        base = parts.with_style(None).observe(parses)
    z = torch.randn(num_samples, parts.style_dim, generator=generator).to(parts.device, parts.dtype)
    B = len(parses)
    per_sample = []
    for s in range(num_samples):
        shift = parts.style(z[s].expand(B, -1))
        per_sample.append(parts.observed_log_prob(styled_observation(base, shift)))
    stacked = torch.stack(per_sample)  # (S, B)
    return stacked.logsumexp(0) - math.log(num_samples)
