"""The one batched representation of parses (types, tokens, drawings) used by every stage.

A batch of ``B`` parses with at most ``S`` strokes and at most ``P`` offsets per stroke is a set
of padded tensors plus masks:

========================  ===============  ===================================================
field                     shape            meaning
========================  ===============  ===================================================
``locations``             (B, S, 2)        start point of each stroke (first control point)
``offsets``               (B, S, P, 2)     steps between successive control points
``stroke_mask``           (B, S)  bool     which strokes exist
``offset_mask``           (B, S, P) bool   which offsets exist (a prefix of each stroke's row)
``blur``                  (B,) or None     render blur sigma (token variable)
``noise``                 (B,) or None     pixel noise epsilon (token variable)
``affine``                (B, 4) or None   token warp (s_x, s_y, t_x, t_y)
========================  ===============  ===================================================

Coordinates are image pixels, ``x`` = column and ``y`` = row (pointing down); image index
``(row, col) = (y, x)``. Each existing stroke has at least one offset (two control points).
Padded entries hold zeros and are ignored by every consumer.

Example::

    >>> import numpy as np
    >>> parses = Parses.from_control_points([[np.array([[10., 10.], [50., 60.]])]])
    >>> parses.control_points.shape
    torch.Size([1, 1, 2, 2])
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
import torch

_TENSOR_FIELDS = ("locations", "offsets", "stroke_mask", "offset_mask", "blur", "noise", "affine")


@dataclasses.dataclass
class Parses:
    """A padded batch of parses; see the module docstring for the fields."""

    locations: torch.Tensor
    offsets: torch.Tensor
    stroke_mask: torch.Tensor
    offset_mask: torch.Tensor
    blur: torch.Tensor | None = None
    noise: torch.Tensor | None = None
    affine: torch.Tensor | None = None

    def __post_init__(self):
        B, S = self.stroke_mask.shape
        if self.locations.shape != (B, S, 2):
            raise ValueError(
                f"locations must have shape {(B, S, 2)}, got {tuple(self.locations.shape)}"
            )
        if (
            self.offsets.shape[:2] != (B, S)
            or self.offsets.shape[-1] != 2
            or self.offsets.dim() != 4
        ):
            raise ValueError(
                f"offsets must have shape (B, S, P, 2), got {tuple(self.offsets.shape)}"
            )
        if self.offset_mask.shape != self.offsets.shape[:3]:
            raise ValueError("offset_mask must have the shape of offsets without the last axis")

    # ----------------------------------------------------------------------------- construction
    @classmethod
    def from_control_points(
        cls,
        drawings: Sequence[Sequence[np.ndarray | torch.Tensor]],
        dtype: torch.dtype = torch.float32,
        device: torch.device | str | None = None,
    ) -> Parses:
        """Pack a list of drawings, each a list of strokes given as control points (n_i, 2)."""
        if len(drawings) == 0:
            raise ValueError("cannot make a batch of zero parses")
        S = max(1, max(len(d) for d in drawings))
        P = 1
        for d in drawings:
            for cp in d:
                if len(cp) < 2:
                    raise ValueError("each stroke needs at least 2 control points")
                P = max(P, len(cp) - 1)
        B = len(drawings)
        locations = torch.zeros(B, S, 2, dtype=dtype)
        offsets = torch.zeros(B, S, P, 2, dtype=dtype)
        stroke_mask = torch.zeros(B, S, dtype=torch.bool)
        offset_mask = torch.zeros(B, S, P, dtype=torch.bool)
        for b, drawing in enumerate(drawings):
            for s, cp in enumerate(drawing):
                cp = torch.as_tensor(np.asarray(cp), dtype=dtype)
                locations[b, s] = cp[0]
                offsets[b, s, : len(cp) - 1] = cp[1:] - cp[:-1]
                stroke_mask[b, s] = True
                offset_mask[b, s, : len(cp) - 1] = True
        out = cls(locations, offsets, stroke_mask, offset_mask)
        return out.to(device) if device is not None else out

    @classmethod
    def cat(cls, batches: Sequence[Parses]) -> Parses:
        """Concatenate batches along the parse axis, padding strokes and offsets as needed."""
        S = max(p.max_strokes for p in batches)
        P = max(p.max_offsets for p in batches)
        padded = [p.pad(S, P) for p in batches]
        fields = {}
        for name in _TENSOR_FIELDS:
            values = [getattr(p, name) for p in padded]
            if all(v is None for v in values):
                fields[name] = None
            elif any(v is None for v in values):
                raise ValueError(f"cannot concatenate parses where only some have {name!r}")
            else:
                fields[name] = torch.cat(values, 0)
        return cls(**fields)

    # ----------------------------------------------------------------------------- derived views
    @property
    def batch_size(self) -> int:
        """Number of parses B."""
        return self.stroke_mask.shape[0]

    def __len__(self) -> int:
        return self.batch_size

    @property
    def max_strokes(self) -> int:
        """Stroke slots S (padding included)."""
        return self.stroke_mask.shape[1]

    @property
    def max_offsets(self) -> int:
        """Offset slots P per stroke (padding included)."""
        return self.offsets.shape[2]

    @property
    def num_strokes(self) -> torch.Tensor:
        """(B,) number of strokes of each parse."""
        return self.stroke_mask.sum(-1)

    @property
    def num_control(self) -> torch.Tensor:
        """(B, S) number of control points of each stroke (0 for padding)."""
        return torch.where(self.stroke_mask, self.offset_mask.sum(-1) + 1, 0)

    @property
    def control_points(self) -> torch.Tensor:
        """(B, S, P + 1, 2) control points; padded points repeat each stroke's last point."""
        steps = self.offsets * self.offset_mask.unsqueeze(-1).to(self.offsets.dtype)
        path = torch.cumsum(steps, dim=2)
        return torch.cat([self.locations.unsqueeze(2), self.locations.unsqueeze(2) + path], dim=2)

    def to_control_points_list(self) -> list[list[np.ndarray]]:
        """Unpack to one list of (n_i, 2) numpy arrays per parse."""
        cpts = self.control_points.detach().cpu().numpy()
        counts = self.num_control.cpu().numpy()
        mask = self.stroke_mask.cpu().numpy()
        return [
            [cpts[b, s, : counts[b, s]] for s in range(self.max_strokes) if mask[b, s]]
            for b in range(self.batch_size)
        ]

    def drawn_control_points(self) -> list[list[np.ndarray]]:
        """Like :meth:`to_control_points_list`, with the token warp applied when the parses
        carry one (``affine``): the control points that :func:`gns_pyro.renderer.render`
        draws."""
        if self.affine is None:
            return self.to_control_points_list()
        from gns_pyro.renderer import apply_affine

        warped = apply_affine(self.control_points, self.num_control, self.affine)
        warped = warped.detach().cpu().numpy()
        counts, mask = self.num_control.cpu().numpy(), self.stroke_mask.cpu().numpy()
        return [
            [warped[b, s, : counts[b, s]] for s in range(self.max_strokes) if mask[b, s]]
            for b in range(self.batch_size)
        ]

    def curves(self, points: int = 60) -> list[list[np.ndarray]]:
        """Points ``(points, 2)`` along each drawn stroke's spline, per parse: what plots and
        stroke-matching scores use."""
        from gns_pyro.splines import curve_points

        return [
            [curve_points(cp, points) for cp in strokes] for strokes in self.drawn_control_points()
        ]

    # ----------------------------------------------------------------------------- transforms
    def replace(self, **changes) -> Parses:
        """A copy with the given fields replaced."""
        return dataclasses.replace(self, **changes)

    def map(self, fn) -> Parses:
        """Apply ``fn`` to every tensor field (None fields stay None)."""
        return dataclasses.replace(
            self,
            **{
                k: (None if getattr(self, k) is None else fn(getattr(self, k)))
                for k in _TENSOR_FIELDS
            },
        )

    def to(self, device=None, dtype: torch.dtype | None = None) -> Parses:
        """Move to ``device``; floating fields are cast to ``dtype`` if given (masks stay bool)."""

        def move(t):
            t = t.to(device) if device is not None else t
            return t.to(dtype) if (dtype is not None and t.is_floating_point()) else t

        return self.map(move)

    def __getitem__(self, index) -> Parses:
        """Select parses with an int, slice, index tensor or boolean mask; keeps the batch axis."""
        if isinstance(index, int):
            if not -self.batch_size <= index < self.batch_size:
                raise IndexError(f"parse {index} of a batch of {self.batch_size}")
            index = index % self.batch_size
            index = slice(index, index + 1)
        return self.map(lambda t: t[index])

    def trim(self) -> Parses:
        """Drop stroke and offset slots that no parse in the batch uses (keeps at least one)."""
        S = max(1, int(self.num_strokes.max())) if self.batch_size else 1
        P = max(1, int(self.offset_mask.sum(-1).max())) if self.batch_size else 1
        if (S, P) == (self.max_strokes, self.max_offsets):
            return self
        return dataclasses.replace(
            self,
            locations=self.locations[:, :S],
            offsets=self.offsets[:, :S, :P],
            stroke_mask=self.stroke_mask[:, :S],
            offset_mask=self.offset_mask[:, :S, :P],
        )

    def pad(self, max_strokes: int, max_offsets: int) -> Parses:
        """Pad with empty strokes / offsets up to the given sizes (never trims)."""
        S, P = self.max_strokes, self.max_offsets
        if max_strokes < S or max_offsets < P:
            raise ValueError("pad() cannot shrink a batch")
        if (max_strokes, max_offsets) == (S, P):
            return self
        ds, dp = max_strokes - S, max_offsets - P
        f = torch.nn.functional.pad
        return dataclasses.replace(
            self,
            locations=f(self.locations, (0, 0, 0, ds)),
            offsets=f(self.offsets, (0, 0, 0, dp, 0, ds)),
            stroke_mask=f(self.stroke_mask, (0, ds)),
            offset_mask=f(self.offset_mask, (0, dp, 0, ds)),
        )
