import math

import numpy as np
import pyro
import pyro.distributions as dist
import pytest
import torch

from gns_pyro.errors import DataError
from gns_pyro.inference import RefineSettings, infer
from gns_pyro.inference.laplace import laplace_log_marginal, parse_log_marginal
from gns_pyro.inference.posterior import check_image
from gns_pyro.inference.refinement import refit_tokens
from gns_pyro.inference.search import best_orders, reorder
from gns_pyro.models import CharacterParts, type_log_prob
from gns_pyro.parses import Parses


@pytest.fixture(scope="module")
def parts():
    torch.manual_seed(0)
    return CharacterParts().eval()


def _image():
    img = torch.zeros(105, 105, dtype=torch.bool)
    img[20:80, 50:53] = True
    img[50:53, 25:80] = True
    return img


def test_reorder_permutes_and_reverses():
    a = np.array([[10.0, 10.0], [20.0, 15.0], [30.0, 10.0]])
    b = np.array([[50.0, 50.0], [60.0, 70.0]])
    parses = Parses.from_control_points([[a, b]])
    out = reorder(parses, torch.tensor([0]), torch.tensor([[1, 0]]), torch.tensor([[False, True]]))
    strokes = out.to_control_points_list()[0]
    np.testing.assert_allclose(strokes[0], b)
    np.testing.assert_allclose(strokes[1], a[::-1])


def test_best_orders_scores_and_ranks(parts):
    rng = np.random.default_rng(0)
    drawings = [[rng.uniform(20, 80, (3, 2)), rng.uniform(20, 80, (2, 2))] for _ in range(3)]
    proposals = Parses.from_control_points(drawings)
    best, scores = best_orders(parts, proposals, k=2)
    assert len(best) == 2 and scores[0] >= scores[1]
    # the winner is the best of all 8 configurations of its proposal: check by brute force
    torch.testing.assert_close(type_log_prob(parts, best), scores, rtol=1e-4, atol=1e-3)
    for p in range(3):
        items = torch.full((8,), p)
        orders = torch.tensor([[0, 1], [1, 0]]).repeat_interleave(4, 0)
        flips = torch.tensor([[f, g] for f in (False, True) for g in (False, True)] * 2)
        brute = type_log_prob(parts, reorder(proposals, items, orders, flips)).max()
        assert brute <= scores[0] + 1e-3


def test_infer_posterior(parts):
    post = infer(_image(), parts, k=3, refine_settings=RefineSettings(steps=15))
    assert len(post.types) == 3
    assert torch.isfinite(post.log_weights).all()
    assert post.weights.sum().item() == pytest.approx(1.0, abs=1e-6)
    assert (post.log_weights[:-1] >= post.log_weights[1:]).all()
    assert post.map.batch_size == 1
    assert len(post.to_json()) == len(post.types)
    fig = post.plot()
    assert len(fig.axes) == len(post.types)


def test_token_refit_batched_equals_single(parts):
    from gns_pyro.inference.posterior import proposals_to_parses
    from gns_pyro.inference.refinement import RefitSettings, RefitStart
    from gns_pyro.inference.walks import WalkSettings, propose_strokes

    types = proposals_to_parses(propose_strokes(_image(), WalkSettings(num_walks=10)))[:3].trim()
    settings = RefitSettings(
        starts=(RefitStart(4.0, 0.1, False), RefitStart(4.0, 0.1, True)),
        race=RefineSettings(steps=5, patience=100),
        finish=RefineSettings(steps=4, patience=100),
    )
    batched = refit_tokens(types, _image(), settings)
    for i in range(len(types)):
        single = refit_tokens(types[i], _image(), settings)
        torch.testing.assert_close(
            single.log_joint, batched.log_joint[i : i + 1], rtol=1e-4, atol=1e-2
        )
    assert (batched.log_joint >= batched.start_log_joint).all()


def test_laplace_is_exact_for_a_conjugate_gaussian():
    A = torch.tensor([[1.0, 0.5], [0.0, 2.0], [1.0, -1.0]], dtype=torch.float64)
    x = torch.tensor([0.3, -1.2, 2.0], dtype=torch.float64)
    sigma = 0.7

    def model():
        z = pyro.sample("z", dist.Normal(torch.zeros(2, dtype=torch.float64), 1.0).to_event(1))
        pyro.sample("x", dist.Normal(A @ z, sigma).to_event(1), obs=x)

    precision = torch.eye(2, dtype=torch.float64) + A.T @ A / sigma**2
    mode = torch.linalg.solve(precision, A.T @ x / sigma**2)
    result = laplace_log_marginal(model, {"z": mode})
    exact = dist.MultivariateNormal(
        torch.zeros(3, dtype=torch.float64), A @ A.T + sigma**2 * torch.eye(3, dtype=torch.float64)
    ).log_prob(x)
    assert result.positive_definite and result.dim == 2
    assert result.log_marginal.item() == pytest.approx(exact.item(), abs=1e-9)
    assert result.negative_curvatures == 0 and result.gradient_norm < 1e-9  # the exact mode


def test_laplace_reports_a_saddle_point_and_its_gradient():
    """log p = -a^2/2 + 2 a^2 - b^2/2: a minimum along a, a maximum along b, so -H at 0 has one
    negative eigenvalue (-3); the gradient is that of log p at the point."""

    def model():
        a = pyro.sample("a", dist.Normal(torch.tensor(0.0, dtype=torch.float64), 1.0))
        pyro.factor("bowl", 2 * a**2)
        pyro.sample("b", dist.Normal(torch.tensor(0.0, dtype=torch.float64), 1.0))

    zero = torch.tensor(0.0, dtype=torch.float64)
    saddle = laplace_log_marginal(model, {"a": zero, "b": zero})
    assert saddle.negative_curvatures == 1 and not saddle.positive_definite
    assert saddle.smallest_curvature == pytest.approx(-3.0)
    assert saddle.gradient_norm == pytest.approx(0.0, abs=1e-9)
    off = laplace_log_marginal(model, {"a": zero, "b": torch.tensor(1.5, dtype=torch.float64)})
    assert off.gradient_norm == pytest.approx(1.5)  # d/db log N(b; 0, 1) = -b


def test_laplace_constrained_site_uses_the_jacobian():
    # z ~ LogNormal(0, 1): in log space the density is Normal(0, 1): Laplace is exact there
    def model():
        pyro.sample("z", dist.LogNormal(torch.tensor(0.0, dtype=torch.float64), 1.0))

    result = laplace_log_marginal(model, {"z": torch.tensor(1.0, dtype=torch.float64)})
    assert result.log_marginal.item() == pytest.approx(0.0, abs=1e-9)


def test_laplace_on_parses_is_finite(parts):
    post = infer(_image(), parts, k=2, refine_settings=RefineSettings(steps=10))
    log_marginal, results = parse_log_marginal(
        parts, post.types, post.tokens, _image(), polish_steps=20
    )
    assert math.isfinite(log_marginal.item())
    assert all(math.isfinite(r.log_marginal.item()) for r in results)
    assert next(parts.parameters()).dtype == torch.float32  # the caller's nets are untouched


def test_bad_images():
    with pytest.raises(DataError, match="no ink"):
        check_image(torch.zeros(105, 105, dtype=torch.bool))
    with pytest.raises(DataError, match="inverted"):
        check_image(~_image())
    with pytest.raises(DataError, match="105"):
        check_image(torch.zeros(28, 28, dtype=torch.bool))
    with pytest.raises(DataError, match="binary"):
        check_image(torch.rand(105, 105))
    assert check_image(_image().float()).dtype == torch.bool  # 0/1 floats are converted


def test_specks_are_removed_and_noise_refused():
    specked = _image()
    rng = np.random.default_rng(0)
    spots = rng.integers(0, 105, size=(45, 2)) // 3 * 3  # one-pixel specks, 3 px apart at least
    spots = [
        (r, c) for r, c in spots if not _image()[max(0, r - 1) : r + 2, max(0, c - 1) : c + 2].any()
    ]
    for r, c in spots:
        specked[r, c] = True
    assert int(specked.sum()) > int(_image().sum())
    assert torch.equal(check_image(specked), _image())  # the character, specks gone
    dots = torch.zeros(105, 105, dtype=torch.bool)
    dots[10:12, 10:12] = True  # a piece of 4 pixels is a speck
    with pytest.raises(DataError, match="only specks"):
        check_image(dots)
    dots[10:13, 10:13] = True  # 9 pixels: a dot the model can parse
    assert check_image(dots).sum() == 9
    blobs = torch.zeros(105, 105, dtype=torch.bool)
    for i in range(5):
        for j in range(5):
            blobs[5 + 20 * i : 9 + 20 * i, 5 + 20 * j : 9 + 20 * j] = True  # 25 pieces of 16 px
    with pytest.raises(DataError, match="25 separate pieces of ink, more than 20"):
        check_image(blobs)


def test_noise_is_refused_quickly():
    """45% random noise is one piece of ink with a huge skeleton: a clear error within
    seconds, not minutes of random walks."""
    import time

    from gns_pyro.inference.walks import propose_strokes

    noise = torch.rand(105, 105, generator=torch.Generator().manual_seed(0)) < 0.45
    start = time.perf_counter()
    with pytest.raises(DataError, match="skeleton has .* edges, more than 100"):
        propose_strokes(check_image(noise))
    assert time.perf_counter() - start < 10


def test_infer_parses_on_the_domain_frame():
    """A character domain on a 48 px frame: the whole model draws 48 px images, and ``infer``
    takes a 48 px image, fits it on that frame, and refuses Omniglot's 105 px."""
    torch.manual_seed(0)
    small = CharacterParts(image_size=48).eval()
    pyro.set_rng_seed(0)
    from gns_pyro.models.joint import character_model, joint_log_prob

    with torch.no_grad():
        _, _, drawn = character_model(small, batch_size=2)
    assert drawn.shape == (2, 48, 48)
    image = torch.zeros(48, 48, dtype=torch.bool)
    image[8:40, 22:25] = True  # one vertical bar
    post = infer(image, small, k=2, refine_settings=RefineSettings(steps=10))
    assert post.image.shape == (48, 48)
    assert torch.isfinite(post.log_weights).all()
    # the weights are the 48 px model's joint, and every fitted stroke lies on the 48 px frame
    images = image.expand(len(post.types), 48, 48).float()
    with torch.no_grad():
        rescored = joint_log_prob(small, post.types, post.tokens, images)
    torch.testing.assert_close(rescored, post.log_weights, rtol=1e-4, atol=1e-2)
    for curves in post.tokens.curves():
        for curve in curves:
            assert (curve > -5).all() and (curve < 53).all()
    with pytest.raises(DataError, match="48×48"):
        infer(_image(), small, k=1)
    with pytest.raises(ValueError, match="48x48"):
        joint_log_prob(small, post.types, post.tokens, _image().expand(2, 105, 105).float())


def test_proposals_beyond_the_nets_caps_are_left_out():
    """Nets built with small caps (a weights file may say max_strokes 1) score only the
    proposals they can read; with none left, one error names the caps."""
    from types import SimpleNamespace

    from gns_pyro.inference.posterior import within_caps

    bar = np.array([[10.0, 10.0], [30.0, 12.0], [50.0, 10.0]])
    candidates = Parses.from_control_points([[bar], [bar, bar + 20], [bar, bar + 20, bar + 40]])
    kept = within_caps(candidates, SimpleNamespace(max_parts=2, max_steps=10))
    assert kept.num_strokes.tolist() == [1, 2] and kept.max_strokes == 2
    assert within_caps(candidates, SimpleNamespace(max_parts=3, max_steps=10)) is candidates
    with pytest.raises(DataError, match="at most 1 strokes of 1 offsets"):
        within_caps(candidates, SimpleNamespace(max_parts=1, max_steps=1))
    # end to end: nets that can read one stroke parse a bar, and refuse the cross by name
    torch.manual_seed(0)
    one = CharacterParts(max_strokes=1).eval()
    line = torch.zeros(105, 105, dtype=torch.bool)
    line[50:53, 25:80] = True
    post = infer(line, one, k=2, refine_settings=RefineSettings(steps=2))
    assert post.types.num_strokes.max() == 1
    with pytest.raises(DataError, match="at most 1 strokes"):
        infer(_image(), one, k=2, refine_settings=RefineSettings(steps=2))
