import dataclasses
import json
import math

import pytest
import torch

from gns_pyro.cli import main
from gns_pyro.errors import GNSError
from gns_pyro.pretrained import load_type_prior
from gns_pyro.train import TrainSettings, train_type_prior


@pytest.mark.data
def test_train_resume_and_record(omniglot_dir, tmp_path, capsys):
    out = tmp_path / "run"
    argv = [
        "train",
        "--data-dir",
        str(omniglot_dir),
        "--out",
        str(out),
        "--max-drawings",
        "120",
        "--batch-size",
        "40",
        "--no-progress",
        "--seed",
        "3",
    ]
    assert main(argv + ["--epochs", "1"]) == 0
    first = json.loads((out / "type_prior.json").read_text())
    assert first["epochs_run"] == 1
    # resume continues the same run: epoch 1 is not redone
    assert main(argv + ["--epochs", "2", "--resume"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    record = json.loads((out / "type_prior.json").read_text())
    assert record["epochs_run"] == 2 and summary["epochs_run"] == 2
    assert record["history"][0] == first["history"][0]
    assert "Tagalog" not in record["data"]["alphabets"]
    assert record["data"]["train"]["drawings"] + record["data"]["validation"]["drawings"] == 120
    for key in ("train", "validation"):
        assert set(record["nll"][key]) == {"per_drawing", "per_stroke"}
    assert set(record["ablations"]) == {"untrained_nets", "blank_canvas"}
    # even two tiny epochs beat the untrained nets
    assert (
        record["nll"]["validation"]["per_drawing"]
        < record["ablations"]["untrained_nets"]["per_drawing"]
    )
    parts = load_type_prior(out / "type_prior.pt")
    assert torch.isfinite(next(parts.parameters())).all()


@pytest.mark.data
def test_resume_with_other_settings_is_refused(omniglot_dir, tmp_path):
    settings = TrainSettings(epochs=1, max_drawings=30, batch_size=30)
    train_type_prior(tmp_path, settings, data_dir=omniglot_dir, progress=False)
    with pytest.raises(Exception, match=r"other settings \(batch_size: 30 then, 20 now\)"):
        train_type_prior(
            tmp_path,
            TrainSettings(epochs=1, max_drawings=30, batch_size=20),
            data_dir=omniglot_dir,
            resume=True,
            progress=False,
        )


@pytest.mark.data
def test_checkpoint_never_runs_code_from_the_file(omniglot_dir, tmp_path):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (marker.write_text, ("pwned",))

    torch.save({"settings": Payload()}, tmp_path / "checkpoint.pt")
    settings = TrainSettings(epochs=1, max_drawings=30, batch_size=30)
    with pytest.raises(GNSError, match="not a readable checkpoint"):
        train_type_prior(tmp_path, settings, data_dir=omniglot_dir, resume=True, progress=False)
    assert not marker.exists()


def test_cuda_asked_without_cuda(tmp_path, omniglot_dir):
    if torch.cuda.is_available():
        pytest.skip("CUDA is present here")
    with pytest.raises(Exception, match="CUDA is not available"):
        train_type_prior(tmp_path, TrainSettings(device="cuda"), data_dir=omniglot_dir)


@pytest.mark.data
def test_svi_steps_lower_the_validation_nll(omniglot_dir):
    import dataclasses
    from pathlib import Path

    import pyro

    from gns_pyro.train import evaluate_nll, load_training_data, start_or_resume

    settings = TrainSettings(max_drawings=200, batch_size=40, lr=3e-3, seed=1)
    train, val = load_training_data(settings, omniglot_dir)
    state = start_or_resume(settings, torch.device("cpu"), Path("/nonexistent"), resume=False)
    before = evaluate_nll(state.parts, val.parses)["per_drawing"]
    state.parts.train()
    batch = train.parses[torch.arange(40)].trim()
    with pyro.validation_enabled(False):
        for _ in range(8):
            loss = state.svi.step(state.parts, batch)
    after = evaluate_nll(state.parts, val.parses)["per_drawing"]
    assert after < before - 1.0, (before, after)
    # Trace_ELBO with every site observed is the mean NLL per drawing of the batch
    state.parts.eval()
    with torch.no_grad(), pyro.validation_enabled(False):
        nll = evaluate_nll(state.parts, batch)["per_drawing"]
    state.parts.train()
    assert state.svi.evaluate_loss(state.parts, batch) == pytest.approx(nll, rel=0.05)
    assert dataclasses.asdict(settings)["min_stroke_length"] == settings.min_stroke_length
    assert loss > 0


@pytest.mark.data
def test_param_store_holds_exactly_the_nets_being_trained(omniglot_dir, tmp_path):
    import pyro

    from gns_pyro.models import CharacterParts, generate_type

    # a module registered earlier under the same name must not reach the optimizer
    stale = CharacterParts()
    generate_type(stale, batch_size=1)
    assert len(pyro.get_param_store()) > 0
    settings = TrainSettings(epochs=1, max_drawings=30, batch_size=30)
    from gns_pyro.train import load_training_data, start_or_resume, train_epoch

    train, _ = load_training_data(settings, omniglot_dir)
    state = start_or_resume(settings, torch.device("cpu"), tmp_path / "none.pt", resume=False)
    before = {k: v.clone() for k, v in state.parts.state_dict().items()}
    train_epoch(state, train, settings, 0, progress=False)
    stored = {id(v) for v in pyro.get_param_store().values()}
    assert stored == {id(p) for p in state.parts.parameters()}
    assert stored.isdisjoint(id(p) for p in stale.parameters())
    changed = [k for k, v in state.parts.state_dict().items() if not torch.equal(v, before[k])]
    assert any(k.startswith("stroke_net.end_head") for k in changed)


@pytest.mark.data
def test_trained_nets_are_frozen_and_short_strokes_dropped(omniglot_dir, tmp_path):
    import pyro

    settings = TrainSettings(epochs=1, max_drawings=60, batch_size=30, min_stroke_length=15.0)
    record = train_type_prior(tmp_path, settings, data_dir=omniglot_dir, progress=False)
    assert record["data"]["spline_settings"]["min_stroke_length"] == 15.0
    assert record["steps"] == record["history"][-1]["steps"] == 2
    assert len(pyro.get_param_store()) == 0
    parts = load_type_prior(tmp_path / "type_prior.pt")
    assert not parts.training
    assert not any(p.requires_grad for p in parts.parameters())
    from gns_pyro.train import load_training_data

    train, val = load_training_data(settings, omniglot_dir)
    for data in (train, val):
        # every stroke left is at least 15 px of pen path; its spline spans most of it
        cps = data.parses.control_points[data.parses.stroke_mask]
        counts = data.parses.num_control[data.parses.stroke_mask]
        steps = (cps[:, 1:] - cps[:, :-1]).norm(dim=-1)
        mask = torch.arange(steps.shape[1]) < (counts - 1).unsqueeze(-1)
        assert ((steps * mask).sum(-1) > 5.0).all()
        assert (data.parses.num_strokes > 0).all()


@pytest.mark.data
def test_fine_tuning_with_the_frame_penalty_starts_from_the_weights_and_lowers_it(
    omniglot_dir, tmp_path, monkeypatch
):
    import gns_pyro.train.loop
    from gns_pyro.pretrained import TYPE_PRIOR_RECORD, TYPE_PRIOR_WEIGHTS

    monkeypatch.setattr(gns_pyro.train.loop, "FRAME_CHECK_SAMPLES", 48)  # 256 by default

    settings = TrainSettings(
        epochs=2,
        max_drawings=60,
        batch_size=20,
        lr=1e-3,
        init_weights=str(TYPE_PRIOR_WEIGHTS),
        frame_penalty=20.0,
        frame_samples=8,
    )
    record = train_type_prior(tmp_path, settings, data_dir=omniglot_dir, progress=False)
    start = record["init_weights"]
    shipped_record = json.loads(TYPE_PRIOR_RECORD.read_text())
    assert start["sha256"] == shipped_record["weights_sha256"]
    assert start["record"] == shipped_record  # the whole history travels with the weights
    # it started from the trained nets, not from random ones
    untrained = record["ablations"]["untrained_nets"]["per_drawing"]
    assert start["validation_nll"]["per_drawing"] < untrained - 20
    first = record["history"][0]["val_nll_per_drawing"]
    assert abs(first - start["validation_nll"]["per_drawing"]) < 10.0
    # and the penalty, measured on the same seeded samples' states, went down
    penalties = [h["frame_penalty"] for h in record["history"]]
    assert penalties[-1] < 0.8 * start["frame_penalty"], (start["frame_penalty"], penalties)


@pytest.mark.data
def test_initial_weights_of_another_architecture_are_refused(omniglot_dir, tmp_path):
    from gns_pyro.pretrained import TYPE_PRIOR_WEIGHTS

    weights = str(TYPE_PRIOR_WEIGHTS)
    settings = TrainSettings(
        epochs=1, max_drawings=30, batch_size=30, hidden_size=64, init_weights=weights
    )
    with pytest.raises(GNSError, match="init-weights .* give the settings"):
        train_type_prior(tmp_path, settings, data_dir=omniglot_dir, progress=False)


def test_initial_weights_may_differ_in_dropout_but_not_in_shape(tmp_path):
    from gns_pyro.pretrained import save_type_prior
    from gns_pyro.train import load_initial_weights, new_parts

    torch.manual_seed(0)
    start = new_parts(TrainSettings(hidden_size=32, attention_size=16, stroke_dropout=0.0))
    save_type_prior(start, tmp_path / "start.pt")
    # dropout holds no weights: a fine-tuning run may use another rate
    parts = new_parts(TrainSettings(hidden_size=32, attention_size=16, stroke_dropout=0.3))
    load_initial_weights(parts, tmp_path / "start.pt")
    assert parts.stroke_net.config["dropout"] == 0.3
    for key, value in start.state_dict().items():
        assert torch.equal(parts.state_dict()[key], value), key
    wider = new_parts(TrainSettings(hidden_size=48, attention_size=16))
    with pytest.raises(GNSError, match="hidden_size': 32"):
        load_initial_weights(wider, tmp_path / "start.pt")


def test_augment_warps_drawings_inside_the_frame_and_keeps_their_structure():
    import numpy as np

    from gns_pyro.parses import Parses
    from gns_pyro.train import augment

    line = np.array([[30.0, 40.0], [60.0, 45.0], [70.0, 80.0]])
    edge = np.array([[1.0, 1.0], [103.0, 103.0]])  # any scale-up takes it out of the frame
    parses = Parses.from_control_points([[line], [line, line + 5.0], [edge]])
    generator = torch.Generator().manual_seed(0)
    out = augment(parses, scale=0.2, shift=6.0, generator=generator)
    assert out.same_slots(parses)
    cps = out.control_points[out.stroke_mask]
    assert ((cps >= 0) & (cps <= 104)).all()
    assert not torch.allclose(out.locations[:2], parses.locations[:2])
    # a warp is affine: the first drawing's step lengths change by at most the scale range
    ratio = out.offsets[0, 0, :2].abs() / parses.offsets[0, 0, :2].abs()
    assert ((ratio > 0.79) & (ratio < 1.21)).all()
    # a warp that would leave the frame is not applied (unless it happens to shrink it)
    kept = [
        torch.equal(
            augment(parses, 0.2, 6.0, torch.Generator().manual_seed(s))[2].locations,
            parses[2].locations,
        )  # fmt: skip
        for s in range(20)
    ]
    assert any(kept)
    assert augment(parses, 0.0, 0.0) is parses


def test_augment_rotates_and_shears_about_the_centroid():
    import numpy as np

    from gns_pyro.parses import Parses
    from gns_pyro.renderer import control_point_centroid
    from gns_pyro.train import augment

    line = np.array([[40.0, 40.0], [60.0, 45.0], [65.0, 70.0]])
    parses = Parses.from_control_points([[line, line[::-1] + 3.0]] * 8)
    steps = parses.offsets[parses.offset_mask].norm(dim=-1)
    centroid = control_point_centroid(parses.control_points, parses.num_control)

    # a rotation alone is rigid: step lengths and the centroid stay, directions turn
    rotated = augment(parses, 0.0, 0.0, torch.Generator().manual_seed(0), rotate=20.0)
    assert torch.allclose(rotated.offsets[rotated.offset_mask].norm(dim=-1), steps, atol=1e-4)
    assert torch.allclose(
        control_point_centroid(rotated.control_points, rotated.num_control), centroid, atol=1e-4
    )
    first = parses.offsets[:, 0, 0]
    turned = rotated.offsets[:, 0, 0]
    angle = torch.atan2(turned[:, 1], turned[:, 0]) - torch.atan2(first[:, 1], first[:, 0])
    assert (angle.abs() > 1e-3).all() and (angle.abs() <= np.radians(20.0) + 1e-5).all()

    # a shear alone keeps every y and moves x by k (y - centroid y), |k| <= shear
    sheared = augment(parses, 0.0, 0.0, torch.Generator().manual_seed(1), shear=0.3)
    before = parses.control_points[parses.stroke_mask]
    after = sheared.control_points[sheared.stroke_mask]
    assert torch.allclose(after[..., 1], before[..., 1])
    dy = parses.control_points[..., 1] - centroid[:, None, None, 1]
    dx = sheared.control_points[..., 0] - parses.control_points[..., 0]
    k = dx[:, 0, 0] / dy[:, 0, 0]
    real = parses.stroke_mask
    assert torch.allclose(dx[real], (k[:, None, None] * dy)[real], atol=1e-4)
    assert (k.abs() <= 0.3).all() and (k.abs() > 0).all()

    # without rotation and shear the sequence of warps is the one the earlier versions drew
    plain = augment(parses, 0.1, 4.0, torch.Generator().manual_seed(2))
    g = torch.Generator().manual_seed(2)
    scales = 1 + (torch.rand(8, 2, generator=g) * 2 - 1) * 0.1
    shifts = (torch.rand(8, 2, generator=g) * 2 - 1) * 4.0
    expected = (parses.control_points - centroid[:, None, None]) * scales[:, None, None] + (
        centroid + shifts
    )[:, None, None]
    assert torch.allclose(plain.control_points[plain.stroke_mask], expected[parses.stroke_mask])


def test_every_train_setting_has_its_option_with_the_same_default():
    import dataclasses

    from gns_pyro.cli import build_parser

    args = build_parser().parse_args(["train"])
    for field in dataclasses.fields(TrainSettings):
        assert hasattr(args, field.name), field.name
        value = getattr(args, field.name)
        default = getattr(TrainSettings(), field.name)
        as_tuple = field.name in ("exclude", "strokes")  # lists on the command line
        assert (tuple(value) if as_tuple else value) == default, field.name


def _finished_run(folder, data: str):
    """A run folder as :func:`train_type_prior` leaves it: untrained weights and a record."""
    from gns_pyro.fileio import file_sha256, save_json
    from gns_pyro.models.character import CharacterParts
    from gns_pyro.pretrained import save_type_prior

    folder.mkdir()
    save_type_prior(CharacterParts(), folder / "type_prior.pt")
    record = {"settings": {"data": data}, "weights_sha256": file_sha256(folder / "type_prior.pt")}
    save_json(record, folder / "type_prior.json")
    return folder


def test_install_weights_copies_the_run_into_the_weights_folder(tmp_path, monkeypatch):
    import gns_pyro.train.record
    from gns_pyro.train import install_weights

    weights, record = tmp_path / "pkg" / "type_prior.pt", tmp_path / "pkg" / "type_prior.json"
    weights.parent.mkdir()
    monkeypatch.setattr(gns_pyro.train.record, "TYPE_PRIOR_WEIGHTS", weights)
    monkeypatch.setattr(gns_pyro.train.record, "TYPE_PRIOR_RECORD", record)
    run = _finished_run(tmp_path / "run", "omniglot")
    install_weights(run)
    assert weights.read_bytes() == (run / "type_prior.pt").read_bytes()
    assert record.read_text() == (run / "type_prior.json").read_text()


def test_install_weights_refuses_kanji_weights_and_runs_without_a_record(tmp_path, monkeypatch):
    import gns_pyro.train.record
    from gns_pyro.errors import GNSError
    from gns_pyro.train import install_weights

    weights = tmp_path / "pkg" / "type_prior.pt"
    monkeypatch.setattr(gns_pyro.train.record, "TYPE_PRIOR_WEIGHTS", weights)
    monkeypatch.setattr(gns_pyro.train.record, "TYPE_PRIOR_RECORD", weights.with_suffix(".json"))
    with pytest.raises(GNSError, match="CC BY-SA"):
        install_weights(_finished_run(tmp_path / "kanji", "kanji"))
    with pytest.raises(GNSError, match="no readable training record"):
        install_weights(tmp_path / "missing")
    assert not weights.exists()


@pytest.mark.data
def test_training_with_extra_strokes_keeps_the_official_validation_characters(
    omniglot_dir, reconstructed_strokes, tmp_path
):
    """With the reconstructed strokes, validation holds the characters that the official
    files alone hold out, plus a share of the others; the nets learn from the added
    alphabets, a few SVI steps lower the validation NLL, and the record reports both parts."""
    from pathlib import Path

    import pyro

    from gns_pyro.data import Omniglot
    from gns_pyro.train import evaluate_nll, load_training_data, start_or_resume

    keep = {"Latin", "Greek", "Futurama"}  # two official alphabets, one only reconstructed
    exclude = tuple(a for a in Omniglot(omniglot_dir, strokes=[reconstructed_strokes]).alphabets()
                    if a not in keep)  # fmt: skip
    official = set(Omniglot(omniglot_dir).alphabets())
    plain = TrainSettings(
        exclude=tuple(a for a in exclude if a in official), batch_size=40, lr=3e-3, seed=1
    )
    settings = dataclasses.replace(plain, exclude=exclude, strokes=(str(reconstructed_strokes),))
    official_train, official_val = load_training_data(plain, omniglot_dir)
    train, val = load_training_data(settings, omniglot_dir)
    assert val.groups["official_split"] == set(official_val.character_ids)
    assert val.groups["all_alphabets"].isdisjoint(val.groups["official_split"])
    assert set(val.character_ids) == val.groups["official_split"] | val.groups["all_alphabets"]
    assert set(train.character_ids).isdisjoint(val.character_ids)
    assert set(train.alphabets) == keep
    assert len(train) + len(val) > len(official_train) + len(official_val) + 200  # Futurama

    state = start_or_resume(settings, torch.device("cpu"), Path("/nonexistent"), resume=False)
    before = evaluate_nll(state.parts, val.parses)["per_drawing"]
    state.parts.train()
    pick = torch.randperm(len(train), generator=torch.Generator().manual_seed(0))[:40]
    batch = train.parses[pick]
    with pyro.validation_enabled(False):
        for _ in range(8):
            state.svi.step(state.parts, batch.trim())
    after = evaluate_nll(state.parts, val.parses)["per_drawing"]
    assert after < before - 1.0, (before, after)

    out = tmp_path / "run"
    argv = ["train", "--data-dir", str(omniglot_dir), "--strokes", str(reconstructed_strokes),
            "--out", str(out), "--exclude", *exclude, "--epochs", "1", "--max-drawings", "200",
            "--batch-size", "50", "--no-progress"]  # fmt: skip
    assert main(argv) == 0
    record = json.loads((out / "type_prior.json").read_text())
    parts = record["nll"]["validation_parts"]
    assert set(parts) <= {"official_split", "all_alphabets"} and parts
    assert sum(p["drawings"] for p in parts.values()) == record["data"]["validation"]["drawings"]
    sources = record["data"]["stroke_sources"]
    assert sources[-1]["extra"] and sources[-1]["overlapping"] > 0
    assert record["settings"]["strokes"] == [str(reconstructed_strokes)]


def test_resume_accepts_the_same_stroke_file_spelled_another_way(tmp_path, monkeypatch):
    """A checkpoint records --strokes as given; a relative and an absolute path to the same
    file are the same setting, another file is not."""
    import dataclasses

    from gns_pyro.errors import GNSError
    from gns_pyro.train.settings import check_resumable

    (tmp_path / "data").mkdir()
    monkeypatch.chdir(tmp_path / "data")
    absolute = TrainSettings(strokes=(str(tmp_path / "strokes_background.zip"),))
    saved = dataclasses.asdict(TrainSettings(strokes=("../strokes_background.zip",)))
    check_resumable(saved, absolute, tmp_path / "checkpoint.pt")
    check_resumable({**saved, "epochs": 3}, absolute, tmp_path / "checkpoint.pt")
    other = TrainSettings(strokes=(str(tmp_path / "other.zip"),))
    with pytest.raises(GNSError, match=r"other settings \(strokes: "):
        check_resumable(saved, other, tmp_path / "checkpoint.pt")


@pytest.mark.data
def test_a_checkpoint_that_contradicts_itself_is_refused(omniglot_dir, tmp_path):
    """Hand-edited or damaged checkpoints are not resumed from: one line naming the problem."""
    settings = TrainSettings(epochs=2, max_drawings=30, batch_size=30)
    train_type_prior(tmp_path, settings, data_dir=omniglot_dir, progress=False)
    path = tmp_path / "checkpoint.pt"
    good = torch.load(path, weights_only=True)
    first = next(iter(good["model"]))
    edits = {
        "negative epoch": {**good, "epoch": -5},
        "huge epoch": {**good, "epoch": 10**30},
        "NaN best": {**good, "best_val": float("nan")},
        "wrong best": {**good, "best_epoch": 2 if good["best_epoch"] == 1 else 1},
        "NaN weights": {**good, "model": {**good["model"], first: good["model"][first] * math.nan}},
        "garbage history": {**good, "history": "garbage"},
        "missing field": {k: v for k, v in good.items() if k != "optimizer"},
    }
    for what, edited in [*edits.items(), ("a list", [1, 2])]:
        torch.save(edited, path)
        with pytest.raises(GNSError, match="not a checkpoint to resume from") as err:
            train_type_prior(tmp_path, settings, data_dir=omniglot_dir, resume=True, progress=False)
        assert "\n" not in str(err.value), what
