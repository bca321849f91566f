"""A kanji prior end to end, tiny: train on 32 KanjiVG characters with the project's training
command, on KanjiVG's own 109-unit frame, then parse and score a held-out kanji on it."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from gns_pyro.cli import main


@pytest.fixture(scope="module")
def kanji_prior(tmp_path_factory):
    out = tmp_path_factory.mktemp("kanji_prior")
    argv = ["train", "--data", "kanji", "--max-drawings", "32", "--epochs", "1"]
    argv += ["--batch-size", "16", "--image-size", "109", "--out", str(out), "--quiet"]
    assert main(argv) == 0
    return out / "type_prior.pt"


def test_training_on_kanji_records_its_data_and_ablation(kanji_prior, capsys):
    record = json.loads(kanji_prior.with_suffix(".json").read_text())
    assert record["data"]["source"] == "kanji" and record["settings"]["data"] == "kanji"
    seen = record["data"]["train"]["drawings"] + record["data"]["validation"]["drawings"]
    assert seen == 32
    assert record["data"]["train"]["mean_strokes_per_drawing"] > 3  # kanji, not Omniglot
    assert np.isfinite(record["ablations"]["untrained_nets"]["per_drawing"])


def test_the_kanji_domain_trains_on_its_own_frame(kanji_prior):
    """Image size is a setting of the domain: the nets, the training drawings and the
    record all use KanjiVG's 109 px frame, not Omniglot's 105."""
    from gns_pyro.data.kanjivg import load_kanji_dataset
    from gns_pyro.pretrained import load_type_prior

    record = json.loads(kanji_prior.with_suffix(".json").read_text())
    assert record["settings"]["image_size"] == 109
    parts = load_type_prior(kanji_prior)
    assert parts.image_size == 109 and parts.stroke_net.image_size == 109
    native = load_kanji_dataset(max_kanji=8, seed=0, image_size=109).parses
    scaled = load_kanji_dataset(max_kanji=8, seed=0).parses  # Omniglot's 105 px
    # stroke starts scale with the frame (up to the spline fit, whose spacing is in pixels)
    torch.testing.assert_close(native.locations, scaled.locations * 109 / 105, rtol=0, atol=0.05)


def test_omniglot_drawings_train_only_on_their_own_frame(tmp_path, capsys):
    argv = ["train", "--image-size", "109", "--max-drawings", "8", "--epochs", "1"]
    assert main([*argv, "--out", str(tmp_path), "--quiet"]) == 2
    assert "105 px" in capsys.readouterr().err


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


def test_the_kanji_domain_samples_conditions_and_scores_alike(kanji_prior):
    """On the kanji prior (109 px frame): a sampled type, token and image, conditioned on
    every value, scores what sampling scored; and KanjiVG's own strokes score the same through
    the teacher-forced fast path as through ``poutine.condition`` on the sampling program."""
    import pyro
    from pyro import poutine

    from gns_pyro.data.kanjivg import load_kanji_dataset
    from gns_pyro.models import character_model, joint_conditions, type_log_prob
    from gns_pyro.models.traces import conditioned_trace, trace_log_prob
    from gns_pyro.models.type_prior import generate_type
    from gns_pyro.pretrained import load_type_prior

    parts = load_type_prior(kanji_prior).double()
    pyro.set_rng_seed(0)
    with torch.no_grad():
        sampled = poutine.trace(character_model).get_trace(parts, batch_size=4, temperature=1.0)
        psi, theta, image = sampled.nodes["_RETURN"]["value"]
        assert image.shape == (4, 109, 109)
        again = conditioned_trace(
            character_model, joint_conditions(parts, psi, theta), parts, types=psi, image=image
        )
        torch.testing.assert_close(trace_log_prob(again), trace_log_prob(sampled))
        kanji = load_kanji_dataset(max_kanji=6, seed=1, image_size=109).parses
        kanji = kanji.to(parts.device, parts.dtype)
        fast = type_log_prob(parts, kanji)
        generic = conditioned_trace(
            generate_type, parts.conditions(kanji), parts, batch_size=len(kanji)
        )
        torch.testing.assert_close(fast, trace_log_prob(generic), rtol=1e-6, atol=1e-6)
    assert int(kanji.num_strokes.max()) > 10 and fast.isfinite().all()  # long kanji too


def test_parse_command_reads_images_on_the_frame_of_its_weights(kanji_prior, tmp_path, capsys):
    """``gns-pyro parse --weights`` with a 109 px prior parses a 109×109 PNG, refuses a
    105×105 one by name, and ``--resize`` shrinks a drawing to 109×109."""
    from PIL import Image

    page = np.full((109, 109), 255, dtype=np.uint8)
    page[20:90, 52:56] = 0  # one vertical bar
    page[50:54, 20:90] = 0  # and a horizontal one
    native, small, big = tmp_path / "native.png", tmp_path / "small.png", tmp_path / "big.png"
    Image.fromarray(page).save(native)
    Image.fromarray(page[:105, :105]).save(small)
    Image.fromarray(np.kron(page, np.ones((3, 3), dtype=np.uint8))).save(big)
    base = ["parse", "--weights", str(kanji_prior), "--k", "1", "--steps", "3", "--json"]
    assert main([*base, str(native), "--quiet"]) == 0
    parsed = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert parsed["parses"] and parsed["parses"][0]["strokes"]
    assert main([*base, str(small), "--quiet"]) == 2
    assert "109×109" in capsys.readouterr().err
    assert main([*base, str(big), "--resize", "--quiet"]) == 0
