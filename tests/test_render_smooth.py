"""The smooth image model (``RenderSettings(smooth=True)``): the same look as the reference
renderer, and derivatives that Laplace's method can trust."""

import math

import numpy as np
import pytest
import torch

from gns_pyro.parses import Parses
from gns_pyro.renderer import (
    RenderSettings,
    gaussian_deposit,
    render,
    render_control_points,
    soft_clamp,
)

SMOOTH = RenderSettings(smooth=True)


def _stroke(x: float, dtype=torch.float64):
    """One straight stroke whose first control point has column ``x``."""
    cpts = torch.tensor([[[[x, 30.0], [52.0, 55.0], [70.3, 75.6]]]], dtype=dtype)
    return cpts, torch.tensor([[3]]), torch.tensor([[True]])


def _log_lik(x, settings, image):
    """log P(I | stroke) under Bernoulli pixels, as a function of one control coordinate."""
    columns = torch.cat([x.reshape(1), torch.tensor([52.0, 70.3], dtype=x.dtype)])
    rows = torch.tensor([30.0, 55.0, 75.6], dtype=x.dtype)
    cpts = torch.stack([columns, rows], -1)
    probs = render_control_points(
        cpts[None, None],
        torch.tensor([[3]]),
        torch.tensor([[True]]),
        torch.tensor([1.0], dtype=x.dtype),
        torch.tensor([0.01], dtype=x.dtype),
        settings,
    )
    probs = 1e-6 + (1 - 2e-6) * probs
    return torch.where(image, probs, 1 - probs).log().sum()


def test_gaussian_deposit_matches_a_direct_sum():
    points = torch.tensor([[[10.3, 20.7], [11.9, 21.2]]], dtype=torch.float64)
    ink = torch.tensor([[0.5, 2.0]], dtype=torch.float64)
    out = gaussian_deposit(points, ink, torch.tensor([0]), 1, sigma=0.8, size=32)
    rows, cols = torch.meshgrid(*[torch.arange(32, dtype=torch.float64)] * 2, indexing="ij")
    expected = sum(
        ink[0, e]
        * torch.exp(-((cols - points[0, e, 0]) ** 2 + (rows - points[0, e, 1]) ** 2) / (2 * 0.64))
        / (2 * math.pi * 0.64)
        for e in range(2)
    )
    torch.testing.assert_close(out[0], expected.double())
    assert out.sum().item() == pytest.approx(2.5, rel=1e-4)  # the mass is the ink (grid sum)


def test_soft_clamp_is_near_identity_below_one_and_saturates():
    x = torch.tensor([0.0, 0.05, 0.3, 1.0, 3.0, 50.0], dtype=torch.float64)
    y = soft_clamp(x, 4.0)
    assert y[0] == 0 and y[1] == pytest.approx(0.05, rel=1e-4)
    assert y[3] == pytest.approx(2**-0.25)
    assert (y.diff() > 0).all() and (y < 1).all() and y[-1] > 0.9999


def test_smooth_render_looks_like_the_reference_render():
    """Per-pixel agreement on typical drawings: the images differ by a fraction of the ink."""
    parses = Parses.from_control_points(
        [
            [
                np.array([[20.3, 15.7], [40.1, 60.2], [80.4, 70.9]]),
                np.array([[50.2, 10.1], [52.7, 90.3]]),
            ]
        ],
        dtype=torch.float64,
    )
    blur = torch.tensor([1.0], dtype=torch.float64)
    noise = torch.tensor([0.0], dtype=torch.float64)
    ref = render(parses, blur, noise)
    smooth = render(parses, blur, noise, settings=SMOOTH)
    assert ((ref > 0.5) != (smooth > 0.5)).sum() < 0.1 * (ref > 0.5).sum()
    assert (smooth - ref).abs().mean() < 0.1 * ref.mean()


def test_smooth_render_gradcheck_and_second_derivatives():
    cpts, n, mask = _stroke(30.2)
    cpts.requires_grad_(True)
    blur = torch.tensor([1.3], dtype=torch.float64, requires_grad=True)
    noise = torch.tensor([0.05], dtype=torch.float64, requires_grad=True)

    def fn(cpts, blur, noise):
        return render_control_points(cpts, n, mask, blur, noise, SMOOTH)[..., 20:80, 20:80]

    assert torch.autograd.gradcheck(fn, (cpts, blur, noise), eps=1e-6, atol=1e-5, fast_mode=True)
    assert torch.autograd.gradgradcheck(
        fn, (cpts, blur, noise), eps=1e-6, atol=1e-4, fast_mode=True
    )


@pytest.mark.parametrize("settings,smooth", [(SMOOTH, True), (RenderSettings(), False)])
def test_curvature_across_a_pixel_boundary(settings, smooth):
    """Moving a control point across a pixel centre: the smooth model's second derivative is
    what finite differences of its gradient give, and the gradient is continuous; the
    reference renderer's bilinear splat has a kink there (the jump the Hessian never sees)."""
    image = torch.zeros(105, 105, dtype=torch.bool)
    image[28:33, 28:72] = True

    def grad_at(x):
        x = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        f = _log_lik(x, settings, image)
        (g,) = torch.autograd.grad(f, x, create_graph=True)
        (h,) = torch.autograd.grad(g, x)
        return g.item(), h.item()

    h = 1e-4
    left, right = grad_at(30.0 - h), grad_at(30.0 + h)  # 30.0: a pixel centre
    fd_second = (right[0] - left[0]) / (2 * h)
    if smooth:
        assert fd_second == pytest.approx(0.5 * (left[1] + right[1]), rel=1e-3, abs=1e-3)
    else:
        # the gradient jumps by far more than the autograd curvature explains
        assert abs(fd_second - 0.5 * (left[1] + right[1])) > 10 * abs(left[1]) + 1.0


def test_smooth_settings_reach_the_image_model():
    from gns_pyro.models import CharacterParts

    parts = CharacterParts()
    smooth = parts.with_smooth_rendering()
    assert smooth.image_settings.smooth and smooth.render_settings.smooth
    assert not (parts.image_settings.smooth or parts.render_settings.smooth)
    assert smooth.location_net is parts.location_net  # the nets are shared, not copied
    assert smooth.with_smooth_rendering(False).image_settings == parts.image_settings
