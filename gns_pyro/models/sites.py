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

All sites sit in the plate ``"types"`` (dim -1). Sites of strokes or steps that do not exist
for an item are masked, so they add exactly 0 to its log-probability.
"""

from __future__ import annotations

import torch

from gns_pyro.parses import Parses

PLATE = "types"


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
    n_strokes = parses.num_strokes
    for i in range(parses.max_strokes):
        if continuous:
            data[loc_site(i)] = parses.locations[:, i]
        steps = int(counts[:, i].max())
        for t in range(steps):
            if continuous:
                data[offset_site(i, t)] = parses.offsets[:, i, t]
            if t < max_steps - 1:
                data[end_site(i, t)] = (counts[:, i] == t + 1).to(parses.offsets.dtype)
        if i < max_strokes - 1:
            data[stop_site(i)] = (n_strokes == i + 1).to(parses.offsets.dtype)
    return data


def conditioned_trace(fn, data: dict, *args, **kwargs):
    """Trace of ``fn(*args, **kwargs)`` under ``poutine.condition(data)``, checking the names.

    ``poutine.condition`` silently ignores names that match no site; a typo would then score the
    wrong thing. Here every name in ``data`` must be a sample site of the run.

    :raises ValueError: naming the keys of ``data`` that are not sites.
    """
    from pyro import poutine

    trace = poutine.trace(poutine.condition(fn, data=data)).get_trace(*args, **kwargs)
    unknown = sorted(set(data) - {n for n, s in trace.nodes.items() if s["type"] == "sample"})
    if unknown:
        raise ValueError(f"conditioned on names that are not sample sites: {unknown[:10]}")
    return trace
