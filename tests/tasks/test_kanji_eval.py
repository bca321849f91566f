"""A kanji prior end to end, tiny: train on 32 KanjiVG characters with the project's training
command, then parse and score a held-out kanji."""

from __future__ import annotations

import json

import numpy as np
import pytest

from gns_pyro.cli import main


@pytest.fixture(scope="module")
def kanji_prior(tmp_path_factory):
    out = tmp_path_factory.mktemp("kanji_prior")
    argv = ["train", "--data", "kanji", "--max-drawings", "32", "--epochs", "1"]
    argv += ["--batch-size", "16", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    return out / "type_prior.pt"


def test_training_on_kanji_records_its_data_and_ablation(kanji_prior, capsys):
    record = json.loads(kanji_prior.with_suffix(".json").read_text())
    assert record["data"]["source"] == "kanji" and record["settings"]["data"] == "kanji"
    seen = record["data"]["train"]["drawings"] + record["data"]["validation"]["drawings"]
    assert seen == 32
    assert record["data"]["train"]["mean_strokes_per_drawing"] > 3  # kanji, not Omniglot
    assert np.isfinite(record["ablations"]["untrained_nets"]["per_drawing"])


def test_kanji_weights_are_never_installed_into_the_package(tmp_path, capsys):
    argv = ["train", "--data", "kanji", "--max-drawings", "8", "--epochs", "1"]
    assert main([*argv, "--out", str(tmp_path), "--install", "--quiet"]) == 2
    assert "CC BY-SA" in capsys.readouterr().err


def test_held_out_kanji_exclude_everything_training_loaded(kanji_prior):
    from gns_pyro.data.kanjivg import is_base_file, kanjivg_files
    from gns_pyro.tasks.kanji_eval import held_out_files

    record = json.loads(kanji_prior.with_suffix(".json").read_text())
    held = held_out_files(record)
    every = [f for f in kanjivg_files() if is_base_file(f)]
    assert len(held) == len(every) - 32
    assert len({f.stem for f in every} - {f.stem for f in held}) == 32


def test_kanji_eval_parses_a_held_out_kanji_and_resumes(kanji_prior, tmp_path, capsys):
    argv = ["kanji-eval", "--weights", str(kanji_prior), "--n", "1", "--max-strokes", "2"]
    argv += ["--k", "1", "--out", str(tmp_path), "--json", "--quiet"]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["kanji"] == 1 and summary["computed"] == 1 and summary["mean_strokes"] <= 2
    if not summary["refused"]:
        assert 0 <= summary["gns"]["count_accuracy"] <= 1
        assert np.isfinite(summary["gns"]["matched_distance"])
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["reused"] == 1


def test_kanji_eval_refuses_an_omniglot_prior(tmp_path, capsys):
    from gns_pyro.pretrained import TYPE_PRIOR_WEIGHTS

    argv = ["kanji-eval", "--weights", str(TYPE_PRIOR_WEIGHTS), "--out", str(tmp_path)]
    assert main(argv) == 2
    assert "not trained on KanjiVG" in capsys.readouterr().err
