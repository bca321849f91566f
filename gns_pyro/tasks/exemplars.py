"""New exemplars of a character seen once (paper App. C).

Parse the image, then for each new exemplar pick one of its ``K`` parses with probability
``proportional to pi~_k ** (1 / temperature)`` (a high temperature, 8 by default, spreads the
choice over the parses), sample a new token of that parse's type, and render it (the
renderer's default blur, no pixel noise).

Shell::

    gns-pyro exemplars IMAGE.png --n 9 --out grid.png
"""

from __future__ import annotations

import torch

from gns_pyro.inference.posterior import Posterior
from gns_pyro.models.joint import sample_exemplars
from gns_pyro.parses import Tokens


def exemplars_from_posterior(
    post: Posterior, n: int, temperature: float = 8.0, generator: torch.Generator | None = None
) -> Tokens:
    """``n`` new tokens drawn from the parses of ``post``."""
    if temperature <= 0:
        raise ValueError(f"temperature must be positive, got {temperature}")
    probs = torch.softmax(post.log_weights.detach().double().cpu() / temperature, 0)
    picks = torch.multinomial(probs, n, replacement=True, generator=generator)
    return sample_exemplars(post.types[picks], 1)
