"""Pictures: grids of rendered characters (PNG), with no plotting backend needed."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from gns_pyro.fileio import atomic_write_bytes


def image_grid(images: torch.Tensor, ncols: int | None = None, gutter: int = 4) -> np.ndarray:
    """Tile (N, H, W) ink probabilities or masks into one uint8 image, ink dark on white."""
    images = images.detach().float().cpu().clamp(0, 1).numpy()
    N, H, W = images.shape
    ncols = ncols or int(np.ceil(np.sqrt(N)))
    nrows = int(np.ceil(N / ncols))
    grid = np.full((nrows * (H + gutter) + gutter, ncols * (W + gutter) + gutter), 200, np.uint8)
    for k in range(N):
        r, c = divmod(k, ncols)
        y, x = gutter + r * (H + gutter), gutter + c * (W + gutter)
        grid[y : y + H, x : x + W] = (255 * (1 - images[k])).astype(np.uint8)
    return grid


def save_grid(images: torch.Tensor, path: str | os.PathLike, ncols: int | None = None) -> Path:
    """Write :func:`image_grid` of ``images`` to a PNG file (parent folders are created),
    atomically: a temp file renamed over ``path`` (a link at ``path`` is replaced, not written
    through)."""
    path = Path(path)
    grid = Image.fromarray(image_grid(images, ncols))
    atomic_write_bytes(path, lambda tmp: grid.save(tmp, format="PNG"))
    return path
