"""load_image: every accepted input form, and a clear error for every bad one."""

from __future__ import annotations

import io

import numpy as np
import pytest
import torch
from PIL import Image

from gns_pyro.data import load_image
from gns_pyro.errors import DataError, DataNotFoundError


def png_bytes(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def binary_image() -> tuple[Image.Image, np.ndarray]:
    """A 1-bit white page with a black cross; returns the image and its ink mask."""
    ink = np.zeros((105, 105), dtype=bool)
    ink[50, 10:90] = True
    ink[20:80, 40] = True
    img = Image.fromarray(np.where(ink, 0, 255).astype(np.uint8), mode="L").convert("1")
    return img, ink


@pytest.fixture
def official_png(omniglot_dir):
    return omniglot_dir / "one-shot-classification" / "run01" / "training" / "class01.png"


@pytest.mark.data
def test_official_png(official_png):
    img = load_image(official_png)
    assert img.shape == (105, 105) and img.dtype == torch.bool
    assert 0 < img.float().mean().item() < 0.5
    # Same answer from every input form.
    assert torch.equal(load_image(str(official_png)), img)
    assert torch.equal(load_image(official_png.read_bytes()), img)
    assert torch.equal(load_image(Image.open(official_png)), img)
    assert torch.equal(load_image(img), img)  # a bool mask is already ink = True
    assert torch.equal(load_image(img.numpy()), img)


def test_mode_1_black_is_ink(tmp_path):
    img, ink = binary_image()
    assert img.mode == "1"
    path = tmp_path / "cross.png"
    img.save(path)
    assert np.array_equal(load_image(path).numpy(), ink)
    assert np.array_equal(load_image(img).numpy(), ink)


def test_grayscale_threshold():
    pixels = np.full((105, 105), 255, dtype=np.uint8)
    pixels[0, 0] = 127  # darker than 128: ink
    pixels[0, 1] = 128  # not
    pixels[0, 2] = 0
    img = Image.fromarray(pixels, mode="L")
    for source in (img, png_bytes(img), pixels):
        mask = load_image(source)
        assert mask[0, :3].tolist() == [True, False, True]
        assert mask.sum().item() == 2


def test_float_array_is_brightness():
    page = np.ones((105, 105), dtype=np.float32)
    page[3, 4] = 0.2
    assert load_image(page).nonzero().tolist() == [[3, 4]]


def test_gray_rgb_accepted_colour_rejected():
    img, ink = binary_image()
    gray_rgb = img.convert("RGB")
    assert np.array_equal(load_image(png_bytes(gray_rgb)).numpy(), ink)
    colour = np.array(gray_rgb)
    colour[0, 0] = (255, 0, 0)
    with pytest.raises(DataError, match="binary or grayscale"):
        load_image(Image.fromarray(colour, mode="RGB"))
    with pytest.raises(DataError, match="binary or grayscale"):
        load_image(png_bytes(Image.fromarray(colour, mode="RGB").convert("P")))


def test_transparent_pixels_are_background():
    rgba = np.zeros((105, 105, 4), dtype=np.uint8)  # black but fully transparent
    rgba[10, 10] = (0, 0, 0, 255)  # one opaque black pixel
    mask = load_image(Image.fromarray(rgba, mode="RGBA"))
    assert mask.nonzero().tolist() == [[10, 10]]


@pytest.mark.parametrize("size", [(104, 105), (105, 104), (210, 210)])
def test_wrong_size_names_size(size):
    img = Image.new("1", size, 1)
    with pytest.raises(DataError, match=f"{size[0]}×{size[1]}"):
        load_image(png_bytes(img))
    with pytest.raises(DataError, match=f"{size[0]}×{size[1]}"):
        load_image(np.zeros((size[1], size[0]), dtype=bool))


def test_missing_file(tmp_path):
    with pytest.raises(DataNotFoundError, match="not found"):
        load_image(tmp_path / "nope.png")


def test_not_an_image(tmp_path):
    path = tmp_path / "notes.png"
    path.write_text("this is not a PNG")
    with pytest.raises(DataError, match=r"notes\.png.*not a readable image"):
        load_image(path)


def test_truncated_png():
    img, _ = binary_image()
    data = png_bytes(img.convert("L"))
    with pytest.raises(DataError, match="not a readable image"):
        load_image(data[: len(data) // 2])


def test_bad_types():
    with pytest.raises(DataError, match="shape"):
        load_image(np.zeros((105, 105, 2), dtype=np.uint8))
    with pytest.raises(DataError, match="int"):
        load_image(42)


def test_huge_image_is_refused_before_decoding(tmp_path):
    """A 30000×30000 PNG (a decompression bomb to PIL) is a one-line size error."""
    path = tmp_path / "huge.png"
    Image.new("1", (30000, 30000), 1).save(path)
    with pytest.raises(DataError, match=r"huge\.png.*(30000×30000|too large)"):
        load_image(path)


def test_resize_shrinks_a_large_drawing_and_keeps_thin_strokes(tmp_path):
    """A 1000×800 RGB page with a 4 px pen cross becomes a 105×105 mask: the cross survives as
    a connected shape inside the frame, centred, with a margin."""
    from gns_pyro.data.images import resize_drawing

    page = np.full((800, 1000, 3), 255, dtype=np.uint8)
    page[100:700, 498:502] = (20, 20, 160)  # a dark blue vertical stroke, 4 px wide
    page[398:402, 300:700] = (20, 20, 160)  # and a horizontal one
    path = tmp_path / "drawing.png"
    Image.fromarray(page).save(path)
    with pytest.raises(DataError, match="--resize"):
        load_image(path)  # without resize: a size error that names the flag
    mask = load_image(path, resize=True)
    assert mask.shape == (105, 105) and mask.dtype == torch.bool
    rows, cols = np.nonzero(mask.numpy())
    assert rows.min() >= 10 and rows.max() <= 94 and cols.min() >= 10 and cols.max() <= 94
    assert abs((rows.min() + rows.max()) / 2 - 52) <= 2  # centred
    assert (rows.max() - rows.min()) > 60  # the 600 px stroke spans most of the frame
    assert mask[:, 52].sum() > 60 and mask[52].sum() > 40  # both strokes are there
    assert resize_drawing(Image.fromarray(page)).equal(mask)


def test_resize_refuses_blank_and_oversized_pages(tmp_path):
    blank = tmp_path / "blank.png"
    Image.new("L", (300, 200), 255).save(blank)
    with pytest.raises(DataError, match="blank"):
        load_image(blank, resize=True)
    big = tmp_path / "big.png"
    Image.new("1", (5000, 10), 1).save(big)
    with pytest.raises(DataError, match="at most 4096"):
        load_image(big, resize=True)


def test_postscript_is_never_decoded(tmp_path, monkeypatch):
    """EPS content named .png is refused by format: PIL's EPS plugin would run Ghostscript on
    the file's program. A stand-in ``gs`` on PATH proves nothing runs."""
    marker = tmp_path / "ran"
    stub = tmp_path / "bin" / "gs"
    stub.parent.mkdir()
    stub.write_text(f"#!/bin/sh\ntouch {marker}\necho 10.0\n")
    stub.chmod(0o755)
    monkeypatch.setenv("PATH", f"{stub.parent}:{__import__('os').environ['PATH']}")
    eps = tmp_path / "drawing.png"
    eps.write_bytes(
        b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 105 105\n"
        b"newpath 10 10 moveto 90 90 lineto stroke showpage\n"
    )
    for resize in (False, True):
        with pytest.raises(
            DataError,
            match=r"not a readable image \(images are read as PNG, JPEG, GIF or BMP only\)",
        ):
            load_image(eps, resize=resize)
    assert not marker.exists()


def test_resize_keeps_the_checks_of_a_frame(tmp_path):
    """--resize crops to the ink, which would make an inverted page or a speck look like a
    character: the page itself is checked first."""
    black = Image.new("L", (105, 105), 0)
    with pytest.raises(DataError, match="inverted"):
        load_image(png_bytes(black), resize=True)
    inverted = np.zeros((300, 300), dtype=np.uint8)  # a white cross on a black page
    inverted[140:160, :] = 255
    with pytest.raises(DataError, match="inverted"):
        load_image(png_bytes(Image.fromarray(inverted, mode="L")), resize=True)
    speck = np.full((105, 105), 255, dtype=np.uint8)
    speck[50, 50] = 0
    with pytest.raises(DataError, match="only specks"):
        load_image(png_bytes(Image.fromarray(speck, mode="L")), resize=True)
    thin = np.full((10, 3000), 255, dtype=np.uint8)  # a 2-pixel line, 300 times wider than tall
    thin[4:6, 100:2900] = 0
    with pytest.raises(DataError, match="too thin"):
        load_image(png_bytes(Image.fromarray(thin, mode="L")), resize=True)
    # a drawing with a speck beside it: the speck is dropped, not enlarged
    page = np.full((400, 400), 255, dtype=np.uint8)
    page[100:300, 195:205] = 0
    page[5, 5] = 0
    ink = load_image(png_bytes(Image.fromarray(page, mode="L")), resize=True)
    rows, cols = ink.nonzero(as_tuple=True)
    assert int(cols.max() - cols.min()) < 15  # the stem alone, centred
