"""Canvas preprocessing shared by the part networks.

Every net reads the 105x105 canvas resized to 28x28 (area averaging). Nets that must know
*where* ink is (location and stroke nets) also get two coordinate channels, so a convolution
can tell left from right. Points are given to nets in normalized coordinates in [-1, 1].
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from gns_pyro.renderer import IMAGE_SIZE

NET_SIZE = 28
#: Pixel coordinate of the image centre and the half-width used to normalize points.
CENTRE = (IMAGE_SIZE - 1) / 2
HALF_WIDTH = IMAGE_SIZE / 2


def downsample(canvas: torch.Tensor) -> torch.Tensor:
    """(..., 105, 105) canvas -> (N, 1, 28, 28) by area averaging (leading dims flattened)."""
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


def normalize_points(points: torch.Tensor) -> torch.Tensor:
    """Pixel coordinates -> roughly [-1, 1] (the frame's centre is 0)."""
    return (points - CENTRE) / HALF_WIDTH
