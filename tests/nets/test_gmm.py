import math

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from gns_pyro.nets.gmm import BivariateGMM, gmm_from_raw


def _gmm(batch=(), K=3, seed=0):
    g = torch.Generator().manual_seed(seed)
    shape = tuple(batch)
    return BivariateGMM(
        torch.randn(*shape, K, generator=g, dtype=torch.float64),
        torch.randn(*shape, K, 2, generator=g, dtype=torch.float64) * 3,
        torch.rand(*shape, K, 2, generator=g, dtype=torch.float64) + 0.3,
        torch.rand(*shape, K, generator=g, dtype=torch.float64) * 1.6 - 0.8,
    )


def test_log_prob_matches_scipy():
    gmm = _gmm(batch=(4,))
    x = torch.randn(4, 2, dtype=torch.float64) * 2
    w = gmm.log_weights.exp().numpy()
    for b in range(4):
        density = 0.0
        for k in range(3):
            sx, sy = gmm.scales[b, k].numpy()
            r = float(gmm.corr[b, k])
            cov = [[sx * sx, r * sx * sy], [r * sx * sy, sy * sy]]
            density += w[b, k] * multivariate_normal(gmm.means[b, k].numpy(), cov).pdf(x[b].numpy())
        assert gmm.log_prob(x)[b].item() == pytest.approx(math.log(density), rel=1e-10)


def test_samples_match_moments():
    torch.manual_seed(0)
    gmm = _gmm()
    s = gmm.sample((200_000,))
    assert s.shape == (200_000, 2)
    torch.testing.assert_close(s.mean(0), gmm.mean, atol=0.03, rtol=0)
    w = gmm.log_weights.exp()
    cov = torch.zeros(2, 2, dtype=torch.float64)
    for k in range(3):
        sx, sy = gmm.scales[k]
        r = gmm.corr[k]
        ck = torch.stack([torch.stack([sx * sx, r * sx * sy]), torch.stack([r * sx * sy, sy * sy])])
        mk = gmm.means[k]
        cov += w[k] * (ck + torch.outer(mk, mk))
    cov -= torch.outer(gmm.mean, gmm.mean)
    torch.testing.assert_close(torch.cov(s.T), cov, atol=0.1, rtol=0.02)


def test_axis_tail_mass_counts_the_axes_a_draw_leaves_the_box_on():
    torch.manual_seed(1)
    gmm = _gmm(batch=(3,))
    low = torch.tensor([[-1.0, -2.0], [0.0, 0.0], [-4.0, -3.0]], dtype=torch.float64)
    high = torch.tensor([[2.0, 1.0], [5.0, 0.5], [4.0, 3.0]], dtype=torch.float64)
    draws = gmm.sample((400_000,))  # (N, 3, 2)
    axes_out = ((draws < low) | (draws > high)).sum(-1).double()  # 0, 1 or 2 per draw
    expected = gmm.axis_tail_mass(low, high)
    torch.testing.assert_close(expected, axes_out.mean(0), atol=4e-3, rtol=0)
    # an upper bound on the mass outside the box, tight when little of it is outside
    outside = (axes_out > 0).double().mean(0)
    assert (expected >= outside - 4e-3).all()
    far = gmm.axis_tail_mass(low - 30, high + 30)
    assert (far >= 0).all() and (far < 1e-12).all()


def test_temperature_rule():
    gmm = _gmm()
    cold = gmm.with_temperature(0.5)
    torch.testing.assert_close(cold.logits, gmm.logits / 0.5)
    torch.testing.assert_close(cold.scales, gmm.scales * math.sqrt(0.5))
    torch.testing.assert_close(cold.means, gmm.means)
    assert gmm.with_temperature(1.0) is gmm
    with pytest.raises(ValueError, match="temperature"):
        gmm.with_temperature(0.0)


def test_shapes_expand_and_support():
    gmm = _gmm(batch=(5,))
    assert gmm.batch_shape == (5,) and gmm.event_shape == (2,)
    assert gmm.expand((7, 5)).sample().shape == (7, 5, 2)
    assert gmm.support.event_dim == 1  # real_vector: autoguides can bijection it


def test_gmm_from_raw_scales_and_ridge():
    K = 2
    raw = torch.zeros(3, 6 * K, dtype=torch.float64)
    gmm = gmm_from_raw(raw, K, scale=10.0, shift=52.0, ridge=1e-3)
    torch.testing.assert_close(gmm.means, torch.full((3, K, 2), 52.0, dtype=torch.float64))
    torch.testing.assert_close(
        gmm.scales, torch.full((3, K, 2), 10 * math.sqrt(1 + 1e-3), dtype=torch.float64)
    )
    raw[:, 3 * K : 5 * K] = -50.0  # collapsed components keep the ridge
    assert (gmm_from_raw(raw, K, scale=1.0).scales > 0.03).all()
    with pytest.raises(ValueError, match="raw outputs"):
        gmm_from_raw(torch.zeros(4, 7), K)


def test_gradients_finite_difference():
    raw = torch.randn(2, 12, dtype=torch.float64, requires_grad=True)
    x = torch.randn(2, 2, dtype=torch.float64)
    assert torch.autograd.gradcheck(lambda r: gmm_from_raw(r, 2).log_prob(x), (raw,))


def test_autodelta_accepts_the_site():
    import pyro
    from pyro.infer.autoguide import AutoDelta

    gmm = _gmm()

    def model():
        pyro.sample("p", gmm)

    guide = AutoDelta(model)
    assert guide()["p"].shape == (2,)
    np.testing.assert_array_equal(guide()["p"].shape, [2])
