"""How much of the character prior's probability leaves the frame, where its own samples go.

The training drawings stay on the page, so maximum likelihood only shapes the nets at the
states the data visit. A free-running sample reaches other states (a stroke near the edge, a
canvas more crowded than any drawing) and from there the location and offset mixtures may put
real mass outside the frame; ink outside the image is never seen by the canvas the nets read,
so the sample goes on drawing off the page.

:func:`frame_penalty` traces the prior's own samples and scores, at every start location and
offset it drew, the mass its mixture put outside the frame (summed over the sample's sites; see
:func:`outside_cost`). Added to the training loss it teaches the nets, at their own states, to keep
the pen on the page; it does not change the model's form (no truncation), so log-probabilities
and the sample -> condition -> score identities stay exact.

Example::

    >>> from gns_pyro.models.character import CharacterParts
    >>> penalty = frame_penalty(CharacterParts(), num_samples=2, max_parts=2)
    >>> bool(penalty >= 0) and penalty.requires_grad
    True
"""

from __future__ import annotations

import pyro
import torch
from pyro import poutine

from gns_pyro.models.sites import loc_site, offset_site
from gns_pyro.models.type_prior import generate_type


def outside_cost(mixture, low: torch.Tensor, high: torch.Tensor) -> torch.Tensor:
    """The expected number of axes on which a draw of ``mixture`` (a
    :class:`~gns_pyro.nets.gmm.BivariateGMM`) leaves the box ``[low, high]``
    (:meth:`~gns_pyro.nets.gmm.BivariateGMM.axis_tail_mass`): the mass outside the box when it
    is small, and never flat, so a mixture far outside still has a gradient pointing in."""
    return mixture.axis_tail_mass(low, high)


def frame_penalty(
    parts, num_samples: int, temperature: float = 1.0, max_parts: int | None = None
) -> torch.Tensor:
    """Mean over ``num_samples`` fresh samples of the prior of the summed
    :func:`outside_cost` of their start-location and offset sites, where each offset's box is
    the frame seen from the pen's position before it.

    The samples are drawn with the nets in eval mode (batch-norm statistics stay the data's;
    no dropout) and kept as fixed states; the gradient flows into the nets' mixture outputs
    at those states. The nets' train/eval mode is restored afterwards.

    :param parts: a :class:`~gns_pyro.models.character.CharacterParts`.
    :param num_samples: samples per call.
    :param temperature: temperature of the samples (1: the model itself).
    :param max_parts: stroke cap of the samples (default: the model's own).
    """
    was_training = parts.training
    parts.eval()
    try:
        with pyro.validation_enabled(False):
            trace = poutine.trace(generate_type).get_trace(
                parts, batch_size=num_samples, temperature=temperature, max_parts=max_parts
            )
    finally:
        parts.train(was_training)
    edge = parts.image_size - 1
    total = torch.zeros((), dtype=parts.dtype, device=parts.device)
    i = 0
    while loc_site(i) in trace.nodes:
        node = trace.nodes[loc_site(i)]
        alive = _mask(node, num_samples, parts.device)
        pen = node["value"]
        cost = outside_cost(node["fn"], torch.zeros_like(pen), torch.full_like(pen, edge))
        total = total + (cost * alive).sum()
        t = 0
        while offset_site(i, t) in trace.nodes:
            node = trace.nodes[offset_site(i, t)]
            going = _mask(node, num_samples, parts.device) & alive
            cost = outside_cost(node["fn"], -pen, edge - pen)
            total = total + (cost * going).sum()
            pen = pen + node["value"] * going.unsqueeze(-1)
            t += 1
        i += 1
    return total / num_samples


def _mask(node: dict, n: int, device) -> torch.Tensor:
    """The site's mask (items for which it exists), all-true when it has none."""
    mask = node.get("mask")
    if mask is None:
        return torch.ones(n, dtype=torch.bool, device=device)
    return mask.expand(n)
