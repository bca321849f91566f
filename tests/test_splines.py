import numpy as np
import pytest
import torch
from scipy.interpolate import BSpline

from gns_pyro.splines import (
    bspline_basis,
    evaluate,
    fit_minimal_spline,
    fit_spline,
    path_length,
    resample_path,
)


@pytest.mark.parametrize("n", [2, 3, 4, 5, 9])
def test_basis_matches_scipy(n):
    degree = min(3, n - 1)
    segments = n - degree
    knots = np.concatenate([np.zeros(degree), np.linspace(0, 1, segments + 1), np.ones(degree)])
    u = np.linspace(0, 1, 37)
    cpts = np.random.default_rng(n).normal(size=(n, 2))
    expected = BSpline(knots, cpts, degree)(u)
    ours = evaluate(torch.tensor(cpts), torch.tensor(u)).numpy()
    np.testing.assert_allclose(ours, expected, atol=1e-12)


def test_basis_partition_of_unity_and_clamped_ends():
    u = torch.rand(50, dtype=torch.float64)
    for n in range(2, 12):
        basis = bspline_basis(u, n)
        torch.testing.assert_close(basis.sum(-1), torch.ones(50, dtype=torch.float64))
        assert (basis >= 0).all()
        ends = bspline_basis(torch.tensor([0.0, 1.0], dtype=torch.float64), n)
        torch.testing.assert_close(ends[0], torch.eye(n, dtype=torch.float64)[0])
        torch.testing.assert_close(ends[1], torch.eye(n, dtype=torch.float64)[-1])


def test_basis_rejects_single_point():
    with pytest.raises(ValueError, match="at least 2 control points"):
        bspline_basis(torch.zeros(3), 1)


def test_resample_spacing():
    path = np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 7.5]])
    out = resample_path(path, spacing=1.0)
    steps = np.linalg.norm(np.diff(out, axis=0), axis=1)
    # equal spacing along the path (the chord across the corner is shorter)
    assert len(out) == 19 and steps.max() <= 1.0 + 1e-12
    assert np.allclose(np.median(steps), 17.5 / 18)
    np.testing.assert_allclose(out[[0, -1]], path[[0, -1]])
    assert 17.0 < path_length(out) <= 17.5  # the corner is cut by less than a pixel
    np.testing.assert_allclose(resample_path(np.array([[3.0, 4.0]] * 5)), [[3.0, 4.0]])


def test_straight_line_needs_the_minimum():
    line = resample_path(np.array([[5.0, 5.0], [60.0, 40.0]]))
    fit = fit_minimal_spline(line)
    assert fit.control_points.shape == (2, 2)
    np.testing.assert_allclose(fit.control_points, [[5.0, 5.0], [60.0, 40.0]], atol=1e-9)
    assert fit.residual < 1e-12


def _wiggle():
    t = np.linspace(0, 1, 400)
    return resample_path(np.stack([80 * t, 20 * np.sin(6 * np.pi * t)], 1))


@pytest.mark.parametrize("threshold", [2.0, 0.7, 0.2, 0.05])
def test_minimal_fit_under_threshold_and_minimal(threshold):
    path = _wiggle()
    fit = fit_minimal_spline(path, threshold=threshold)
    n = len(fit.control_points)
    assert fit.residual < threshold
    # minimal: every smaller spline misses the threshold
    assert all(fit_spline(path, m).residual >= threshold for m in range(2, n))


def test_tighter_threshold_needs_more_control_points():
    path = _wiggle()
    counts = [
        len(fit_minimal_spline(path, threshold=t).control_points) for t in (4.0, 1.0, 0.3, 0.05)
    ]
    assert counts == sorted(counts) and counts[-1] > counts[0]


def test_cap_on_control_points():
    fit = fit_minimal_spline(_wiggle(), threshold=1e-9, max_control=6)
    assert len(fit.control_points) == 6 and fit.residual > 1e-9


def test_dot_becomes_degenerate_segment():
    fit = fit_minimal_spline(np.array([[4.0, 9.0]]))
    np.testing.assert_allclose(fit.control_points, [[4.0, 9.0], [4.0, 9.0]])
