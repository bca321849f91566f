"""``gns-pyro sample --alphabet DIR``: bad folders are one line; a good one writes a grid of the
given characters and new ones, with the inferred style in --json."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from gns_pyro.cli import main
from gns_pyro.models import CharacterParts
from gns_pyro.pretrained import save_type_prior


def one_line_error(capsys, argv, match):
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert match in err, err
    assert "Traceback" not in err


def write_png(path, bar_row: int):
    page = np.full((105, 105), 255, dtype=np.uint8)
    page[bar_row : bar_row + 4, 20:85] = 0
    page[20:85, 50:54] = 0
    Image.fromarray(page).save(path)


@pytest.fixture
def styled_weights(tmp_path):
    torch.manual_seed(0)
    parts = CharacterParts(style_dim=2).eval()
    path = tmp_path / "alphabet_prior.pt"
    save_type_prior(parts, path)
    return path


def test_bad_alphabet_folders_are_one_line(tmp_path, capsys, styled_weights):
    out = str(tmp_path / "grid.png")
    base = ["sample", "--out", out, "--weights", str(styled_weights), "--alphabet"]
    one_line_error(capsys, base + [str(tmp_path / "missing")], "not found")
    empty = tmp_path / "empty"
    empty.mkdir()
    one_line_error(capsys, base + [str(empty)], "holds 0 PNG image(s)")
    single = tmp_path / "single"
    single.mkdir()
    write_png(single / "a.png", 30)
    one_line_error(capsys, base + [str(single)], "holds 1 PNG image(s)")
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    write_png(mixed / "a.png", 30)
    (mixed / "notes.txt").write_text("not an image")
    one_line_error(capsys, base + [str(mixed)], "not PNG images: notes.txt")
    broken = tmp_path / "broken"
    broken.mkdir()
    write_png(broken / "a.png", 30)
    (broken / "b.png").write_bytes(b"this is no PNG")
    one_line_error(capsys, base + [str(broken)], "b.png")
    blank = tmp_path / "blank"
    blank.mkdir()
    for name in ("a", "b", "c"):
        write_png(blank / f"{name}.png", 30)
    Image.fromarray(np.full((105, 105), 255, dtype=np.uint8)).save(blank / "b.png")
    one_line_error(capsys, base + [str(blank)], "b.png: the image has no ink")
    one_line_error(capsys, base + [str(single / "a.png")], "is not a folder")


def test_weights_without_an_alphabet_level_are_refused(tmp_path, capsys):
    folder = tmp_path / "alphabet"
    folder.mkdir()
    write_png(folder / "a.png", 30)
    write_png(folder / "b.png", 60)
    plain = tmp_path / "plain.pt"
    save_type_prior(CharacterParts().eval(), plain)
    argv = ["sample", "--alphabet", str(folder), "--weights", str(plain)]
    one_line_error(capsys, argv + ["--out", str(tmp_path / "g.png")], "without an alphabet level")
    one_line_error(
        capsys,
        ["sample", "--alphabet", str(folder), "--exemplars", "2", "--out", str(tmp_path / "g.png")],
        "--alphabet draws plain new characters",
    )


def test_sample_in_style_of_two_images_writes_grid_and_style(
    tmp_path, capsys, styled_weights, monkeypatch
):
    import gns_pyro.inference.posterior as posterior
    from gns_pyro.inference.refinement import initial_tokens
    from gns_pyro.parses import Parses

    parsed = []

    def bar(image, parts, k=5, seed=0, **kwargs):  # parsing itself: notebook 06, tests/inference
        parsed.append(image)
        types = Parses.from_control_points([[np.array([[30.0, 50.0], [75.0, 52.0]])]])
        return posterior.Posterior(image, types, initial_tokens(types), torch.zeros(1), 1)

    monkeypatch.setattr(posterior, "infer", bar)
    folder = tmp_path / "alphabet"
    folder.mkdir()
    write_png(folder / "a.png", 30)
    write_png(folder / "b.png", 60)
    out = tmp_path / "grid.png"
    argv = ["sample", "--alphabet", str(folder), "--weights", str(styled_weights), "--n", "3"]
    argv += ["--k", "1", "--json", "--quiet", "--out", str(out)]
    assert main(argv) == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert [g["image"] for g in record["given"]] == ["a.png", "b.png"]
    assert len(record["types"]) == 3 and len(record["style"]["loc"]) == 2
    assert Image.open(out).size[0] > 0
    assert len(parsed) == 2 and parsed[0].dtype == torch.bool  # each image, read as a mask
