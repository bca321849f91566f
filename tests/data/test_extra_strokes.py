"""Extra stroke sources (e.g. the reconstructed strokes of all 30 background alphabets) read
after the official files: no drawing counted twice, the official version wins, overlaps counted."""

from __future__ import annotations

import numpy as np
import pytest

from gns_pyro.cli import main
from gns_pyro.data import Omniglot, parse_strokes
from gns_pyro.data.dataset import _cache_key
from gns_pyro.data.preprocess import SplineSettings
from gns_pyro.errors import DataError, DataNotFoundError
from tests.data.test_omniglot import stroke_text, write_zip


def _folder_with_extra(tmp_path):
    official = tmp_path / "data"
    official.mkdir()
    write_zip(
        official / "strokes_background_small1.zip",
        {
            "strokes_background_small1/Greek/character01/0001_01.txt": stroke_text(seed=1),
            "strokes_background_small1/Greek/character01/0001_02.txt": stroke_text(seed=2),
        },
    )
    extra = write_zip(
        tmp_path / "strokes_background.zip",
        {
            # the same drawing as an official one, but drawn otherwise: the official must win
            "strokes_background/Greek/character01/0001_01.txt": stroke_text(seed=9),
            "strokes_background/Korean/character03/0100_05.txt": stroke_text(seed=4),
            "strokes_background/Korean/character03/0100_06.txt": stroke_text(seed=5),
        },
    )
    return official, extra


def test_extra_strokes_add_drawings_and_the_official_file_wins(tmp_path):
    official, extra = _folder_with_extra(tmp_path)
    data = Omniglot(official, strokes=[extra])
    assert data.info()["strokes_background"] == {"alphabets": 2, "characters": 2, "drawings": 4}
    assert data.alphabets() == ["Greek", "Korean"]
    kept = data.read_drawing("Greek", "character01", "0001_01")
    expected = parse_strokes(stroke_text(seed=1))
    assert all(np.array_equal(a, b) for a, b in zip(kept.strokes, expected))
    added = data.read_drawing("Korean", "character03", "0100_06")
    drawn = parse_strokes(stroke_text(seed=5))
    assert all(np.array_equal(a, b) for a, b in zip(added.strokes, drawn))
    sources = data.stroke_sources("background")
    assert [(s["extra"], s["drawings"], s["added"], s["overlapping"]) for s in sources] == [
        (False, 2, 2, 0),
        (True, 3, 2, 1),
    ]
    assert data.info()["stroke_sources"]["background"] == sources
    # without the extra source, the folder is what it was
    assert Omniglot(official).info()["strokes_background"]["drawings"] == 2
    assert "stroke_sources" not in Omniglot(official).info()


def test_extra_strokes_are_part_of_the_spline_cache_key(tmp_path):
    official, extra = _folder_with_extra(tmp_path)
    settings = SplineSettings()
    plain = _cache_key(Omniglot(official), "background", ["Greek"], settings)
    with_extra = _cache_key(Omniglot(official, strokes=[extra]), "background", ["Greek"], settings)
    assert plain != with_extra


def test_bad_extra_stroke_sources_are_named(tmp_path):
    official, _ = _folder_with_extra(tmp_path)
    with pytest.raises(DataNotFoundError, match="stroke source not found"):
        Omniglot(official, strokes=[tmp_path / "missing.zip"])
    other = tmp_path / "my_strokes.zip"
    other.write_bytes(b"PK")
    with pytest.raises(DataError, match="named strokes_background"):
        Omniglot(official, strokes=[other])
    fake = tmp_path / "strokes_background_fake.zip"
    fake.write_text("not a zip")
    with pytest.raises(DataError, match="not a zip"):
        Omniglot(official, strokes=[fake])


def test_data_info_reports_the_overlaps(tmp_path, capsys):
    official, extra = _folder_with_extra(tmp_path)
    assert main(["data", "info", "--data-dir", str(official), "--strokes", str(extra)]) == 0
    out = capsys.readouterr().out
    assert "2 used, 1 already in an earlier source" in out


@pytest.mark.data
def test_reconstructed_strokes_cover_all_30_alphabets_without_double_counts(
    omniglot_dir, reconstructed_strokes
):
    with Omniglot(omniglot_dir, strokes=[reconstructed_strokes]) as data:
        counts = data.info()
        official, extra = counts["stroke_sources"]["background"][:-1], data.stroke_sources()[-1]
        assert counts["strokes_background"]["alphabets"] == 30
        assert counts["strokes_background"]["characters"] >= 962
        # every drawing counted once: the official ones plus what the extra source adds
        assert counts["strokes_background"]["drawings"] == (
            sum(s["added"] for s in official) + extra["added"]
        )
        assert extra["overlapping"] > 3000  # the README of the reconstruction: 3,734
        # a drawing in both is read from the official file
        with Omniglot(omniglot_dir) as plain:
            key = plain.keys("background", "strokes", alphabets=["Latin"])[0]
            mine, theirs = data.read_drawing(*key), plain.read_drawing(*key)
        assert len(mine.strokes) == len(theirs.strokes)
        assert all(np.array_equal(a, b) for a, b in zip(mine.strokes, theirs.strokes))


@pytest.mark.data
def test_check_render_with_the_reconstructed_strokes_reports_every_alphabet_drawn(
    omniglot_dir, reconstructed_strokes, capsys
):
    import json

    argv = ["data", "check-render", "--data-dir", str(omniglot_dir), "--n", "150", "--json"]
    assert main(argv + ["--strokes", str(reconstructed_strokes)]) == 0
    result = json.loads(capsys.readouterr().out)
    assert len(result["per_alphabet"]) > 20  # the official files alone hold 8
    assert sum(result["per_alphabet_n"].values()) == result["n"] == 150
    assert 0.7 < result["mean_iou"] < 0.95
