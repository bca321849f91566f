"""Stroke order and direction by the type prior (paper App. B, step 2).

Every (order, direction) configuration of each proposal is a parse, scored by log P(psi) in
batches, each distinct input of the nets evaluated once
(:func:`~gns_pyro.inference.order_scores.shared_type_log_prob`: configurations of one
proposal share their canvases). The search spends a budget of ``total_configs``
configurations:

1. when every proposal's configurations fit (``n! 2^n``, capped at ``max_configs`` each), all
   of them are scored;
2. otherwise every proposal is first screened with ``screen_configs`` configurations (the
   order and directions its walk drew, then seeded samples), and the rest of the budget goes
   to the best-screened proposals, ``max_configs`` each, best first.

The best configuration of each proposal is kept; duplicates are dropped; the ``k`` best by
the type prior are returned. When the proposals give fewer than ``k`` distinct parses (a
skeleton with one way to draw it), the next-best configurations fill the rest, so an image
still gets ``k`` parses whenever its strokes can be ordered or directed in ``k`` ways.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pyro
import torch

from gns_pyro.inference.order_scores import shared_type_log_prob
from gns_pyro.parses import Parses

#: Default budget: most configurations per proposal, in all, and per proposal when screening.
MAX_CONFIGS = 48
TOTAL_CONFIGS = 384
SCREEN_CONFIGS = 2


def _configurations(n: int, count: int, rng: np.random.Generator, own: bool = True):
    """Up to ``count`` (order, flips) pairs for ``n`` strokes: all of them when there are that
    few, else the drawn order and directions (when ``own``) and seeded samples."""
    if math.factorial(n) * 2**n <= count:
        for order in itertools.permutations(range(n)):
            for flips in itertools.product((False, True), repeat=n):
                yield np.array(order), np.array(flips)
        return
    if own:
        yield np.arange(n), np.zeros(n, dtype=bool)
    for _ in range(count - int(own)):
        yield rng.permutation(n), rng.random(n) < 0.5


def _num_configurations(n: int, cap: int) -> int:
    return min(math.factorial(min(n, 12)) * 2**n, cap)


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
    max_configs: int = MAX_CONFIGS,
    seed: int = 0,
    chunk: int = 512,
    total_configs: int = TOTAL_CONFIGS,
    screen_configs: int = SCREEN_CONFIGS,
) -> tuple[Parses, torch.Tensor]:
    """The ``k`` best distinct parses (by log P(psi)) over orders and directions of proposals."""
    rng = np.random.default_rng(seed)
    S = proposals.max_strokes
    device = proposals.locations.device
    counts = proposals.num_strokes.tolist()
    items: list[int] = []
    orders: list[np.ndarray] = []
    flips: list[np.ndarray] = []
    scores = torch.empty(0, dtype=parts.dtype, device=device)

    def score(round_items, round_configs):
        nonlocal scores
        if not round_items:
            return
        for p, (order, flip) in zip(round_items, round_configs):
            n = counts[p]
            items.append(p)
            orders.append(np.concatenate([order, np.arange(n, S)]))
            flips.append(np.concatenate([flip, np.zeros(S - n, dtype=bool)]))
        start = len(items) - len(round_items)
        configs = reorder(
            proposals,
            torch.tensor(items[start:], device=device),
            torch.tensor(np.array(orders[start:]), device=device),
            torch.tensor(np.array(flips[start:]), device=device),
        )
        with pyro.validation_enabled(False):
            new = [
                shared_type_log_prob(
                    parts, configs[i : i + chunk].trim().to(parts.device, parts.dtype)
                )
                for i in range(0, len(configs), chunk)
            ]
        scores = torch.cat([scores, *[x.to(device) for x in new]])

    def configurations_of(p, count, own):
        chosen = list(_configurations(counts[p], count, rng, own))
        return [p] * len(chosen), chosen

    wanted = [_num_configurations(n, max_configs) for n in counts]
    if sum(wanted) <= total_configs:  # everything fits: one round
        plan = [configurations_of(p, wanted[p], True) for p in range(len(counts))]
        score([i for its, _ in plan for i in its], [c for _, cs in plan for c in cs])
    else:  # screen every proposal, then spend the rest on the best-screened ones
        plan = [
            configurations_of(p, min(screen_configs, wanted[p]), True) for p in range(len(counts))
        ]
        score([i for its, _ in plan for i in its], [c for _, cs in plan for c in cs])
        screened = torch.full((len(counts),), -math.inf, dtype=scores.dtype, device=device)
        screened = screened.scatter_reduce(0, torch.tensor(items, device=device), scores, "amax")
        left = total_configs - len(items)
        round_items, round_configs = [], []
        for p in screened.argsort(descending=True).tolist():
            extra = min(wanted[p], max_configs) - min(screen_configs, wanted[p])
            if left <= 0:
                break
            if extra <= 0:
                continue
            its, cs = configurations_of(p, min(extra, left), False)
            round_items += its
            round_configs += cs
            left -= len(its)
        score(round_items, round_configs)
    item = torch.tensor(items, device=device)
    configs = reorder(
        proposals,
        item,
        torch.tensor(np.array(orders), device=device),
        torch.tensor(np.array(flips), device=device),
    )
    # each proposal's best configuration first (best first), then, while fewer than k distinct
    # parses are kept, the next-best configurations of all proposals
    best = torch.full((len(proposals),), -math.inf, dtype=scores.dtype, device=device)
    best = best.scatter_reduce(0, item, scores, "amax")
    first: dict[int, int] = {}  # proposal -> its first best configuration
    for w in torch.nonzero(scores == best[item]).squeeze(-1).tolist():
        first.setdefault(items[w], w)
    leaders = sorted(first.values(), key=lambda w: -float(scores[w]))
    lead = set(leaders)
    rest = [w for w in scores.argsort(descending=True).tolist() if w not in lead]
    picked, seen = [], set()
    for w in leaders + rest:
        key = tuple(np.round(configs[w].trim().control_points.cpu().numpy().ravel(), 1))
        if key in seen:
            continue
        seen.add(key)
        picked.append(w)
        if len(picked) == k:
            break
    index = torch.tensor(picked, device=device)
    return configs[index].trim(), scores[index]
