"""Augmentation of the training drawings: each batch randomly warped (:func:`augment`)."""

from __future__ import annotations

import math

import torch

from gns_pyro.data.images import OMNIGLOT_IMAGE_SIZE
from gns_pyro.geometry import control_point_centroid
from gns_pyro.parses import Parses


def augment(
    parses: Parses,
    scale: float,
    shift: float,
    generator: torch.Generator | None = None,
    image_size: int = OMNIGLOT_IMAGE_SIZE,
    rotate: float = 0.0,
    shear: float = 0.0,
) -> Parses:
    """Each drawing warped about its control-point centroid: sheared (``x += k y``, ``|k| <=
    shear``), scaled per axis by factors in ``1 +- scale``, rotated by up to ``rotate`` degrees,
    then shifted by up to ``shift`` pixels per axis. Drawings that the warp would take outside
    the ``image_size`` frame are left as they are.

    With ``rotate = shear = 0`` this is the token model's kind of warp (per-axis scale and
    shift); rotation and shear make new "characters" out of the training ones, which the
    validation NLL on unseen characters rewards."""
    if scale == 0 and shift == 0 and rotate == 0 and shear == 0:
        return parses
    B = len(parses)

    def uniform(width, *shape):
        return (torch.rand(B, *shape, generator=generator) * 2 - 1) * width

    dtype, device = parses.locations.dtype, parses.locations.device
    scales, shifts = 1 + uniform(scale, 2), uniform(shift, 2)
    # drawn only when asked for, so runs without them keep their exact sequence of warps
    angle = uniform(math.radians(rotate)) if rotate else torch.zeros(B)
    k = uniform(shear) if shear else torch.zeros(B)
    cos, sin, zero, one = angle.cos(), angle.sin(), torch.zeros(B), torch.ones(B)
    rotation = torch.stack([cos, -sin, sin, cos], -1).view(B, 2, 2)
    shearing = torch.stack([one, k, zero, one], -1).view(B, 2, 2)
    linear = (rotation @ torch.diag_embed(scales) @ shearing).to(device, dtype)
    c = control_point_centroid(parses.control_points, parses.num_control)[:, None, None, :]
    points = parses.control_points - c
    shifts = shifts.to(device, dtype)[:, None, None, :]
    warped = torch.einsum("bij,bskj->bski", linear, points) + c + shifts
    real = torch.arange(warped.shape[2], device=device) < parses.num_control.unsqueeze(-1)
    outside = ((warped < 0) | (warped > image_size - 1)).any(-1) & real
    keep = outside.flatten(1).any(1)  # (B,) drawings that stay as they are
    warped = torch.where(keep[:, None, None, None], parses.control_points, warped)
    offsets = (warped[:, :, 1:] - warped[:, :, :-1]) * parses.offset_mask.unsqueeze(-1)
    locations = warped[:, :, 0] * parses.stroke_mask.unsqueeze(-1)
    return parses.replace(locations=locations, offsets=offsets)
