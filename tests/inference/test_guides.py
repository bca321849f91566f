"""Refinement as Pyro inference: the batched Delta guide, SVI, the refit, the Newton polish."""

import numpy as np
import pyro
import pytest
import torch
from pyro import poutine
from pyro.infer import SVI, Trace_ELBO
from pyro.infer.autoguide import AutoDelta, AutoNormal
from pyro.infer.autoguide.initialization import init_to_value

from gns_pyro.inference.guides import ParseGuide
from gns_pyro.inference.laplace import laplace_log_marginal, parse_log_marginal
from gns_pyro.inference.refinement import (
    MapELBO,
    RefineSettings,
    RefitSettings,
    RefitStart,
    collapsed_parse_model,
    initial_tokens,
    parse_model,
    refine,
    refit_model,
    refit_tokens,
)
from gns_pyro.models import CharacterParts
from gns_pyro.models.joint import joint_log_prob, token_image_log_prob
from gns_pyro.models.type_prior import type_log_prob
from gns_pyro.parses import Parses


@pytest.fixture(scope="module")
def parts():
    torch.manual_seed(0)
    return CharacterParts().eval().requires_grad_(False)


def _types() -> Parses:
    """Two parses of a cross-like drawing: a bar and a stem, or a bar alone."""
    bar = np.array([[22.0, 32.0], [50.0, 29.0], [79.0, 31.0]])
    stem = np.array([[51.0, 22.0], [50.0, 79.0]])
    return Parses.from_control_points([[bar, stem], [bar]])


def _image() -> torch.Tensor:
    img = torch.zeros(105, 105, dtype=torch.bool)
    img[29:33, 20:81] = True
    img[20:81, 49:53] = True
    return img


def _site_values(guide) -> dict:
    with pyro.get_param_store().scope():
        trace = poutine.trace(guide).get_trace()
    return {
        n: s["value"].detach()
        for n, s in trace.nodes.items()
        if s["type"] == "sample" and n != "types"
    }


def test_guide_covers_exactly_the_latent_sites_of_the_model(parts):
    types = _types()
    guide = ParseGuide(types, initial_tokens(types))
    guide_sites = set(_site_values(guide))
    model_trace = poutine.trace(parse_model).get_trace(parts, types, _image())
    latent = {
        n
        for n, s in model_trace.nodes.items()
        if s["type"] == "sample" and not s["is_observed"] and n != "types"
    }
    assert guide_sites == latent
    assert {"loc_0", "offset_0_1", "loc_1", "token_shapes", "blur"} <= guide_sites


def test_map_elbo_is_the_log_joint_of_each_parse(parts):
    types = _types()
    tokens = initial_tokens(types)
    guide = ParseGuide(types, tokens)
    elbo = MapELBO()
    with pyro.get_param_store().scope():
        values = elbo.evaluate(parse_model, guide, parts, types, _image())
    expected = joint_log_prob(parts, types, tokens, _image().expand(2, 105, 105))
    torch.testing.assert_close(values, expected, rtol=1e-5, atol=1e-3)


def test_collapsed_model_has_the_same_log_joint_and_gradients(parts):
    """The type as one site (what refine optimizes) is the per-site model, scored faster."""
    types = _types().to(dtype=torch.float64)
    parts64 = CharacterParts().double().eval().requires_grad_(False)
    tokens = initial_tokens(types)
    found = []
    for model, table in ((parse_model, False), (collapsed_parse_model, True)):
        guide = ParseGuide(types, tokens, type_table=table)
        with pyro.get_param_store().scope():
            elbo = MapELBO()
            elbo.loss_and_grads(model, guide, parts64, types, _image())
            store = pyro.get_param_store()
            grads = {n: store[n].unconstrained().grad.clone() for n in guide.param_names}
        found.append((elbo.log_joint, grads))
    (per_site, per_site_grads), (collapsed, collapsed_grads) = found
    torch.testing.assert_close(collapsed, per_site)
    assert per_site_grads.keys() == collapsed_grads.keys()
    for name, grad in per_site_grads.items():
        torch.testing.assert_close(collapsed_grads[name], grad)
    assert per_site_grads["ParseGuide.type_offsets"].abs().sum() > 0


def test_batched_guide_follows_autodelta_step_for_step(parts):
    """The project's guide and Pyro's AutoDelta on the same model are the same optimizer."""
    types = _types().to(dtype=torch.float64)
    parts64 = CharacterParts().double().eval().requires_grad_(False)
    tokens = initial_tokens(types)
    values = _site_values(ParseGuide(types, tokens))
    image = _image()
    losses = {}
    for name in ("auto", "batched"):
        with pyro.get_param_store().scope():
            if name == "auto":
                guide = AutoDelta(parse_model, init_loc_fn=init_to_value(values=values))
            else:
                guide = ParseGuide(types, tokens)
            svi = SVI(parse_model, guide, pyro.optim.Adam({"lr": 0.05}), Trace_ELBO())
            losses[name] = [svi.step(parts64, types, image) for _ in range(4)]
    np.testing.assert_allclose(losses["auto"], losses["batched"], rtol=1e-9)
    assert losses["batched"][-1] < losses["batched"][0]


def test_autonormal_gives_a_local_posterior_around_a_parse(parts):
    types = _types()[1:].trim()
    values = _site_values(ParseGuide(types, initial_tokens(types)))
    with pyro.get_param_store().scope():
        guide = AutoNormal(parse_model, init_loc_fn=init_to_value(values=values), init_scale=0.05)
        svi = SVI(parse_model, guide, pyro.optim.Adam({"lr": 0.02}), Trace_ELBO())
        losses = [svi.step(parts, types, _image()) for _ in range(10)]
        low, high = guide.quantiles([0.16, 0.84])["token_shapes"]
    assert np.isfinite(losses).all()
    assert np.mean(losses[-3:]) < np.mean(losses[:3])
    assert low.shape == (1, 1, 2, 2) and (high > low).all()


def test_refinement_never_lowers_the_log_joint(parts):
    types = _types()
    tokens = initial_tokens(types)
    result = refine(parts, types, tokens, _image(), RefineSettings(steps=8))
    assert (result.log_joint >= result.start_log_joint).all()
    assert (result.log_joint > result.start_log_joint + 1).all()
    # the returned state is the one scored: an independent computation agrees
    independent = joint_log_prob(parts, result.types, result.tokens, _image().expand(2, 105, 105))
    torch.testing.assert_close(result.log_joint, independent, rtol=1e-5, atol=1e-3)


def test_no_net_weight_gets_a_gradient_during_inference():
    torch.manual_seed(1)
    parts = CharacterParts().eval()  # weights still trainable, as a user might pass them
    before = {k: v.clone() for k, v in parts.state_dict().items()}
    store_before = set(pyro.get_param_store().keys())
    types = _types()
    refine(parts, types, initial_tokens(types), _image(), RefineSettings(steps=3))
    assert all(p.grad is None for p in parts.parameters())
    after = parts.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert set(pyro.get_param_store().keys()) == store_before  # refinement used its own store
    assert all(p.requires_grad for p in parts.parameters())  # the caller's flags are restored


def test_refit_guide_optimizes_exactly_the_token_objective(parts):
    """With the type given, the full model's log joint is the refit objective plus a constant
    (log P(psi)), so the two have the same gradients in the token variables."""
    types = _types()
    tokens = initial_tokens(types)
    image = _image().expand(2, 105, 105)
    guide = ParseGuide(types, tokens, fit_type=False)
    grads = {}
    for name in ("refit", "full"):
        with pyro.get_param_store().scope():
            if name == "refit":
                model, args = refit_model, (types, image)
            else:
                # the character model with the type sites conditioned on the given type
                def model(parts, types, image):
                    from gns_pyro.models.joint import character_model
                    from gns_pyro.models.sites import type_conditions

                    data = type_conditions(types, parts.max_parts, parts.max_steps)
                    blocked = poutine.block(character_model, hide_types=["param"])
                    return poutine.condition(blocked, data)(parts, 2, image=image)

                args = (parts, types, image)
            elbo = MapELBO()
            elbo.loss_and_grads(model, guide, *args)
            values = elbo.log_joint
            store = pyro.get_param_store()
            grads[name] = {n: store[n].unconstrained().grad.clone() for n in guide.param_names}
            grads[name]["value"] = values
    constant = type_log_prob(parts, types)
    torch.testing.assert_close(grads["full"].pop("value"), grads["refit"].pop("value") + constant)
    for n in grads["refit"]:
        torch.testing.assert_close(grads["full"][n], grads["refit"][n], rtol=1e-4, atol=1e-4)


def test_refit_races_starts_and_keeps_the_best():
    types = _types()[:1].trim()
    image = _image()
    one = RefitSettings(
        starts=(RefitStart(2.0, 0.05, False),),
        race=RefineSettings(steps=15, lr_coordinates=1.0),
        finish=RefineSettings(steps=0),
    )
    raced = RefitSettings(
        starts=(RefitStart(2.0, 0.05, False), RefitStart(8.0, 0.3, True)),
        race=RefineSettings(steps=15, lr_coordinates=1.0),
        finish=RefineSettings(steps=0),
    )
    single = refit_tokens(types, image, one)
    best = refit_tokens(types, image, raced)
    assert best.log_joint.item() >= single.log_joint.item() - 1e-3  # the same start is in the race
    independent = token_image_log_prob(types, best.tokens, image.expand(1, 105, 105))
    torch.testing.assert_close(best.log_joint, independent, rtol=1e-5, atol=1e-3)
    finished = refit_tokens(
        types, image, RefitSettings(raced.starts, raced.race, RefineSettings(steps=10))
    )
    assert finished.log_joint.item() >= best.log_joint.item() - 1e-3
    assert finished.steps > best.steps


def test_newton_polish_reaches_a_negative_definite_mode_of_a_smooth_model():
    """On a model with a strict maximum, the polish from a rough start lands on it."""
    target = torch.tensor([1.5, -0.7], dtype=torch.float64)

    def model():
        z = pyro.sample("z", pyro.distributions.Normal(torch.zeros(2, dtype=torch.float64), 2.0))
        w = pyro.sample("w", pyro.distributions.LogNormal(torch.tensor(0.0).double(), 1.0))
        pyro.sample("x", pyro.distributions.Normal(z * w, 0.3).to_event(1), obs=target)

    rough = {"z": torch.tensor([0.2, 0.1], dtype=torch.float64), "w": torch.tensor(2.0).double()}
    plain = laplace_log_marginal(model, rough)
    polished = laplace_log_marginal(model, rough, polish_steps=20)
    assert polished.log_joint > plain.log_joint + 1
    assert polished.positive_definite
    again = laplace_log_marginal(model, polished.mode, polish_steps=5)
    assert again.polish_gain == pytest.approx(0.0, abs=1e-6)  # already at the maximum


def test_parse_laplace_after_polish_on_a_synthetic_drawing():
    """With the shipped (ReLU) nets and the reference renderer the log joint is only piecewise
    smooth: the polish still climbs from where refinement stopped, never down, and the result
    says whether it reached a maximum. (That it does reach one with smooth nets and the smooth
    renderer is tested in test_laplace_polish.py.)"""
    from gns_pyro.pretrained import load_type_prior

    parts = load_type_prior()
    types = _types()[1:].trim()  # the bar alone: a small Hessian
    image = torch.zeros(105, 105, dtype=torch.bool)
    image[29:33, 20:81] = True
    tokens = initial_tokens(types).replace(blur=torch.tensor([1.5]), noise=torch.tensor([0.02]))
    refined = refine(parts, types, tokens, image, RefineSettings(steps=30))
    log_marginal, (result,) = parse_log_marginal(
        parts, refined.types, refined.tokens, image, polish_steps=8
    )
    assert torch.isfinite(log_marginal)
    assert result.polish_gain > 1  # the gradient optimizer had stopped short of the mode
    assert result.converged == (result.positive_definite and result.gradient_norm < 1e-3)
    types64 = refined.types.to(dtype=torch.float64)
    again = laplace_log_marginal(
        parse_model,
        result.mode,
        parts.double(),
        types64,
        image.double()[None],
        masks={"token_shapes": types64.offset_mask.unsqueeze(-1)},
        polish_steps=2,
    )
    assert again.polish_gain >= 0.0  # a polish never descends
    assert again.log_joint.item() == pytest.approx(result.log_joint.item() + again.polish_gain)


def test_guide_param_names_are_fixed_not_drawn_from_a_counter():
    types = _types()
    first = ParseGuide(types, initial_tokens(types))
    second = ParseGuide(types, initial_tokens(types))
    assert first.param_names == second.param_names
    assert first.param_names[0] == "ParseGuide.type_locations"
    assert ParseGuide(types, initial_tokens(types), name="mine").param_names[0].startswith("mine.")
