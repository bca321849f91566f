"""Bottom-up structure of an ink image: skeleton -> graph of junctions, endpoints and edges.

1. Thin the ink to a one-pixel skeleton (scikit-image).
2. Link skeleton pixels: 4-neighbours always, diagonal neighbours only when no 4-path joins them
   (otherwise every corner would look like a junction).
3. Key pixels have degree != 2: endpoints (degree 1), junction pixels (degree >= 3) and isolated
   dots (degree 0). Junction pixels closer than ``junction_radius`` merge into one node.
4. Edges are the pixel paths between nodes. A closed loop with no key pixel (an "o") gets one
   node on it. Each edge keeps its polyline from one node's centre to the other's.
5. Spurs (thinning artefacts): an edge from a junction to an endpoint shorter than
   ``spur_length`` is removed, as is a self-loop on a junction shorter than twice that; a
   junction left joining exactly two edges is dissolved into one edge.

Example::

    >>> import torch
    >>> img = torch.zeros(105, 105, dtype=torch.bool); img[50:53, 20:80] = True
    >>> graph = skeleton_graph(img)
    >>> graph.number_of_nodes(), graph.number_of_edges()
    (2, 1)
"""

from __future__ import annotations

import networkx as nx
import numpy as np
import torch
from skimage.morphology import skeletonize

_FOUR = ((-1, 0), (1, 0), (0, -1), (0, 1))
_DIAG = ((-1, -1), (-1, 1), (1, -1), (1, 1))


def pixel_graph(skeleton: np.ndarray) -> nx.Graph:
    """Graph on skeleton pixels (row, col) without the spurious diagonal triangles."""
    g = nx.Graph()
    pixels = set(zip(*np.nonzero(skeleton)))
    g.add_nodes_from(pixels)
    for r, c in pixels:
        for dr, dc in _FOUR:
            if (r + dr, c + dc) in pixels:
                g.add_edge((r, c), (r + dr, c + dc))
        for dr, dc in _DIAG:
            q = (r + dr, c + dc)
            if q in pixels and (r + dr, c) not in pixels and (r, c + dc) not in pixels:
                g.add_edge((r, c), q)
    return g


def skeleton_graph(
    image: torch.Tensor | np.ndarray, junction_radius: float = 5.0, spur_length: float = 6.0
) -> nx.MultiGraph:
    """Graph of an ink image (H, W) bool: nodes have ``pos`` (x, y) and ``kind``; edges ``path``.

    ``path`` is an (n, 2) float array of (x = column, y = row) points from the edge's ``start``
    node to its other end. Parallel edges and self-loops are kept (MultiGraph).
    """
    ink = image.cpu().numpy() if torch.is_tensor(image) else np.asarray(image)
    skeleton = skeletonize(ink.astype(bool))
    pixels = pixel_graph(skeleton)
    node_of: dict[tuple[int, int], int] = {}
    graph = nx.MultiGraph()

    def add_node(members: list[tuple[int, int]], kind: str) -> int:
        nid = graph.number_of_nodes()
        rc = np.mean(np.array(members, dtype=float), axis=0)
        graph.add_node(nid, pos=np.array([rc[1], rc[0]]), kind=kind)
        for p in members:
            node_of[p] = nid
        return nid

    junctions = [p for p in pixels if pixels.degree(p) >= 3]
    for cluster in _clusters(junctions, junction_radius):
        add_node(cluster, "junction")
    for p in pixels:
        if pixels.degree(p) <= 1 and p not in node_of:
            add_node([p], "end" if pixels.degree(p) == 1 else "dot")
    # loops with no key pixel: give each such component one node
    for component in nx.connected_components(pixels):
        if not any(p in node_of for p in component):
            add_node([min(component)], "loop")

    visited: set[tuple] = set()
    for start_pixel, nid in list(node_of.items()):
        for nxt in pixels.neighbors(start_pixel):
            if (start_pixel, nxt) in visited or (node_of.get(nxt) == nid):
                continue
            trail = [start_pixel, nxt]
            visited.add((start_pixel, nxt))
            prev, cur = start_pixel, nxt
            while cur not in node_of:
                options = [q for q in pixels.neighbors(cur) if q != prev]
                if not options:
                    break
                prev, cur = cur, options[0]
                trail.append(cur)
            visited.add((trail[-1], trail[-2]))
            end = node_of.get(cur)
            if end is None:  # dead end that is not a node (should not happen); skip
                continue
            interior = np.array([[c, r] for r, c in trail[1:-1]], dtype=float).reshape(-1, 2)
            path = np.vstack([graph.nodes[nid]["pos"], interior, graph.nodes[end]["pos"]])
            graph.add_edge(nid, end, path=path, start=nid)
    _prune_spurs(graph, spur_length)
    return _relabel(graph)


def _relabel(graph: nx.MultiGraph) -> nx.MultiGraph:
    """Nodes renumbered 0..n-1 after pruning, with each edge's ``start`` renumbered too (a
    stale ``start`` would make walks miss edges that they cannot leave from)."""
    new = {old: i for i, old in enumerate(graph.nodes)}
    out = nx.relabel_nodes(graph, new, copy=True)
    for _, _, data in out.edges(data=True):
        data["start"] = new[data["start"]]
    return out


def _length(path: np.ndarray) -> float:
    return float(np.linalg.norm(np.diff(path, axis=0), axis=1).sum())


def _prune_spurs(graph: nx.MultiGraph, spur_length: float) -> None:
    for u, v, k, path in list(graph.edges(keys=True, data="path")):
        if u == v and graph.nodes[u]["kind"] == "junction" and _length(path) < 2 * spur_length:
            # a few-pixel loop inside a merged junction is a thinning artefact, not a stroke
            graph.remove_edge(u, v, k)
            continue
        kinds = {graph.nodes[u]["kind"], graph.nodes[v]["kind"]}
        if kinds == {"junction", "end"} and _length(path) < spur_length:
            end = u if graph.nodes[u]["kind"] == "end" else v
            graph.remove_edge(u, v, k)
            graph.remove_node(end)
    for n in [n for n in graph.nodes if graph.nodes[n]["kind"] == "junction"]:
        edges = list(graph.edges(n, keys=True, data=True))
        if len(edges) != 2 or any(a == b for a, b, _, _ in edges):
            continue
        (a1, b1, k1, d1), (a2, b2, k2, d2) = edges
        p1 = d1["path"] if d1["start"] != n else d1["path"][::-1]  # arrives at n
        p2 = d2["path"] if d2["start"] == n else d2["path"][::-1]  # leaves n
        x = b1 if a1 == n else a1
        y = b2 if a2 == n else a2
        graph.remove_node(n)
        graph.add_edge(x, y, path=np.vstack([p1, p2[1:]]), start=x)


def _clusters(points: list[tuple[int, int]], radius: float) -> list[list[tuple[int, int]]]:
    """Single-linkage clusters of points closer than ``radius``."""
    if not points:
        return []
    g = nx.Graph()
    g.add_nodes_from(points)
    arr = np.array(points, dtype=float)
    d = np.linalg.norm(arr[:, None] - arr[None], axis=-1)
    for i, j in zip(*np.nonzero(np.triu(d <= radius, 1))):
        g.add_edge(points[i], points[j])
    return [sorted(c) for c in nx.connected_components(g)]


def edge_direction(path: np.ndarray, at_start: bool, span: float = 6.0) -> np.ndarray:
    """Unit direction of travel leaving (``at_start``) or arriving at the end of ``path``."""
    pts = path if at_start else path[::-1]
    d = np.cumsum(np.r_[0, np.linalg.norm(np.diff(pts, axis=0), axis=1)])
    k = int(np.searchsorted(d, min(span, d[-1])))
    v = pts[min(k, len(pts) - 1)] - pts[0]
    n = np.linalg.norm(v)
    v = v / n if n > 0 else np.zeros(2)
    return v if at_start else -v
