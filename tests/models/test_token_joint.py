import numpy as np
import pyro
import pytest
import torch
from pyro import poutine
from scipy import stats

from gns_pyro.models import (
    CharacterParts,
    character_model,
    conditioned_trace,
    generate_token,
    joint_conditions,
    joint_log_prob,
    joint_trace,
    sample_exemplars,
    type_log_prob,
)
from gns_pyro.models.token import DEFAULT_TOKEN_PRIOR as PRIOR
from gns_pyro.parses import Parses
from gns_pyro.renderer import apply_affine, render


@pytest.fixture(scope="module")
def parts():
    torch.manual_seed(0)
    return CharacterParts().double().eval()


def _types():
    return Parses.from_control_points(
        [
            [np.array([[20.0, 30.0], [50.0, 35.0], [70.0, 80.0]])],
            [
                np.array([[30.0, 20.0], [40.0, 60.0]]),
                np.array([[60.0, 40.0], [62.0, 70.0], [80.0, 75.0], [85.0, 40.0]]),
            ],
        ],
        dtype=torch.float64,
    )


def _token_terms_scipy(types: Parses, tokens: Parses) -> np.ndarray:
    """log P(theta | psi) per item with scipy.stats, looping over strokes and points."""
    out = []
    cov = np.zeros((4, 4))
    cov[:2, :2] = PRIOR.affine_scale_cov
    cov[2, 2], cov[3, 3] = np.square(PRIOR.affine_translation_sd)
    type_cps, token_cps = types.to_control_points_list(), tokens.to_control_points_list()
    for b in range(types.batch_size):
        total = 0.0
        for tcp, kcp in zip(type_cps[b], token_cps[b]):
            total += stats.norm.logpdf(kcp[0], tcp[0], PRIOR.location_sd).sum()
            total += stats.norm.logpdf(kcp[1:] - kcp[0], tcp[1:] - tcp[0], PRIOR.shape_sd).sum()
        total += stats.multivariate_normal.logpdf(tokens.affine[b].numpy(), [1, 1, 0, 0], cov)
        total += stats.uniform.logpdf(tokens.blur[b].item(), 0.5, 15.5)
        total += stats.uniform.logpdf(tokens.noise[b].item(), 1e-4, 0.5 - 1e-4)
        out.append(total)
    return np.array(out)


def test_token_terms_match_scipy():
    types = _types()
    pyro.set_rng_seed(0)
    tokens = generate_token(types)
    trace = poutine.trace(generate_token).get_trace(types)
    data = {k: v["value"] for k, v in trace.nodes.items() if v["type"] == "sample" and k != "types"}
    tokens = trace.nodes["_RETURN"]["value"]
    cond = conditioned_trace(generate_token, data, types)
    cond.compute_log_prob()
    ours = sum(cond.nodes[k]["log_prob"] for k in data)
    np.testing.assert_allclose(ours.numpy(), _token_terms_scipy(types, tokens), rtol=1e-10)


def test_image_term_matches_scipy():
    types = _types()
    tokens = generate_token(types)
    probs = render(tokens).clamp(1e-6, 1 - 1e-6)
    image = torch.bernoulli(probs)
    trace = poutine.trace(character_model).get_trace(
        CharacterParts().double().eval(), types=types, image=image
    )
    trace = joint_trace(CharacterParts().double().eval(), types, tokens, image)
    trace.compute_log_prob()
    expected = stats.bernoulli.logpmf(image.numpy(), probs.detach().numpy()).sum((1, 2))
    np.testing.assert_allclose(
        trace.nodes["image"]["log_prob"].detach().numpy(), expected, rtol=1e-10
    )


def test_joint_is_sum_of_type_token_image_terms(parts):
    types = _types()
    tokens = generate_token(types)
    image = (render(tokens) > 0.5).double()
    joint = joint_log_prob(parts, types, tokens, image)
    probs = render(tokens).clamp(1e-6, 1 - 1e-6)
    image_term = stats.bernoulli.logpmf(image.numpy(), probs.detach().numpy()).sum((1, 2))
    expected = (
        type_log_prob(parts, types).detach().numpy()
        + _token_terms_scipy(types, tokens)
        + image_term
    )
    np.testing.assert_allclose(joint.detach().numpy(), expected, rtol=1e-10)


def test_sample_then_condition_gives_the_same_log_prob(parts):
    pyro.set_rng_seed(2)
    trace = poutine.trace(character_model).get_trace(parts, batch_size=4)
    psi, theta, image = trace.nodes["_RETURN"]["value"]
    trace.compute_log_prob()
    sampled = sum(
        n["log_prob"] for k, n in trace.nodes.items() if n["type"] == "sample" and k != "types"
    )
    again = conditioned_trace(
        character_model, joint_conditions(parts, psi, theta), parts, batch_size=4, image=image
    )
    again.compute_log_prob()
    conditioned = sum(
        n["log_prob"] for k, n in again.nodes.items() if n["type"] == "sample" and k != "types"
    )
    torch.testing.assert_close(conditioned, sampled)
    torch.testing.assert_close(joint_log_prob(parts, psi, theta, image), sampled)


def test_unknown_condition_name_is_an_error(parts):
    psi, theta, image = character_model(parts, batch_size=2)
    data = joint_conditions(parts, psi, theta)
    data["afine"] = theta.affine
    with pytest.raises(ValueError, match="afine"):
        conditioned_trace(character_model, data, parts, batch_size=2, image=image)


def test_affine_warp_about_centroid():
    types = _types()
    cps = types.control_points
    affine = torch.tensor([[2.0, 0.5, 3.0, -1.0], [1.0, 1.0, 0.0, 0.0]], dtype=torch.float64)
    warped = apply_affine(cps, types.num_control, affine)
    real = types.to_control_points_list()[0][0]
    centroid = real.mean(0)
    expected = (real - centroid) * [2.0, 0.5] + centroid + [3.0, -1.0]
    np.testing.assert_allclose(warped[0, 0, :3].numpy(), expected, atol=1e-12)
    torch.testing.assert_close(warped[1, :, :4], cps[1, :, :4])  # identity warp


def test_probabilities_never_reach_zero_or_one():
    from gns_pyro.models.token import image_distribution

    # with no pixel noise the render is exactly 0 off the strokes: the clamp keeps log p finite
    tokens = generate_token(_types()).replace(
        noise=torch.zeros(2, dtype=torch.float64), blur=torch.full((2,), 0.5, dtype=torch.float64)
    )
    assert (render(tokens) == 0).any()
    for image in (torch.ones(2, 105, 105), torch.zeros(2, 105, 105)):
        log_p = image_distribution(tokens).log_prob(image.double())
        assert torch.isfinite(log_p).all()
    # and a noise value outside its prior is an error at the site, not a silent NaN
    with pytest.raises(ValueError, match="noise"):
        joint_log_prob(CharacterParts().double().eval(), _types(), tokens, torch.ones(2, 105, 105))


@pytest.mark.data
def test_gradients_finite_for_real_drawings(omniglot_dir):
    from gns_pyro.data import Omniglot
    from gns_pyro.data.preprocess import drawing_to_splines
    from gns_pyro.pretrained import load_type_prior

    parts = load_type_prior().double()
    with Omniglot(omniglot_dir) as data:
        drawings = list(data.drawings("background", "Korean"))[::97][:5]
        images = torch.stack([data.image_of(d) for d in drawings]).double()
    types = Parses.from_control_points(
        [drawing_to_splines(d.strokes) for d in drawings], dtype=torch.float64
    )
    pyro.set_rng_seed(0)
    tokens = generate_token(types).replace(
        blur=torch.full((5,), 1.0, dtype=torch.float64),
        noise=torch.full((5,), 0.01, dtype=torch.float64),
    )
    leaves = {
        "type locations": types.locations.clone().requires_grad_(True),
        "type offsets": types.offsets.clone().requires_grad_(True),
        "token locations": tokens.locations.clone().requires_grad_(True),
        "token offsets": tokens.offsets.clone().requires_grad_(True),
        "affine": tokens.affine.clone().requires_grad_(True),
        "blur": tokens.blur.clone().requires_grad_(True),
        "noise": tokens.noise.clone().requires_grad_(True),
    }
    types = types.replace(locations=leaves["type locations"], offsets=leaves["type offsets"])
    tokens = tokens.replace(
        locations=leaves["token locations"],
        offsets=leaves["token offsets"],
        affine=leaves["affine"],
        blur=leaves["blur"],
        noise=leaves["noise"],
    )
    joint = joint_log_prob(parts, types, tokens, images)
    assert torch.isfinite(joint).all()
    joint.sum().backward()
    for name, leaf in leaves.items():
        assert torch.isfinite(leaf.grad).all(), name
        assert leaf.grad.abs().sum() > 0, name


def test_exemplars_are_closer_within_type_than_across():
    # types: a few dozen random scribbles; exemplars: 6 tokens each, compared by image IoU
    rng = np.random.default_rng(0)
    drawings = []
    for _ in range(24):
        strokes = []
        for _ in range(int(rng.integers(1, 4))):
            start = rng.uniform(25, 80, 2)
            strokes.append(start + np.cumsum(np.vstack([[0, 0], rng.normal(0, 9, (3, 2))]), 0))
        drawings.append(strokes)
    types = Parses.from_control_points(drawings, dtype=torch.float64)
    pyro.set_rng_seed(0)
    tokens = sample_exemplars(types, 6)
    ink = (render(tokens, blur=0.5, noise=0.0) > 0.5).view(24, 6, -1).float()
    flat = ink.view(144, -1)
    inter = flat @ flat.T
    union = flat.sum(1, keepdim=True) + flat.sum(1) - inter
    iou = (inter / union.clamp(min=1)).view(24, 6, 24, 6)
    same = torch.eye(24, dtype=torch.bool)[:, None, :, None].expand(24, 6, 24, 6)
    off_diag = ~torch.eye(6, dtype=torch.bool)[None, :, None, :].expand(24, 6, 24, 6) | ~same
    within = iou[same & off_diag].mean()
    across = iou[~same].mean()
    assert within > 2 * across, (within, across)


def test_token_conditions_need_tokens_in_their_types_slots():
    from gns_pyro.models.joint import token_conditions

    types = _types()
    tokens = generate_token(types)
    assert set(token_conditions(types, tokens)) == {
        "token_locations",
        "token_shapes",
        "affine",
        "blur",
        "noise",
    }
    with pytest.raises(ValueError, match="slots"):
        token_conditions(types, tokens[:1])
    with pytest.raises(TypeError, match="Tokens"):
        token_conditions(types, types)
