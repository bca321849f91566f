"""The style judge task on the Omniglot folder, with a stand-in parser: the examples are
training characters of the alphabet judge, parses are cached, and the report is complete."""

import os

import pytest
import torch
from stand_in_parser import bar_parser

from gns_pyro.evaluate.judges import JudgeSettings

DATA = os.environ.get("GNS_PYRO_DATA")
needs_data = pytest.mark.skipif(
    not DATA and not os.environ.get("CI"), reason="set GNS_PYRO_DATA to the Omniglot folder"
)


@needs_data
def test_style_test_uses_training_characters_as_examples_and_caches_parses(tmp_path, monkeypatch):
    import gns_pyro.inference.posterior as posterior
    import gns_pyro.tasks.style_judge as style_judge
    from gns_pyro.data import Omniglot
    from gns_pyro.inference.style import StyleSettings
    from gns_pyro.models import CharacterParts

    calls = []
    monkeypatch.setattr(posterior, "infer", bar_parser(calls))
    held_seen = []
    original = style_judge.held_out_groups

    def spy(groups, settings):
        held = original(groups, settings)
        held_seen.append(held)
        return held

    monkeypatch.setattr(style_judge, "held_out_groups", spy)
    torch.manual_seed(0)
    parts = CharacterParts(style_dim=2, max_strokes=4, max_steps=8).eval()
    settings = JudgeSettings(epochs=1)
    fit = StyleSettings(steps=5, restarts=1, check_particles=4)
    with Omniglot(DATA) as data:
        report = style_judge.style_test(data, parts, 2, 3, 0.5, 0, settings, fit, tmp_path)
        assert len(calls) == 20 and len(list(tmp_path.glob("*.pt"))) == 20
        again = style_judge.style_test(data, parts, 2, 3, 0.5, 0, settings, fit, tmp_path)
    assert len(calls) == 20  # the second run read the cached parses
    assert report["in_style"] == again["in_style"]
    assert len(report["alphabets"]) == 2 and report["chance"] == 0.5
    assert report["in_style"]["tested"] == 6
    assert set(report["in_style_per_alphabet"]) == set(report["alphabets"])
    mean = sum(report["in_style_per_alphabet"].values()) / 2  # 3 samples each: equal weights
    assert mean == pytest.approx(report["in_style"]["accuracy"])
    assert report["novelty"]["generated"] == 6
    assert 0.0 <= report["unconditional_share_per_alphabet"]["mean"] <= 1.0
    # shares of the two alphabets add up to one: every sample is given to one of them
    assert sum(report["unconditional_share_per_alphabet"]["each"]) == pytest.approx(1.0)
    assert report["ceiling_held_out_real"]["tested"] > 0
    assert len(held_seen[0]) > 0
