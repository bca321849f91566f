"""Stroke order and direction by the type prior (paper App. B, step 2).

Every (order, direction) configuration of each proposal is a parse; all configurations of all
proposals are scored by log P(psi) as one batch (chunked). Each proposal gets at most
``min(max_configs, max(2, total_configs // num_proposals))`` configurations: all of them when
it has that few (``n! 2^n``), else a seeded sample (the proposal's own order and direction
always included). The budget bounds the cost: each configuration is one teacher-forced pass
of the nets, about 7 ms on one CPU core. The best configuration of each proposal is kept;
duplicates are dropped; the ``k`` best by the type prior are returned.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pyro
import torch

from gns_pyro.models.type_prior import type_log_prob
from gns_pyro.parses import Parses


def _configurations(n: int, max_configs: int, rng: np.random.Generator):
    """(order, flips) pairs for ``n`` strokes."""
    if math.factorial(n) * 2**n <= max_configs:
        for order in itertools.permutations(range(n)):
            for flips in itertools.product((False, True), repeat=n):
                yield np.array(order), np.array(flips)
        return
    yield np.arange(n), np.zeros(n, dtype=bool)
    for _ in range(max_configs - 1):
        yield rng.permutation(n), rng.random(n) < 0.5


def reorder(parses: Parses, item: torch.Tensor, order: torch.Tensor, flips: torch.Tensor) -> Parses:
    """Parses built from ``parses[item]`` with strokes permuted by ``order`` and reversed where
    ``flips``; ``item`` (C,), ``order`` and ``flips`` (C, S) (padding strokes stay at the end)."""
    cpts = parses.control_points[item]  # (C, S, K, 2)
    counts = parses.num_control[item]
    mask = parses.stroke_mask[item]
    C, S, K, _ = cpts.shape
    cpts = cpts.gather(1, order[:, :, None, None].expand(C, S, K, 2))
    counts = counts.gather(1, order)
    mask = mask.gather(1, order)
    k = torch.arange(K, device=cpts.device).expand(C, S, K)
    rev = (counts.unsqueeze(-1) - 1 - k).clamp(min=0)
    index = torch.where(flips.unsqueeze(-1) & (k < counts.unsqueeze(-1)), rev, k)
    cpts = cpts.gather(2, index.unsqueeze(-1).expand(C, S, K, 2))
    offsets = cpts[:, :, 1:] - cpts[:, :, :-1]
    offset_mask = torch.arange(K - 1, device=cpts.device) < (counts - 1).clamp(min=0).unsqueeze(-1)
    offsets = offsets * offset_mask.unsqueeze(-1)
    return Parses(
        cpts[:, :, 0] * mask.unsqueeze(-1), offsets, mask, offset_mask & mask.unsqueeze(-1)
    )


@torch.no_grad()
def best_orders(
    parts,
    proposals: Parses,
    k: int = 5,
    max_configs: int = 48,
    seed: int = 0,
    chunk: int = 512,
    total_configs: int = 384,
) -> tuple[Parses, torch.Tensor]:
    """The ``k`` best distinct parses (by log P(psi)) over orders and directions of proposals."""
    rng = np.random.default_rng(seed)
    items, orders, flips = [], [], []
    S = proposals.max_strokes
    cap = min(max_configs, max(2, total_configs // len(proposals)))
    for p, n in enumerate(proposals.num_strokes.tolist()):
        for order, flip in _configurations(n, cap, rng):
            items.append(p)
            orders.append(np.concatenate([order, np.arange(n, S)]))
            flips.append(np.concatenate([flip, np.zeros(S - n, dtype=bool)]))
    device = proposals.locations.device
    item = torch.tensor(items, device=device)
    configs = reorder(
        proposals,
        item,
        torch.tensor(np.array(orders), device=device),
        torch.tensor(np.array(flips), device=device),
    )
    with pyro.validation_enabled(False):
        scores = torch.cat(
            [
                type_log_prob(parts, configs[i : i + chunk].trim().to(parts.device, parts.dtype))
                for i in range(0, len(configs), chunk)
            ]
        ).to(device)
    best = torch.full((len(proposals),), -math.inf, dtype=scores.dtype, device=device)
    best = best.scatter_reduce(0, item, scores, "amax")
    first: dict[int, int] = {}  # proposal -> its first best configuration
    for w in torch.nonzero(scores == best[item]).squeeze(-1).tolist():
        first.setdefault(items[w], w)
    chosen = torch.tensor(sorted(first.values(), key=lambda w: -float(scores[w])), device=device)
    picked, kept_scores, seen = [], [], set()
    for w in chosen.tolist():
        key = tuple(np.round(configs[w].trim().control_points.cpu().numpy().ravel(), 1))
        if key in seen:
            continue
        seen.add(key)
        picked.append(w)
        kept_scores.append(scores[w])
        if len(picked) == k:
            break
    index = torch.tensor(picked, device=device)
    return configs[index].trim(), torch.stack(kept_scores)
