import json

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
    with pytest.raises(Exception, match="other settings"):
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
