"""Bad input and fault cases against the command line, as a new (or hostile) user would try them.

Each case runs ``gns-pyro`` in this process, in an empty working folder, and asserts one of:

* ``usage``: argparse refuses the value before any work starts (exit 2; the last stderr line
  is ``gns-pyro <command>: error: ...`` and names the problem);
* ``error``: gns-pyro's own one-line error (exit 2, a single stderr line ``gns-pyro: error:
  ...`` naming the file or value).

In every case: no traceback, and nothing is written outside the case's output folder.
"""

from __future__ import annotations

import json
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gns_pyro.cli import main

#: an image path placeholder that each case's setup replaces with a real file
IMAGE = "{image}"
OUT = "{out}"
DATA = "{data}"
RUNS = "{runs}"
WEIGHTS = "{weights}"


# ----------------------------------------------------------------------------- inputs
def _page() -> np.ndarray:
    return np.full((105, 105), 255, np.uint8)


def _cross() -> np.ndarray:
    img = _page()
    img[20:80, 50:53] = 0
    img[50:53, 25:80] = 0
    return img


def _save(img, path: Path, mode: str | None = None) -> Path:
    Image.fromarray(img, mode=mode).save(path) if isinstance(img, np.ndarray) else img.save(path)
    return path


def _specks(n: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    img = _page()
    for r, c in rng.integers(3, 100, size=(n, 2)):
        img[r : r + 3, c : c + 3] = 0  # 3x3 blobs: too big to be dropped as specks
    return img


def make_image(kind: str, folder: Path) -> Path:
    """One bad (or borderline) image file of the given kind."""
    path = folder / f"{kind}.png"
    if kind == "blank":
        return _save(_page(), path)
    if kind == "all_ink":
        return _save(np.zeros((105, 105), np.uint8), path)
    if kind == "small":
        return _save(np.zeros((50, 50), np.uint8), path)
    if kind == "wide":
        return _save(np.full((105, 300), 255, np.uint8), path)
    if kind == "one_pixel":
        return _save(np.zeros((1, 1), np.uint8), path)
    if kind == "colour":
        rgb = np.stack([_cross()] * 3, -1)
        rgb[..., 0] = 200
        return _save(rgb, path)
    if kind == "not_png":
        path.write_text("this is not a picture")
        return path
    if kind == "empty_file":
        path.write_bytes(b"")
        return path
    if kind == "truncated":
        full = folder / "full.png"
        _save(_cross(), full)
        data = full.read_bytes()
        full.unlink()
        path.write_bytes(data[: len(data) // 2])
        return path
    if kind == "inverted":
        return _save(255 - _cross(), path)
    if kind == "many_pieces":
        return _save(_specks(60), path)
    if kind.startswith("noise"):
        level = int(kind.split("_")[1]) / 100 if "_" in kind else 0.5
        rng = np.random.default_rng(0)
        return _save(np.where(rng.random((105, 105)) < level, 0, 255).astype(np.uint8), path)
    if kind == "folder":
        path.mkdir()
        return path
    if kind == "missing":
        return folder / "no_such_image.png"
    if kind == "huge":
        return _save(Image.new("1", (30000, 30000), 1), path)
    if kind == "zip_renamed":
        with zipfile.ZipFile(path, "w") as z:
            z.writestr("a.txt", "x")
        return path
    if kind == "postscript":  # PIL's EPS plugin would hand this program to Ghostscript
        path.write_bytes(b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 105 105\nshowpage\n")
        return path
    if kind == "link_loop":
        other = folder / "other.png"
        other.symlink_to(path)
        path.symlink_to(other)
        return path
    if kind == "speck":
        img = _page()
        img[50, 50] = 0
        return _save(img, path)
    raise ValueError(kind)


IMAGE_CASES = {
    "blank": "no ink",
    "all_ink": "ink",
    "small": "105×105",
    "wide": "105×105",
    "one_pixel": "105×105",
    "colour": "colour",
    "not_png": "not a readable image",
    "empty_file": "not a readable image",
    "truncated": "not a readable image",
    "inverted": "inverted",
    "many_pieces": "pieces",
    "noise": "ink",
    "noise_20": "pieces",
    "folder": "is a folder, not a regular file",
    "missing": "not found",
    "zip_renamed": "not a readable image",
    "postscript": "read as PNG, JPEG, GIF or BMP only",
    "link_loop": "symbolic link",
}

#: images --resize must refuse as the frame's checks would (cropping to the ink would hide it)
RESIZE_CASES = {"all_ink": "inverted", "inverted": "inverted", "speck": "only specks"}


def make_weights(kind: str, folder: Path) -> Path:
    """A weights file that must be refused, of the given kind."""
    from gns_pyro.pretrained import TYPE_PRIOR_WEIGHTS

    good = torch.load(TYPE_PRIOR_WEIGHTS, weights_only=True)
    path = folder / f"weights_{kind}.pt"
    if kind == "missing":
        return folder / "no_weights.pt"
    if kind == "random_bytes":
        path.write_bytes(np.random.default_rng(0).bytes(4096))
    elif kind == "truncated":
        data = TYPE_PRIOR_WEIGHTS.read_bytes()
        path.write_bytes(data[: len(data) // 3])
    elif kind == "json":
        path.write_text(json.dumps({"format": good["format"]}))
    elif kind == "no_state_dict":
        torch.save({"format": good["format"], "config": good["config"]}, path)
    elif kind == "no_config":
        torch.save({"format": good["format"], "state_dict": good["state_dict"]}, path)
    elif kind == "a_list":
        torch.save([1, 2, 3], path)
    elif kind == "negative_size":
        config = json.loads(json.dumps(good["config"]))
        key = next(k for k, v in config.items() if isinstance(v, int) and not isinstance(v, bool))
        config[key] = -4
        torch.save({**good, "config": config}, path)
    elif kind == "absurd_size":
        config = json.loads(json.dumps(good["config"]))
        key = next(k for k, v in config.items() if isinstance(v, int) and not isinstance(v, bool))
        config[key] = 10**6
        torch.save({**good, "config": config}, path)
    elif kind == "nan_values":
        state = {k: torch.full_like(v, float("nan")) if v.is_floating_point() else v
                 for k, v in good["state_dict"].items()}  # fmt: skip
        torch.save({**good, "state_dict": state}, path)
    elif kind == "other_architecture":
        state = dict(good["state_dict"])
        state.pop(sorted(state)[0])
        torch.save({**good, "state_dict": state}, path)
    elif kind == "checksum":
        shutil.copy(TYPE_PRIOR_WEIGHTS, path)
        shutil.copy(TYPE_PRIOR_WEIGHTS.with_suffix(".json"), path.with_suffix(".json"))
        data = bytearray(path.read_bytes())
        for i in range(2000, 4000):
            data[i * 7 % len(data)] ^= 0x5A
        path.write_bytes(bytes(data))
    elif kind == "old_format":  # torch's legacy (non-zip) format: torch warns in extra lines
        torch.save([1, 2], path, _use_new_zipfile_serialization=False)
    elif kind == "huge_architecture":  # every size within bounds, terabytes together
        config = json.loads(json.dumps(good["config"]))
        config["stroke_net"].update(hidden_size=4096, attention_size=4096, num_layers=64)
        torch.save({**good, "config": config}, path)
    elif kind == "deep_config":
        config = json.loads(json.dumps(good["config"]))
        deep: list = []
        for _ in range(400):  # (deep enough; pickling much deeper needs a higher limit)
            deep = [deep]
        config["location_net"]["channels"] = deep
        torch.save({**good, "config": config}, path)
    elif kind == "empty_channels":
        config = json.loads(json.dumps(good["config"]))
        config["location_net"]["channels"] = []
        torch.save({**good, "config": config}, path)
    elif kind == "payload":
        marker = folder / "ran"

        class Payload:
            def __reduce__(self):
                return (marker.write_text, ("pwned",))

        torch.save({"format": good["format"], "config": Payload()}, path)
    else:
        raise ValueError(kind)
    return path


WEIGHTS_CASES = {
    "missing": "no trained weights",
    "random_bytes": "not a readable torch file",
    "json": "not a readable torch file",
    "truncated": "not a readable torch file",
    "no_state_dict": "not a gns-pyro type-prior weights file",
    "no_config": "not a gns-pyro type-prior weights file",
    "a_list": "not a gns-pyro type-prior weights file",
    "negative_size": "not a size",
    "absurd_size": "not a size",
    "nan_values": "NaN",
    "other_architecture": "another architecture",
    "checksum": "checksum",
    "payload": "never loaded",
    "old_format": "not a gns-pyro type-prior weights file",
    "huge_architecture": "over the cap",
    "empty_channels": "location_net.channels is an empty list",
    "deep_config": "weights_deep_config.pt: its architecture description is nested too deeply",
}


def make_runs(kind: str, folder: Path, omniglot_dir: Path) -> Path:
    """A runs folder with one run (run03) broken in the given way."""
    runs = folder / "runs"
    run = runs / "run03"
    source = omniglot_dir / "one-shot-classification" / "run03"
    if kind == "empty":
        runs.mkdir()
        return runs
    if kind == "fifo_zip":
        runs.mkdir()
        os.mkfifo(runs / "all_runs.zip")  # reading it would block forever
        return runs
    shutil.copytree(source, run)
    labels = run / "class_labels.txt"
    lines = labels.read_text().splitlines()
    if kind == "empty_labels":
        labels.write_text("")
    elif kind == "contradictory_labels":
        first_test, first_class = lines[0].split()
        other = next(c for _, c in (line.split() for line in lines) if c != first_class)
        labels.write_text("\n".join([*lines, f"{first_test} {other}"]) + "\n")
    elif kind == "extra_training_png":
        shutil.copy(run / "training" / "class01.png", run / "training" / "class21.png")
    elif kind == "unlabelled_item":
        labels.write_text("\n".join(lines[1:]) + "\n")
    elif kind == "missing_image":
        (run / "test" / "item05.png").unlink()
    elif kind == "garbled_labels":
        labels.write_text("just one field per line\nitem01\n")
    elif kind == "bad_image":
        (run / "test" / "item02.png").write_text("not a png")
    elif kind == "no_labels_file":
        labels.unlink()
    elif kind == "blank_class_image":  # the first image parsed: the error comes at once
        Image.fromarray(_page()).save(run / "training" / "class01.png")
    else:
        raise ValueError(kind)
    return runs


RUNS_CASES = {
    "empty": "no one-shot runs",
    "empty_labels": "no label lines",
    "contradictory_labels": "labelled twice",
    "extra_training_png": "no test item's class",
    "unlabelled_item": "no label",
    "missing_image": "item05",
    "garbled_labels": "expected",
    "bad_image": "item02",
    "no_labels_file": "run03/class_labels.txt",
    "blank_class_image": "run03 class01: the image has no ink",
    "fifo_zip": "all_runs.zip is a FIFO",
}


# ------------------------------------------------------------------------------ cases
def _cases():
    cases = []

    def usage(case_id, argv, match):
        cases.append(pytest.param("usage", argv, match, id=case_id))

    def error(case_id, argv, match):
        cases.append(pytest.param("error", argv, match, id=case_id))

    # --- images: every command that reads one
    for command in ("parse", "marginal", "exemplars"):
        for kind, match in IMAGE_CASES.items():
            error(f"{command}-image-{kind}", [command, f"{{image:{kind}}}", "--k", "1"], match)
    error("parse-image-huge", ["parse", "{image:huge}"], "too large")
    for kind, match in RESIZE_CASES.items():
        error(f"parse-resize-{kind}", ["parse", f"{{image:{kind}}}", "--resize"], match)
    error("parse-image-empty-path", ["parse", ""], "empty")
    # an empty path option used to mean its default: `--runs ''` quietly ran the real runs
    for case_id, argv in {
        "classify-runs-empty-path": ["classify", "--runs", "", "--out", OUT],
        "classify-weights-blank-path": ["classify", "--weights", " ", "--out", OUT],
        "likelihood-data-dir-empty-path": ["likelihood", "--data-dir", "", "--out", OUT],
        "data-info-data-dir-empty-path": ["data", "info", "--data-dir", ""],
        "data-info-strokes-empty-path": ["data", "info", "--strokes", ""],
        "sample-alphabet-empty-path": ["sample", "--alphabet", "", "--out", "{out}/s.png"],
    }.items():
        usage(case_id, argv, "empty path")

    # --- numbers that argparse refuses
    bad_numbers = {
        "--k": ["0", "-1", "x", "1.5", ""],
        "--seed": ["-1", str(2**63), "nan", "x"],
    }
    for command in ("parse", "marginal", "exemplars"):
        for flag, values in bad_numbers.items():
            for value in values:
                usage(f"{command}{flag}={value}", [command, IMAGE, flag, value], flag)
        usage(f"{command}--device=tpu", [command, IMAGE, "--device", "tpu"], "--device")
    for value in ("0", "-5", "x"):
        usage(f"parse--steps={value}", ["parse", IMAGE, "--steps", value], "--steps")
        usage(f"marginal--steps={value}", ["marginal", IMAGE, "--steps", value], "--steps")
    for value in ("-1", "x"):
        usage(
            f"marginal--polish-steps={value}",
            ["marginal", IMAGE, "--polish-steps", value],
            "--polish-steps",
        )
    for value in ("0", "-1", "nan", "inf", "-inf", "x"):
        usage(
            f"exemplars--temperature={value}",
            ["exemplars", IMAGE, "--temperature", value],
            "--temperature",
        )
        usage(f"sample--temperature={value}", ["sample", "--temperature", value], "--temperature")
    for value in ("0", "-1", "x", "100000", "1000000"):
        usage(f"sample--n={value}", ["sample", "--n", value], "--n")
    for value in ("0", "-1", "x"):
        usage(f"exemplars--n={value}", ["exemplars", IMAGE, "--n", value], "--n")
    for value in ("-1", str(2**32), "1e3"):
        usage(f"sample--seed={value}", ["sample", "--seed", value], "--seed")
    error("sample-too-many-exemplars", ["sample", "--n", "2000", "--exemplars", "50"], "20000")
    for value in ("0", "-1", "x"):
        usage(f"sample--max-strokes={value}", ["sample", "--max-strokes", value], "--max-strokes")

    # --- output paths, checked before any work
    out_cases = {
        "missing_folder": ("{tmp}/nowhere/x.png", "does not exist"),
        "a_folder": ("{tmp}", "folder"),
        "txt": ("{tmp}/x.txt", ".png"),
        "no_extension": ("{tmp}/x", ".png"),
        "proc": ("/proc/x.png", "write"),
    }
    for name, (path, match) in out_cases.items():
        usage(f"parse--out-{name}", ["parse", IMAGE, "--out", path], match)
        usage(f"exemplars--out-{name}", ["exemplars", IMAGE, "--out", path], match)
        usage(f"sample--out-{name}", ["sample", "--out", path], match)
    error("parse--out-is-the-input", ["parse", IMAGE, "--out", IMAGE], "is the input image")
    for command in ("demo", "classify", "likelihood", "parse-eval"):
        usage(f"{command}--out-a-file", [command, "--out", "{tmp}/a_file.txt"], "file")
        usage(f"{command}--out-under-a-file", [command, "--out", "{tmp}/a_file.txt/x"], "file")

    # --- demo
    for flag in ("--concepts", "--ways", "--parse-steps", "--refit-steps"):
        for value in ("0", "-3", "x"):
            usage(f"demo{flag}={value}", ["demo", "--out", OUT, flag, value], flag)
    error("demo--ways=1", ["demo", "--out", OUT, "--ways", "1"], "--ways")
    error(
        "demo-ways-over-concepts",
        ["demo", "--out", OUT, "--ways", "9", "--concepts", "4"],
        "--ways",
    )
    usage("demo--device=gpu7", ["demo", "--out", OUT, "--device", "gpu7"], "device")

    # --- classify: selections, shards, settings, runs folders
    classify = ["classify", "--runs", DATA, "--out", OUT]
    for value in ("abc", "5-1", "1-", "1-2-3", "0", "-3", "1,,2", " ", ""):
        error(f"classify--select={value!r}", [*classify, "--select", value], "--select")
    error("classify--select-absent-run", [*classify, "--select", "99"], "run99")
    for value in ("x", "0/0", "3/2", "0/4", "1-2", "1/", "/3", "a/b", "1/100000000000000000000"):
        error(f"classify--shard={value}", [*classify, "--select", "3", "--shard", value], "shard")
    error(
        "classify--shard=25/30", [*classify, "--select", "3", "--shard", "25/30"], "none in shard"
    )
    for flag in ("--k", "--keep", "--workers", "--threads", "--parse-steps", "--race-steps"):
        usage(f"classify{flag}=0", [*classify, flag, "0"], flag)
    usage("classify--screen-steps=-1", [*classify, "--screen-steps", "-1"], "--screen-steps")
    usage("classify--seed=-1", [*classify, "--seed", "-1"], "--seed")
    error(
        "classify-summarize-with-workers",
        [*classify, "--summarize", "--workers", "2"],
        "--summarize",
    )
    error("classify-shard-with-workers", [*classify, "--shard", "1/2", "--workers", "2"], "--shard")
    error("classify-no-wait-without-slurm", [*classify, "--no-wait"], "--no-wait")
    error(
        "classify-slurm-without-slurm",
        [*classify, "--select", "3", "--workers", "2", "--slurm", "--no-wait"],
        "no Slurm",
    )
    error("classify-missing-runs", ["classify", "--runs", "{tmp}/none", "--out", OUT], "none")
    for kind, match in RUNS_CASES.items():
        error(
            f"classify-runs-{kind}",
            ["classify", "--runs", f"{{runs:{kind}}}", "--out", OUT, "--quiet"],
            match,
        )
    error(
        "classify-weights-checksum",
        [*classify, "--select", "3", "--weights", "{weights:checksum}"],
        "checksum",
    )

    # --- likelihood and parse-eval
    for command in ("likelihood", "parse-eval"):
        base = [command, "--data-dir", DATA, "--out", OUT]
        for value in ("0", "-2", "x"):
            usage(f"{command}--n={value}", [*base, "--n", value], "--n")
        usage(f"{command}--seed=-1", [*base, "--seed", "-1"], "--seed")
        usage(f"{command}--workers=0", [*base, "--workers", "0"], "--workers")
        for value in ("x", "0/4", "5/4"):
            error(f"{command}--shard={value}", [*base, "--n", "1", "--shard", value], "shard")
        error(
            f"{command}-missing-data", [command, "--data-dir", "{tmp}/none", "--out", OUT], "none"
        )
        error(f"{command}-weights-nan", [*base, "--weights", "{weights:nan_values}"], "NaN")
        error(f"{command}-summarize-with-slurm", [*base, "--summarize", "--slurm"], "--summarize")
    usage("likelihood--k=0", ["likelihood", "--k", "0"], "--k")
    usage("likelihood--split=test", ["likelihood", "--split", "test"], "--split")
    usage("likelihood--polish-steps=-1", ["likelihood", "--polish-steps", "-1"], "--polish-steps")

    # --- weights, through the cheapest command that loads them
    for kind, match in WEIGHTS_CASES.items():
        error(
            f"sample-weights-{kind}",
            ["sample", "--out", "{tmp}/s.png", "--weights", f"{{weights:{kind}}}"],
            match,
        )
    for kind in ("no_state_dict", "absurd_size", "payload"):
        error(
            f"parse-weights-{kind}",
            ["parse", IMAGE, "--weights", f"{{weights:{kind}}}"],
            WEIGHTS_CASES[kind],
        )

    # --- train
    train = ["train", "--data-dir", DATA, "--out", OUT]
    for flag in ("--epochs", "--batch-size", "--max-drawings"):
        for value in ("0", "-1", "x"):
            usage(f"train{flag}={value}", [*train, flag, value], flag)
    for value in ("0", "-1", "nan", "inf", "1e300"):
        usage(f"train--lr={value}", [*train, "--lr", value], "--lr")
    usage("train--min-stroke-length=1e300", [*train, "--min-stroke-length", "1e300"], "1000")
    for value in ("0", "1", "1.5", "-0.1", "nan"):
        usage(f"train--val-fraction={value}", [*train, "--val-fraction", value], "--val-fraction")
    for flag in (
        "--min-stroke-length",
        "--augment-shift",
        "--augment-rotate",
        "--augment-shear",
        "--frame-penalty",
    ):
        for value in ("-1", "nan", "x"):
            usage(f"train{flag}={value}", [*train, flag, value], flag)
    for flag in ("--stroke-dropout", "--augment-scale"):
        for value in ("1", "-0.1", "nan"):
            usage(f"train{flag}={value}", [*train, flag, value], flag)
    for flag in ("--hidden-size", "--attention-size", "--frame-samples"):
        for value in ("0", "x"):
            usage(f"train{flag}={value}", [*train, flag, value], flag)
    error("train-missing-data", ["train", "--data-dir", "{tmp}/none", "--out", OUT], "none")
    error("train-missing-init-weights", [*train, "--init-weights", "{tmp}/no.pt"], "no.pt")

    # --- data
    error("data-info-corrupt-zip", ["data", "info", "--data-dir", "{corrupt_zip}"], "zip")
    error("data-info-missing", ["data", "info", "--data-dir", "{tmp}/none"], "none")
    error("data-info-a-file", ["data", "info", "--data-dir", "{tmp}/a_file.txt"], "not a folder")
    usage("data-check-render--n=0", ["data", "check-render", "--data-dir", DATA, "--n", "0"], "--n")
    usage("data-download--what=bad", ["data", "download", "--what", "everything"], "--what")
    error(
        "data-download-bad-base-url",
        ["data", "download", "--data-dir", OUT, "--base-url", "ftp://[::1"],
        "--base-url",
    )
    return cases


CASES = _cases()


def test_there_are_two_hundred_cases():
    assert len(CASES) >= 200


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """An empty working folder: outputs that default to relative paths land here."""
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    monkeypatch.delenv("GNS_PYRO_DATA", raising=False)
    return work


def _fill(argv, tmp_path: Path, omniglot_dir: Path | None) -> tuple[list[str], Path]:
    inputs = tmp_path / "inputs"
    inputs.mkdir(exist_ok=True)
    out = tmp_path / "out"
    (tmp_path / "a_file.txt").write_text("x")
    filled = []
    for arg in argv:
        if arg == IMAGE:
            arg = str(_save(_cross(), inputs / "cross.png"))
        elif arg.startswith("{image:"):
            arg = str(make_image(arg[7:-1], inputs))
        elif arg.startswith("{weights:"):
            arg = str(make_weights(arg[9:-1], inputs))
        elif arg.startswith("{runs:"):
            arg = str(make_runs(arg[6:-1], inputs, omniglot_dir))
        elif arg == "{corrupt_zip}":
            folder = inputs / "zipped"
            folder.mkdir()
            (folder / "images_background.zip").write_bytes(b"PK\x03\x04 this is not a zip")
            arg = str(folder)
        elif arg == DATA:
            arg = str(omniglot_dir)
        arg = arg.replace(OUT, str(out)).replace("{tmp}", str(tmp_path))
        filled.append(arg)
    return filled, out


def _files(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*")}


@pytest.mark.parametrize("expect, argv, match", CASES)
def test_bad_input_is_one_clear_line(expect, argv, match, tmp_path, workdir, capsys, request):
    needs_data = any(a in (DATA,) or a.startswith("{runs:") for a in argv)
    omniglot_dir = request.getfixturevalue("omniglot_dir") if needs_data else None
    argv, out = _fill(argv, tmp_path, omniglot_dir)
    before = _files(tmp_path)
    if expect == "usage":
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        code = exit_info.value.code
    else:
        code = main(argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    if expect == "usage":
        assert lines[-1].startswith("gns-pyro") and ": error: " in lines[-1], err
        assert match in lines[-1], err
    else:
        assert len(lines) == 1 and lines[0].startswith("gns-pyro: error: "), err
        assert match in lines[0], err
    written = {p for p in _files(tmp_path) - before if out not in p.parents and p != out}
    assert not written, f"written outside the output folder: {sorted(written)}"
    assert not (tmp_path / "inputs" / "ran").exists(), "a payload in an input file ran"
