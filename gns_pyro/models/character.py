"""The handwritten-character domain: parts are pen strokes, the canvas is an ink image.

A stroke is a start location ``y_i`` and a trajectory of offsets between the control points
of its spline (:mod:`gns_pyro.splines`). GeneratePart samples ``y_i`` from the location net and
then the offsets one at a time from the stroke net, each followed by an "end of stroke" flag
whose probability depends on that offset (where the pen landed), as in the reference, where the
flag is computed after the offset has been fed back. The canvas the nets read is the broadened
ink of the strokes so far (:func:`gns_pyro.renderer.render_canvases`); adding a stroke deposits
its ink.

A stroke may end after its first offset (two control points: a straight segment), as in the
reference; minimal splines of straight strokes have exactly two.

Example::

    >>> parts = CharacterParts().eval()
    >>> from gns_pyro.models.type_prior import generate_type
    >>> generate_type(parts, batch_size=2).locations.shape[0]
    2
"""

from __future__ import annotations

import copy
import dataclasses
from typing import NamedTuple

import pyro
import pyro.distributions as dist
import torch
from pyro import poutine
from torch import nn

from gns_pyro.data.images import OMNIGLOT_IMAGE_SIZE
from gns_pyro.models.sites import (
    end_site,
    has_end_site,
    loc_site,
    offset_site,
    stop_value,
    type_conditions,
)
from gns_pyro.nets import LocationNet, StrokeNet, StyleAdapter, StyleShift, TerminationNet
from gns_pyro.nets.canvas import described_image_size, image_size_entry
from gns_pyro.nets.gmm import PARAMS_PER_COMPONENT
from gns_pyro.parses import Parses, Tokens
from gns_pyro.renderer import RenderSettings, finish_ink, stroke_canvases, stroke_ink

#: Default caps: strokes per type (never binds on Omniglot, max 29 in the stroke data here) and
#: offsets per stroke (the reference's 50 steps).
MAX_STROKES = 40
MAX_STEPS = 50


class CanvasState(NamedTuple):
    """What the nets read while a type is drawn: raw ``ink`` (B, H, W), the broadened ``canvas``,
    the previous stroke's end ``prev_end`` (B, 2) and whether there was one, ``has_prev`` (B,).
    """

    ink: torch.Tensor  # (B, H, W) raw deposited ink of the strokes so far
    canvas: torch.Tensor  # (B, H, W) what the nets read: broadened, clamped ink
    prev_end: torch.Tensor  # (B, 2) end point of the previous stroke
    has_prev: torch.Tensor  # (B,) bool


class StrokePart(NamedTuple):
    """One generated stroke per type: start ``location`` (B, 2), ``offsets`` (B, T, 2), zero past
    each stroke's end, and ``counts`` (B,), offsets per stroke.
    """

    location: torch.Tensor  # (B, 2)
    offsets: torch.Tensor  # (B, T, 2), zero past each stroke's end
    counts: torch.Tensor  # (B,) number of offsets


class ObservedTypes(NamedTuple):
    """Net outputs for known parses, from one teacher-forced pass over the N real strokes."""

    parses: Parses
    num_parts: torch.Tensor  # (B,) strokes per type
    counts: torch.Tensor  # (B, S) offsets per stroke
    row: torch.Tensor  # (B, S) row of each real stroke in the flat outputs (0 for padding)
    loc_raw: torch.Tensor  # (N, 6K)
    stroke_raw: torch.Tensor  # (N, P, 6K + 1)
    stop_logits: torch.Tensor  # (N,)


#: The most parameters the nets may have (the shipped ones have 1.4 million): an
#: architecture beyond this is refused before any weight is allocated.
MAX_PARAMETERS = 50_000_000


class CharacterParts(nn.Module):
    """The character domain of GenerateType, holding its three networks.

    :param max_strokes: cap on strokes per type.
    :param max_steps: cap on offsets per stroke.
    :param image_size: side of the square canvas, pixels (105 for Omniglot); the nets built
        here normalize points to this frame.
    :param style_dim: size of an alphabet's style vector (0: none, the unconditional prior).
        With a style the nets' outputs take a :class:`~gns_pyro.nets.style.StyleAdapter` of
        the style of each type (:meth:`with_style`; zero when none is given): the type prior
        of the hierarchical model :mod:`gns_pyro.models.alphabet`.
    """

    def __init__(
        self,
        location_net: LocationNet | None = None,
        stroke_net: StrokeNet | None = None,
        termination_net: TerminationNet | None = None,
        max_strokes: int = MAX_STROKES,
        max_steps: int = MAX_STEPS,
        image_size: int = OMNIGLOT_IMAGE_SIZE,
        style_dim: int = 0,
    ):
        super().__init__()
        self.location_net = location_net or LocationNet(image_size=image_size)
        self.stroke_net = stroke_net or StrokeNet(image_size=image_size)
        self.termination_net = termination_net or TerminationNet()
        sizes = {self.location_net.image_size, self.stroke_net.image_size, image_size}
        if len(sizes) > 1:
            raise ValueError(f"the nets were built for other image sizes {sorted(sizes)}")
        self.max_parts = max_strokes
        self.image_size = image_size
        self.render_settings = RenderSettings(size=image_size)  # the canvases the nets read
        self.image_settings = RenderSettings(size=image_size)  # the image model's renderer
        self.max_steps = max_steps
        self._blank_canvas = False  # see with_blank_canvas
        self.style = None
        if style_dim:
            self.style = StyleAdapter(
                style_dim,
                PARAMS_PER_COMPONENT * self.location_net.num_components,
                PARAMS_PER_COMPONENT * self.stroke_net.num_components,
            )
        self._style_values = None  # (B, D) style of each type; see with_style

    def config(self) -> dict:
        """Architecture description, stored with trained weights to check compatibility."""
        config = {
            "location_net": self.location_net.config,
            "stroke_net": self.stroke_net.config,
            "termination_net": self.termination_net.config,
            "max_strokes": self.max_parts,
            "max_steps": self.max_steps,
            **image_size_entry(self.image_size),
        }
        if self.style is not None:
            config["style_dim"] = self.style.dim
        return config

    @classmethod
    def from_config(cls, config: dict) -> CharacterParts:
        """Nets built from an architecture description (:meth:`config`), untrained."""
        return cls(
            LocationNet(**config["location_net"]),
            StrokeNet(**config["stroke_net"]),
            TerminationNet(**config["termination_net"]),
            max_strokes=config["max_strokes"],
            max_steps=config["max_steps"],
            image_size=described_image_size(config),
            style_dim=config.get("style_dim", 0),
        )

    @staticmethod
    def parameter_count(build) -> int:
        """Parameters of the nets that ``build()`` makes, counted on the meta device: no
        weight is allocated, so an architecture too large for memory is measured, not built."""
        with torch.device("meta"):
            return sum(p.numel() for p in build().parameters())

    @property
    def style_dim(self) -> int:
        """Size of the style vector (0 for the unconditional prior)."""
        return 0 if self.style is None else self.style.dim

    def with_style(self, style: torch.Tensor | None) -> CharacterParts:
        """The same nets (shared, not copied) drawing or scoring each type in a style: ``style``
        is (B, D), one style vector per type of the batch (``None``: zero, the unconditional
        prior). ``self`` is unchanged.

        Example::

            >>> parts = CharacterParts(style_dim=4).eval()
            >>> styled = parts.with_style(torch.randn(3, 4))  # three types, three styles
            >>> styled.style_dim, parts._style_values is None
            (4, True)
        """
        if style is not None:
            if self.style is None:
                raise ValueError("these nets have no style (style_dim = 0)")
            if style.dim() != 2 or style.shape[-1] != self.style.dim:
                raise ValueError(
                    f"style must be (types, {self.style.dim}), got {tuple(style.shape)}"
                )
            if not torch.isfinite(style).all():
                raise ValueError("style vectors must be finite")
        styled = copy.copy(self)
        styled._style_values = style
        return styled

    def _shift(self, batch_size: int) -> StyleShift | None:
        """The style's shifts of the nets' outputs for a batch of types (None: no style)."""
        if self.style is None or self._style_values is None:
            return None
        if self._style_values.shape[0] != batch_size:
            raise ValueError(
                f"{self._style_values.shape[0]} style vectors for a batch of {batch_size} types"
            )
        return self.style(self._style_values.to(self.device))

    @property
    def device(self) -> torch.device:
        """Device of the nets' parameters."""
        return next(self.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        """Floating dtype of the nets' parameters."""
        return next(self.parameters()).dtype

    # ------------------------------------------------------------------------------ sampling
    def init_state(self, batch_size: int) -> CanvasState:
        """A blank canvas and no previous stroke for ``batch_size`` types."""
        size = self.image_size
        blank = torch.zeros(batch_size, size, size, dtype=self.dtype, device=self.device)
        zeros = torch.zeros(batch_size, 2, dtype=self.dtype, device=self.device)
        no = torch.zeros(batch_size, dtype=torch.bool, device=self.device)
        return CanvasState(blank, blank, zeros, no)

    def generate_part(self, index, state, alive, temperature) -> StrokePart:
        """Pyro sub-program of stroke ``index``: its start ``loc_i``, then offsets
        ``offset_i_t``, each followed by its end flag ``end_i_t``, until the stroke ends."""
        i, T = index, temperature
        shift = self._shift(alive.shape[0])
        raw = self.location_net.raw(state.canvas, state.prev_end, state.has_prev)
        if shift is not None:
            raw = raw + shift.location
        location = pyro.sample(loc_site(i), self.location_net.distribution(raw, T))
        net = self.stroke_net
        stroke = net.start(state.canvas, location)
        going = alive.clone()
        counts = torch.zeros_like(alive, dtype=torch.long)
        offsets = []
        for t in range(self.max_steps):
            raw, stroke = net.step(stroke)
            if shift is not None:
                raw = raw + shift.offset
            with poutine.mask(mask=going):
                offset = pyro.sample(offset_site(i, t), net.offset_distribution(raw, T))
                if has_end_site(t, self.max_steps):
                    end_logit = net.end_logit(stroke, offset)
                    if shift is not None:
                        end_logit = end_logit + shift.end
                    end = pyro.sample(end_site(i, t), dist.Bernoulli(logits=end_logit / T))
                else:
                    end = torch.ones_like(counts, dtype=offset.dtype)  # the step cap ends it
            offset = torch.where(going.unsqueeze(-1), offset, torch.zeros_like(offset))
            offsets.append(offset)
            counts = counts + going
            stroke = net.advance(stroke, offset)
            going = going & (end == 0)
            if not going.any():
                break
        return StrokePart(location, torch.stack(offsets, 1), counts)

    def update_state(
        self, state: CanvasState, part: StrokePart, alive: torch.Tensor
    ) -> CanvasState:
        """Draw ``part`` onto the canvases of the types where ``alive``."""
        present = alive & (part.counts > 0)
        cpts = torch.cat(
            [part.location.unsqueeze(1), part.location.unsqueeze(1) + part.offsets.cumsum(1)], 1
        )
        ink = state.ink
        if present.any():
            ink = ink + stroke_ink(
                cpts.unsqueeze(1),
                (part.counts + 1).unsqueeze(1),
                present.unsqueeze(1),
                settings=self.render_settings,
            )
        end = part.location + part.offsets.sum(1)
        prev_end = torch.where(present.unsqueeze(-1), end, state.prev_end)
        return CanvasState(
            ink, finish_ink(ink, self.render_settings), prev_end, state.has_prev | present
        )

    def termination_logits(self, index, state) -> torch.Tensor:
        """Logit (B,) that the type stops after stroke ``index``, from the updated canvas."""
        logits = self.termination_net(state.canvas)
        shift = self._shift(logits.shape[0])
        return logits if shift is None else logits + shift.stop

    def collect(self, strokes: list[StrokePart], alive_per_part: list[torch.Tensor]) -> Parses:
        """Pack the generated strokes into one batched :class:`~gns_pyro.parses.Parses`."""
        P = max(p.offsets.shape[1] for p in strokes)
        stroke_mask = torch.stack([a & (p.counts > 0) for p, a in zip(strokes, alive_per_part)], 1)
        locations = torch.stack([p.location for p in strokes], 1)
        offsets = torch.stack(
            [nn.functional.pad(p.offsets, (0, 0, 0, P - p.offsets.shape[1])) for p in strokes], 1
        )
        counts = torch.stack([p.counts for p in strokes], 1) * stroke_mask
        offset_mask = torch.arange(P, device=counts.device) < counts.unsqueeze(-1)
        locations = torch.where(stroke_mask.unsqueeze(-1), locations, torch.zeros_like(locations))
        offsets = torch.where(offset_mask.unsqueeze(-1), offsets, torch.zeros_like(offsets))
        return Parses(locations, offsets, stroke_mask, offset_mask)

    def conditions(self, types: Parses) -> dict[str, torch.Tensor]:
        """Site values that make the program reproduce ``types`` (every site, stop included)."""
        return type_conditions(types, self.max_parts, self.max_steps)

    # ------------------------------------------------------------ token and image programs
    def generate_token(self, types: Parses, plate=None, token_prior=None) -> Tokens:
        """GenerateToken of this domain: :func:`gns_pyro.models.token.generate_token`."""
        from gns_pyro.models.token import DEFAULT_TOKEN_PRIOR, generate_token

        return generate_token(types, token_prior or DEFAULT_TOKEN_PRIOR, plate=plate)

    def image_model(self, tokens: Tokens, image: torch.Tensor | None = None, plate=None):
        """Image model of this domain: Bernoulli pixels of the render
        (:func:`gns_pyro.models.token.image_model`) on this domain's frame."""
        from gns_pyro.models.token import image_model

        if image is not None and tuple(image.shape[-2:]) != (self.image_size,) * 2:
            raise ValueError(
                f"this model draws {self.image_size}x{self.image_size} images, "
                f"got {tuple(image.shape[-2:])}"
            )
        return image_model(
            tokens, image, plate=plate, size=self.image_size, settings=self.image_settings
        )

    def with_smooth_rendering(self, smooth: bool = True) -> CharacterParts:
        """The same nets (shared, not copied) with the smooth renderer
        (``RenderSettings(smooth=True)``, :mod:`gns_pyro.renderer`) for the image model and
        for the canvases the nets read: the log joint of a parse is then twice differentiable
        in its continuous variables, as Laplace's method needs (the reference renderer's
        bilinear splat gives the image *and* the canvases kinks). The nets were trained on
        reference canvases, which the smooth ones resemble (docs: "Marginal likelihood").
        ``self`` is unchanged."""
        changed = copy.copy(self)
        changed.image_settings = dataclasses.replace(self.image_settings, smooth=smooth)
        changed.render_settings = dataclasses.replace(self.render_settings, smooth=smooth)
        return changed

    def with_blank_canvas(self) -> CharacterParts:
        """The same nets (shared, not copied) reading a blank canvas whenever they score known
        types: the ablation that measures what the canvas is worth. ``self`` is unchanged."""
        ablated = copy.copy(self)
        ablated._blank_canvas = True
        return ablated

    # --------------------------------------------------- observing (teacher-forcing fast path)
    def observe(self, parses: Parses) -> ObservedTypes:
        """Run all three nets over every stroke of ``parses`` at once (teacher forcing)."""
        if (parses.num_strokes == 0).any():
            raise ValueError("every type needs at least one stroke")
        parses = parses.to(self.device, self.dtype)
        B, S = parses.stroke_mask.shape
        counts = parses.offset_mask.sum(-1)
        if int(counts.max()) > self.max_steps:
            raise ValueError(
                f"a stroke has {int(counts.max())} offsets, over the cap {self.max_steps}"
            )
        # canvases just before and after each real stroke (flat, stroke_mask.nonzero() order)
        before, after = stroke_canvases(parses, self.render_settings)
        if self._blank_canvas:
            before, after = torch.zeros_like(before), torch.zeros_like(after)
        b, s = parses.stroke_mask.nonzero(as_tuple=True)
        cpts = parses.control_points
        ends = cpts.gather(2, counts[..., None, None].expand(B, S, 1, 2)).squeeze(2)  # (B, S, 2)
        prev_end = torch.cat([torch.zeros_like(ends[:, :1]), ends[:, :-1]], 1)
        has_prev = s > 0
        P = int(counts.max())
        loc_flat = self.location_net.raw(before, prev_end[b, s], has_prev)
        stroke_flat = self.stroke_net.teacher_forced(
            before, parses.locations[b, s], parses.offsets[b, s, :P], counts[b, s]
        )
        stop_flat = self.termination_net(after)
        # padding rows point at row 0: finite numbers that the site masks zero out
        row = torch.zeros(B, S, dtype=torch.long, device=b.device).index_put(
            (b, s), torch.arange(b.numel(), device=b.device)
        )
        observed = ObservedTypes(
            parses, parses.num_strokes, counts, row, loc_flat, stroke_flat, stop_flat
        )
        shift = self._shift(B)
        return observed if shift is None else styled_observation(observed, shift)

    def observed_termination_logits(self, index: int, observed: ObservedTypes) -> torch.Tensor:
        """Logit (B,) of stopping after stroke ``index``, from the teacher-forced pass."""
        return observed.stop_logits[observed.row[:, index]]

    def observed_part(self, i: int, temperature: float, obs: ObservedTypes) -> StrokePart:
        """Stroke ``i`` of the observed types, its distributions from the teacher-forced
        pass: the same sites, values and log-probabilities as :meth:`generate_part` under
        :meth:`conditions`."""
        p, T, net = obs.parses, temperature, self.stroke_net
        rows = obs.row[:, i]
        location = pyro.sample(
            loc_site(i), self.location_net.distribution(obs.loc_raw[rows], T), obs=p.locations[:, i]
        )
        counts = obs.counts[:, i]
        steps = int(counts.max())
        stroke_raw = obs.stroke_raw[rows, :steps]  # (B, steps, 6K + 1)
        for t in range(steps):
            raw = stroke_raw[:, t]
            with poutine.mask(mask=p.offset_mask[:, i, t]):
                pyro.sample(
                    offset_site(i, t), net.offset_distribution(raw, T), obs=p.offsets[:, i, t]
                )
                if has_end_site(t, self.max_steps):
                    is_last = stop_value(counts, t, raw.dtype)
                    end_logit = net.forced_end_logit(raw)
                    pyro.sample(end_site(i, t), dist.Bernoulli(logits=end_logit / T), obs=is_last)
        return StrokePart(location, p.offsets[:, i, :steps], counts)

    def observed_log_prob(self, obs: ObservedTypes, temperature: float = 1.0) -> torch.Tensor:
        """log P(psi) (B,) of the observed types in one vectorized pass: the sum over every
        site that :meth:`observed_part` and the stop sites of ``generate_type`` would create
        (start locations, offsets, end flags, stop flags), without a site per offset.

        The same number as tracing ``generate_type(parts, parses=...)``, at the cost of one
        teacher-forced pass: what parse refinement needs at every step
        (:class:`~gns_pyro.models.type_prior.ContinuousType`).
        """
        p, T = obs.parses, temperature
        b, s = p.stroke_mask.nonzero(as_tuple=True)  # the flat rows of obs, in their order
        counts = obs.counts[b, s]  # (N,)
        raw = obs.stroke_raw  # (N, P, 6K + 1)
        steps = torch.arange(raw.shape[1], device=counts.device)
        present = steps < counts.unsqueeze(-1)  # (N, P): the offsets each stroke has
        dtype = raw.dtype
        location = self.location_net.distribution(obs.loc_raw, T).log_prob(p.locations[b, s])
        offsets = self.stroke_net.offset_distribution(raw, T).log_prob(
            p.offsets[b, s, : raw.shape[1]]
        )
        is_last = (steps == counts.unsqueeze(-1) - 1).to(dtype)
        end = dist.Bernoulli(logits=self.stroke_net.forced_end_logit(raw) / T).log_prob(is_last)
        has_end = present & (steps < self.max_steps - 1)  # no end flag at the step cap
        is_final = (s == obs.num_parts[b] - 1).to(dtype)
        stop = dist.Bernoulli(logits=obs.stop_logits / T).log_prob(is_final)
        has_stop = s < self.max_parts - 1  # no stop flag at the stroke cap
        zero = torch.zeros((), dtype=dtype, device=counts.device)
        per_stroke = (
            location
            + torch.where(present, offsets, zero).sum(-1)
            + torch.where(has_end, end, zero).sum(-1)
            + torch.where(has_stop, stop, zero)
        )
        return per_stroke.new_zeros(p.batch_size).index_add(0, b, per_stroke)


def styled_observation(observed: ObservedTypes, shift: StyleShift) -> ObservedTypes:
    """Teacher-forced outputs of unstyled nets (``observe`` of nets without a style, or with
    ``style = 0``) moved by per-type style shifts (:class:`~gns_pyro.nets.style.StyleShift`,
    (B, ...)): what ``observe`` of the styled nets gives, without running the nets again --
    the style enters after them."""
    b, _ = observed.parses.stroke_mask.nonzero(as_tuple=True)
    per_stroke = shift[b]
    offsets = per_stroke.offset.unsqueeze(1)  # the same shift at every step
    stroke_raw = torch.cat(
        [
            observed.stroke_raw[..., :-1] + offsets,
            (observed.stroke_raw[..., -1] + per_stroke.end.unsqueeze(1)).unsqueeze(-1),
        ],
        -1,
    )
    return observed._replace(
        loc_raw=observed.loc_raw + per_stroke.location,
        stroke_raw=stroke_raw,
        stop_logits=observed.stop_logits + per_stroke.stop,
    )
