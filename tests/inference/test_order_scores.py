"""Scoring orderings with shared net inputs: the same numbers as teacher forcing, less work."""

import numpy as np
import pyro
import pytest
import torch

import gns_pyro.inference.order_scores as order_scores
from gns_pyro.inference.order_scores import can_share, shared_type_log_prob
from gns_pyro.inference.search import _configurations, best_orders, reorder
from gns_pyro.models import CharacterParts, type_log_prob
from gns_pyro.parses import Parses


@pytest.fixture(scope="module")
def parts():
    torch.manual_seed(0)
    return CharacterParts().eval()


def _proposals(seed: int) -> Parses:
    """Proposals of 1, 2 and 3 strokes with 2 to 4 control points each."""
    rng = np.random.default_rng(seed)
    drawings = [
        [rng.uniform(15, 90, (int(rng.integers(2, 5)), 2)) for _ in range(n)] for n in (3, 2, 1, 3)
    ]
    return Parses.from_control_points(drawings)


def _all_configurations(proposals: Parses, per_proposal: int) -> Parses:
    rng = np.random.default_rng(1)
    items, orders, flips = [], [], []
    S = proposals.max_strokes
    for p, n in enumerate(proposals.num_strokes.tolist()):
        for order, flip in _configurations(n, per_proposal, rng):
            items.append(p)
            orders.append(np.concatenate([order, np.arange(n, S)]))
            flips.append(np.concatenate([flip, np.zeros(S - n, dtype=bool)]))
    return reorder(
        proposals,
        torch.tensor(items),
        torch.tensor(np.array(orders)),
        torch.tensor(np.array(flips)),
    ).trim()


def test_shared_scores_equal_teacher_forcing(parts):
    configs = _all_configurations(_proposals(0), 48)
    assert len(configs) > 100
    with pyro.validation_enabled(False):
        expected = type_log_prob(parts, configs)
        got = shared_type_log_prob(parts, configs)
    # equal up to the order in which canvases sum their strokes' ink
    torch.testing.assert_close(got, expected, rtol=1e-5, atol=1e-3)


def test_shared_scores_equal_teacher_forcing_in_float64(parts):
    double = CharacterParts().double().eval()
    double.load_state_dict(parts.state_dict())
    configs = _all_configurations(_proposals(2), 12).to("cpu", torch.float64)
    with pyro.validation_enabled(False):
        torch.testing.assert_close(
            shared_type_log_prob(double, configs),
            type_log_prob(double, configs),
            rtol=1e-10,
            atol=1e-8,
        )


def test_each_distinct_canvas_is_read_once(parts, monkeypatch):
    """48 orderings of a 3-stroke proposal: the termination net reads one canvas per distinct
    set of drawn strokes (directions included), not one per stroke of every ordering."""
    proposal = Parses.from_control_points(
        [
            [
                np.array([[20.0, 20.0], [50.0, 30.0]]),
                np.array([[60.0, 20.0], [60, 80]]),
                np.array([[20.0, 80.0], [40.0, 60.0], [80.0, 90.0]]),
            ]
        ]
    )
    configs = _all_configurations(proposal, 48)
    assert len(configs) == 48  # 3! orders x 2^3 directions
    seen = []
    net = parts.termination_net
    monkeypatch.setattr(
        net, "forward", lambda canvas: (seen.append(len(canvas)), torch.zeros(len(canvas)))[1]
    )
    shared_type_log_prob(parts, configs)
    # sets after a stroke: 6 of one stroke, 12 of two, 8 of three (a direction each)
    assert seen == [6 + 12 + 8]


def test_sharing_falls_back_where_outputs_could_depend_on_the_batch(parts):
    configs = _all_configurations(_proposals(3), 4)
    training = CharacterParts()
    training.load_state_dict(parts.state_dict())
    assert can_share(parts) and not can_share(training.train())
    styled = CharacterParts(style_dim=2).eval().with_style(torch.randn(len(configs), 2))
    assert not can_share(styled)
    with pyro.validation_enabled(False):
        torch.testing.assert_close(
            shared_type_log_prob(styled, configs), type_log_prob(styled, configs)
        )


def test_the_search_returns_what_teacher_forcing_would_pick(parts, monkeypatch):
    proposals = _proposals(4)
    shared = best_orders(parts, proposals, k=4, seed=0)
    monkeypatch.setattr(
        "gns_pyro.inference.search.shared_type_log_prob", order_scores.type_log_prob
    )
    plain = best_orders(parts, proposals, k=4, seed=0)
    torch.testing.assert_close(shared[1], plain[1], rtol=1e-5, atol=1e-3)
    torch.testing.assert_close(shared[0].control_points, plain[0].control_points)
