"""The mixture importance sampler against integrals known in closed form."""

from __future__ import annotations

import math

import pytest
import torch

from gns_pyro.inference.importance import GaussianComponent, mixture_importance_sampling


def gaussian(mean, covariance) -> GaussianComponent:
    mean = torch.tensor(mean, dtype=torch.float64)
    covariance = torch.tensor(covariance, dtype=torch.float64)
    return GaussianComponent.from_precision(mean, torch.linalg.inv(covariance), 1e-12)


def exact_log_density(component: GaussianComponent, z: torch.Tensor) -> torch.Tensor:
    """An independent computation: torch's MultivariateNormal from the covariance."""
    precision = component.vectors @ torch.diag(component.precision) @ component.vectors.T
    normal = torch.distributions.MultivariateNormal(
        component.mean, covariance_matrix=torch.linalg.inv(precision)
    )
    return normal.log_prob(z)


def test_component_density_and_samples_match_the_gaussian():
    comp = gaussian([1.0, -2.0], [[2.0, 0.6], [0.6, 0.5]])
    z = comp.sample(20000, torch.Generator().manual_seed(0), None)
    assert torch.allclose(comp.log_density(z[:50], None), exact_log_density(comp, z[:50]))
    assert torch.allclose(z.mean(0), comp.mean, atol=0.03)
    assert torch.allclose(
        torch.cov(z.T), torch.tensor([[2.0, 0.6], [0.6, 0.5]], dtype=torch.float64), atol=0.05
    )
    t = torch.distributions.StudentT(
        torch.tensor(3.0, dtype=torch.float64)
    )  # one dimension: the univariate Student-t
    one = gaussian([0.5], [[4.0]])
    x = torch.linspace(-5, 5, 11, dtype=torch.float64).unsqueeze(-1)
    expected = t.log_prob((x.squeeze(-1) - 0.5) / 2.0) - math.log(2.0)
    assert torch.allclose(one.log_density(x, 3), expected)


def test_an_exact_mixture_proposal_gives_the_integral_with_every_weight_equal():
    """Target: e^c (0.3 N(a, A) + 0.7 N(b, B)); the proposal is that mixture, so every
    importance weight is e^c."""
    c = -412.7
    first = gaussian([0.0, 0.0], [[1.0, 0.3], [0.3, 2.0]])
    second = gaussian([8.0, -5.0], [[0.5, 0.0], [0.0, 0.2]])

    def log_joint(_, z):
        return c + torch.logaddexp(
            math.log(0.3) + exact_log_density(first, z),
            math.log(0.7) + exact_log_density(second, z),
        )

    log_mass = torch.tensor([math.log(0.3), math.log(0.7)], dtype=torch.float64) + c
    est = mixture_importance_sampling(log_joint, [first, second], log_mass, num_samples=500)
    assert est.log_marginal == pytest.approx(c, abs=1e-9)
    assert est.elbo == pytest.approx(c, abs=1e-9)
    assert est.effective_sample_size == pytest.approx(500)
    assert est.standard_error < 1e-9


def test_components_in_different_spaces_add_their_integrals():
    """Two discrete structures with continuous spaces of different dimension: the marginal
    is the sum of the two integrals, each sample scored only in its own space."""
    c0, c1 = -10.0, -11.5
    small = gaussian([1.0, 2.0], [[1.0, 0.0], [0.0, 3.0]])
    large = gaussian([0.0, 0.0, 0.0], [[2.0, 0.5, 0.0], [0.5, 1.0, 0.2], [0.0, 0.2, 0.7]])

    def log_joint(c, z):
        return c0 + exact_log_density(small, z) if c == 0 else c1 + exact_log_density(large, z)

    est = mixture_importance_sampling(
        log_joint,
        [small, large],
        torch.tensor([c0, c1], dtype=torch.float64),
        [[0], [1]],
        num_samples=400,
    )
    assert est.log_marginal == pytest.approx(
        float(torch.logaddexp(torch.tensor(c0, dtype=torch.float64), torch.tensor(c1))), abs=1e-9
    )


def test_a_wider_student_t_proposal_is_unbiased_within_its_error():
    """Target e^c N(0, 1) in one dimension, proposal a Student-t (3 dof) of scale 1.5: the
    estimate lands within 4 standard errors, the ELBO below it, the ESS below N."""
    c = 3.0
    target = gaussian([0.2], [[1.0]])
    proposal = gaussian([0.0], [[2.25]])

    def log_joint(_, z):
        return c + exact_log_density(target, z)

    est = mixture_importance_sampling(
        log_joint, [proposal], torch.tensor([0.0]), num_samples=4000, seed=1, degrees_of_freedom=3
    )
    assert abs(est.log_marginal - c) < 4 * est.standard_error and est.standard_error < 0.05
    assert est.elbo < c and est.effective_sample_size < 4000
    again = mixture_importance_sampling(
        log_joint, [proposal], torch.tensor([0.0]), num_samples=4000, seed=1, degrees_of_freedom=3
    )
    assert again == est  # seeded


def test_bad_arguments_are_named():
    comp = gaussian([0.0], [[1.0]])
    with pytest.raises(ValueError, match="num_samples"):
        mixture_importance_sampling(lambda c, z: z[:, 0], [comp], torch.zeros(1), num_samples=0)
    with pytest.raises(ValueError, match="degrees_of_freedom"):
        mixture_importance_sampling(
            lambda c, z: z[:, 0], [comp], torch.zeros(1), degrees_of_freedom=0
        )
