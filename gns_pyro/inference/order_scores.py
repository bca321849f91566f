"""log P(psi) of many orderings of the same strokes, each net input evaluated once.

The order search (:mod:`gns_pyro.inference.search`) scores hundreds of configurations --
orders and directions of the strokes of a few proposals -- with the type prior. Teacher forcing
(:meth:`~gns_pyro.models.character.CharacterParts.observe`) runs the nets once per stroke of
every configuration, yet what the nets see repeats across configurations:

* the canvas before a stroke is the ink of the strokes drawn before it, whatever their order
  (ink adds up), and the canvas after it likewise;
* the location net reads that canvas and the previous stroke's end;
* the stroke net reads that canvas and the stroke itself (its start and offsets);
* the termination net reads the canvas after the stroke.

:func:`shared_type_log_prob` finds the distinct strokes of a batch (a stroke drawn backwards
is another stroke), the distinct sets of strokes drawn before and after each stroke, renders
one canvas per set, runs each net once per distinct input, and hands the outputs, gathered
back per stroke, to the same sum as teacher forcing
(:meth:`~gns_pyro.models.character.CharacterParts.observed_log_prob`). The result equals
:func:`~gns_pyro.models.type_prior.type_log_prob` up to float rounding (canvases are summed
in another order); a test checks it. For 48 orderings of a 3-stroke proposal the nets run on
tens of inputs instead of 144 strokes' worth.

Example::

    >>> scores = shared_type_log_prob(parts, configurations)   # doctest: +SKIP
"""

from __future__ import annotations

import torch

from gns_pyro.models.character import CharacterParts, ObservedTypes
from gns_pyro.models.type_prior import type_log_prob
from gns_pyro.parses import Parses
from gns_pyro.renderer import deposit_ink, finish_ink, sample_strokes


def can_share(parts) -> bool:
    """Whether :func:`shared_type_log_prob` applies: character nets in eval mode (so no net's
    output for one input depends on the rest of the batch), with no alphabet style."""
    return (
        isinstance(parts, CharacterParts)
        and not parts.training
        and (parts.style is None or parts._style_values is None)
        and not parts._blank_canvas
    )


def _unique_rows(keys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Index of one representative of each distinct row of ``keys`` (N, D), and each row's
    distinct-row number (N,)."""
    unique, inverse = torch.unique(keys, dim=0, return_inverse=True)
    first = torch.full((len(unique),), len(keys), dtype=torch.long, device=keys.device)
    first = first.scatter_reduce(0, inverse, torch.arange(len(keys), device=keys.device), "amin")
    return first, inverse


@torch.no_grad()
def shared_type_log_prob(parts, parses: Parses) -> torch.Tensor:
    """log P(psi) (B,) of ``parses``, each distinct net input evaluated once (module docstring).

    Falls back to :func:`~gns_pyro.models.type_prior.type_log_prob` where sharing does not
    apply (:func:`can_share`). No gradients: this is for scoring, not refinement.
    """
    if not can_share(parts):
        return type_log_prob(parts, parses)
    parses = parses.to(parts.device, parts.dtype)
    if (parses.num_strokes == 0).any():
        raise ValueError("every type needs at least one stroke")
    B, S = parses.stroke_mask.shape
    counts = parses.offset_mask.sum(-1)  # (B, S)
    if int(counts.max()) > parts.max_steps:
        raise ValueError(
            f"a stroke has {int(counts.max())} offsets, over the cap {parts.max_steps}"
        )
    if int(parses.num_strokes.max()) > parts.max_parts:
        raise ValueError(
            f"parses have {int(parses.num_strokes.max())} parts, over the cap {parts.max_parts}"
        )
    b, s = parses.stroke_mask.nonzero(as_tuple=True)  # the flat rows, as teacher forcing
    N = b.numel()
    cpts = parses.control_points[b, s]  # (N, K, 2)
    num_control = parses.num_control[b, s]
    # distinct strokes, direction included (the key is the stroke's own numbers)
    stroke_key = torch.cat([cpts.flatten(1), num_control.unsqueeze(-1).to(cpts.dtype)], -1)
    first_of_stroke, stroke_id = _unique_rows(stroke_key)
    U = len(first_of_stroke)
    # the set of strokes drawn before each row, and with it: indicator rows over the U strokes
    ids = torch.full((B, S), -1, dtype=torch.long, device=b.device)
    ids[b, s] = stroke_id
    drawn = torch.zeros(B, S + 1, U, dtype=cpts.dtype, device=cpts.device)
    for i in range(S):  # drawn[:, i] = strokes 0..i-1
        drawn[:, i + 1] = drawn[:, i]
        real = ids[:, i] >= 0
        drawn[real.nonzero().squeeze(-1), i + 1, ids[real, i]] += 1
    before_sets, after_sets = drawn[b, s], drawn[b, s + 1]
    first_of_set, set_id = _unique_rows(torch.cat([before_sets, after_sets]))
    # one canvas per distinct set: the sum of its strokes' ink, finished as the nets see it
    settings = parts.render_settings
    points, ink = sample_strokes(cpts[first_of_stroke], num_control[first_of_stroke], settings)
    per_stroke = deposit_ink(points, ink, torch.arange(U, device=b.device), U, settings)
    sets = torch.cat([before_sets, after_sets])[first_of_set]  # (C, U)
    canvases = finish_ink((sets @ per_stroke.flatten(1)).view(-1, *per_stroke.shape[1:]), settings)
    before_id, after_id = set_id[:N], set_id[N:]
    # location net: (canvas before, previous stroke's end)
    ends = parses.control_points.gather(2, counts[..., None, None].expand(B, S, 1, 2)).squeeze(2)
    prev_end = torch.cat([torch.zeros_like(ends[:, :1]), ends[:, :-1]], 1)[b, s]
    has_prev = s > 0
    prev_id = torch.where(has_prev, ids[b, (s - 1).clamp(min=0)], -1)
    first_loc, loc_id = _unique_rows(torch.stack([before_id, prev_id], -1))
    loc_raw = parts.location_net.raw(
        canvases[before_id[first_loc]], prev_end[first_loc], has_prev[first_loc]
    )[loc_id]
    # stroke net: (canvas before, the stroke)
    P = int(counts.max())
    first_str, str_id = _unique_rows(torch.stack([before_id, stroke_id], -1))
    flat_counts = counts[b, s]
    stroke_raw = parts.stroke_net.teacher_forced(
        canvases[before_id[first_str]],
        parses.locations[b, s][first_str],
        parses.offsets[b, s, :P][first_str],
        flat_counts[first_str],
    )[str_id]
    # termination net: the canvas after the stroke
    first_after, after_row = _unique_rows(after_id.unsqueeze(-1))
    stop_logits = parts.termination_net(canvases[after_id[first_after]])[after_row]
    row = torch.zeros(B, S, dtype=torch.long, device=b.device).index_put(
        (b, s), torch.arange(N, device=b.device)
    )
    observed = ObservedTypes(
        parses, parses.num_strokes, counts, row, loc_raw, stroke_raw, stop_logits
    )
    return parts.observed_log_prob(observed)
