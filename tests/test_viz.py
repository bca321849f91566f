"""Picture outputs are written like every other output: atomically, replacing a link."""

from __future__ import annotations

import sys

import pytest
import torch
from PIL import Image

from gns_pyro.viz import save_grid


def test_a_grid_is_written_as_a_png(tmp_path):
    images = torch.zeros(4, 105, 105)
    images[:, 50, :] = 1.0
    path = save_grid(images, tmp_path / "sub" / "grid.png", ncols=2)
    with Image.open(path) as img:
        assert img.format == "PNG"
    assert [p.name for p in path.parent.iterdir()] == ["grid.png"]  # no temp file left


@pytest.mark.skipif(sys.platform == "win32", reason="symlinks")
def test_a_linked_output_is_replaced_not_written_through(tmp_path):
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    link = tmp_path / "grid.png"
    link.symlink_to(target)
    save_grid(torch.zeros(1, 105, 105), link)
    assert target.read_text() == "keep me"
    assert not link.is_symlink() and Image.open(link).format == "PNG"
