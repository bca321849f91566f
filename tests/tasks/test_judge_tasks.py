"""The judge tasks on the Omniglot folder: the concepts test end to end through the command
line, the exemplars test's grouping and parse cache (with a stand-in parser)."""

import json
import os

import pytest
import torch
from stand_in_parser import bar_parser

from gns_pyro.cli import main
from gns_pyro.evaluate.judges import JudgeSettings
from gns_pyro.tasks.judges import jittered_copies

DATA = os.environ.get("GNS_PYRO_DATA")
needs_data = pytest.mark.skipif(
    not DATA and not os.environ.get("CI"), reason="set GNS_PYRO_DATA to the Omniglot folder"
)


def test_jitter_moves_ink_but_keeps_it():
    image = torch.zeros(105, 105, dtype=torch.bool)
    image[30:75, 50:55] = True
    copies = jittered_copies(image, 8, torch.Generator().manual_seed(0))
    assert copies.shape == (8, 105, 105)
    mass = copies.sum((-2, -1)) / image.sum()
    assert ((mass > 0.7) & (mass < 1.3)).all()
    assert not torch.equal(copies[0] > 0.5, copies[1] > 0.5)


@needs_data
def test_judge_concepts_command(tmp_path, capsys):
    code = main(
        ["judge", "concepts", "--n", "16", "--temperature", "1", "--epochs", "2"]
        + ["--out", str(tmp_path), "--json", "--quiet"]
    )
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    result = report["tests"]["T=1"]
    assert report["real"] == 16 and result["tested"] + result["train_images"] == 32
    assert 0.0 <= result["interval"][0] <= result["accuracy"] <= result["interval"][1] <= 1.0
    control = report["tests"]["control: official images vs the same drawings rendered"]
    assert control["tested"] + control["train_images"] == 32  # 16 drawings, both ways drawn
    saved = json.loads((tmp_path / "judge_concepts.json").read_text())
    assert saved["tests"] == report["tests"]


@needs_data
def test_exemplars_test_groups_characters_and_caches_parses(tmp_path, monkeypatch):
    import gns_pyro.inference.posterior as posterior
    from gns_pyro.data import Omniglot
    from gns_pyro.pretrained import load_type_prior
    from gns_pyro.tasks.judges import exemplars_test

    calls = []
    monkeypatch.setattr(posterior, "infer", bar_parser(calls))
    parts = load_type_prior()
    settings = JudgeSettings(epochs=1)
    with Omniglot(DATA) as data:
        report = exemplars_test(data, parts, 3, 0, settings, tmp_path)
        assert len(calls) == 3 and len(list(tmp_path.glob("*.pt"))) == 3
        again = exemplars_test(data, parts, 3, 0, settings, tmp_path)
    assert len(calls) == 3  # the second run read the cached parses
    assert report == again
    assert report["real"] == 57 and set(report["tests"]) == {
        "exemplars",
        "jittered_copies",
        "unconditional_T=1",
    }
    for result in report["tests"].values():  # 3 characters: 1 held out, 19 + 19 images
        assert result["tested"] == 38
