"""Names of the sample sites of the character model, in one place.

=====================  =========  =============================================================
site                   value      meaning
=====================  =========  =============================================================
``loc_{i}``            (B, 2)     start location y_i of stroke ``i`` (pixels, x = col, y = row)
``offset_{i}_{t}``     (B, 2)     offset ``t`` of stroke ``i``: control point t+1 minus point t
``end_{i}_{t}``        (B,)       1 if offset ``t`` is the last of stroke ``i`` (absent at the
                                  step cap, where the stroke ends by force)
``stop_{i}``           (B,)       1 if the type stops after stroke ``i`` (absent at the stroke
                                  cap)
=====================  =========  =============================================================

Parse refinement can also see a type as one site (:func:`~gns_pyro.inference.refinement.
collapsed_parse_model`): ``type_table`` (B, S, P + 1, 2), every stroke's start location and
offsets (:meth:`~gns_pyro.parses.Parses.table`), with the density of all the sites above
(:class:`~gns_pyro.models.type_prior.ContinuousType`).

All sites sit in the plate ``"types"`` (dim -1). Sites of strokes or steps that do not exist
for an item are masked, so they add exactly 0 to its log-probability.
"""

from __future__ import annotations

import torch

from gns_pyro.parses import Parses

PLATE = "types"
#: The one site of a type's continuous values in the collapsed parse model.
TYPE_TABLE = "type_table"


def types_plate(size: int, plate=None):
    """The plate of types: ``plate`` if a composing program made one, else a new one.

    A Pyro plate records a site when it is created, so programs composed into one model (type,
    token, image) share a single plate object instead of each making their own.
    """
    import pyro

    if plate is not None:
        if plate.size != size:
            raise ValueError(f"plate of size {plate.size} given for a batch of {size}")
        return plate
    return pyro.plate(PLATE, size)


def loc_site(i: int) -> str:
    """Name of the start-location site of part ``i``."""
    return f"loc_{i}"


def offset_site(i: int, t: int) -> str:
    """Name of offset ``t`` of part ``i``."""
    return f"offset_{i}_{t}"


def end_site(i: int, t: int) -> str:
    """Name of the end flag after offset ``t`` of part ``i``."""
    return f"end_{i}_{t}"


def stop_site(i: int) -> str:
    """Name of the stop flag after part ``i``."""
    return f"stop_{i}"


def is_type_site(name: str) -> bool:
    """Whether ``name`` is a site of GenerateType's per-site program (a start location, an
    offset, an end flag or a stop flag): the sites whose log-probabilities the type prior's
    nets give, which read the type's values alone."""
    kind, _, rest = name.partition("_")
    numbers = rest.split("_")
    width = 2 if kind in ("offset", "end") else 1 if kind in ("loc", "stop") else 0
    return width > 0 and len(numbers) == width and all(n.isdigit() for n in numbers)


def has_end_site(t: int, max_steps: int) -> bool:
    """Whether offset ``t`` of a part is followed by an end flag: every offset but the one at
    the step cap, where the part ends by force."""
    return t < max_steps - 1


def stop_value(num_parts: torch.Tensor, index: int, dtype=torch.float32) -> torch.Tensor:
    """Value (B,) of the stop site after part ``index`` for types of ``num_parts`` parts: 1
    where it is the last part. The one rule for stop sites, used by every domain."""
    return (num_parts == index + 1).to(dtype)


def stop_conditions(num_parts: torch.Tensor, max_parts: int, dtype=torch.float32) -> dict:
    """Every stop site the type program creates for types of ``num_parts`` (B,) parts, with
    its value: ``stop_i`` for each part slot up to the batch's largest count, except at the
    cap ``max_parts``, where a type stops without a site."""
    largest = int(num_parts.max()) if num_parts.numel() else 0
    return {
        stop_site(i): stop_value(num_parts, i, dtype) for i in range(min(largest, max_parts - 1))
    }


def type_conditions(
    parses: Parses, max_strokes: int, max_steps: int, continuous: bool = True
) -> dict[str, torch.Tensor]:
    """Site values that make the type program reproduce ``parses`` (for ``poutine.condition``).

    Only sites that the program creates are included; padded entries hold zeros (masked).
    With ``continuous=False`` only the discrete sites (``end_*``, ``stop_*``) are given: the
    parses' structure, leaving their locations and offsets latent (parse refinement).
    """
    data: dict[str, torch.Tensor] = {}
    counts = parses.offset_mask.sum(-1)  # (B, S)
    # slots past every parse's last stroke (an untrimmed slice of a batch) have no sites
    for i in range(int(parses.num_strokes.max()) if len(parses) else 0):
        if continuous:
            data[loc_site(i)] = parses.locations[:, i]
        steps = int(counts[:, i].max())
        for t in range(steps):
            if continuous:
                data[offset_site(i, t)] = parses.offsets[:, i, t]
            if has_end_site(t, max_steps):
                data[end_site(i, t)] = stop_value(counts[:, i], t, parses.offsets.dtype)
    data.update(stop_conditions(parses.num_strokes, max_strokes, parses.offsets.dtype))
    return data
