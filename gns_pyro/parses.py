"""The one batched representation of parses (types, drawings) and tokens used by every stage.

A batch of ``B`` parses with at most ``S`` strokes and at most ``P`` offsets per stroke is a set
of padded tensors plus masks (:class:`Parses`):

========================  ===============  ===================================================
field                     shape            meaning
========================  ===============  ===================================================
``locations``             (B, S, 2)        start point of each stroke (first control point)
``offsets``               (B, S, P, 2)     steps between successive control points
``stroke_mask``           (B, S)  bool     which strokes exist
``offset_mask``           (B, S, P) bool   which offsets exist (a prefix of each stroke's row)
========================  ===============  ===================================================

A batch of *tokens* (:class:`Tokens`, what GenerateToken returns and the renderer draws) is a
:class:`Parses` of the token's strokes plus its render variables:

========================  ===============  ===================================================
``affine``                (B, 4)           token warp (s_x, s_y, t_x, t_y)
``blur``                  (B,)             render blur sigma
``noise``                 (B,)             pixel noise epsilon
========================  ===============  ===================================================

Tokens made from types keep their types' stroke and offset slots (the same masks), so the two
are indexed, trimmed and padded alike and neither is ever re-padded to match the other.

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

from gns_pyro.geometry import apply_affine


@dataclasses.dataclass
class Parses:
    """A padded batch of parses; see the module docstring for the fields."""

    locations: torch.Tensor
    offsets: torch.Tensor
    stroke_mask: torch.Tensor
    offset_mask: torch.Tensor

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
        """Concatenate batches along the parse axis, padding strokes and offsets as needed (all
        of this class: types with types, tokens with tokens)."""
        wrong = sorted({type(p).__name__ for p in batches if type(p) is not cls})
        if wrong:
            raise TypeError(f"{cls.__name__}.cat was given {', '.join(wrong)}")
        S = max(p.max_strokes for p in batches)
        P = max(p.max_offsets for p in batches)
        padded = [p.pad(S, P) for p in batches]
        return cls(
            **{
                f.name: torch.cat([getattr(p, f.name) for p in padded], 0)
                for f in dataclasses.fields(cls)
            }
        )

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
        """Unpack to one list of (n_i, 2) numpy arrays per parse (unwarped)."""
        return self._unpack(self.control_points)

    def drawn_control_points(self) -> list[list[np.ndarray]]:
        """The control points that :func:`gns_pyro.renderer.render` draws, one list of (n_i, 2)
        arrays per parse (for tokens, warped by their ``affine``)."""
        return self._unpack(self.drawn_points())

    def drawn_points(self) -> torch.Tensor:
        """(B, S, P + 1, 2) control points as drawn (parses: :attr:`control_points`)."""
        return self.control_points

    def _unpack(self, points: torch.Tensor) -> list[list[np.ndarray]]:
        points = points.detach().cpu().numpy()
        counts, mask = self.num_control.cpu().numpy(), self.stroke_mask.cpu().numpy()
        return [
            [points[b, s, : counts[b, s]] for s in range(self.max_strokes) if mask[b, s]]
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
    def table(self) -> torch.Tensor:
        """(B, S, P + 1, 2): each stroke's start location followed by its offsets, one tensor
        of a parse's continuous values (padded entries zero). See :meth:`with_table`."""
        return torch.cat([self.locations.unsqueeze(2), self.offsets], dim=2)

    def with_table(self, table: torch.Tensor) -> Parses:
        """These parses' structure with the continuous values of ``table`` (as :meth:`table`
        lays them out); entries outside the masks are ignored (set to zero)."""
        if table.shape != (*self.offsets.shape[:2], self.max_offsets + 1, 2):
            raise ValueError(
                f"a table of these parses has shape "
                f"{(*self.offsets.shape[:2], self.max_offsets + 1, 2)}, got {tuple(table.shape)}"
            )
        zero = torch.zeros((), dtype=table.dtype, device=table.device)
        return self.replace(
            locations=torch.where(self.stroke_mask.unsqueeze(-1), table[:, :, 0], zero),
            offsets=torch.where(self.offset_mask.unsqueeze(-1), table[:, :, 1:], zero),
        )

    def replace(self, **changes) -> Parses:
        """A copy with the given fields replaced."""
        return dataclasses.replace(self, **changes)

    def map(self, fn) -> Parses:
        """Apply ``fn`` to every tensor field (of the same class: tokens stay tokens)."""
        return dataclasses.replace(
            self, **{f.name: fn(getattr(self, f.name)) for f in dataclasses.fields(self)}
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

    def same_slots(self, other: Parses) -> bool:
        """Whether ``other`` has the same parses, strokes and offsets (equal masks): a type and
        its tokens do."""
        return (
            self.stroke_mask.shape == other.stroke_mask.shape
            and self.offset_mask.shape == other.offset_mask.shape
            and bool((self.stroke_mask == other.stroke_mask).all())
            and bool((self.offset_mask == other.offset_mask).all())
        )


@dataclasses.dataclass
class Tokens(Parses):
    """A padded batch of tokens: the token's strokes (the :class:`Parses` fields) plus its render
    variables ``affine`` (B, 4), ``blur`` (B,) and ``noise`` (B,); see the module docstring.

    Example::

        >>> import numpy as np
        >>> types = Parses.from_control_points([[np.array([[10., 10.], [50., 60.]])]])
        >>> tokens = Tokens.of(types, torch.tensor([[1.0, 1.0, 0.0, 0.0]]),
        ...                    blur=torch.tensor([1.0]), noise=torch.tensor([1e-3]))
        >>> tokens.strokes.same_slots(types)
        True
    """

    affine: torch.Tensor
    blur: torch.Tensor
    noise: torch.Tensor

    def __post_init__(self):
        super().__post_init__()
        B = self.batch_size
        for name, shape in (("affine", (B, 4)), ("blur", (B,)), ("noise", (B,))):
            value = getattr(self, name)
            if not torch.is_tensor(value) or tuple(value.shape) != shape:
                got = tuple(value.shape) if torch.is_tensor(value) else type(value).__name__
                raise ValueError(f"tokens need {name} of shape {shape}, got {got}")

    @classmethod
    def of(
        cls, strokes: Parses, affine: torch.Tensor, blur: torch.Tensor, noise: torch.Tensor
    ) -> Tokens:
        """Tokens with the strokes of ``strokes`` and these render variables."""
        return cls(
            strokes.locations,
            strokes.offsets,
            strokes.stroke_mask,
            strokes.offset_mask,
            affine,
            blur,
            noise,
        )

    @property
    def strokes(self) -> Parses:
        """The token's strokes alone (unwarped), as plain :class:`Parses`."""
        return Parses(self.locations, self.offsets, self.stroke_mask, self.offset_mask)

    def drawn_points(self) -> torch.Tensor:
        """(B, S, P + 1, 2) control points warped by ``affine``, as the renderer draws them."""
        return apply_affine(self.control_points, self.num_control, self.affine)
