"""Canvas preprocessing shared by the part networks.

Every net reads its canvas (105x105 for Omniglot; the side is the domain's ``image_size``)
resized to 28x28 (area averaging). Nets that must know *where* ink is (location and stroke
nets) also get two coordinate channels, so a convolution can tell left from right. Points are
given to nets in normalized coordinates in [-1, 1] of the frame.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

NET_SIZE = 28

#: Side (pixels) of the frame of a net, or a domain, whose architecture description does not
#: name one: descriptions and training records written before ``image_size`` was a setting are
#: all of nets on Omniglot's 105 px frame, and that size is still left unwritten (so the
#: descriptions of nets on it read as they always have).
IMPLICIT_IMAGE_SIZE = 105


def image_size_entry(image_size: int) -> dict:
    """The architecture-description entry naming a frame side: ``{"image_size": n}``, or nothing
    for :data:`IMPLICIT_IMAGE_SIZE`, which older descriptions lack (read them back with
    :func:`described_image_size`)."""
    return {} if image_size == IMPLICIT_IMAGE_SIZE else {"image_size": image_size}


def described_image_size(config: dict) -> int:
    """The frame side an architecture description stands for (see :func:`image_size_entry`)."""
    return config.get("image_size", IMPLICIT_IMAGE_SIZE)


def frame(image_size: int = IMPLICIT_IMAGE_SIZE) -> tuple[float, float]:
    """Pixel coordinate of the centre of a square frame of side ``image_size``, and the
    half-width used to normalize points."""
    return (image_size - 1) / 2, image_size / 2


def downsample(canvas: torch.Tensor) -> torch.Tensor:
    """(..., H, W) canvas -> (N, 1, 28, 28) by area averaging (leading dims flattened)."""
    x = canvas.reshape(-1, 1, *canvas.shape[-2:])
    return F.adaptive_avg_pool2d(x, NET_SIZE)


def with_coordinates(x: torch.Tensor) -> torch.Tensor:
    """Append x and y coordinate channels in [-1, 1] to (N, C, H, W) images."""
    N, _, H, W = x.shape
    ys = (
        torch.linspace(-1, 1, H, dtype=x.dtype, device=x.device).view(1, 1, H, 1).expand(N, 1, H, W)
    )
    xs = (
        torch.linspace(-1, 1, W, dtype=x.dtype, device=x.device).view(1, 1, 1, W).expand(N, 1, H, W)
    )
    return torch.cat([x, xs, ys], dim=1)


def normalize_points(points: torch.Tensor, image_size: int = IMPLICIT_IMAGE_SIZE) -> torch.Tensor:
    """Pixel coordinates -> roughly [-1, 1] of a frame of side ``image_size`` (its centre is
    0; outside the frame beyond +-1)."""
    centre, half_width = frame(image_size)
    return (points - centre) / half_width
