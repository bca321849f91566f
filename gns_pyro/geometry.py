"""Geometry of parses that both the parse containers and the renderer use: the pivot of a
drawing's warp and the token warp itself (a module of its own, so that :mod:`gns_pyro.parses`
and :mod:`gns_pyro.renderer` need not import each other).

Example::

    >>> import torch
    >>> cps = torch.tensor([[[[0.0, 0.0], [10.0, 20.0]]]])          # one parse, one stroke
    >>> apply_affine(cps, torch.tensor([[2]]), torch.tensor([[2.0, 1.0, 1.0, 0.0]]))
    tensor([[[[-4.,  0.],
              [16., 20.]]]])
"""

from __future__ import annotations

import torch


def control_point_centroid(control_points: torch.Tensor, num_control: torch.Tensor) -> torch.Tensor:
    """(B, 2) mean of each parse's existing control points (B, S, K, 2): the warp's pivot."""
    K = control_points.shape[2]
    real = (torch.arange(K, device=num_control.device) < num_control.unsqueeze(-1)).unsqueeze(-1)
    real = real.to(control_points.dtype)
    return (control_points * real).sum((1, 2)) / real.sum((1, 2)).clamp(min=1)


def apply_affine(
    control_points: torch.Tensor, num_control: torch.Tensor, affine: torch.Tensor
) -> torch.Tensor:
    """Warp (B, S, K, 2) control points by ``affine = (s_x, s_y, t_x, t_y)`` (B, 4).

    Scaling is about the centroid of each parse's existing control points; then the translation.
    """
    centroid = control_point_centroid(control_points, num_control)
    scale = affine[:, None, None, :2]
    shift = affine[:, None, None, 2:]
    c = centroid[:, None, None, :]
    return (control_points - c) * scale + c + shift
