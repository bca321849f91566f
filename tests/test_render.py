import numpy as np
import pytest
import torch
from scipy.ndimage import gaussian_filter
from scipy.signal import convolve2d

from gns_pyro.parses import Parses
from gns_pyro.renderer import (
    DEFAULT_SETTINGS,
    add_pixel_noise,
    broaden,
    deposit,
    gaussian_blur,
    render,
    render_canvases,
    render_control_points,
    sample_strokes,
    stroke_ink,
)


def _parses(dtype=torch.float64):
    return Parses.from_control_points(
        [
            [
                np.array([[20.3, 15.7], [40.1, 60.2], [80.4, 70.9]]),
                np.array([[50.2, 10.1], [52.7, 90.3]]),
            ],
            [np.array([[10.5, 80.5], [90.2, 20.6]])],
            [np.array([[30.3, 30.3], [60.6, 30.9], [60.2, 70.1], [30.7, 70.4], [35.1, 40.2]])],
        ],
        dtype=dtype,
    )


def test_deposit_bilinear_weights():
    points = torch.tensor([[[10.25, 20.5]]], dtype=torch.float64)
    ink = torch.tensor([[2.0]], dtype=torch.float64)
    img = deposit(points, ink, torch.tensor([0]), 1)[0]
    expected = {
        (20, 10): 0.75 * 0.5,
        (20, 11): 0.25 * 0.5,
        (21, 10): 0.75 * 0.5,
        (21, 11): 0.25 * 0.5,
    }
    for (r, c), w in expected.items():
        assert img[r, c].item() == pytest.approx(2 * w)
    assert img.sum().item() == pytest.approx(2.0)


def test_deposit_drops_ink_outside_frame():
    points = torch.tensor([[[-3.0, 5.0], [104.5, 50.0]]], dtype=torch.float64)
    img = deposit(points, torch.ones(1, 2, dtype=torch.float64), torch.tensor([0]), 1)[0]
    assert img.sum().item() == pytest.approx(0.5)  # half of the second point lands on column 104


def test_ink_follows_arc_length_and_point_count_rule():
    # a 60 px straight stroke: ceil(60 / 1.5) = 40 points, each inking its 1.54 px step
    cp = torch.tensor([[[0.0, 0.0], [60.0, 0.0]]], dtype=torch.float64)
    points, ink = sample_strokes(cp, torch.tensor([2]))
    assert points.shape[1] == 40
    assert ink.sum().item() == pytest.approx(60.0 + 60.0 / 39, rel=1e-6)
    # a dot still gets the minimum ink of 2 over the minimum of 10 points
    dot = torch.tensor([[[5.0, 5.0], [5.0, 5.0]]], dtype=torch.float64)
    points, ink = sample_strokes(dot, torch.tensor([2]))
    assert points.shape[1] == 10 and ink.sum().item() == pytest.approx(2.0)


def test_broaden_matches_scipy_convolution():
    rng = np.random.default_rng(0)
    img = rng.random((105, 105)) * (rng.random((105, 105)) < 0.02) * 0.1
    a, b = 0.5, 6.0
    k = b * np.array([[a / 12, a / 6, a / 12], [a / 6, 1 - a, a / 6], [a / 12, a / 6, a / 12]])
    expected = np.clip(convolve2d(convolve2d(img, k, mode="same"), k, mode="same"), 0, 1)
    ours = broaden(torch.tensor(img)).numpy()
    np.testing.assert_allclose(ours, expected, atol=1e-12)


@pytest.mark.parametrize("sigma", [0.5, 1.7, 6.0])
def test_blur_matches_scipy_gaussian_filter(sigma):
    rng = np.random.default_rng(1)
    img = (rng.random((105, 105)) < 0.05).astype(np.float64)
    once = gaussian_filter(img, sigma, mode="constant", truncate=200.0)
    expected = np.clip(gaussian_filter(once, sigma, mode="constant", truncate=200.0), 0, 1)
    ours = gaussian_blur(torch.tensor(img)[None], torch.tensor([sigma], dtype=torch.float64))[0]
    np.testing.assert_allclose(ours.numpy(), expected, atol=1e-9)


def test_pixel_noise():
    p = torch.tensor([[0.0, 1.0, 0.3]])
    out = add_pixel_noise(p, torch.tensor([0.1]))
    torch.testing.assert_close(out, torch.tensor([[0.1, 0.9, 0.9 * 0.3 + 0.1 * 0.7]]))


def test_render_range_and_defaults():
    parses = _parses()
    img = render(parses)
    assert img.shape == (3, 105, 105)
    assert img.min() >= 1e-4 - 1e-12 and img.max() <= 1 - 1e-4 + 1e-12
    assert ((img > 0.5).sum((1, 2)) > 100).all()
    noisy = render(parses, noise=torch.full((3,), 0.2, dtype=torch.float64))
    assert noisy.min().item() == pytest.approx(0.2)
    # tokens are drawn with their own blur, noise and warp
    from gns_pyro.parses import Tokens

    identity = torch.tensor([[1.0, 1.0, 0.0, 0.0]] * 3, dtype=torch.float64)
    blur = torch.full((3,), 2.0, dtype=torch.float64)
    noise = torch.full((3,), 0.2, dtype=torch.float64)
    tokens = Tokens.of(parses, identity, blur, noise)
    torch.testing.assert_close(render(tokens), render(parses, blur, noise))
    shifted = Tokens.of(parses, identity + torch.tensor([0.0, 0.0, 4.0, 0.0]), blur, noise)
    torch.testing.assert_close(
        render(shifted)[..., 30:70, 30:70], render(tokens)[..., 30:70, 26:66]
    )


def test_batched_equals_item_by_item():
    parses = _parses()
    blur = torch.tensor([0.5, 2.0, 4.0], dtype=torch.float64)
    noise = torch.tensor([1e-3, 0.05, 0.2], dtype=torch.float64)
    batched = render(parses, blur, noise)
    for b in range(3):
        single = render(parses[b], blur[b : b + 1], noise[b : b + 1])
        torch.testing.assert_close(batched[b : b + 1], single, rtol=0, atol=1e-12)


def test_gradcheck_control_points_blur_noise():
    parses = _parses()[torch.tensor([0, 1])]
    cpts = parses.control_points.clone().requires_grad_(True)
    blur = torch.tensor([1.3, 2.1], dtype=torch.float64, requires_grad=True)
    noise = torch.tensor([0.01, 0.2], dtype=torch.float64, requires_grad=True)

    def fn(cpts, blur, noise):
        return render_control_points(cpts, parses.num_control, parses.stroke_mask, blur, noise)

    assert torch.autograd.gradcheck(fn, (cpts, blur, noise), eps=1e-6, atol=1e-5, fast_mode=True)


def test_gradients_are_finite_and_nonzero_for_a_dot():
    cp = torch.tensor([[[[40.0, 40.0], [40.0, 40.0]]]], dtype=torch.float64, requires_grad=True)
    img = render_control_points(
        cp, torch.tensor([[2]]), torch.tensor([[True]]), torch.tensor([1.0]), torch.tensor([0.01])
    )
    (img * torch.linspace(0, 1, 105, dtype=torch.float64)).sum().backward()
    assert torch.isfinite(cp.grad).all() and cp.grad.abs().sum() > 0


def test_canvases_are_prefixes():
    parses = _parses()
    canvases = render_canvases(parses)
    assert canvases.shape == (3, 3, 105, 105)
    assert (canvases[:, 0] == 0).all()
    final = broaden(stroke_ink(parses.control_points, parses.num_control, parses.stroke_mask))
    for b, n in enumerate(parses.num_strokes.tolist()):
        torch.testing.assert_close(canvases[b, n], final[b])
        torch.testing.assert_close(canvases[b, -1], final[b])  # padding adds nothing
        assert (canvases[b, 1:] >= canvases[b, :-1] - 1e-12).all()  # ink only accumulates


def test_render_errors():
    parses = _parses()
    with pytest.raises(ValueError, match="no strokes"):
        render(parses.replace(stroke_mask=torch.zeros_like(parses.stroke_mask)))
    with pytest.raises(ValueError, match="NaN"):
        render(parses.replace(locations=parses.locations.clone().fill_(float("nan"))))
    with pytest.raises(ValueError, match="blur sigma"):
        render(parses, blur=0.0)
    with pytest.raises(ValueError, match="epsilon"):
        render(parses, noise=1.5)


def test_settings_are_reference_values():
    s = DEFAULT_SETTINGS
    assert (s.point_spacing, s.min_points, s.max_points, s.max_step_ink) == (1.5, 10, 200, 2.0)
    assert (s.broaden_a, s.broaden_b, s.broaden_passes, s.blur_passes) == (0.5, 6.0, 2, 2)


def test_the_old_frame_size_constant_still_resolves_with_a_warning():
    import gns_pyro.renderer
    from gns_pyro.data import OMNIGLOT_IMAGE_SIZE

    with pytest.warns(DeprecationWarning, match="OMNIGLOT_IMAGE_SIZE"):
        assert gns_pyro.renderer.IMAGE_SIZE == OMNIGLOT_IMAGE_SIZE == 105
