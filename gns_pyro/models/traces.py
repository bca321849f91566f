"""Two Pyro trace helpers that every model of the package scores with.

:func:`trace_log_prob` sums a trace's sample sites per plate item, and
:func:`conditioned_trace` traces a program under ``poutine.condition`` but refuses names that
are not sites of the run (``poutine.condition`` ignores them silently).

Example::

    >>> import pyro, pyro.distributions as dist, torch
    >>> def model():
    ...     with pyro.plate("items", 3):
    ...         pyro.sample("x", dist.Normal(0.0, 1.0))
    >>> trace = conditioned_trace(model, {"x": torch.zeros(3)})
    >>> trace_log_prob(trace).shape
    torch.Size([3])
"""

from __future__ import annotations

import torch
from pyro import poutine


def trace_log_prob(trace) -> torch.Tensor:
    """Per-item sum (B,) of the masked log-probabilities of every sample site in ``trace``."""
    trace.compute_log_prob()
    total = None
    for node in trace.nodes.values():
        if node["type"] == "sample" and "log_prob" in node:
            total = node["log_prob"] if total is None else total + node["log_prob"]
    return total


def conditioned_trace(fn, data: dict, *args, **kwargs):
    """Trace of ``fn(*args, **kwargs)`` under ``poutine.condition(data)``, checking the names.

    ``poutine.condition`` silently ignores names that match no site; a typo would then score the
    wrong thing. Here every name in ``data`` must be a sample site of the run.

    :raises ValueError: naming the keys of ``data`` that are not sites.
    """
    trace = poutine.trace(poutine.condition(fn, data=data)).get_trace(*args, **kwargs)
    unknown = sorted(set(data) - {n for n, s in trace.nodes.items() if s["type"] == "sample"})
    if unknown:
        raise ValueError(f"conditioned on names that are not sample sites: {unknown[:10]}")
    return trace
