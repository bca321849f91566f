"""Training the alphabet level: a run writes loadable weights and a record with a style per
training alphabet, resumes from its checkpoint, and the final rescaling of the styles leaves
every likelihood unchanged."""

from __future__ import annotations

import pytest
import torch

from gns_pyro.errors import GNSError
from gns_pyro.models.character import CharacterParts
from gns_pyro.models.type_prior import generate_type, type_log_prob
from gns_pyro.pretrained import TYPE_PRIOR_WEIGHTS, load_alphabet_prior
from gns_pyro.train.style import StyleSettings, rescale_styles, styled_nets, train_alphabet_prior


def test_rescaling_the_styles_keeps_every_likelihood():
    torch.manual_seed(0)
    parts = CharacterParts(style_dim=3, max_strokes=3, max_steps=5).eval()
    for layer in (parts.style.location, parts.style.offset, parts.style.end, parts.style.stop):
        torch.nn.init.normal_(layer.weight, std=0.5)
    loc, scale = 0.2 * torch.randn(6, 3), torch.full((6, 3), 0.05)
    with torch.no_grad():
        types = generate_type(parts.with_style(loc), batch_size=6)
    before = type_log_prob(parts.with_style(loc), types)
    new_loc, new_scale = rescale_styles(parts, loc, scale)
    after = type_log_prob(parts.with_style(new_loc), types)
    assert torch.allclose(before, after, atol=1e-3)
    assert torch.allclose(new_loc.std(0), torch.ones(3), atol=1e-5)  # spread as the prior
    assert torch.allclose(new_scale / new_loc.std(0), scale / loc.std(0), atol=1e-5)


def test_styled_nets_start_as_the_weights_they_come_from():
    parts = styled_nets(TYPE_PRIOR_WEIGHTS, 4)
    assert parts.style_dim == 4
    assert all((p == 0).all() for p in parts.style.parameters())  # zero style adapter


def test_a_run_writes_weights_record_and_resumes(omniglot_dir, tmp_path, capsys):
    settings = StyleSettings(
        init_weights=str(TYPE_PRIOR_WEIGHTS),
        style_dim=3,
        epochs=1,
        batch_size=30,
        max_drawings=90,
    )
    record = train_alphabet_prior(tmp_path, settings, omniglot_dir, progress=False)
    assert record["epochs_run"] == 1 and set(record["styles"]) == set(record["data"]["alphabets"])
    locs = torch.tensor([s["loc"] for s in record["styles"].values()])
    assert torch.allclose(locs.std(0), torch.ones(3), atol=1e-3)  # rescaled to the prior
    nll = record["validation_nll"]
    for name in ("zero_style", "marginal_style", "own_alphabet_style", "start_weights"):
        assert 20 < nll[name] < 400, (name, nll)
    parts = load_alphabet_prior(tmp_path / "alphabet_prior.pt")
    assert parts.style_dim == 3
    longer = StyleSettings(**{**settings.__dict__, "epochs": 2})
    again = train_alphabet_prior(tmp_path, longer, omniglot_dir, resume=True, progress=False)
    assert [h["epoch"] for h in again["history"]] == [1, 2]  # epoch 1 was not run again
    other = StyleSettings(**{**settings.__dict__, "style_dim": 2, "epochs": 2})
    with pytest.raises(GNSError, match="other settings"):
        train_alphabet_prior(tmp_path, other, omniglot_dir, resume=True, progress=False)
    torch.save({"epoch": 0, "model": {}}, tmp_path / "checkpoint.pt")  # a type-prior's, say
    with pytest.raises(GNSError, match="not a train-alphabet checkpoint"):
        train_alphabet_prior(tmp_path, longer, omniglot_dir, resume=True, progress=False)


def test_cuda_asked_without_cuda_is_named_before_any_data(tmp_path):
    if torch.cuda.is_available():
        pytest.skip("CUDA is present here")
    settings = StyleSettings(init_weights=str(TYPE_PRIOR_WEIGHTS), device="cuda")
    with pytest.raises(GNSError, match="sees no CUDA device"):
        train_alphabet_prior(tmp_path, settings, tmp_path / "no-data", progress=False)
