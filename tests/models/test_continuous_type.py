"""The type as one site: the vectorized teacher-forced log P(psi) and ContinuousType."""

import numpy as np
import pyro
import pytest
import torch
from pyro import poutine

from gns_pyro.models import CharacterParts, generate_type, type_conditions
from gns_pyro.models.traces import trace_log_prob
from gns_pyro.models.type_prior import ContinuousType
from gns_pyro.parses import Parses


@pytest.fixture(scope="module")
def parts():
    torch.manual_seed(0)
    return CharacterParts().double().eval().requires_grad_(False)


def _per_site_log_prob(parts, types: Parses, temperature: float = 1.0) -> torch.Tensor:
    """log P(psi) from the sampling program run site by site under ``poutine.condition``
    (no teacher forcing: the stroke net is stepped offset by offset)."""
    data = type_conditions(types, parts.max_parts, parts.max_steps)
    program = poutine.condition(generate_type, data=data)
    trace = poutine.trace(program).get_trace(parts, batch_size=len(types), temperature=temperature)
    return trace_log_prob(trace)


def _drawings(rng, counts):
    out = []
    for n_strokes in counts:
        strokes = []
        for _ in range(n_strokes):
            n = int(rng.integers(2, 6))
            start = rng.uniform(20, 80, size=2)
            steps = np.vstack([[0, 0], rng.normal(0, 7, (n - 1, 2))])
            strokes.append(start + np.cumsum(steps, 0))
        out.append(strokes)
    return out


@pytest.mark.parametrize("temperature", [1.0, 0.5])
def test_one_pass_equals_the_per_site_program(parts, temperature):
    pyro.set_rng_seed(4)
    sampled = generate_type(parts, batch_size=6)
    drawn = Parses.from_control_points(
        _drawings(np.random.default_rng(0), (1, 3, 2)), dtype=torch.float64
    )
    for types in (sampled, drawn):
        fast = parts.observed_log_prob(parts.observe(types), temperature)
        torch.testing.assert_close(fast, _per_site_log_prob(parts, types, temperature))


def test_caps_leave_out_the_same_flags():
    """At the stroke cap there is no stop flag and at the step cap no end flag."""
    torch.manual_seed(1)
    capped = CharacterParts(max_strokes=2, max_steps=3).double().eval()
    three = np.array([[20.0, 20.0], [30.0, 25.0], [40.0, 35.0], [45.0, 50.0]])
    two = np.array([[60.0, 20.0], [62.0, 70.0]])
    types = Parses.from_control_points([[three, two], [two], [three]], dtype=torch.float64)
    fast = capped.observed_log_prob(capped.observe(types))
    torch.testing.assert_close(fast, _per_site_log_prob(capped, types))


def test_distribution_scores_tables_and_ignores_padding(parts):
    types = Parses.from_control_points(
        _drawings(np.random.default_rng(2), (2, 1, 3)), dtype=torch.float64
    )
    density = ContinuousType(parts, types)
    B, S, P = types.offset_mask.shape
    assert density.batch_shape == (B,) and density.event_shape == (S, P + 1, 2)
    table = types.table()
    torch.testing.assert_close(density.log_prob(table), _per_site_log_prob(parts, types))
    junk = table.clone()
    junk[:, :, 1:][~types.offset_mask] = 1e3  # padded offsets
    junk[:, :, 0][~types.stroke_mask] = -1e3  # padded strokes
    torch.testing.assert_close(density.log_prob(junk), density.log_prob(table))
    with pytest.raises(NotImplementedError, match="generate_type"):
        density.sample()
    with pytest.raises(ValueError, match="shape"):
        density.log_prob(table[:, :, :-1])


def test_gradient_matches_finite_differences(parts):
    types = Parses.from_control_points(
        _drawings(np.random.default_rng(5), (2,)), dtype=torch.float64
    )
    density = ContinuousType(parts, types)
    table = types.table().clone().requires_grad_(True)
    density.log_prob(table).sum().backward()
    eps = 1e-5
    for index in [(0, 0, 0, 0), (0, 0, 1, 1), (0, 1, 0, 1), (0, 1, 1, 0)]:
        up, down = table.detach().clone(), table.detach().clone()
        up[index] += eps
        down[index] -= eps
        numeric = (density.log_prob(up) - density.log_prob(down)).item() / (2 * eps)
        assert table.grad[index].item() == pytest.approx(numeric, rel=1e-4, abs=1e-6)


def test_needs_a_domain_with_a_one_pass_score():
    class Plain(torch.nn.Module):
        max_parts, image_size = 3, 16

    types = Parses.from_control_points([[np.array([[1.0, 1.0], [5.0, 5.0]])]])
    with pytest.raises(TypeError, match="observed_log_prob"):
        ContinuousType(Plain(), types)


def test_table_round_trip_and_shape_check():
    types = Parses.from_control_points(_drawings(np.random.default_rng(7), (3, 1)))
    again = types.with_table(types.table())
    torch.testing.assert_close(again.control_points, types.control_points)
    with pytest.raises(ValueError, match="table of these parses has shape"):
        types.with_table(torch.zeros(2, 3, 1, 2))
