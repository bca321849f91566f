"""The hierarchical type prior (GenerateAlphabet): sampling, conditioning and scoring agree,
the style reaches every net, ``z = 0`` is the unconditional prior, and the collapsed form used
to fit styles has the same log joint."""

from __future__ import annotations

import math

import pyro
import pytest
import torch
from pyro import poutine

from gns_pyro.models.alphabet import (
    STYLE_SITE,
    generate_alphabet,
    marginal_type_log_prob,
    observed_alphabet,
)
from gns_pyro.models.character import CharacterParts
from gns_pyro.models.type_prior import type_log_prob


def styled_parts(dim: int = 3, seed: int = 0, std: float = 0.5) -> CharacterParts:
    """Small untrained nets with a random (non-zero) style adapter."""
    torch.manual_seed(seed)
    parts = CharacterParts(style_dim=dim, max_strokes=4, max_steps=6).eval()
    for layer in (parts.style.location, parts.style.offset, parts.style.end, parts.style.stop):
        torch.nn.init.normal_(layer.weight, std=std)
    return parts.requires_grad_(False)


@pytest.fixture(scope="module")
def sampled():
    parts = styled_parts()
    pyro.set_rng_seed(0)
    alphabet_of = torch.tensor([0, 0, 1, 1, 2])
    trace = poutine.trace(generate_alphabet).get_trace(parts, alphabet_of, 3)
    return parts, alphabet_of, trace


def test_sample_then_condition_on_every_site_gives_the_same_log_joint(sampled):
    parts, alphabet_of, trace = sampled
    values = {n: s["value"] for n, s in trace.nodes.items() if s["type"] == "sample"}
    again = poutine.trace(poutine.condition(generate_alphabet, data=values)).get_trace(
        parts, alphabet_of, 3
    )
    assert torch.allclose(again.log_prob_sum(), trace.log_prob_sum(), atol=1e-3)
    # and scoring the returned types (teacher-forced path) with the style observed
    types = trace.nodes["_RETURN"]["value"]
    scored = poutine.trace(generate_alphabet).get_trace(
        parts, alphabet_of, 3, parses=types, style=values[STYLE_SITE]
    )
    assert torch.allclose(scored.log_prob_sum(), trace.log_prob_sum(), atol=1e-3)


def test_log_joint_is_style_prior_plus_each_types_log_prob_in_its_alphabets_style(sampled):
    parts, alphabet_of, trace = sampled
    z = trace.nodes[STYLE_SITE]["value"]
    types = trace.nodes["_RETURN"]["value"]
    independent = torch.distributions.Normal(0.0, 1.0).log_prob(z).sum()
    independent = independent + type_log_prob(parts.with_style(z[alphabet_of]), types).sum()
    assert torch.allclose(trace.log_prob_sum(), independent, atol=1e-3)


def test_collapsed_form_has_the_same_log_joint(sampled):
    parts, alphabet_of, trace = sampled
    z = trace.nodes[STYLE_SITE]["value"]
    types = trace.nodes["_RETURN"]["value"]
    base = parts.with_style(None).observe(types)
    collapsed = poutine.trace(poutine.condition(observed_alphabet, data={STYLE_SITE: z})).get_trace(
        parts, alphabet_of, 3, base
    )
    assert torch.allclose(collapsed.log_prob_sum(), trace.log_prob_sum(), atol=1e-3)


def test_style_moves_every_net_and_zero_style_is_the_unconditional_prior(sampled):
    parts, _, trace = sampled
    types = trace.nodes["_RETURN"]["value"]
    plain = CharacterParts(max_strokes=4, max_steps=6).eval()
    plain.load_state_dict(parts.state_dict(), strict=False)  # the same nets, no adapter
    zero = type_log_prob(parts.with_style(torch.zeros(len(types), 3)), types)
    assert torch.allclose(zero, type_log_prob(plain, types), atol=1e-4)
    assert torch.allclose(type_log_prob(parts, types), zero)  # no style given = zero style
    base = parts.observe(types)
    moved = parts.with_style(torch.ones(len(types), 3)).observe(types)
    for name in ("loc_raw", "stroke_raw", "stop_logits"):
        assert not torch.allclose(getattr(moved, name), getattr(base, name)), name


def test_marginal_log_prob_matches_a_direct_monte_carlo_average(sampled):
    parts, _, trace = sampled
    types = trace.nodes["_RETURN"]["value"]
    generator = torch.Generator().manual_seed(3)
    marginal = marginal_type_log_prob(parts, types, 16, generator)
    z = torch.randn(16, 3, generator=torch.Generator().manual_seed(3))
    each = torch.stack(
        [type_log_prob(parts.with_style(zs.expand(len(types), -1)), types) for zs in z]
    )
    assert torch.allclose(marginal, each.logsumexp(0) - math.log(16), atol=1e-3)


def test_bad_styles_and_labels_are_refused():
    parts = styled_parts()
    with pytest.raises(ValueError, match="style must be"):
        parts.with_style(torch.zeros(2, 5))
    with pytest.raises(ValueError, match="finite"):
        parts.with_style(torch.full((2, 3), float("nan")))
    with pytest.raises(ValueError, match="no style"):
        CharacterParts().with_style(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="alphabet indices"):
        generate_alphabet(parts, torch.tensor([0, 3]), 2)
    with pytest.raises(ValueError, match="needs nets with a style"):
        generate_alphabet(CharacterParts(), torch.tensor([0]), 1)


def test_config_round_trip_keeps_the_style_level():
    parts = styled_parts(dim=5)
    again = CharacterParts.from_config(parts.config())
    assert again.style_dim == 5
    assert again.state_dict().keys() == parts.state_dict().keys()
    assert "style_dim" not in CharacterParts().config()  # unconditional weights are unchanged
