"""Read a character image as a (105, 105) boolean ink mask.

Every image that enters gns-pyro — an official Omniglot PNG, a one-shot run item, a user's own
drawing — passes through :func:`load_image`, so the conventions live in one place:

* the result is a ``torch.bool`` tensor of shape ``(105, 105)``, indexed ``(row, col)``,
  with **ink = True**;
* Omniglot PNGs are 1-bit (mode ``"1"``) with a white background, so ink = black pixels;
* grayscale (mode ``"L"``, or a ``uint8`` array) is thresholded at 128: pixels darker than 128
  are ink;
* an RGB(A)/palette image is accepted only when its colour channels are all equal (a grayscale
  image saved as RGB); it is then read as grayscale. Transparent pixels are composited onto white.
  A real colour image is rejected, because there is no safe way to say which colour is ink.

Example::

    >>> from gns_pyro.data.images import load_image
    >>> img = load_image("images_background/Latin/character01/0674_01.png")  # doctest: +SKIP
    >>> img.shape, img.dtype                                            # doctest: +SKIP
    (torch.Size([105, 105]), torch.bool)
"""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Union

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from gns_pyro.errors import DataError, DataNotFoundError
from gns_pyro.reading import read_bytes

#: Side length in pixels of every Omniglot image (the frame of the Omniglot domain).
OMNIGLOT_IMAGE_SIZE = 105
#: The same side under its older name (``gns_pyro.data.IMAGE_SIZE``).
IMAGE_SIZE = OMNIGLOT_IMAGE_SIZE

GRAY_THRESHOLD = 128

#: An image with more ink than this fraction is refused (probably inverted).
MAX_INK_FRACTION = 0.5
#: pieces of ink this small (pixels, 8-connected) are specks of noise and are removed; no
#: image of Omniglot's evaluation set has one (3,000 checked), its smallest dots are larger
SPECK_PIXELS = 4

#: The only file formats an image is decoded as (PIL's names): decoders within PIL itself.
#: Never EPS or PostScript, whose PIL plugin runs Ghostscript on the file's program.
IMAGE_FORMATS = ("PNG", "JPEG", "GIF", "BMP")
"""Grayscale pixels (0..255) strictly below this value are ink."""

ImageSource = Union[  # noqa: UP007 (a runtime alias: `|` between classes needs Python 3.10)
    str, os.PathLike, bytes, bytearray, memoryview, Image.Image, np.ndarray, torch.Tensor
]


#: the largest drawing ``resize=True`` accepts, per side
MAX_RESIZE_SIDE = 4096

#: after resizing, a pixel is ink when at least this fraction of its area was ink
RESIZE_COVERAGE = 0.2


def load_image(
    source: ImageSource,
    *,
    name: str | None = None,
    resize: bool = False,
    size: int = OMNIGLOT_IMAGE_SIZE,
) -> torch.Tensor:
    """Load one character image as a ``(size, size)`` ``torch.bool`` tensor with ink = True
    (``(105, 105)`` for Omniglot).

    :param source: a path, the encoded bytes of an image file, a :class:`PIL.Image.Image`, or an
        array. Arrays: ``bool`` arrays/tensors are taken as ink masks already (True = ink), so
        ``load_image(load_image(x))`` is the identity; ``uint8`` arrays are grayscale (or
        ``(H, W, 3|4)`` RGB(A)) pixel values; float arrays are brightness in [0, 1] (as
        ``matplotlib.pyplot.imread`` returns PNGs) and are thresholded at 0.5, dark = ink.
    :param name: how to refer to the image in error messages (defaults to the path, if any).
    :param resize: (paths, bytes and PIL images) accept a drawing of any size up to
        ``MAX_RESIZE_SIDE`` pixels a side (see :func:`resize_drawing`); colour is then read as
        brightness. Without it, an image that is not ``size`` × ``size`` is an error.
    :param size: the side in pixels that the model reads (a domain's ``image_size``).
    :raises DataNotFoundError: the path does not exist.
    :raises DataError: not a readable image, not ``size`` × ``size``, or a colour image.

    Example::

        >>> import numpy as np
        >>> page = np.full((105, 105), 255, dtype=np.uint8)
        >>> page[50:55, 20:80] = 0                       # a black bar
        >>> load_image(page).sum().item()
        300
    """
    if isinstance(source, (str, os.PathLike)):
        if not os.fspath(source):
            raise DataError("the image path is empty")
        path = Path(source)
        name = name or str(path)
        if not path.exists():
            if os.path.lexists(path):  # a link whose target is missing, or a loop of links
                raise DataNotFoundError(
                    f"image file {path} is a symbolic link that leads to no file (a missing "
                    "target, or a loop of links)"
                )
            raise DataNotFoundError(f"image file not found: {path}")
        try:
            data = read_bytes(path, "image")
        except OSError as err:
            raise DataError(f"cannot read image file {path}: {err}") from err
        if resize:
            return resize_drawing(_decode(data, name, any_size=True), name, size)
        return _from_pil(_decode(data, name, size=size), name, size)
    if isinstance(source, (bytes, bytearray, memoryview)):
        name = name or "image bytes"
        if resize:
            return resize_drawing(_decode(bytes(source), name, any_size=True), name, size)
        return _from_pil(_decode(bytes(source), name, size=size), name, size)
    if isinstance(source, Image.Image):
        if resize:
            return resize_drawing(source, name or "PIL image", size)
        return _from_pil(source, name or "PIL image", size)
    if isinstance(source, torch.Tensor):
        return _from_array(source.detach().cpu().numpy(), name or "tensor", size)
    if isinstance(source, np.ndarray):
        return _from_array(source, name or "array", size)
    raise DataError(
        f"cannot read an image from a {type(source).__name__}; give a path, bytes, a PIL image "
        "or an array"
    )


def _decode(
    data: bytes, name: str, any_size: bool = False, size: int = OMNIGLOT_IMAGE_SIZE
) -> Image.Image:
    unreadable = (UnidentifiedImageError, OSError, SyntaxError, ValueError)
    try:
        # reads the header only, and only as one of IMAGE_FORMATS (never a format whose
        # decoder runs programs)
        img = Image.open(io.BytesIO(data), formats=IMAGE_FORMATS)
    except Image.DecompressionBombError as err:
        raise DataError(f"{name}: far too large to be a character image ({err})") from err
    except UnidentifiedImageError as err:
        raise DataError(
            f"{name}: not a readable image (images are read as "
            f"{', '.join(IMAGE_FORMATS[:-1])} or {IMAGE_FORMATS[-1]} only)"
        ) from err
    except unreadable as err:
        raise DataError(f"{name}: not a readable image ({err})") from err
    # the size is known before any pixel is decoded: a huge image is refused without decoding
    if any_size:
        if max(img.size) > MAX_RESIZE_SIDE or min(img.size) < 1:
            raise DataError(
                f"{name}: {img.size[0]}×{img.size[1]} pixels; --resize takes drawings of at "
                f"most {MAX_RESIZE_SIDE} pixels a side"
            )
    else:
        _check_size(*img.size, name, size)
    try:
        # PIL decodes lazily; force it so truncated files fail here, with the file's name.
        img.load()
    except unreadable as err:
        raise DataError(f"{name}: not a readable image ({err})") from err
    return img


def resize_drawing(
    img: Image.Image, name: str = "drawing", size: int = OMNIGLOT_IMAGE_SIZE
) -> torch.Tensor:
    """A drawing of any size (dark ink on a light page) as a ``size`` × ``size`` ink mask
    (105×105 for Omniglot).

    The page is read as brightness (colour by luminance, transparency composited onto white),
    cropped to the ink's bounding box, padded to a square with a margin of 15% of its side on
    every side (Omniglot characters sit well inside their frame), shrunk with area averaging,
    and binarized: a pixel is ink when at least ``RESIZE_COVERAGE`` of its area was ink, so
    thin pen strokes of a large drawing survive.

    :raises DataError: the drawing has no ink, or is too large.
    """
    if max(img.size) > MAX_RESIZE_SIDE:
        raise DataError(f"{name}: larger than {MAX_RESIZE_SIDE} pixels a side")
    page = Image.new("RGBA", img.size, (255, 255, 255, 255))
    page.alpha_composite(img.convert("RGBA"))
    gray = np.asarray(page.convert("L"), dtype=np.float64)
    ink = gray < GRAY_THRESHOLD
    if not ink.any():
        raise DataError(f"{name}: no dark pixels (ink) to resize; the page is blank")
    # the checks of a frame (check_image) apply to the page, before cropping makes any page
    # look like a character: an inverted page is refused, specks are not blown up to strokes
    fraction = float(ink.mean())
    if fraction > MAX_INK_FRACTION:
        raise DataError(
            f"{name}: the page is {fraction:.0%} ink; characters are dark strokes on a light "
            "page (is it inverted?)"
        )
    ink = _without_specks(ink)
    if not ink.any():
        raise DataError(
            f"{name}: the page has only specks of ink (pieces of {SPECK_PIXELS} pixels or "
            "fewer): nothing to resize"
        )
    rows, cols = np.flatnonzero(ink.any(1)), np.flatnonzero(ink.any(0))
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    side = max(bottom - top, right - left)
    full = int(np.ceil(side / 0.7))  # 15% margin on each side
    square = np.zeros((full, full), dtype=np.float32)
    r0 = (full - (bottom - top)) // 2
    c0 = (full - (right - left)) // 2
    square[r0 : r0 + bottom - top, c0 : c0 + right - left] = ink[top:bottom, left:right]
    small = np.asarray(Image.fromarray(square, mode="F").resize((size, size), Image.BOX))
    inked = small >= RESIZE_COVERAGE
    if not inked.any():
        raise DataError(
            f"{name}: its strokes are too thin for its size: no pixel of the {size}×{size} "
            "frame is inked after shrinking"
        )
    return _to_tensor(inked)


def _without_specks(ink: np.ndarray) -> np.ndarray:
    """``ink`` less its pieces of at most :data:`SPECK_PIXELS` pixels (8-connected)."""
    from skimage.measure import label

    pieces = label(ink, connectivity=2)
    sizes = np.bincount(pieces.ravel())
    keep = sizes > SPECK_PIXELS
    keep[0] = False
    return keep[pieces]


def _check_size(width: int, height: int, name: str, size: int = OMNIGLOT_IMAGE_SIZE) -> None:
    if (width, height) != (size, size):
        raise DataError(
            f"{name}: image must be {size}×{size} pixels, found {width}×{height} "
            "(width×height); use --resize (resize=True) for a drawing of another size"
        )


def _colour_error(name: str, mode: str) -> DataError:
    return DataError(
        f"{name}: a colour image (mode {mode}) cannot be read as a character; the image must be "
        "binary or grayscale (PIL mode 1 or L)"
    )


def _from_pil(img: Image.Image, name: str, size: int = OMNIGLOT_IMAGE_SIZE) -> torch.Tensor:
    _check_size(img.width, img.height, name, size)
    mode = img.mode
    if mode == "1":
        # Mode "1" converts to a bool array with True = white; ink is black.
        return _to_tensor(~np.asarray(img, dtype=bool))
    if mode == "L":
        return _to_tensor(np.asarray(img) < GRAY_THRESHOLD)
    if mode in ("I;16", "I;16B", "I;16L", "I"):
        # 16/32-bit grayscale: scale to 0..255 so the same threshold applies.
        arr = np.asarray(img).astype(np.float64)
        top = 65535.0 if mode.startswith("I;16") or arr.max(initial=0) > 255 else 255.0
        return _to_tensor(arr / top * 255.0 < GRAY_THRESHOLD)
    if mode in ("LA", "P", "PA", "RGB", "RGBA", "RGBX", "La"):
        rgba = np.asarray(img.convert("RGBA"), dtype=np.uint8)
        return _from_rgba(rgba, name, mode)
    raise DataError(f"{name}: unsupported image mode {mode!r}; use a binary or grayscale image")


def _from_rgba(rgba: np.ndarray, name: str, mode: str) -> torch.Tensor:
    rgb = rgba[..., :3].astype(np.float64)
    if rgba.shape[-1] == 4:
        # Composite onto a white page: a transparent pixel is background, not black ink.
        alpha = rgba[..., 3:4].astype(np.float64) / 255.0
        rgb = rgb * alpha + 255.0 * (1.0 - alpha)
    if not (np.array_equal(rgb[..., 0], rgb[..., 1]) and np.array_equal(rgb[..., 0], rgb[..., 2])):
        raise _colour_error(name, mode)
    return _to_tensor(rgb[..., 0] < GRAY_THRESHOLD)


def _from_array(arr: np.ndarray, name: str, size: int = OMNIGLOT_IMAGE_SIZE) -> torch.Tensor:
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim == 2:
        _check_size(arr.shape[1], arr.shape[0], name, size)
        if arr.dtype == bool:
            return _to_tensor(arr)
        if np.issubdtype(arr.dtype, np.floating):
            return _to_tensor(arr < 0.5)
        if np.issubdtype(arr.dtype, np.integer):
            return _to_tensor(arr < GRAY_THRESHOLD)
        raise DataError(f"{name}: unsupported array dtype {arr.dtype}")
    if arr.ndim == 3 and arr.shape[-1] in (3, 4):
        _check_size(arr.shape[1], arr.shape[0], name, size)
        if np.issubdtype(arr.dtype, np.floating):
            arr = np.clip(arr * 255.0, 0, 255)
        mode = "RGB" if arr.shape[-1] == 3 else "RGBA"
        return _from_rgba(arr.astype(np.uint8), name, mode)
    raise DataError(
        f"{name}: expected an image array of shape ({size}, {size}) or ({size}, {size}, 3|4), "
        f"found {tuple(arr.shape)}"
    )


def _to_tensor(mask: np.ndarray) -> torch.Tensor:
    # Copy: PIL-backed arrays are read-only, and torch warns on (and must not alias) those.
    return torch.from_numpy(np.array(mask, dtype=bool, copy=True))
