"""Style adapter: how an alphabet's style vector ``z`` enters the three nets of the type prior.

``z`` (D,) is an extra input to each net's output layer: a linear map of ``z`` is added to the
location net's raw mixture outputs, to the stroke net's raw offset-mixture outputs at every
step, to its end-of-stroke logit, and to the termination net's stop logit. So an alphabet's
style can move where strokes start, their step sizes and directions (mixture weights, means,
spreads), how long they run and how many a character has; how a stroke reacts to the canvas
stays the nets' own.

The maps have no bias and start at zero: with ``z = 0`` (or a fresh adapter) the nets are
exactly the unconditional ones. Because ``z`` enters after the nets, the nets' outputs for a
set of types can be computed once and rescored for many values of ``z`` at the cost of a
matrix product (calling the adapter).

Example::

    >>> adapter = StyleAdapter(dim=8, location_outputs=120, offset_outputs=120)
    >>> shift = adapter(torch.zeros(3, 8))
    >>> shift.location.shape, shift.offset.shape, shift.end.shape, shift.stop.shape
    (torch.Size([3, 120]), torch.Size([3, 120]), torch.Size([3]), torch.Size([3]))
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn


class StyleShift(NamedTuple):
    """What a style adds to the nets' outputs, per type: location raw (B, 6K), offset raw
    (B, 6K), end logit (B,) and stop logit (B,)."""

    location: torch.Tensor
    offset: torch.Tensor
    end: torch.Tensor
    stop: torch.Tensor

    def __getitem__(self, rows):  # type: ignore[override]
        """The shifts of some types (an index tensor, e.g. the type of each flat stroke)."""
        if isinstance(rows, int):
            return tuple.__getitem__(self, rows)
        return StyleShift(*(x[rows] for x in self))


class StyleAdapter(nn.Module):
    """Linear maps from a style vector to the nets' outputs (no bias, zero at start).

    :param dim: size of the style vector.
    :param location_outputs: raw outputs of the location net (6 per mixture component).
    :param offset_outputs: raw offset-mixture outputs of the stroke net per step.
    """

    def __init__(self, dim: int, location_outputs: int, offset_outputs: int):
        super().__init__()
        if dim < 1:
            raise ValueError(f"a style needs at least one dimension, got {dim}")
        self.dim = dim
        self.config = {"dim": dim}
        self.location = nn.Linear(dim, location_outputs, bias=False)
        self.offset = nn.Linear(dim, offset_outputs, bias=False)
        self.end = nn.Linear(dim, 1, bias=False)
        self.stop = nn.Linear(dim, 1, bias=False)
        for layer in (self.location, self.offset, self.end, self.stop):
            nn.init.zeros_(layer.weight)

    def forward(self, style: torch.Tensor) -> StyleShift:
        """The shifts (:class:`StyleShift`) of style vectors (B, D)."""
        if style.dim() != 2 or style.shape[-1] != self.dim:
            raise ValueError(f"style vectors must be (types, {self.dim}), got {tuple(style.shape)}")
        style = style.to(self.location.weight.dtype)
        return StyleShift(
            self.location(style),
            self.offset(style),
            self.end(style).squeeze(-1),
            self.stop(style).squeeze(-1),
        )
