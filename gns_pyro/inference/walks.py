"""Parse proposals by random walks on the skeleton graph (paper App. B, step 1; BPL's walker).

A walk draws strokes until every edge of the graph is covered. Each walk first draws its own
turn sharpness ``lambda`` from :attr:`WalkSettings.turn_lambdas` and its start exponent from
:attr:`WalkSettings.start_exponents`, so one image gets walks from nearly greedy to loose.

* A stroke starts at a node touching an uncovered edge, chosen with weight
  ``(1 / uncovered degree) ** start_exponent`` (endpoints first), and leaves along one of its
  uncovered edges.
* At every later node each option has a cost in degrees: continuing along an uncovered edge
  costs its turn angle (between the arrival direction and the edge's departure direction);
  retracing an edge already drawn costs at least ``retrace_angle``; lifting the pen costs
  ``pen_lift_angle``. The walk picks an option with probability ``exp(-lambda * cost / 180)``.
* Once every edge is covered the stroke ends.

The first ``deterministic_walks`` walks take the cheapest option at every step, each starting
its first stroke at a different one of the best-weighted start nodes. Isolated dots become
one-point strokes. Walks that draw the same strokes (ignoring stroke order and direction) are
one proposal.

Example::

    >>> import torch
    >>> img = torch.zeros(105, 105, dtype=torch.bool)
    >>> img[20:80, 50:53] = True; img[50:53, 20:80] = True
    >>> proposals = propose_strokes(img, WalkSettings(num_walks=20), seed=0)
    >>> min(len(p) for p in proposals)   # a cross: two straight strokes is among them
    2
"""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import networkx as nx
import numpy as np
import torch

from gns_pyro.errors import DataError
from gns_pyro.inference.skeleton import edge_direction, skeleton_graph

#: more skeleton edges than this is refused: walks would take minutes and no character has
#: so many (1,500 evaluation images: at most 18, median 4; 45% random noise: about 1,300)
MAX_SKELETON_EDGES = 100


@dataclasses.dataclass(frozen=True)
class WalkSettings:
    """Random-walk proposal settings (BPL's values by default)."""

    #: walks per image, deterministic ones included
    num_walks: int = 150
    #: greedy walks, each from a different start node
    deterministic_walks: int = 5
    #: each random walk draws its turn sharpness from these
    turn_lambdas: tuple[float, ...] = (2.0, 4.0, 8.0, 16.0)
    #: each random walk draws its start-node exponent from these
    start_exponents: tuple[float, ...] = (2.0, 4.0, 6.0)
    #: cost (degrees) of lifting the pen at a node
    pen_lift_angle: float = 45.0
    #: least cost (degrees) of drawing an edge a second time
    retrace_angle: float = 90.0
    #: junction pixels closer than this merge into one node
    junction_radius: float = 5.0


class _Move(NamedTuple):
    """Leaving a node along an edge in one direction."""

    edge: tuple  # (u, v, key)
    forward: bool  # along the edge's stored path, or against it
    out: np.ndarray  # unit direction of travel leaving the node
    arrive: np.ndarray  # unit direction of travel arriving at the far node
    to: int  # the far node


def _moves(graph: nx.MultiGraph) -> dict[int, list[_Move]]:
    """Every way to leave every node (a loop can be taken either way round)."""
    moves: dict[int, list[_Move]] = {n: [] for n in graph.nodes}
    for u, v, k, data in graph.edges(keys=True, data=True):
        path, start = data["path"], data["start"]
        end = v if start == u else u
        for forward, source, target in ((True, start, end), (False, end, start)):
            p = path if forward else path[::-1]
            move = _Move(
                (u, v, k),
                forward,
                edge_direction(p, at_start=True),
                edge_direction(p, at_start=False),
                target,
            )
            moves[source].append(move)
    return moves


def _angle(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.degrees(np.arccos(np.clip(np.dot(a, b), -1.0, 1.0))))


def _choose(costs: np.ndarray, turn_lambda: float, rng: np.random.Generator | None) -> int:
    if rng is None:
        return int(np.argmin(costs))
    w = np.exp(-turn_lambda * (costs - costs.min()) / 180.0)
    return int(rng.choice(len(costs), p=w / w.sum()))


def _walk(
    moves: dict[int, list[_Move]],
    num_edges: int,
    s: WalkSettings,
    rng: np.random.Generator | None,
    first_start: int = 0,
) -> list[list[tuple[tuple, bool]]]:
    """One walk: strokes as lists of (edge, forward) steps.

    With ``rng=None`` the walk is greedy and its first stroke starts at the start node ranked
    ``first_start`` (by weight).
    """
    if rng is None:
        turn_lambda, start_exponent = 1.0, s.start_exponents[0]
    else:
        turn_lambda = float(rng.choice(s.turn_lambdas))
        start_exponent = float(rng.choice(s.start_exponents))
    uncovered = {m.edge for ms in moves.values() for m in ms}
    degree = {n: sum(m.edge in uncovered for m in ms) for n, ms in moves.items()}
    strokes = []
    max_steps = 2 * num_edges + 2  # retracing could otherwise go round forever
    while uncovered:
        nodes = sorted(n for n, d in degree.items() if d > 0)
        weights = np.array([(1.0 / degree[n]) ** start_exponent for n in nodes])
        if rng is None:
            ranked = sorted(range(len(nodes)), key=lambda i: (-weights[i], nodes[i]))
            current = nodes[ranked[min(first_start, len(ranked) - 1) if not strokes else 0]]
        else:
            current = nodes[int(rng.choice(len(nodes), p=weights / weights.sum()))]
        steps: list[tuple[tuple, bool]] = []
        arrival = None
        while uncovered and len(steps) < max_steps:
            options = moves[current]
            if arrival is None:  # a stroke's first step draws something new
                options = [m for m in options if m.edge in uncovered]
                costs = np.zeros(len(options))
            else:
                turns = np.array([_angle(arrival, m.out) for m in options])
                new = np.array([m.edge in uncovered for m in options])
                costs = np.where(new, turns, np.maximum(turns, s.retrace_angle))
                costs = np.append(costs, s.pen_lift_angle)
            pick = _choose(costs, turn_lambda, rng)
            if pick == len(options):  # lift the pen
                break
            move = options[pick]
            steps.append((move.edge, move.forward))
            if move.edge in uncovered:
                uncovered.discard(move.edge)
                u, v, _ = move.edge
                degree[u] -= 1
                degree[v] -= 1
            arrival, current = move.arrive, move.to
        strokes.append(steps)
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
    """Unique stroke sets (each stroke an (n, 2) polyline, x = column, y = row) for an image.

    Proposals come in the order their walks first found them (deterministic walks first).
    """
    graph = skeleton_graph(image, settings.junction_radius)
    if graph.number_of_edges() > MAX_SKELETON_EDGES:
        raise DataError(
            f"the image's skeleton has {graph.number_of_edges()} edges, more than "
            f"{MAX_SKELETON_EDGES}: is it noise rather than a character?"
        )
    dots = [
        np.repeat(graph.nodes[n]["pos"][None], 2, 0) for n in graph.nodes if graph.degree(n) == 0
    ]
    moves = _moves(graph)
    num_edges = graph.number_of_edges()
    rng = np.random.default_rng(seed)
    seen, proposals = set(), []
    for w in range(settings.num_walks):
        if w < settings.deterministic_walks:
            strokes = _walk(moves, num_edges, settings, None, first_start=w)
        else:
            strokes = _walk(moves, num_edges, settings, rng)
        key = _canonical(strokes)
        if key in seen:
            continue
        seen.add(key)
        proposals.append([_polyline(graph, steps) for steps in strokes] + dots)
    return [p for p in proposals if p]
