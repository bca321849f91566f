"""The frame penalty: the mass the prior's mixtures put outside the frame at its own samples."""

from __future__ import annotations

import pyro
import torch
from pyro import poutine

from gns_pyro.models.character import CharacterParts
from gns_pyro.models.frame import frame_penalty, outside_cost
from gns_pyro.models.sites import loc_site, offset_site
from gns_pyro.models.type_prior import generate_type
from gns_pyro.nets.gmm import BivariateGMM


def _one_component(mean, scale):
    mean = torch.tensor([mean], dtype=torch.float64)
    scale = torch.tensor([scale], dtype=torch.float64)
    return BivariateGMM(torch.zeros(1, dtype=torch.float64), mean, scale, torch.zeros(1))


def test_outside_cost_counts_the_axes_a_draw_leaves_the_frame_on():
    low, high = torch.zeros(2, dtype=torch.float64), torch.full((2,), 104.0, dtype=torch.float64)
    on_edge = _one_component([0.0, 50.0], [2.0, 2.0])  # half its mass left of x = 0
    assert outside_cost(on_edge, low, high).item() == pytest_approx(0.5)
    inside = _one_component([50.0, 50.0], [2.0, 2.0])
    assert outside_cost(inside, low, high).item() < 1e-12
    corner = _one_component([-500.0, 600.0], [2.0, 2.0])  # out on both axes
    assert outside_cost(corner, low, high).item() == pytest_approx(2.0)


def pytest_approx(x):
    import pytest

    return pytest.approx(x, rel=1e-9)


def _parts(seed=0):
    torch.manual_seed(seed)
    return CharacterParts(max_steps=4).double()


def test_frame_penalty_is_the_outside_cost_at_every_site_of_the_same_samples():
    """Replays the same seeded samples and sums the costs from the parses' control points
    (the pen before each offset), not from the penalty's own bookkeeping."""
    parts = _parts()
    pyro.set_rng_seed(3)
    penalty = frame_penalty(parts, num_samples=5, max_parts=3)
    pyro.set_rng_seed(3)
    parts.eval()
    trace = poutine.trace(generate_type).get_trace(parts, batch_size=5, max_parts=3)
    types = trace.nodes["_RETURN"]["value"]
    cpts, edge = types.control_points, 104.0
    total = 0.0
    for b in range(5):
        for i in range(int(types.num_strokes[b])):
            fn = trace.nodes[loc_site(i)]["fn"]
            low, high = torch.zeros(2, dtype=torch.float64), torch.full((2,), edge).double()
            total += outside_cost(fn, low, high)[b].item()
            for t in range(int(types.num_control[b, i]) - 1):
                fn = trace.nodes[offset_site(i, t)]["fn"]
                pen = cpts[b, i, t]
                total += outside_cost(fn, -pen, edge - pen)[b].item()
    assert penalty.item() == pytest_approx(total / 5)
    assert penalty.item() > 0


def test_frame_penalty_restores_the_mode_and_reaches_the_nets():
    parts = _parts().train()
    penalty = frame_penalty(parts, num_samples=4, max_parts=2)
    assert parts.training
    penalty.backward()
    grads = [p.grad for p in parts.location_net.head.parameters()]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)
    grads = [p.grad for p in parts.stroke_net.head.parameters()]
    assert any(g is not None and g.abs().sum() > 0 for g in grads)


def test_minimizing_the_frame_penalty_keeps_samples_on_the_page():
    """A prior whose start locations sit on the left edge: a few Adam steps on the penalty
    alone move its mass inside (seeded; measured on fresh samples before and after)."""
    parts = _parts(1)
    head = parts.location_net.head[-1]
    with torch.no_grad():
        # every component's mean at x = -1 (network units: the frame is [-1, 1])
        head.bias.view(-1)[:] = 0.0
        head.weight.mul_(0.01)
        K = parts.location_net.num_components
        head.bias[K : 3 * K].view(K, 2)[:, 0] = -1.0

    def fresh(seed):
        pyro.set_rng_seed(seed)
        with torch.no_grad():
            return frame_penalty(parts, num_samples=16, max_parts=1).item()

    before = fresh(100)
    optim = torch.optim.Adam(parts.parameters(), lr=0.003)
    for step in range(20):
        pyro.set_rng_seed(step)
        optim.zero_grad()
        frame_penalty(parts, num_samples=8, max_parts=1).backward()
        optim.step()
    after = fresh(100)
    assert before > 0.5 and after < 0.25 * before, (before, after)
