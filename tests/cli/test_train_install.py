"""``gns-pyro train --install``: installing the weights is the command's action, after the
training (:func:`gns_pyro.train.install_weights`), never the library's."""

import json

import pytest

from gns_pyro.cli import main


@pytest.mark.data
def test_install_copies_the_finished_run_after_training(omniglot_dir, tmp_path, monkeypatch):
    import gns_pyro.train

    installed = []

    def install(run_dir):  # stands in for the copy into the package's weights folder
        assert (tmp_path / "run" / "type_prior.pt").is_file(), "installed before training ended"
        installed.append(str(run_dir))

    monkeypatch.setattr(gns_pyro.train, "install_weights", install)
    argv = ["train", "--data-dir", str(omniglot_dir), "--out", str(tmp_path / "run")]
    argv += ["--max-drawings", "40", "--batch-size", "20", "--epochs", "1", "--quiet"]
    assert main(argv) == 0 and installed == []  # without --install nothing is copied
    assert main([*argv, "--install"]) == 0
    assert installed == [str(tmp_path / "run")]
    assert json.loads((tmp_path / "run" / "type_prior.json").read_text())["epochs_run"] == 1
