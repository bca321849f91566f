"""Fitting an alphabet's style q(z) by SVI: synthetic recovery, and the param store and the
nets are left alone."""

from __future__ import annotations

import pyro
import pytest
import torch

from gns_pyro.inference.style import StyleSettings, infer_style, sample_with_style
from gns_pyro.models.alphabet import generate_alphabet
from gns_pyro.models.character import CharacterParts


def styled_parts(dim: int = 2, std: float = 0.4) -> CharacterParts:
    """Small untrained nets with a random style adapter (weights of size ``std``: much larger
    ones make the untrained nets' likelihood of z rugged, with many local modes)."""
    torch.manual_seed(1)
    parts = CharacterParts(style_dim=dim, max_strokes=5, max_steps=8).eval()
    for layer in (parts.style.location, parts.style.offset, parts.style.end, parts.style.stop):
        torch.nn.init.normal_(layer.weight, std=std)
    return parts.requires_grad_(False)


def test_svi_recovers_each_alphabets_style_closer_to_its_own_than_to_the_others():
    parts = styled_parts()
    pyro.set_rng_seed(1)
    alphabets, per_alphabet = 3, 15
    alphabet_of = torch.arange(alphabets).repeat_interleave(per_alphabet)
    true = torch.tensor([[1.5, -1.0], [-1.5, -1.0], [0.0, 1.5]])
    with torch.no_grad():
        types = generate_alphabet(parts, alphabet_of, alphabets, style=true)
    before = {k: v.clone() for k, v in parts.state_dict().items()}
    pyro.clear_param_store()
    for a in range(alphabets):
        style = infer_style(
            parts, types[alphabet_of == a], StyleSettings(steps=150, restarts=2), seed=a
        )
        distance = (style.loc - true).norm(dim=-1)
        assert int(distance.argmin()) == a, (a, distance)
        assert (style.scale > 0).all() and (style.scale < 1).all()  # narrower than the prior
        assert style.losses[-1] < style.losses[0]
    assert len(pyro.get_param_store().keys()) == 0  # the user's store is left as it was
    for k, v in parts.state_dict().items():
        assert torch.equal(v, before[k]), k  # the nets are fixed


def test_samples_in_a_style_are_finite_and_scored():
    parts = styled_parts()
    pyro.set_rng_seed(0)
    with torch.no_grad():
        types = generate_alphabet(parts, torch.zeros(6, dtype=torch.long), 1)
    style = infer_style(parts, types, StyleSettings(steps=20))
    new, log_prob = sample_with_style(parts, style, 4, temperature=0.5, seed=0)
    assert new.batch_size == 4 and log_prob.shape == (4,)
    assert torch.isfinite(log_prob).all()


def test_nets_without_style_are_refused():
    with pytest.raises(ValueError, match="no style level"):
        infer_style(CharacterParts(), None)
