"""Batched differentiable renderer: control points -> ink-probability images.

The pipeline follows the symbolic renderer of BPL (Lake et al., Science 2015) as GNS uses it:

1. evaluate each stroke's spline at ``clamp(ceil(arc length / 1.5), 10, 200)`` points;
2. each point deposits ink ``min(step length, 2)`` (at least 2 per stroke in total, so a dot
   still shows), split bilinearly over its four nearest pixels;
3. *broaden* with the 3x3 kernel ``b * [[a/12, a/6, a/12], [a/6, 1-a, a/6], [a/12, a/6, a/12]]``
   (``a = 0.5``, ``b = 6``) twice, clamp to ``[0, 1]``;
4. Gaussian blur with the per-image ``sigma``, twice, clamp to ``[0, 1]``;
5. pixel noise ``p <- (1 - eps) p + eps (1 - p)``.

Steps 2-4 are only piecewise smooth in the control points (bilinear weights, ``min`` and
``clamp``), which is all gradient refinement needs but not what Laplace's method needs: its
Hessians see the kinks. ``RenderSettings(smooth=True)`` selects a smooth renderer with the
same look (:func:`deposit_ink`, :func:`finish_ink`): each point's ink is a Gaussian evaluated
on the pixel grid, with the variance that bilinear splitting and the two broadening passes
give together, the ``clamp`` becomes the saturating map :func:`soft_clamp`, the ``min``/``max``
of the ink per point a smooth norm, and every stroke is evaluated at the same number of points
(``smooth_points``: a count read off the arc length would make the image jump). Images and
the canvases the nets read are then C-infinity functions of the control points, blur and
noise. On 500 seeded drawings the smooth images match the official ones with a mean IoU of
0.832, against 0.841 for the reference renderer
(``GNS_PYRO_DATA=../shared/omniglot gns-pyro data check-render --n 500 --seed 0 [--smooth]``).

``RenderSettings(downsample=2)`` selects a coarse image model for the first steps of a token
refit, while the blur is still wide: the ink is drawn and broadened at full size as above, then
averaged over 2 x 2 blocks (:func:`block_average`), and blurred (with ``sigma`` halved, the
same width in the frame), noised and scored on the 53 x 53 grid, which makes the blur -- the
costliest step -- about eight times cheaper. Refinement only steers by it: every log joint it
reports is the full model's (:class:`~gns_pyro.inference.refinement.RefineSettings`).

Everything is batched: all strokes of all parses are evaluated together, ink from every stroke
lands in its image through one ``index_add``, and the blur is separable and per image, applied
as two batched matrix products ``G X G^T`` (so each image can have its own differentiable
``sigma`` with no Python loop). Gradients flow to control points, ``sigma`` and ``eps``. The
work runs on the device and in the dtype of the inputs.

Example::

    >>> import numpy as np
    >>> from gns_pyro.parses import Parses
    >>> parses = Parses.from_control_points([[np.array([[20., 20.], [60., 80.]])]])
    >>> render(parses, blur=torch.tensor([1.0]), noise=torch.tensor([1e-3])).shape
    torch.Size([1, 105, 105])
"""

from __future__ import annotations

import dataclasses
import math

import torch
import torch.nn.functional as F

from gns_pyro.geometry import apply_affine, control_point_centroid  # noqa: F401 (public here too)
from gns_pyro.parses import Parses, Tokens
from gns_pyro.splines import basis_on_grid, bspline_basis

#: Blur and noise used when neither the call nor the parses give them.
DEFAULT_BLUR = 0.5
DEFAULT_NOISE = 1e-4


@dataclasses.dataclass(frozen=True)
class RenderSettings:
    """Constants of the renderer (reference values by default)."""

    size: int = 105  # side of the frame, pixels: Omniglot's, unless a domain gives its own
    point_spacing: float = 1.5  # pixels of arc length per evaluated point
    min_points: int = 10
    max_points: int = 200
    max_step_ink: float = 2.0  # ink per point is min(step length, this)
    min_stroke_ink: float = 2.0  # total ink of a stroke is at least this
    broaden_a: float = 0.5
    broaden_b: float = 6.0
    broaden_passes: int = 2
    blur_passes: int = 2
    arc_length_points: int = 64  # dense evaluation used to measure arc length
    smooth: bool = False  # the smooth image model (module docstring), for Laplace's method
    soft_clamp_power: float = 4.0  # sharpness of soft_clamp in the smooth model
    smooth_points: int = 100  # points per stroke in the smooth model (fixed: no jumps)
    # > 1: the coarse image model (block_average): ink drawn at full size, averaged over
    # blocks of this side, then blurred and scored on the smaller grid
    downsample: int = 1

    def __post_init__(self):
        if self.downsample < 1:
            raise ValueError(f"downsample must be at least 1, got {self.downsample}")

    @property
    def output_size(self) -> int:
        """Side of the rendered images: ``size``, or ``ceil(size / downsample)``."""
        return -(-self.size // self.downsample)


DEFAULT_SETTINGS = RenderSettings()


# --------------------------------------------------------------------------------------- splines
def _points_per_stroke(control_points, num_control, distinct, settings) -> torch.Tensor:
    """(N,) points per stroke: one per ``point_spacing`` of arc length, within the limits."""
    N, dtype, device = control_points.shape[0], control_points.dtype, control_points.device
    with torch.no_grad():
        arc = torch.empty(N, dtype=dtype, device=device)
        for n in distinct:
            idx = (num_control == n).nonzero().squeeze(-1)
            dense = basis_on_grid(n, settings.arc_length_points).to(dtype=dtype, device=device)
            pts = dense @ control_points[idx, :n]
            arc[idx] = (pts[:, 1:] - pts[:, :-1]).norm(dim=-1).sum(-1)
        n_eval = (
            (arc / settings.point_spacing).ceil().clamp(settings.min_points, settings.max_points)
        )
        return n_eval.nan_to_num(settings.min_points).long()


def sample_strokes(
    control_points: torch.Tensor,
    num_control: torch.Tensor,
    settings: RenderSettings = DEFAULT_SETTINGS,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Evaluate a flat batch of strokes and give each evaluated point its ink.

    :param control_points: (N, K, 2) control points, padded beyond ``num_control``.
    :param num_control: (N,) control points per stroke (each >= 2).
    :returns: ``points`` (N, E, 2) and ``ink`` (N, E), zero ink on padded points.
    """
    N, K, _ = control_points.shape
    dtype, device = control_points.dtype, control_points.device
    counts = num_control.tolist()
    distinct = sorted(set(counts))
    # The number of points per stroke is a discrete choice made from the arc length; it carries
    # no gradient (as in the reference), the point positions do. The smooth model fixes it: a
    # count that changes with the control points makes the image jump, and a maximum of a
    # function with jumps can sit on one, where the gradient never vanishes.
    if settings.smooth:
        n_eval = torch.full((N,), settings.smooth_points, dtype=torch.long, device=device)
    else:
        n_eval = _points_per_stroke(control_points, num_control, distinct, settings)
    E = int(n_eval.max())
    k = torch.arange(E, device=device, dtype=dtype)
    u = (k / (n_eval.unsqueeze(-1) - 1).to(dtype)).clamp(max=1.0)  # (N, E)
    point_mask = k.unsqueeze(0) < n_eval.unsqueeze(-1)
    basis = torch.zeros(N, E, K, dtype=dtype, device=device)
    for n in distinct:
        idx = (num_control == n).nonzero().squeeze(-1)
        basis[idx, :, :n] = bspline_basis(u[idx], n)
    points = basis @ control_points  # (N, E, 2)

    diff = points[:, 1:] - points[:, :-1]
    floor = settings.min_stroke_ink / n_eval.unsqueeze(-1).to(dtype)
    if settings.smooth:
        # sqrt(step^2 + floor^2): ~ the step length (a 10 px stroke's 0.1 px against the
        # floor's 0.02), the floor for a dot, and smooth; no cap (the reference caps steps at
        # 2 px, which 100 points reach only on strokes longer than 200 px)
        squared = torch.cat([diff[:, :1], diff], dim=1).pow(2).sum(-1)
        return points, (squared + floor.pow(2)).sqrt() * point_mask
    # A safe norm: coincident points (a dot) must not give NaN gradients.
    step = (diff.pow(2).sum(-1) + 1e-12).sqrt()
    step = torch.cat([step[:, :1], step], dim=1)  # the first point inks like the second
    ink = step.clamp(max=settings.max_step_ink)
    ink = torch.maximum(ink, floor)
    ink = ink * point_mask
    return points, ink


def deposit(
    points: torch.Tensor,
    ink: torch.Tensor,
    image_index: torch.Tensor,
    num_images: int,
    size: int = DEFAULT_SETTINGS.size,
) -> torch.Tensor:
    """Scatter ink at sub-pixel points into images by bilinear weights.

    :param points: (N, E, 2) as (x = column, y = row).
    :param ink: (N, E) ink of each point.
    :param image_index: (N,) which image each row of points belongs to.
    :returns: (num_images, size, size) ink totals. Ink falling outside the frame is dropped.
    """
    x, y = points[..., 0], points[..., 1]
    x0, y0 = x.detach().floor(), y.detach().floor()
    fx, fy = x - x0, y - y0
    x0, y0 = x0.long(), y0.long()
    base = (image_index * size * size).unsqueeze(-1)
    indices, weights = [], []
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            r, c = y0 + dy, x0 + dx
            inside = (r >= 0) & (r < size) & (c >= 0) & (c < size)
            indices.append(base + r.clamp(0, size - 1) * size + c.clamp(0, size - 1))
            weights.append(torch.where(inside, ink * wx * wy, 0.0))
    # one in-place scatter of all four corners into a fresh buffer
    flat = torch.zeros(num_images * size * size, dtype=ink.dtype, device=ink.device)
    flat.index_add_(0, torch.cat(indices, -1).reshape(-1), torch.cat(weights, -1).reshape(-1))
    return flat.view(num_images, size, size)


def gaussian_deposit(
    points: torch.Tensor,
    ink: torch.Tensor,
    image_index: torch.Tensor,
    num_images: int,
    sigma: float,
    size: int = DEFAULT_SETTINGS.size,
) -> torch.Tensor:
    """Like :func:`deposit`, but each point's ink is spread as a normalized Gaussian of width
    ``sigma`` evaluated at the pixel centres: smooth in the points.

    Separable: per stroke, ``G_y^T diag(ink) G_x`` with ``G_x`` (E, size) the points' 1-D
    Gaussians over the columns; the strokes' maps are then summed into their images.
    """
    grid = torch.arange(size, dtype=points.dtype, device=points.device)
    scale = 1.0 / (math.sqrt(2 * math.pi) * sigma)

    def profile(coordinate: torch.Tensor) -> torch.Tensor:  # (N, E) -> (N, E, size)
        exponent = -0.5 * ((grid - coordinate.unsqueeze(-1)) / sigma).pow(2)
        # as in gaussian_blur_matrix: weights below exp(-25) are zero, not denormal numbers
        # (which make CPU arithmetic ~10x slower); a step of 1e-11 in a pixel's ink
        return scale * torch.where(exponent > -25.0, torch.exp(exponent), 0.0)

    gx, gy = profile(points[..., 0]), profile(points[..., 1])
    per_stroke = (gy * ink.unsqueeze(-1)).transpose(1, 2) @ gx  # (N, size rows, size cols)
    out = per_stroke.new_zeros(num_images, size, size)
    return out.index_add(0, image_index, per_stroke)


def soft_clamp(x: torch.Tensor, power: float = DEFAULT_SETTINGS.soft_clamp_power) -> torch.Tensor:
    """``x / (1 + x^k)^(1/k)`` for ink ``x >= 0``: ~x for small ink, -> 1 for large, smooth
    (where ``clamp(x, 0, 1)`` has a kink at 1 and no gradient above it)."""
    return x / (1 + x.pow(power)).pow(1.0 / power)


def deposit_ink(
    points: torch.Tensor,
    ink: torch.Tensor,
    image_index: torch.Tensor,
    num_images: int,
    settings: RenderSettings = DEFAULT_SETTINGS,
) -> torch.Tensor:
    """The points' ink in their images, before :func:`finish_ink`: the reference renderer's
    bilinear :func:`deposit`, or with ``settings.smooth`` the broadened ink as Gaussians
    (:func:`gaussian_deposit`). Linear in ``ink``, so prefixes of strokes add up.

    The smooth model's Gaussian has the variance per axis of bilinear splitting (1/6 on
    average over a pixel) plus the broadening passes (``2a/3`` each, :func:`broaden`), and its
    mass the passes' gain ``b^passes``: the same ink, spread the same way.
    """
    if not settings.smooth:
        return deposit(points, ink, image_index, num_images, settings.size)
    a, b, passes = settings.broaden_a, settings.broaden_b, settings.broaden_passes
    variance = 1.0 / 6.0 + passes * (a * 2.0 / 3.0)
    sigma = math.sqrt(variance)
    return b**passes * gaussian_deposit(points, ink, image_index, num_images, sigma, settings.size)


def finish_ink(ink: torch.Tensor, settings: RenderSettings = DEFAULT_SETTINGS) -> torch.Tensor:
    """Deposited ink -> ink in [0, 1]: :func:`broaden` (which clamps), or with
    ``settings.smooth`` the saturating :func:`soft_clamp` (the broadening is in the deposit)."""
    return soft_clamp(ink, settings.soft_clamp_power) if settings.smooth else broaden(ink, settings)


# --------------------------------------------------------------------------------- image filters
def broaden(ink: torch.Tensor, settings: RenderSettings = DEFAULT_SETTINGS) -> torch.Tensor:
    """Thicken ink maps (..., H, W) with the reference 3x3 kernel; result clamped to [0, 1].

    The kernel ``b * [[a/12, a/6, a/12], [a/6, 1-a, a/6], [a/12, a/6, a/12]]`` is
    ``b * (a/12) * u u^T + b * (1 - 4a/3) * delta`` with ``u = [1, 2, 1]``: a separable part
    plus a multiple of the identity. Applied that way with shifted slices it is several times
    faster on CPU than ``conv2d`` (forward and backward) and exactly the same filter.
    """
    a, b = settings.broaden_a, settings.broaden_b
    x = ink
    for _ in range(settings.broaden_passes):
        p = F.pad(x, (1, 1, 1, 1))
        rows = p[..., :-2, :] + 2 * p[..., 1:-1, :] + p[..., 2:, :]
        both = rows[..., :-2] + 2 * rows[..., 1:-1] + rows[..., 2:]
        x = (b * a / 12) * both + (b * (1 - 4 * a / 3)) * x
    return x.clamp(0.0, 1.0)


def gaussian_blur_matrix(sigma: torch.Tensor, size: int = DEFAULT_SETTINGS.size) -> torch.Tensor:
    """(B, size, size) matrices ``G`` with ``G X G^T`` = Gaussian blur of X with per-image sigma.

    Zero padding at the frame, as a same-size 2-D convolution. Weights below ``exp(-25)`` of the
    peak are set to zero: they change nothing visible, and in float32 their products would be
    denormal numbers, which make CPU matrix products ~10x slower. ``G`` is Toeplitz: the kernel
    is evaluated once per distance and gathered into the matrix.
    """
    pos = torch.arange(size, dtype=sigma.dtype, device=sigma.device)
    d = torch.arange(-(size - 1), size, dtype=sigma.dtype, device=sigma.device).pow(2)
    var2 = 2 * sigma.pow(2).view(-1, 1)
    norm = torch.exp(-d.view(1, -1) / var2).sum(-1, keepdim=True)  # full 1-D kernel mass
    exponent = -pos.pow(2).view(1, -1) / var2  # (B, size): one entry per distance
    kernel = torch.where(exponent > -25.0, torch.exp(exponent), 0.0) / norm
    distance = (pos.view(-1, 1) - pos.view(1, -1)).abs().long()
    return kernel[:, distance]


def gaussian_blur(
    images: torch.Tensor, sigma: torch.Tensor, passes: int = 2, smooth: bool = False
) -> torch.Tensor:
    """Separable Gaussian blur of (B, H, H) images with per-image ``sigma`` (B,), then clamp
    (not with ``smooth``, for ink below 1)."""
    G = gaussian_blur_matrix(sigma, images.shape[-1])
    # passes of G X G^T compose: G^n X (G^n)^T, with G^n formed once (fewer image products)
    Gn = G
    for _ in range(passes - 1):
        Gn = Gn @ G
    blurred = Gn @ images @ Gn.transpose(-1, -2)
    # the kernel's mass is at most 1, so ink in [0, 1] stays there (up to rounding): the clamp
    # is exact, and where ink is smooth and below 1 (soft_clamp) it never binds
    return blurred if smooth else blurred.clamp(0.0, 1.0)


def block_average(images: torch.Tensor, factor: int) -> torch.Tensor:
    """Mean of each ``factor`` x ``factor`` block of images (B, H, H): (B, ceil(H / factor), ...).

    The frame is padded with blank pixels to a multiple of ``factor`` first, so the last row and
    column of blocks average real pixels with blank ones, in rendered and observed images alike.
    """
    if factor == 1:
        return images
    H = images.shape[-1]
    pad = -H % factor
    padded = F.pad(images, (0, pad, 0, pad)) if pad else images
    return F.avg_pool2d(padded.unsqueeze(-3), factor).squeeze(-3)


def add_pixel_noise(probs: torch.Tensor, noise: torch.Tensor) -> torch.Tensor:
    """``(1 - eps) p + eps (1 - p)`` with per-image ``eps`` (B,)."""
    eps = noise.view(-1, *([1] * (probs.dim() - 1)))
    return eps + (1 - 2 * eps) * probs  # = (1 - eps) p + eps (1 - p), one pass fewer


# --------------------------------------------------------------------------------------- render
def _check_strokes(
    control_points: torch.Tensor, num_control: torch.Tensor, stroke_mask: torch.Tensor
):
    if control_points.dim() != 4 or control_points.shape[-1] != 2:
        raise ValueError(
            f"control points must have shape (B, S, K, 2), got {tuple(control_points.shape)}"
        )
    counts = num_control[stroke_mask]
    if counts.numel() and int(counts.min()) < 2:
        raise ValueError("every stroke needs at least 2 control points")
    if not torch.isfinite(control_points[stroke_mask]).all():
        raise ValueError("control points contain NaN or inf")


def stroke_ink(
    control_points: torch.Tensor,
    num_control: torch.Tensor,
    stroke_mask: torch.Tensor,
    settings: RenderSettings = DEFAULT_SETTINGS,
    per_stroke: bool = False,
) -> torch.Tensor:
    """Deposited ink before :func:`finish_ink` (:func:`deposit_ink`): (B, H, W), or
    (B, S, H, W) with ``per_stroke``."""
    _check_strokes(control_points, num_control, stroke_mask)
    B, S = stroke_mask.shape
    owner = stroke_mask.nonzero()  # (N, 2) rows (b, s)
    points, ink = sample_strokes(control_points[stroke_mask], num_control[stroke_mask], settings)
    if per_stroke:
        index, count = owner[:, 0] * S + owner[:, 1], B * S
    else:
        index, count = owner[:, 0], B
    out = deposit_ink(points, ink, index, count, settings)
    return out.view(B, S, settings.size, settings.size) if per_stroke else out


def render_control_points(
    control_points: torch.Tensor,
    num_control: torch.Tensor,
    stroke_mask: torch.Tensor,
    blur: torch.Tensor,
    noise: torch.Tensor,
    settings: RenderSettings = DEFAULT_SETTINGS,
) -> torch.Tensor:
    """Ink probabilities (B, H, W) of padded strokes; see the module docstring for the steps.

    :param control_points: (B, S, K, 2) in pixels (x = column, y = row).
    :param num_control: (B, S) control points per stroke.
    :param stroke_mask: (B, S) which strokes exist; every parse needs at least one.
    :param blur: (B,) Gaussian sigma in pixels (> 0).
    :param noise: (B,) pixel noise epsilon in [0, 1].
    """
    empty = ~stroke_mask.any(-1)
    if empty.any():
        raise ValueError(f"parse {int(empty.nonzero()[0])} has no strokes: nothing to render")
    B = stroke_mask.shape[0]
    blur = torch.as_tensor(blur, dtype=control_points.dtype, device=control_points.device).expand(B)
    noise = torch.as_tensor(noise, dtype=control_points.dtype, device=control_points.device).expand(
        B
    )
    if not (blur > 0).all():
        raise ValueError("blur sigma must be positive")
    if not ((noise >= 0) & (noise <= 1)).all():
        raise ValueError("pixel noise epsilon must lie in [0, 1]")
    ink = finish_ink(stroke_ink(control_points, num_control, stroke_mask, settings), settings)
    # the coarse model blurs the block averages with the same sigma in coarse pixels
    ink = block_average(ink, settings.downsample)
    probs = gaussian_blur(ink, blur / settings.downsample, settings.blur_passes, settings.smooth)
    return add_pixel_noise(probs, noise)


def render(
    parses: Parses,
    blur: torch.Tensor | float | None = None,
    noise: torch.Tensor | float | None = None,
    settings: RenderSettings = DEFAULT_SETTINGS,
) -> torch.Tensor:
    """Ink probabilities (B, 105, 105) of a batch of parses or tokens (smaller with
    ``settings.downsample``: see :func:`block_average`).

    Tokens (:class:`~gns_pyro.parses.Tokens`) are drawn with their ``affine`` warp
    (:func:`apply_affine`) and, unless ``blur`` / ``noise`` are given, their own blur and
    noise; plain parses are drawn as they are, with :data:`DEFAULT_BLUR` /
    :data:`DEFAULT_NOISE` unless given.
    """
    is_token = isinstance(parses, Tokens)
    if blur is None:
        blur = parses.blur if is_token else DEFAULT_BLUR
    if noise is None:
        noise = parses.noise if is_token else DEFAULT_NOISE
    cpts = parses.drawn_points()
    return render_control_points(
        cpts, parses.num_control, parses.stroke_mask, blur, noise, settings
    )


def render_canvases(parses: Parses, settings: RenderSettings = DEFAULT_SETTINGS) -> torch.Tensor:
    """Canvases the type model reads: (B, S + 1, H, W), entry ``i`` holds strokes ``< i``.

    Canvas ``i`` is the broadened, clamped ink of the parse's first ``i`` strokes (no blur, no
    noise); entry 0 is blank. All prefixes come from one batched deposit and a cumulative sum.
    """
    B, S = parses.stroke_mask.shape
    size = settings.size
    dtype, device = parses.locations.dtype, parses.locations.device
    if parses.stroke_mask.any():
        per_stroke = stroke_ink(
            parses.control_points, parses.num_control, parses.stroke_mask, settings, per_stroke=True
        )
        prefix = torch.cumsum(per_stroke, dim=1)
    else:
        prefix = torch.zeros(B, S, size, size, dtype=dtype, device=device)
    blank = torch.zeros(B, 1, size, size, dtype=dtype, device=device)
    return finish_ink(torch.cat([blank, prefix], dim=1), settings)


def stroke_canvases(
    parses: Parses, settings: RenderSettings = DEFAULT_SETTINGS
) -> tuple[torch.Tensor, torch.Tensor]:
    """Canvases just before and just after each existing stroke: two (N, H, W) tensors.

    Strokes are in ``parses.stroke_mask.nonzero()`` order. Equal to the matching entries of
    :func:`render_canvases`, but only the ``N`` real strokes are deposited and broadened, not
    every padded slot of ``B x (S + 1)``: a batch's padding can be most of its slots.
    """
    b, s = parses.stroke_mask.nonzero(as_tuple=True)
    points, ink = sample_strokes(
        parses.control_points[parses.stroke_mask], parses.num_control[parses.stroke_mask], settings
    )
    N, size = b.numel(), settings.size
    per_stroke = deposit_ink(points, ink, torch.arange(N, device=b.device), N, settings)
    running = per_stroke.new_zeros(parses.batch_size, size, size)
    before, after, order = [], [], []
    for i in range(int(s.max()) + 1 if N else 0):
        at = (s == i).nonzero().squeeze(-1)  # strokes in position i, in parse order
        owners = b[at]
        before.append(running[owners])
        running = running.index_add(0, owners, per_stroke[at])
        after.append(running[owners])
        order.append(at)
    inverse = torch.cat(order).argsort()
    return finish_ink(torch.cat(before)[inverse], settings), finish_ink(
        torch.cat(after)[inverse], settings
    )


def __getattr__(name: str):
    """``IMAGE_SIZE``, the frame side that lived here, still resolves (with a warning)."""
    if name == "IMAGE_SIZE":
        import warnings

        warnings.warn(
            "gns_pyro.renderer.IMAGE_SIZE is deprecated: the frame side is the domain's "
            "(CharacterParts.image_size), or gns_pyro.data.OMNIGLOT_IMAGE_SIZE for Omniglot",
            DeprecationWarning,
            stacklevel=2,
        )
        return DEFAULT_SETTINGS.size
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
