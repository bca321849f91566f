"""Laplace at true maxima: the Newton polish, batched Hessians, merged duplicates, and the
importance-sampling check."""

import math

import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch

from gns_pyro.inference.importance import importance_log_marginal
from gns_pyro.inference.laplace import (
    batched_laplace,
    laplace_log_marginal,
    parse_log_marginal,
)
from gns_pyro.inference.refinement import RefineSettings, initial_tokens, refine
from gns_pyro.models import CharacterParts
from gns_pyro.nets import LocationNet, StrokeNet, TerminationNet
from gns_pyro.parses import Parses

F64 = torch.float64


def _plated_model(targets):
    """Independent items: z_b ~ N(0, 2^2 I), w_b ~ LogNormal(0, 1), x_b ~ N(z_b w_b, 0.3^2)."""

    def model():
        with pyro.plate("items", targets.shape[0]):
            z = pyro.sample("z", dist.Normal(torch.zeros(2, dtype=F64), 2.0).to_event(1))
            w = pyro.sample("w", dist.LogNormal(torch.tensor(0.0, dtype=F64), 1.0))
            pyro.sample("x", dist.Normal(z * w.unsqueeze(-1), 0.3).to_event(1), obs=targets)

    return model


def test_batched_laplace_equals_item_by_item():
    targets = torch.tensor([[1.5, -0.7], [0.2, 0.4], [-2.0, 3.0]], dtype=F64)
    start = {"z": torch.full((3, 2), 0.3, dtype=F64), "w": torch.full((3,), 1.5, dtype=F64)}
    # a tight tolerance: both runs reach the maxima to rounding, whenever each refreshes -H
    together = batched_laplace(
        _plated_model(targets), start, 3, polish_steps=60, gradient_tolerance=1e-9
    )
    for b, result in enumerate(together):
        alone = laplace_log_marginal(
            _plated_model(targets[b : b + 1]),
            {"z": start["z"][b : b + 1], "w": start["w"][b : b + 1]},
            polish_steps=60,
            gradient_tolerance=1e-9,
        )
        assert result.converged and alone.converged
        assert result.log_marginal.item() == pytest.approx(alone.log_marginal.item(), abs=1e-6)
        torch.testing.assert_close(result.negative_hessian, alone.negative_hessian)
        assert result.gradient_norm < 1e-9 and result.smallest_curvature > 0


def test_hessian_in_chunks_of_probes_is_the_same(monkeypatch):
    """Hessian-vector products a few per backward pass (bounded memory) give the same -H."""
    import gns_pyro.inference.laplace as laplace
    import gns_pyro.inference.latent_space as latent_space

    targets = torch.tensor([[1.5, -0.7], [0.2, 0.4]], dtype=F64)
    start = {"z": torch.full((2, 2), 0.3, dtype=F64), "w": torch.full((2,), 1.5, dtype=F64)}
    space = laplace.LatentSpace(_plated_model(targets), start, batch_size=2)
    _, _, together = space.curvature(space.z)
    monkeypatch.setattr(latent_space, "PROBES_PER_PASS", 1)  # three passes for three variables
    _, _, one_by_one = space.curvature(space.z)
    for a, b in zip(together, one_by_one):
        torch.testing.assert_close(a, b)
        assert a.shape == (3, 3)


def test_polish_leaves_a_saddle_with_zero_gradient():
    """f(a, b) = -a^2/2 + 2 a^2 - a^4 - b^2/2 has a saddle at 0 with zero gradient, where a
    Newton step on |H| does not move; the maxima are at a = +-sqrt(3)/2 with -f'' = 6."""

    def model():
        a = pyro.sample("a", dist.Normal(torch.tensor(0.0, dtype=F64), 1.0))
        pyro.factor("well", 2 * a**2 - a**4)
        pyro.sample("b", dist.Normal(torch.tensor(0.0, dtype=F64), 1.0))

    zero = torch.tensor(0.0, dtype=F64)
    result = laplace_log_marginal(model, {"a": zero, "b": zero}, polish_steps=30)
    assert result.converged and result.positive_definite
    assert abs(result.mode["a"].item()) == pytest.approx(math.sqrt(3) / 2, abs=1e-4)
    assert result.smallest_curvature == pytest.approx(1.0, abs=1e-6)  # along b
    assert result.negative_hessian[0, 0].item() == pytest.approx(6.0, abs=1e-3)


@pytest.fixture(scope="module")
def smooth_parts():
    """Untrained nets with smooth (SiLU) activations, rendering smoothly: a log joint that is
    twice differentiable, as Laplace's method needs (the trained ReLU nets have kinks)."""
    torch.manual_seed(0)
    parts = CharacterParts(
        location_net=LocationNet(activation="silu"),
        stroke_net=StrokeNet(activation="silu", hidden_size=32, attention_size=32),
        termination_net=TerminationNet(activation="silu"),
    )
    return parts.eval().requires_grad_(False).with_smooth_rendering()


def _bar(parts, copies=1):
    """A refined one-stroke parse of a horizontal bar image, repeated ``copies`` times."""
    bar = np.array([[22.0, 32.0], [50.0, 29.0], [79.0, 31.0]])
    types = Parses.from_control_points([[bar]] * copies, dtype=torch.float32)
    image = torch.zeros(105, 105, dtype=torch.bool)
    image[29:33, 20:81] = True
    tokens = initial_tokens(types).replace(
        blur=torch.full((copies,), 1.5), noise=torch.full((copies,), 0.02)
    )
    refined = refine(parts, types, tokens, image, RefineSettings(steps=30))
    return refined.types, refined.tokens, image


def test_parses_that_reach_one_maximum_count_once(smooth_parts):
    types, tokens, image = _bar(smooth_parts)
    once, (single,) = parse_log_marginal(smooth_parts, types, tokens, image, polish_steps=30)
    twice, results = parse_log_marginal(
        smooth_parts, types[torch.tensor([0, 0])], tokens[torch.tensor([0, 0])], image, 30
    )
    assert single.converged
    assert results[0].duplicate_of is None and results[1].duplicate_of == 0
    assert twice.item() == pytest.approx(once.item(), abs=1e-6)  # not log 2 more


def test_importance_sampling_checks_laplace_at_a_converged_mode(smooth_parts):
    types, tokens, image = _bar(smooth_parts)
    laplace, results = parse_log_marginal(smooth_parts, types, tokens, image, polish_steps=30)
    assert results[0].converged and results[0].gradient_norm < 1e-3
    check = importance_log_marginal(
        smooth_parts, types, tokens, image, results, num_samples=300, seed=0
    )
    again = importance_log_marginal(
        smooth_parts, types, tokens, image, results, num_samples=300, seed=0
    )
    assert check == again  # seeded
    assert 1 < check.effective_sample_size <= 300 and 0 < check.standard_error < 1
    assert check.elbo < check.log_marginal  # the ELBO bounds log P(I) from below
    assert check.log_marginal == pytest.approx(laplace.item(), abs=3.0)
    with pytest.raises(ValueError, match="num_samples"):
        importance_log_marginal(smooth_parts, types, tokens, image, results, num_samples=0)


def _partly_local_model(targets):
    """Items with z (2,), w > 0: ``a`` reads z alone, ``x`` reads z and w."""

    def model():
        with pyro.plate("items", targets.shape[0]):
            z = pyro.sample("z", dist.Normal(torch.zeros(2, dtype=F64), 2.0).to_event(1))
            w = pyro.sample("w", dist.LogNormal(torch.tensor(0.0, dtype=F64), 1.0))
            pyro.sample("a", dist.Normal(z[:, 0] * z[:, 1], 0.5), obs=targets[:, 0])
            pyro.sample("x", dist.Normal(z.sum(-1) * w, 0.3), obs=targets[:, 1])

    return model


def test_sites_declared_local_give_the_same_hessian_from_fewer_probes():
    import gns_pyro.inference.laplace as laplace

    targets = torch.tensor([[1.5, -0.7], [0.2, 0.4]], dtype=F64)
    start = {
        "z": torch.tensor([[0.3, -1.2], [0.8, 0.5]], dtype=F64),
        "w": torch.full((2,), 1.5, dtype=F64),
    }
    model = _partly_local_model(targets)
    whole = laplace.LatentSpace(model, start, batch_size=2)
    local = laplace.LatentSpace(
        model, start, batch_size=2, local_sites=(lambda name: name in ("z", "a"), {"z"})
    )
    f, grad, blocks = whole.curvature(whole.z)
    f2, grad2, blocks2 = local.curvature(local.z)
    torch.testing.assert_close(f2, f)
    torch.testing.assert_close(grad2, grad)
    for a, b in zip(blocks2, blocks):
        torch.testing.assert_close(a, b)
    # the declaration is used: claiming that x reads z alone loses its z-w curvature
    wrong = laplace.LatentSpace(
        model, start, batch_size=2, local_sites=(lambda name: name in ("z", "a", "x"), {"z"})
    )
    _, _, blocks3 = wrong.curvature(wrong.z)
    assert not torch.allclose(blocks3[0], blocks[0])
    with pytest.raises(ValueError, match="not variable sites"):
        laplace.LatentSpace(model, start, batch_size=2, local_sites=(lambda name: True, {"y"}))


def test_a_parse_hessian_through_its_type_sites_alone_is_the_whole_one(smooth_parts):
    """The type prior's sites read only the type's values, so probing them along the type's
    variables (the default for parses) gives the -H of probing everything."""
    import gns_pyro.inference.laplace as laplace

    types, tokens, image = _bar(smooth_parts, copies=2)
    parts, types, tokens, image = laplace._as_float64(smooth_parts, types, tokens, image)
    space = laplace._parse_space(parts, types, tokens, image)
    assert space.local_sites is not None and 0 < int(space.local.sum()) < space.z.numel()
    f, grad, blocks = space.curvature(space.z)
    space.local_sites = None
    f2, grad2, blocks2 = space.curvature(space.z)
    torch.testing.assert_close(f, f2)
    torch.testing.assert_close(grad, grad2)
    for a, b in zip(blocks, blocks2):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-9)
