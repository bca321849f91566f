"""The full character model P(psi, theta, I) as one Pyro program.

``character_model`` composes the three programs a domain supplies -- GenerateType over its
parts, its GenerateToken and its image model
(:class:`~gns_pyro.models.domain.TokenImageDomain`) -- over one plate of ``B`` items. Tracing
it conditioned on a parse and an image gives log P(psi, theta, I), every term visible at its
own site (type sites: :mod:`gns_pyro.models.sites`; token and image sites:
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

from gns_pyro.models.sites import types_plate
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
from gns_pyro.models.traces import conditioned_trace, trace_log_prob
from gns_pyro.models.type_prior import generate_type
from gns_pyro.parses import Parses, Tokens
from gns_pyro.renderer import RenderSettings


def character_model(
    parts,
    batch_size: int | None = None,
    types: Parses | None = None,
    image: torch.Tensor | None = None,
    temperature: float = 1.0,
    token_prior: TokenPrior | None = None,
):
    """psi ~ GenerateType; theta ~ GenerateToken(psi); I ~ P(I | theta), the last two the
    domain's own programs (for characters, I ~ Bernoulli(render(theta))).

    :param parts: the domain (:class:`~gns_pyro.models.domain.PartDomain` and
        :class:`~gns_pyro.models.domain.TokenImageDomain`).
    :param types: observe the type (teacher-forced nets, as in :func:`generate_type`).
    :param image: observe the image (B, H, W), ink = 1, H = W = the domain's ``image_size``.
    :param token_prior: the token model's scales (character domain; None: its default).
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
    options = {} if token_prior is None else {"token_prior": token_prior}
    theta = parts.generate_token(psi, plate=plate, **options)
    return psi, theta, parts.image_model(theta, image, plate=plate)


def token_conditions(types: Parses, tokens: Tokens) -> dict[str, torch.Tensor]:
    """Token site values that make GenerateToken(types) reproduce ``tokens``.

    :raises ValueError: if ``tokens`` are not in the slots of ``types`` (tokens of other
        types, or a batch trimmed or padded on its own).
    """
    if not isinstance(tokens, Tokens):
        raise TypeError(
            f"tokens must be Tokens (strokes plus affine, blur, noise), got {type(tokens).__name__}"
        )
    if not tokens.same_slots(types):
        raise ValueError(
            "tokens are not in their types' stroke and offset slots "
            f"(tokens {tuple(tokens.offset_mask.shape)}, types {tuple(types.offset_mask.shape)}); "
            "index and trim types and tokens together"
        )
    return {
        TOKEN_LOCATIONS: tokens.locations,
        TOKEN_SHAPES: type_shapes(tokens),
        AFFINE: tokens.affine,
        BLUR: tokens.blur,
        NOISE: tokens.noise,
    }


def joint_trace(parts, types: Parses, tokens: Tokens, image: torch.Tensor):
    """Trace of the joint with the type observed, token sites conditioned, the image observed."""
    return conditioned_trace(
        character_model, token_conditions(types, tokens), parts, types=types, image=image
    )


def joint_log_prob(parts, types: Parses, tokens: Tokens, image: torch.Tensor) -> torch.Tensor:
    """log P(psi, theta, I) per item (B,)."""
    return trace_log_prob(joint_trace(parts, types, tokens, image))


def joint_conditions(parts, types: Parses, tokens: Tokens) -> dict[str, torch.Tensor]:
    """Values of every type and token site, for ``poutine.condition(character_model, ...)``."""
    data = parts.conditions(types)
    data.update(token_conditions(types, tokens))
    return data


def sample_exemplars(
    types: Parses, n: int, token_prior: TokenPrior = DEFAULT_TOKEN_PRIOR
) -> Tokens:
    """``n`` new tokens of each type, grouped by type: (B * n) tokens."""
    if n < 1:
        raise ValueError(f"the number of exemplars must be at least 1, got {n}")
    index = torch.arange(types.batch_size, device=types.locations.device).repeat_interleave(n)
    with torch.no_grad():
        return poutine.block(generate_token)(types[index], token_prior)


def token_image_model(
    types: Parses,
    image: torch.Tensor,
    token_prior: TokenPrior = DEFAULT_TOKEN_PRIOR,
    render_settings: RenderSettings | None = None,
):
    """P(theta, I | psi): GenerateToken and the image model for fixed types (token refit).

    :param render_settings: the image model's renderer (default: the reference renderer on the
        image's frame; ``downsample=2``: the coarse model a refit starts with).
    """
    plate = types_plate(types.batch_size)
    theta = generate_token(types, token_prior, plate=plate)
    return image_model(theta, image, plate=plate, settings=render_settings)


def token_image_log_prob(
    types: Parses,
    tokens: Tokens,
    image: torch.Tensor,
    token_prior: TokenPrior = DEFAULT_TOKEN_PRIOR,
) -> torch.Tensor:
    """log P(theta, I | psi) per item (B,)."""
    conditions = token_conditions(types, tokens)
    trace = conditioned_trace(token_image_model, conditions, types, image, token_prior)
    return trace_log_prob(trace)
