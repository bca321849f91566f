"""The coarse image model (``downsample``) and token refits that steer by it."""

import dataclasses

import numpy as np
import pytest
import torch
from scipy import stats

from gns_pyro.inference.refinement import (
    RefineSettings,
    RefitSettings,
    initial_tokens,
    refine,
    refit_tokens,
)
from gns_pyro.models.joint import token_image_log_prob
from gns_pyro.models.token import BlockBernoulli
from gns_pyro.parses import Parses
from gns_pyro.renderer import RenderSettings, block_average, render


def _types() -> Parses:
    """A bar and a stem (a cross), and a curved stroke alone."""
    bar = np.array([[22.0, 32.0], [50.0, 29.0], [79.0, 31.0]])
    stem = np.array([[51.0, 22.0], [50.0, 79.0]])
    hook = np.array([[30.0, 70.0], [45.0, 40.0], [70.0, 45.0], [75.0, 80.0]])
    return Parses.from_control_points([[bar, stem], [hook]])


def _targets(types: Parses) -> torch.Tensor:
    """Binary images of the types drawn shifted and stretched a little: something to refit to."""
    tokens = initial_tokens(types)
    tokens = tokens.replace(affine=tokens.affine + torch.tensor([0.06, -0.05, 3.0, -2.0]))
    B = types.batch_size
    probs = render(tokens, blur=torch.full((B,), 0.8), noise=torch.full((B,), 1e-4))
    return probs > 0.5


def test_block_average_is_the_mean_of_each_block_with_a_blank_margin():
    g = torch.Generator().manual_seed(0)
    images = torch.rand(3, 7, 7, generator=g)
    expected = np.zeros((3, 4, 4))
    padded = np.zeros((3, 8, 8))
    padded[:, :7, :7] = images.numpy()
    for r in range(4):
        for c in range(4):
            expected[:, r, c] = padded[:, 2 * r : 2 * r + 2, 2 * c : 2 * c + 2].mean((1, 2))
    np.testing.assert_allclose(block_average(images, 2).numpy(), expected, rtol=1e-6)
    assert block_average(images, 1) is images
    assert RenderSettings(downsample=2).output_size == 53
    with pytest.raises(ValueError, match="downsample"):
        RenderSettings(downsample=0)


def test_coarse_render_is_the_block_average_of_the_full_render():
    types = _types()
    coarse = RenderSettings(downsample=2)
    # nearly no blur: the coarse image is the block average of the ink itself
    sharp = torch.full((2,), 0.05)
    full = render(types, blur=sharp, noise=0.0)
    small = render(types, blur=sharp, noise=0.0, settings=coarse)
    assert small.shape == (2, 53, 53)
    torch.testing.assert_close(small, block_average(full, 2), atol=1e-4, rtol=0)
    # a wide blur nearly commutes with the averaging (the last row and column of blocks are
    # half margin, where the average holds blank pixels and the coarse model pixel noise)
    wide, settings = torch.full((2,), 8.0), (RenderSettings(), coarse)
    full, small = (render(types, blur=wide, noise=0.1, settings=s) for s in settings)
    assert (small - block_average(full, 2))[:, :52, :52].abs().max() < 0.02


def test_block_bernoulli_scores_each_block_as_its_pixels():
    g = torch.Generator().manual_seed(1)
    probs = torch.rand(2, 5, 5, generator=g).clamp(0.01, 0.99).double()
    inked = torch.randint(0, 5, (2, 5, 5), generator=g)  # 0 to 4 of a block's 4 pixels
    value = inked.double() / 4
    p, k = probs.numpy(), inked.numpy()
    expected = k * stats.bernoulli.logpmf(1, p) + (4 - k) * stats.bernoulli.logpmf(0, p)
    got = BlockBernoulli(probs, 2).log_prob(value)
    np.testing.assert_allclose(got.numpy(), expected, rtol=1e-10)
    draws = BlockBernoulli(probs, 2).sample((2000,))
    assert ((draws * 4) == (draws * 4).round()).all()  # fractions of four pixels
    assert (draws.mean(0) - probs).abs().max() < 0.06


def test_coarse_refit_reports_the_full_models_log_joint():
    types = _types()
    images = _targets(types)
    tokens = initial_tokens(types, RefineSettings(init_blur=8.0, init_noise=0.3))
    settings = RefineSettings(steps=10, lr_coordinates=1.0, downsample=2)
    result = refine(None, types, tokens, images, settings, refine_type=False)
    full = token_image_log_prob(types, result.tokens, images)
    torch.testing.assert_close(result.log_joint, full, rtol=1e-5, atol=1e-3)
    start = token_image_log_prob(types, tokens, images)
    torch.testing.assert_close(result.start_log_joint, start, rtol=1e-4, atol=0.05)
    assert (result.log_joint > result.start_log_joint).all()


def test_joint_refinement_refuses_the_coarse_model():
    types = _types()
    with pytest.raises(ValueError, match="token refits"):
        refine(
            object(), types, initial_tokens(types), _targets(types), RefineSettings(downsample=2)
        )


def test_coarse_race_then_fine_finish_is_close_to_a_fine_refit():
    """Coarse to fine on seeded cases: within 3 nats per parse of the full-resolution refit
    on average, and never more than 15 nats worse (measured: about 1 nat on average)."""
    types = _types()
    images = _targets(types)
    fine = RefitSettings(
        race=dataclasses.replace(RefitSettings().race, steps=40),
        finish=dataclasses.replace(RefitSettings().finish, steps=30),
    )
    coarse = dataclasses.replace(fine, race=dataclasses.replace(fine.race, downsample=2))
    a = refit_tokens(types, images, fine).log_joint
    b = refit_tokens(types, images, coarse).log_joint
    gap = b - a
    assert gap.mean() > -3.0 and gap.min() > -15.0, gap
