"""Clamped uniform B-splines: the stroke representation of the character model.

A stroke is ``n >= 2`` control points ``P_0 .. P_{n-1}`` of a *clamped* uniform B-spline of
degree ``min(3, n - 1)``: two points give a line segment, three a quadratic, four or more a
cubic with ``n - 3`` uniform segments. Clamping makes the curve start at ``P_0`` and end at
``P_{n-1}``, so a type's start location is where the pen lands and its trajectory is the
``n - 1`` offsets between successive control points.

A *minimal spline* (Feinman & Lake 2021, App. A) is the fewest control points whose
least-squares fit to the pen path has mean squared residual below a threshold.

Example::

    >>> import numpy as np
    >>> path = np.stack([np.linspace(0, 20, 21), np.zeros(21)], 1)  # a straight line
    >>> fit = fit_minimal_spline(path)
    >>> fit.control_points.shape
    (2, 2)
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import numpy as np
import torch

#: Default mean squared residual (pixels^2) a minimal spline must reach.
DEFAULT_SPLINE_THRESHOLD = 0.7
#: Default cap on control points per stroke (the stroke net emits at most 50 offsets).
DEFAULT_MAX_CONTROL = 51


def _knots(num_control: int) -> tuple[int, torch.Tensor]:
    degree = min(3, num_control - 1)
    segments = num_control - degree
    inner = torch.arange(1, segments, dtype=torch.float64) / segments
    knots = torch.cat(
        [
            torch.zeros(degree + 1, dtype=torch.float64),
            inner,
            torch.ones(degree + 1, dtype=torch.float64),
        ]
    )
    return degree, knots


def bspline_basis(u: torch.Tensor, num_control: int) -> torch.Tensor:
    """Basis functions of the clamped uniform B-spline with ``num_control`` control points.

    :param u: curve parameters in ``[0, 1]`` (any shape; values outside are clamped).
    :param num_control: number of control points ``n >= 2``.
    :returns: tensor of shape ``u.shape + (n,)`` whose rows sum to 1; the curve is
        ``basis @ control_points``.
    """
    if num_control < 2:
        raise ValueError(f"a spline needs at least 2 control points, got {num_control}")
    degree, knots = _knots(num_control)
    knots = knots.to(dtype=u.dtype if u.is_floating_point() else torch.float64, device=u.device)
    u = u.to(knots.dtype).clamp(0.0, 1.0)
    segments = num_control - degree
    # Cox-de Boor, starting from the one-hot degree-0 basis of the span that holds u. The last
    # span is closed at u = 1 so the curve reaches its final control point.
    span = (u * segments).floor().clamp(max=segments - 1).long() + degree
    basis = torch.nn.functional.one_hot(span, num_control + degree).to(u.dtype)
    for k in range(1, degree + 1):
        left_num = u.unsqueeze(-1) - knots[: -k - 1]
        left_den = knots[k:-1] - knots[: -k - 1]
        right_num = knots[k + 1 :] - u.unsqueeze(-1)
        right_den = knots[k + 1 :] - knots[1:-k]
        # 0/0 terms of the recursion are zero by convention.
        left = torch.where(left_den > 0, left_num / left_den.clamp(min=1e-12), 0.0)
        right = torch.where(right_den > 0, right_num / right_den.clamp(min=1e-12), 0.0)
        basis = left * basis[..., :-1] + right * basis[..., 1:]
    return basis


@functools.lru_cache(maxsize=512)
def basis_on_grid(num_control: int, num_points: int) -> torch.Tensor:
    """Cached float64 basis (num_points, num_control) on the uniform grid ``linspace(0, 1)``."""
    return bspline_basis(torch.linspace(0, 1, num_points, dtype=torch.float64), num_control)


def evaluate(control_points: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """Points on one spline: ``control_points`` (n, 2) at parameters ``u`` (m,) -> (m, 2)."""
    basis = bspline_basis(u.to(control_points.dtype), control_points.shape[-2])
    return basis.to(control_points.dtype) @ control_points


def resample_path(path: np.ndarray, spacing: float = 1.0) -> np.ndarray:
    """Resample a polyline to points equally spaced by arc length (about ``spacing`` apart).

    Repeated samples are harmless. A path of zero length comes back as its single point.
    """
    path = np.asarray(path, dtype=np.float64)
    if path.ndim != 2 or path.shape[1] != 2 or len(path) == 0:
        raise ValueError(f"a path must be a non-empty (n, 2) array, got shape {path.shape}")
    seg = np.linalg.norm(np.diff(path, axis=0), axis=1)
    arc = np.concatenate([[0.0], np.cumsum(seg)])
    length = arc[-1]
    if length <= 0:
        return path[:1].copy()
    count = max(int(np.ceil(length / spacing)) + 1, 2)
    targets = np.linspace(0.0, length, count)
    return np.stack([np.interp(targets, arc, path[:, d]) for d in range(2)], axis=1)


def path_length(path: np.ndarray) -> float:
    """Arc length of a polyline (n, 2)."""
    path = np.asarray(path, dtype=np.float64)
    return float(np.linalg.norm(np.diff(path, axis=0), axis=1).sum())


class SplineFit(NamedTuple):
    """Result of :func:`fit_minimal_spline`."""

    control_points: np.ndarray  # (n, 2)
    residual: float  # mean squared distance (pixels^2) from the path to the fitted curve


def fit_spline(path: np.ndarray, num_control: int) -> SplineFit:
    """Least-squares fit of a spline with ``num_control`` points to an evenly sampled path."""
    path = np.asarray(path, dtype=np.float64)
    basis = basis_on_grid(num_control, len(path)).numpy()
    cpts, *_ = np.linalg.lstsq(basis, path, rcond=None)
    residual = float(np.mean(np.sum((basis @ cpts - path) ** 2, axis=1)))
    return SplineFit(cpts, residual)


def fit_minimal_spline(
    path: np.ndarray,
    threshold: float = DEFAULT_SPLINE_THRESHOLD,
    max_control: int = DEFAULT_MAX_CONTROL,
) -> SplineFit:
    """Fit the spline with the fewest control points whose mean squared residual < ``threshold``.

    :param path: points (m, 2) evenly spaced by arc length (see :func:`resample_path`); the
        curve parameter of point ``k`` is ``k / (m - 1)``.
    :param threshold: mean squared residual to reach, pixels^2.
    :param max_control: cap on control points; if even the cap misses the threshold the capped
        fit is returned (its ``residual`` says by how much).
    """
    path = np.asarray(path, dtype=np.float64)
    if len(path) == 1:  # a dot: a degenerate segment
        return SplineFit(np.repeat(path, 2, axis=0), 0.0)
    fit = None
    for n in range(2, max_control + 1):
        fit = fit_spline(path, n)
        if fit.residual < threshold or n >= len(path):
            break
    return fit


def curve_points(control_points, points: int = 60) -> np.ndarray:
    """``points`` points (points, 2) along the spline with these control points (n, 2)."""
    control_points = np.asarray(control_points, dtype=np.float64)
    return basis_on_grid(len(control_points), points).double().numpy() @ control_points
