"""The full character model P(psi, theta, I) as one Pyro program.

``character_model`` composes GenerateType, GenerateToken and the image model over one plate of
``B`` items. Tracing it conditioned on a parse and an image gives log P(psi, theta, I), every
term visible at its own site (type sites: :mod:`gns_pyro.models.sites`; token and image sites:
:mod:`gns_pyro.models.token`).

Example::

    >>> from gns_pyro.models import CharacterParts
    >>> parts = CharacterParts().eval()
    >>> psi, theta, image = character_model(parts, batch_size=2)           # sample everything
    >>> joint_log_prob(parts, psi, theta, image).shape                      # score it
    torch.Size([2])
"""

from __future__ import annotations

import torch
from pyro import poutine

from gns_pyro.models.sites import conditioned_trace, types_plate
from gns_pyro.models.token import (
    AFFINE,
    BLUR,
    DEFAULT_TOKEN_PRIOR,
    NOISE,
    TOKEN_LOCATIONS,
    TOKEN_SHAPES,
    TokenPrior,
    generate_token,
    image_model,
    type_shapes,
)
from gns_pyro.models.type_prior import generate_type, trace_log_prob
from gns_pyro.parses import Parses


def character_model(
    parts,
    batch_size: int | None = None,
    types: Parses | None = None,
    image: torch.Tensor | None = None,
    temperature: float = 1.0,
    token_prior: TokenPrior = DEFAULT_TOKEN_PRIOR,
):
    """psi ~ GenerateType; theta ~ GenerateToken(psi); I ~ Bernoulli(render(theta)).

    :param types: observe the type (teacher-forced nets, as in :func:`generate_type`).
    :param image: observe the image (B, 105, 105), ink = 1.
    :returns: ``(types, tokens, image)``.
    """
    if types is not None:
        batch_size = types.batch_size
    elif image is not None:
        batch_size = image.shape[0]
    if batch_size is None:
        raise ValueError("give batch_size, types or an image")
    plate = types_plate(batch_size)
    psi = generate_type(parts, batch_size, types, temperature, plate=plate)
    theta = generate_token(psi, token_prior, plate=plate)
    return psi, theta, image_model(theta, image, plate=plate)


def token_conditions(types: Parses, tokens: Parses) -> dict[str, torch.Tensor]:
    """Token site values that make GenerateToken(types) reproduce ``tokens``."""
    return {
        TOKEN_LOCATIONS: tokens.locations,
        TOKEN_SHAPES: type_shapes(tokens.pad(types.max_strokes, types.max_offsets)),
        AFFINE: tokens.affine,
        BLUR: tokens.blur,
        NOISE: tokens.noise,
    }


def joint_trace(parts, types: Parses, tokens: Parses, image: torch.Tensor):
    """Trace of the joint with the type observed, token sites conditioned, the image observed."""
    return conditioned_trace(
        character_model, token_conditions(types, tokens), parts, types=types, image=image
    )


def joint_log_prob(parts, types: Parses, tokens: Parses, image: torch.Tensor) -> torch.Tensor:
    """log P(psi, theta, I) per item (B,)."""
    return trace_log_prob(joint_trace(parts, types, tokens, image))


def joint_conditions(parts, types: Parses, tokens: Parses) -> dict[str, torch.Tensor]:
    """Values of every type and token site, for ``poutine.condition(character_model, ...)``."""
    data = parts.conditions(types)
    data.update(token_conditions(types, tokens))
    return data


def sample_exemplars(
    types: Parses, n: int, token_prior: TokenPrior = DEFAULT_TOKEN_PRIOR
) -> Parses:
    """``n`` new tokens of each type, grouped by type: (B * n) token parses."""
    if n < 1:
        raise ValueError(f"the number of exemplars must be at least 1, got {n}")
    index = torch.arange(types.batch_size, device=types.locations.device).repeat_interleave(n)
    with torch.no_grad():
        return poutine.block(generate_token)(types[index], token_prior)


def token_image_model(
    types: Parses, image: torch.Tensor, token_prior: TokenPrior = DEFAULT_TOKEN_PRIOR
):
    """P(theta, I | psi): GenerateToken and the image model for fixed types (token refit)."""
    plate = types_plate(types.batch_size)
    theta = generate_token(types, token_prior, plate=plate)
    return image_model(theta, image, plate=plate)


def token_image_log_prob(types: Parses, tokens: Parses, image: torch.Tensor) -> torch.Tensor:
    """log P(theta, I | psi) per item (B,)."""
    trace = conditioned_trace(token_image_model, token_conditions(types, tokens), types, image)
    return trace_log_prob(trace)
