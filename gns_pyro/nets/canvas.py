"""Canvas preprocessing shared by the part networks.

Every net reads its canvas (105x105 for Omniglot; the side is the domain's ``image_size``)
resized to 28x28 (area averaging). Nets that must know *where* ink is (location and stroke
nets) also get two coordinate channels, so a convolution can tell left from right. Points are
given to nets in normalized coordinates in [-1, 1] of the frame.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gns_pyro.renderer import IMAGE_SIZE

NET_SIZE = 28


def frame(image_size: int = IMAGE_SIZE) -> tuple[float, float]:
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


def normalize_points(points: torch.Tensor, image_size: int = IMAGE_SIZE) -> torch.Tensor:
    """Pixel coordinates -> roughly [-1, 1] of a frame of side ``image_size`` (its centre is
    0; outside the frame beyond +-1)."""
    centre, half_width = frame(image_size)
    return (points - centre) / half_width
