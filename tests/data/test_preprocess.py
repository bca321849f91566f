import numpy as np
import pytest
import torch

import gns_pyro.data.dataset as dataset_module
from gns_pyro.data import Omniglot
from gns_pyro.data.dataset import load_spline_dataset
from gns_pyro.data.fidelity import render_iou
from gns_pyro.data.preprocess import SplineSettings, drawing_to_splines, motor_to_image
from gns_pyro.errors import DataError
from gns_pyro.splines import bspline_basis, resample_path


@pytest.fixture(scope="module")
def latin(omniglot_dir):
    with Omniglot(omniglot_dir) as data:
        return list(data.drawings("background", "Latin"))[:60]


def test_motor_to_image_flips_y():
    pts = motor_to_image(np.array([[3.0, -7.0, 0.0], [4.0, -9.5, 12.0]]))
    np.testing.assert_allclose(pts, [[3.0, 7.0], [4.0, 9.5]])


@pytest.mark.data
def test_real_drawings_fit_under_threshold(latin):
    settings = SplineSettings()
    end_errors = []
    for drawing in latin:
        splines = drawing_to_splines(drawing.strokes, settings)
        assert len(splines) == len(drawing.strokes)
        for stroke, cpts in zip(drawing.strokes, splines):
            path = resample_path(motor_to_image(stroke), settings.spacing)
            assert 2 <= len(cpts) <= settings.max_control
            # independent check of the residual: evaluate the fitted curve at the path's params
            u = torch.linspace(0, 1, len(path), dtype=torch.float64)
            curve = (bspline_basis(u, len(cpts)) @ torch.tensor(cpts)).numpy()
            if len(path) > 1:
                assert np.mean(np.sum((curve - path) ** 2, 1)) < settings.threshold
            # clamped spline: starts and ends near where the pen did (least squares does not
            # pin the ends; measured on Latin + Korean: median 0.6 px, max 5.0 px)
            end_errors += [np.linalg.norm(curve[0] - path[0]), np.linalg.norm(curve[-1] - path[-1])]
    assert np.median(end_errors) < 1.0 and max(end_errors) < 6.0


def test_bad_drawings():
    with pytest.raises(DataError, match="empty stroke list"):
        drawing_to_splines([])
    with pytest.raises(DataError, match="no points"):
        drawing_to_splines([np.zeros((0, 3))])
    with pytest.raises(DataError, match="NaN"):
        drawing_to_splines([np.array([[1.0, np.nan, 0.0], [2.0, 3.0, 1.0]])])
    short = [
        np.array([[1.0, -1.0, 0.0], [1.5, -1.0, 5.0]]),
        np.array([[0.0, 0.0, 0], [30.0, 0, 9]]),
    ]
    assert len(drawing_to_splines(short)) == 2  # default keeps dots
    assert len(drawing_to_splines(short, SplineSettings(min_stroke_length=1.0))) == 1
    with pytest.raises(DataError, match="shorter than"):
        drawing_to_splines(short[:1], SplineSettings(min_stroke_length=1.0))


@pytest.mark.data
def test_render_agrees_with_official_images(omniglot_dir):
    # measured: mean IoU 0.841 over 500 seeded background drawings (0.841 over 1000)
    result = render_iou(omniglot_dir, n=500, seed=0)
    assert result["n"] == 500
    assert result["mean_iou"] > 0.82
    assert result["median_iou"] > 0.82


@pytest.mark.data
def test_dataset_cache(omniglot_dir, tmp_path, monkeypatch):
    first = load_spline_dataset(omniglot_dir, alphabets=["Latin"], cache_dir=tmp_path)
    assert len(first) == 26 * 20
    assert set(first.alphabets) == {"Latin"} and len(set(first.character_ids)) == 26
    assert first.parses.stroke_mask.any(-1).all()
    cached = list(tmp_path.glob("splines_background_*.pt"))
    assert len(cached) == 1

    def must_not_run(*args, **kwargs):
        raise AssertionError("the cache was not used")

    monkeypatch.setattr(dataset_module, "drawing_to_splines", must_not_run)
    again = load_spline_dataset(omniglot_dir, alphabets=["Latin"], cache_dir=tmp_path)
    torch.testing.assert_close(again.parses.offsets, first.parses.offsets)
    assert again.stems == first.stems
    monkeypatch.undo()

    # other settings make another cache entry; a damaged cache file is rebuilt
    load_spline_dataset(
        omniglot_dir,
        alphabets=["Latin"],
        cache_dir=tmp_path,
        settings=SplineSettings(threshold=2.0),
    )
    assert len(list(tmp_path.glob("splines_background_*.pt"))) == 2
    cached[0].write_bytes(b"garbage")
    with pytest.warns(UserWarning, match="rebuilding unreadable spline cache"):
        rebuilt = load_spline_dataset(omniglot_dir, alphabets=["Latin"], cache_dir=tmp_path)
    torch.testing.assert_close(rebuilt.parses.offsets, first.parses.offsets)

    # a pickled payload planted in the cache is refused and rebuilt, never run
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (marker.write_text, ("pwned",))

    torch.save({"parses": Payload(), "labels": []}, cached[0])
    with pytest.warns(UserWarning, match="rebuilding"):
        rebuilt = load_spline_dataset(omniglot_dir, alphabets=["Latin"], cache_dir=tmp_path)
    assert not marker.exists()
    torch.testing.assert_close(rebuilt.parses.offsets, first.parses.offsets)

    # a cache holding a NaN is not trusted either: rebuilt, not trained on
    saved = torch.load(cached[0], weights_only=True)
    saved["parses"]["offsets"][0, 0, 0, 0] = float("nan")
    torch.save(saved, cached[0])
    with pytest.warns(UserWarning, match="not finite"):
        rebuilt = load_spline_dataset(omniglot_dir, alphabets=["Latin"], cache_dir=tmp_path)
    torch.testing.assert_close(rebuilt.parses.offsets, first.parses.offsets)

    train, val = first.split_by_character(0.1, seed=0)
    assert len(train) + len(val) == len(first)
    assert not set(train.character_ids) & set(val.character_ids)
    assert len(set(val.character_ids)) == 3  # 10% of 26 characters, rounded


@pytest.mark.data
def test_dataset_alphabet_errors(omniglot_dir, tmp_path):
    with pytest.raises(DataError, match="Klingon"):
        load_spline_dataset(omniglot_dir, alphabets=["Klingon"], cache_dir=tmp_path)
    with pytest.raises(DataError, match="no alphabets left"):
        load_spline_dataset(
            omniglot_dir, alphabets=["Latin"], exclude_alphabets=["Latin"], cache_dir=tmp_path
        )


@pytest.mark.data
def test_an_unusable_cache_folder_is_named_before_any_drawing_is_read(
    omniglot_dir, tmp_path, monkeypatch
):
    """GNS_PYRO_CACHE naming a file failed only after minutes of spline fitting; now at once."""
    a_file = tmp_path / "cache"
    a_file.write_text("")
    monkeypatch.setenv("GNS_PYRO_CACHE", str(a_file))

    def must_not_run(*args, **kwargs):
        raise AssertionError("drawings were read before the cache folder was checked")

    monkeypatch.setattr(Omniglot, "drawings", must_not_run)
    with pytest.raises(DataError, match=r"cache folder .*cache \(GNS_PYRO_CACHE\) is a file"):
        load_spline_dataset(omniglot_dir, alphabets=["Latin"])
    monkeypatch.setenv("GNS_PYRO_CACHE", str(a_file / "below"))
    with pytest.raises(DataError, match="Not a directory"):
        load_spline_dataset(omniglot_dir, alphabets=["Latin"])


def test_a_data_zip_that_is_a_fifo_is_named(tmp_path):
    """A FIFO where images_background.zip belongs was passed over ("no images"); reading it
    would block, so it is refused by name."""
    import os

    os.mkfifo(tmp_path / "images_background.zip")
    with Omniglot(tmp_path) as data, pytest.raises(DataError, match="is a FIFO"):
        data.info()
