import json

import numpy as np
import pytest
import torch
from PIL import Image

from gns_pyro.cli import main
from gns_pyro.nearest import BackgroundIndex, image_features


def _bar(row=None, col=None, shift=0):
    img = torch.zeros(105, 105, dtype=torch.bool)
    if row is not None:
        img[row + shift : row + shift + 3, 20:85] = True
    if col is not None:
        img[20:85, col + shift : col + shift + 3] = True
    return img


def test_features_are_unit_norm_and_tolerate_small_shifts():
    images = torch.stack([_bar(row=50), _bar(row=50, shift=2), _bar(col=50)])
    f = image_features(images)
    assert f.shape == (3, 35 * 35)
    torch.testing.assert_close(f.norm(dim=1), torch.ones(3))
    sim = f @ f.T
    assert sim[0, 1] > 0.8  # two pixels apart still overlap after the blur
    assert sim[0, 2] < sim[0, 1] - 0.3  # a crossing bar is far less similar


@pytest.fixture
def tiny_background(tmp_path):
    """An images_background folder with three one-image characters."""
    shapes = {"character01": _bar(row=30), "character02": _bar(col=60), "character03": _bar(row=80)}
    for character, img in shapes.items():
        folder = tmp_path / "images_background" / "Shapes" / character
        folder.mkdir(parents=True)
        pixels = np.where(img.numpy(), 0, 255).astype(np.uint8)  # black ink on white
        Image.fromarray(pixels).convert("1").save(folder / f"{character[-2:]}01_01.png")
    return tmp_path


def test_index_finds_the_nearest_and_is_cached(tiny_background, tmp_path):
    cache = tmp_path / "cache"
    index = BackgroundIndex.load(tiny_background, cache_dir=cache)
    assert index.keys == [f"Shapes/character0{i}/0{i}01_01" for i in (1, 2, 3)]
    found, similarity = index.nearest(torch.stack([_bar(col=62), _bar(row=78)]))
    assert [index.keys[i].split("/")[1] for i in found] == ["character02", "character03"]
    assert (similarity > 0.7).all()
    assert len(list(cache.glob("nearest-*.pt"))) == 1
    again = BackgroundIndex.load(tiny_background, cache_dir=cache)  # read back from the cache
    torch.testing.assert_close(again.features, index.features)


def test_an_index_of_changed_data_is_rebuilt_not_reused(tiny_background, tmp_path):
    """The cache is keyed by the image files themselves: a redrawn character gets a new
    index, never the stale one with the old similarities."""
    import os

    cache = tmp_path / "cache"
    before = BackgroundIndex.load(tiny_background, cache_dir=cache)
    png = tiny_background / "images_background" / "Shapes" / "character02" / "0201_01.png"
    pixels = np.where(_bar(row=10).numpy(), 0, 255).astype(np.uint8)
    Image.fromarray(pixels).convert("1").save(png)
    os.utime(png, ns=(1, 1))  # a new modification time, whatever the clock's resolution
    after = BackgroundIndex.load(tiny_background, cache_dir=cache)
    assert len(list(cache.glob("nearest-*.pt"))) == 2
    assert not torch.allclose(after.features[1], before.features[1])
    found, _ = after.nearest(torch.stack([_bar(row=11)]))
    assert after.keys[found[0]].split("/")[1] == "character02"


def test_an_index_of_a_zip_changed_in_place_is_rebuilt(tiny_background, tmp_path):
    """Two characters' images swapped inside images_background.zip: the same size, the
    modification time put back. The index is keyed by the zip's content, so it is rebuilt."""
    import os
    import shutil
    import zipfile

    folder = tiny_background / "images_background"
    members = sorted(p.relative_to(tiny_background) for p in folder.rglob("*.png"))
    archive = tiny_background / "images_background.zip"

    def write_zip(order):
        with zipfile.ZipFile(archive, "w") as z:
            for name, source in zip(members, order):
                z.write(tiny_background / source, str(name))

    write_zip(members)
    shutil.rmtree(folder)
    cache = tmp_path / "cache"
    stamp = os.stat(archive)
    before = BackgroundIndex.load(tiny_background, cache_dir=cache)
    # rebuild the folder to write the swapped zip, then remove it again
    with zipfile.ZipFile(archive) as z:
        z.extractall(tiny_background)
    size = archive.stat().st_size
    write_zip([members[1], members[0], members[2]])  # character01 <-> character02
    shutil.rmtree(folder)
    assert archive.stat().st_size == size
    os.utime(archive, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    after = BackgroundIndex.load(tiny_background, cache_dir=cache)
    torch.testing.assert_close(after.features[0], before.features[1])
    found, _ = after.nearest(torch.stack([_bar(col=60)]))
    assert after.keys[found[0]].split("/")[1] == "character01"


def test_an_unusable_cache_folder_is_named_before_the_index_is_built(tiny_background, tmp_path):
    from gns_pyro.errors import DataError

    cache = tmp_path / "a-file"
    cache.write_text("")
    with pytest.raises(DataError, match="is a file, not a folder"):
        BackgroundIndex.load(tiny_background, cache_dir=cache)


def test_cli_sample_nearest(tiny_background, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("GNS_PYRO_CACHE", str(tmp_path / "cache"))
    out = tmp_path / "novelty.png"
    code = main(
        ["sample", "--n", "3", "--nearest", "--data-dir", str(tiny_background), "--out", str(out)]
        + ["--json"]
    )
    assert code == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    for t in record["types"]:
        assert t["nearest"].startswith("Shapes/character0")
        assert 0 < t["nearest_similarity"] <= 1
    assert Image.open(out).size[0] > Image.open(out).size[1]  # pairs side by side


def test_cli_nearest_and_exemplars_conflict(tmp_path, capsys):
    code = main(["sample", "--n", "2", "--nearest", "--exemplars", "3", "--out", "x.png"])
    assert code != 0
    assert "choose one" in capsys.readouterr().err
