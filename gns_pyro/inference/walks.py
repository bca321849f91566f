"""Parse proposals by random walks on the skeleton graph (paper App. B, step 1).

A walk draws strokes until every edge is covered. A stroke starts at a node chosen with weight
``(1 / unvisited degree) ** start_lambda`` (endpoints first) and at each node continues along an
unvisited edge with weight ``exp(-turn_lambda * angle / 180)`` (``angle`` in degrees between the
arrival direction and the edge's departure direction); when even the straightest continuation
turns more than ``pen_lift_angle`` the pen lifts. Walk 0 is deterministic (always the
straightest continuation, the lowest-degree start), the rest are seeded random walks. Isolated
dots become one-point strokes. Walks that cover the edges the same way (ignoring stroke order
and direction) are one proposal.

Example::

    >>> import torch
    >>> img = torch.zeros(105, 105, dtype=torch.bool)
    >>> img[20:80, 50:53] = True; img[50:53, 20:80] = True
    >>> proposals = propose_strokes(img, WalkSettings(num_walks=20), seed=0)
    >>> sorted(len(p) for p in proposals)[:2]   # a cross: two straight strokes is among them
    [2, 3]
"""

from __future__ import annotations

import dataclasses

import networkx as nx
import numpy as np
import torch

from gns_pyro.inference.skeleton import edge_direction, skeleton_graph


@dataclasses.dataclass(frozen=True)
class WalkSettings:
    num_walks: int = 150
    start_lambda: float = 2.0
    turn_lambda: float = 5.0
    pen_lift_angle: float = 45.0
    junction_radius: float = 5.0


def _walk(graph: nx.MultiGraph, rng: np.random.Generator | None, s: WalkSettings):
    """One walk: (strokes as lists of (edge key, forward) steps, dots as node ids)."""
    unvisited = set(graph.edges(keys=True))
    strokes = []

    def degree(n):
        return sum(1 if u != v else 2 for u, v, k in unvisited if n in (u, v))

    while unvisited:
        nodes = sorted({n for e in unvisited for n in e[:2]})
        weights = np.array([(1.0 / degree(n)) ** s.start_lambda for n in nodes])
        if rng is None:
            current = nodes[int(np.argmax(weights))]
        else:
            current = nodes[rng.choice(len(nodes), p=weights / weights.sum())]
        arrival = None
        steps = []
        while True:
            options = []
            for u, v, k in unvisited:
                path = graph.edges[u, v, k]["path"]
                forward_from = graph.edges[u, v, k]["start"]
                other = v if forward_from == u else u
                for node_from, forward in ((forward_from, True), (other, False)):
                    if node_from == current:
                        options.append(((u, v, k), forward))
                        if u == v:  # a loop can be taken either way round
                            options.append(((u, v, k), not forward))
                            break
            if not options:
                break
            angles = []
            for key, forward in options:
                path = graph.edges[key]["path"]
                path = path if forward else path[::-1]
                out = edge_direction(path, at_start=True)
                if arrival is None:
                    angles.append(0.0)
                else:
                    cos = float(np.clip(np.dot(arrival, out), -1, 1))
                    angles.append(np.degrees(np.arccos(cos)))
            angles = np.array(angles)
            if arrival is not None and angles.min() > s.pen_lift_angle:
                break
            w = np.exp(-s.turn_lambda * angles / 180.0)
            pick = (
                int(np.argmin(angles))
                if rng is None
                else int(rng.choice(len(options), p=w / w.sum()))
            )
            key, forward = options[pick]
            unvisited.discard(key)
            steps.append((key, forward))
            path = graph.edges[key]["path"]
            path = path if forward else path[::-1]
            arrival = edge_direction(path, at_start=False)
            start = graph.edges[key]["start"]
            other = key[1] if start == key[0] else key[0]
            current = other if forward else start
        if steps:
            strokes.append(steps)
        else:  # a start node whose edges were all taken meanwhile cannot happen; be safe
            break
    return strokes


def _canonical(strokes) -> tuple:
    keys = []
    for steps in strokes:
        fwd = tuple((k, f) for k, f in steps)
        rev = tuple((k, not f) for k, f in reversed(steps))
        keys.append(min(fwd, rev))
    return tuple(sorted(keys))


def _polyline(graph: nx.MultiGraph, steps) -> np.ndarray:
    parts = []
    for key, forward in steps:
        path = graph.edges[key]["path"]
        path = path if forward else path[::-1]
        parts.append(path if not parts else path[1:])
    return np.vstack(parts)


def propose_strokes(
    image: torch.Tensor | np.ndarray, settings: WalkSettings = WalkSettings(), seed: int = 0
) -> list[list[np.ndarray]]:
    """Unique stroke sets (each stroke an (n, 2) polyline, x = column, y = row) for an image."""
    graph = skeleton_graph(image, settings.junction_radius)
    dots = [
        np.repeat(graph.nodes[n]["pos"][None], 2, 0) for n in graph.nodes if graph.degree(n) == 0
    ]
    rng = np.random.default_rng(seed)
    seen, proposals = set(), []
    for w in range(settings.num_walks):
        strokes = _walk(graph, None if w == 0 else rng, settings)
        key = _canonical(strokes)
        if key in seen:
            continue
        seen.add(key)
        proposals.append([_polyline(graph, steps) for steps in strokes] + dots)
    return [p for p in proposals if p]
