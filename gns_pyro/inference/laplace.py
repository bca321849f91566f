"""Laplace approximations of log marginal likelihoods (paper App. D), polished to true maxima,
and an importance-sampling check that does not trust the Hessian.

For a Pyro model and a mode of its latent sites, :func:`laplace_log_marginal` works in the
unconstrained space ``z`` of those sites (``biject_to`` of each site's support, with the
log-Jacobian added), takes the Hessian of ``f(z) = log p(x, z)`` from the model's trace in
float64, and returns

    log p(x) ~= f(z*) + d/2 log(2 pi) - 1/2 log det(-H).

The formula holds at a strict maximum, and a gradient optimizer stops near one, not at it.
Up to ``polish_steps`` Newton steps first move the point there: each solves
``(|-H| + mu I) dz = grad f``, with the eigenvalues of ``-H`` taken in absolute value so that
a step never descends along a direction of positive curvature (it climbs out of a saddle), and
the damping ``mu`` raised until ``f`` rises and lowered after each success
(Levenberg-Marquardt); along a direction of negative curvature the step has a least length,
since at a saddle the gradient there can vanish. A Hessian costs about a hundred gradients, so
it is recomputed only every :data:`HESSIAN_EVERY` steps, when a step fails, and to confirm
convergence; the steps between use the last one's eigenvectors with fresh gradients. The polish
stops when the gradient norm is below ``gradient_tolerance`` and a fresh ``-H`` is positive
definite (``converged``), when no step raises ``f``, or when the budget is spent. The Hessian
at the final point is the Laplace one.

Models over a plate of independent items (a batch of parses) are done together
(:func:`batched_laplace`): one trace of the whole batch, one gradient, and the Hessian's
diagonal blocks from batched Hessian-vector products (:class:`LatentSpace`, in
:mod:`gns_pyro.inference.latent_space`). In a parse the type prior's sites, whose nets make
them the costly part, are probed along the type's variables alone: the same Hessian in about
half the time.

A Hessian that is still not negative definite is handled explicitly: the log-determinant
uses the absolute values of the eigenvalues of ``-H``, floored at ``min_curvature``, and the
result says so (``positive_definite=False``) -- never a NaN.

:func:`parse_log_marginal` sums the Laplace masses of ``K`` parses of an image, counting once
the parses that polished onto the same maximum;
:func:`gns_pyro.inference.importance.importance_log_marginal` estimates the same sum by
importance sampling from a mixture of the modes' Laplace Gaussians.

Example::

    >>> import pyro, pyro.distributions as dist, torch
    >>> def model():
    ...     z = pyro.sample("z", dist.Normal(0.0, 1.0))
    ...     pyro.sample("x", dist.Normal(z, 1.0), obs=torch.tensor(0.5))
    >>> laplace_log_marginal(model, {"z": torch.tensor(0.25)}).log_marginal  # exact here
    tensor(-1.3280, dtype=torch.float64)
"""

from __future__ import annotations

import copy
import math
from typing import NamedTuple

import pyro
import torch
from pyro import poutine

from gns_pyro.inference.latent_space import PROBES_PER_PASS, LatentSpace  # noqa: F401 (public)

#: Newton steps, gradient tolerance and eigenvalue floor used unless the call gives others.
#: Modes of real images under smooth nets take 20 to 100 steps to reach a maximum (measured
#: on the first seeded evaluation images); a converged mode takes no more.
POLISH_STEPS = 100
GRADIENT_TOLERANCE = 1e-3
MIN_CURVATURE = 1e-6
#: Newton steps taken with one Hessian before it is recomputed (a Hessian costs ~100
#: gradients of a parse; between refreshes each step costs one gradient).
HESSIAN_EVERY = 4


class LaplaceResult(NamedTuple):
    """Laplace's approximation at one mode.

    :param log_marginal: the estimate of log P(data): ``log_joint + d/2 log 2 pi - 1/2 log
        det(-H)``.
    :param log_joint: f(z*), the log joint at the mode, log-Jacobian of the unconstraining
        transforms included.
    :param log_det: log det(-H), after any eigenvalue floor.
    :param dim: number of continuous dimensions.
    :param positive_definite: whether -H was positive definite (the mode is a strict local maximum).
    :param mode: the (polished) mode, constrained site values (for an item of a batch, as a
        batch of one: the values a model over one item takes).
    :param polish_gain: how much the Newton polish raised f (nats).
    :param smallest_curvature: the smallest eigenvalue of -H (negative: not a maximum).
    :param negative_curvatures: how many eigenvalues of -H are negative (0 at a maximum; a
        saddle point has some). ``log_det`` uses their absolute values.
    :param gradient_norm: the norm of the gradient of f at the returned point (0 at a mode).
    :param converged: the gradient norm is below the tolerance and -H is positive definite.
    :param steps: Newton steps taken.
    :param duplicate_of: in :func:`parse_log_marginal`, the index of an earlier parse that
        reached the same maximum (this one is then left out of the sum), else None.
    :param location: the mode in unconstrained coordinates (d,), for a Gaussian around it.
    :param negative_hessian: -H there (d, d), symmetrized, before any floor.
    """

    log_marginal: torch.Tensor
    log_joint: torch.Tensor  # f(z*), log-Jacobian included
    log_det: torch.Tensor  # log det(-H) after any eigenvalue floor
    dim: int
    positive_definite: bool
    mode: dict  # the (polished) mode, constrained site values
    polish_gain: float = 0.0  # how much the Newton polish raised f (nats)
    smallest_curvature: float = 0.0  # the smallest eigenvalue of -H (negative: not a maximum)
    negative_curvatures: int = 0  # how many eigenvalues of -H are negative
    gradient_norm: float = math.nan  # |grad f| at the returned point
    converged: bool = False
    steps: int = 0
    duplicate_of: int | None = None
    location: torch.Tensor | None = None
    negative_hessian: torch.Tensor | None = None


def _newton_step(eig, vectors, grad, damping: float) -> torch.Tensor:
    """The damped saddle-free Newton step: ``g_i / (|lambda_i| + mu)`` along each eigenvector
    of -H. Along a direction of negative curvature (f convex there) it is at least
    ``1 / (1 + mu)`` long, uphill by the gradient's sign: at a saddle the gradient's component
    there can be ~0, and the plain step would never leave it."""
    along = vectors.T @ grad
    component = along / (eig.abs() + damping)
    escape = torch.where(along >= 0, 1.0, -1.0) / (1.0 + damping)
    longer = (eig < 0) & (component.abs() < escape.abs())
    return vectors @ torch.where(longer, escape, component)


def _curvature_and_eigen(space: LatentSpace, z: torch.Tensor):
    """:meth:`LatentSpace.curvature` at ``z`` and each block's eigendecomposition."""
    f, grad, blocks = space.curvature(z)
    return f, grad, blocks, [torch.linalg.eigh(b) for b in blocks]


def polish(
    space: LatentSpace,
    polish_steps: int = POLISH_STEPS,
    gradient_tolerance: float = GRADIENT_TOLERANCE,
    min_curvature: float = MIN_CURVATURE,
) -> list[LaplaceResult]:
    """Newton-polish every item of ``space`` to its maximum (module docstring) and take the
    Laplace approximation there: one :class:`LaplaceResult` per item."""
    z = space.z.clone()
    with pyro.validation_enabled(False):
        f, grad, blocks, eigen = _curvature_and_eigen(space, z)
        start = f.clone()
        fresh, since = True, 0  # whether the Hessian is the current point's; steps since
        damping = [1.0] * space.num_items
        steps = [0] * space.num_items
        done = [False] * space.num_items
        for _ in range(polish_steps):
            small = [float(grad[idx].norm()) < gradient_tolerance for idx in space.entries]
            for b in range(space.num_items):
                converged = small[b] and float(eigen[b].eigenvalues.min()) > min_curvature
                done[b] = done[b] or (fresh and converged)
            if all(done):
                break
            if not fresh and all(d or g for d, g in zip(done, small)):
                f, grad, blocks, eigen = _curvature_and_eigen(space, z)  # only a fresh -H
                fresh, since = True, 0  # can say whether it converged
                continue
            improved = list(done)
            for _try in range(12):
                step = torch.zeros_like(z)
                for b, idx in enumerate(space.entries):
                    if not improved[b]:
                        step[idx] = _newton_step(*eigen[b], grad[idx], damping[b])
                with torch.no_grad():
                    trial = space.log_joint(z + step)
                for b, idx in enumerate(space.entries):
                    if improved[b]:
                        continue
                    if torch.isfinite(trial[b]) and trial[b] > f[b]:
                        z[idx] += step[idx]
                        f[b], improved[b] = trial[b], True
                        damping[b] = max(damping[b] / 3, 1e-3)
                        steps[b] += 1
                    else:
                        damping[b] *= 10
                if all(improved):
                    break
            if fresh:  # no step along a fresh Hessian raises f: as far as it goes
                done = [d or not i for d, i in zip(done, improved)]
            since += 1
            if not all(improved) or since >= HESSIAN_EVERY:
                f, grad, blocks, eigen = _curvature_and_eigen(space, z)
                fresh, since = True, 0
            else:  # a cheap step: the gradient is new, the Hessian's eigenvectors are kept
                f, grad = space.gradient(z)
                fresh = False
        if not fresh:  # Laplace needs the Hessian at the final point
            f, grad, blocks, eigen = _curvature_and_eigen(space, z)
    values, _ = space.values(z)
    results = []
    for b, idx in enumerate(space.entries):
        eig = eigen[b].eigenvalues
        d = idx.numel()
        log_det = eig.abs().clamp(min=min_curvature).log().sum()
        positive = bool((eig > min_curvature).all())
        gradient_norm = float(grad[idx].norm())
        mode = {
            n: (values[n] if space.batch_size is None else values[n][b : b + 1]).detach()
            for n in space.names
        }
        results.append(
            LaplaceResult(
                log_marginal=f[b] + 0.5 * d * math.log(2 * math.pi) - 0.5 * log_det,
                log_joint=f[b],
                log_det=log_det,
                dim=d,
                positive_definite=positive,
                mode=mode,
                polish_gain=float(f[b] - start[b]),
                smallest_curvature=float(eig.min()),
                negative_curvatures=int((eig < 0).sum()),
                gradient_norm=gradient_norm,
                converged=positive and gradient_norm < gradient_tolerance,
                steps=steps[b],
                location=z[idx].clone(),
                negative_hessian=blocks[b],
            )
        )
    return results


def laplace_log_marginal(
    model,
    mode: dict[str, torch.Tensor],
    *args,
    fixed: dict[str, torch.Tensor] | None = None,
    masks: dict[str, torch.Tensor] | None = None,
    min_curvature: float = MIN_CURVATURE,
    polish_steps: int = 0,
    gradient_tolerance: float = GRADIENT_TOLERANCE,
    **kwargs,
) -> LaplaceResult:
    """Laplace estimate of log p(observed) around ``mode`` (constrained site values).

    :param mode: values of the continuous latent sites at (or near) the mode; they are the
        variables.
    :param fixed: values of other sites held fixed (e.g. discrete structure).
    :param masks: per site, a bool mask of the entries that are variables (others held at the
        mode, e.g. padding that the model masks out).
    :param polish_steps: most Newton steps taken first (see the module docstring).
    :param gradient_tolerance: the polish stops once the gradient norm is below this and -H is
        positive definite.
    """
    space = LatentSpace(model, mode, args, kwargs, fixed, masks)
    (result,) = polish(space, polish_steps, gradient_tolerance, min_curvature)
    return result


def batched_laplace(
    model,
    mode: dict[str, torch.Tensor],
    batch_size: int,
    *args,
    fixed: dict[str, torch.Tensor] | None = None,
    masks: dict[str, torch.Tensor] | None = None,
    min_curvature: float = MIN_CURVATURE,
    polish_steps: int = POLISH_STEPS,
    gradient_tolerance: float = GRADIENT_TOLERANCE,
    **kwargs,
) -> list[LaplaceResult]:
    """:func:`laplace_log_marginal` for each of ``batch_size`` independent items of a plated
    model at once (every site's first dimension is the item): one result per item, the same
    as item-by-item calls give, from one trace per step."""
    space = LatentSpace(model, mode, args, kwargs, fixed, masks, batch_size=batch_size)
    return polish(space, polish_steps, gradient_tolerance, min_curvature)


# ----------------------------------------------------------------------------------- parses
def _parse_space(parts, types, tokens, image) -> LatentSpace:
    """The latent space of :func:`~gns_pyro.inference.refinement.parse_model` for a batch of
    parses (float64): every continuous type and token site of the strokes and offsets each
    parse has; stroke counts and order fixed."""
    from pyro.poutine.util import site_is_subsample

    from gns_pyro.inference.guides import ParseGuide
    from gns_pyro.inference.refinement import parse_model
    from gns_pyro.models.sites import is_type_site, loc_site, offset_site
    from gns_pyro.models.token import TOKEN_LOCATIONS, TOKEN_SHAPES

    guide = ParseGuide(types, tokens)
    with pyro.get_param_store().scope():
        trace = poutine.trace(guide).get_trace()
    mode = {
        n: s["value"].detach()
        for n, s in trace.nodes.items()
        if s["type"] == "sample" and not site_is_subsample(s)
    }
    strokes, offsets = types.stroke_mask, types.offset_mask
    masks = {TOKEN_LOCATIONS: strokes.unsqueeze(-1), TOKEN_SHAPES: offsets.unsqueeze(-1)}
    for _, i, t in guide.type_sites:
        present = strokes[:, i] if t is None else offsets[:, i, t]
        masks[loc_site(i) if t is None else offset_site(i, t)] = present.unsqueeze(-1)
    # the type prior's sites read the type's values alone: their Hessian (the costly part,
    # through the nets) is probed along the type's variables only
    type_variables = {name for name in mode if is_type_site(name)}
    return LatentSpace(
        parse_model,
        mode,
        (parts, types, image),
        masks=masks,
        batch_size=types.batch_size,
        local_sites=(is_type_site, type_variables),
    )


def _as_float64(parts, types, tokens, image):
    # .double() is in place: leave the caller's nets alone; weights are constants here
    parts = copy.deepcopy(parts).double().requires_grad_(False)
    types = types.trim().to(dtype=torch.float64)
    tokens = tokens.trim().to(dtype=torch.float64)
    img = image.to(device=types.locations.device, dtype=torch.float64)
    return parts, types, tokens, img.reshape(1, *image.shape[-2:])


def _same_structure(types, j: int, k: int) -> bool:
    """Whether parses ``j`` and ``k`` have one latent space: the same strokes and offsets."""
    return torch.equal(types.stroke_mask[j], types.stroke_mask[k]) and torch.equal(
        types.offset_mask[j], types.offset_mask[k]
    )


def _same_maximum(a: LaplaceResult, b: LaplaceResult) -> bool:
    """Whether two polished modes of one structure are one maximum: each within one standard
    deviation of the other's Laplace Gaussian (Mahalanobis distance)."""
    gap = a.location - b.location
    return bool(gap @ a.negative_hessian @ gap < 1.0 and gap @ b.negative_hessian @ gap < 1.0)


def parse_log_marginal(
    parts,
    types,
    tokens,
    image: torch.Tensor,
    polish_steps: int = POLISH_STEPS,
    gradient_tolerance: float = GRADIENT_TOLERANCE,
) -> tuple[torch.Tensor, list[LaplaceResult]]:
    """log P(I) ~= logsumexp over the distinct maxima of ``K`` parses of their Laplace
    estimates (float64).

    Each parse's mode is read from a :class:`~gns_pyro.inference.guides.ParseGuide` at the
    parse (the Delta sites' values), and its Hessian comes from the trace of
    :func:`~gns_pyro.inference.refinement.parse_model`: the variables are every continuous
    type and token site (start locations, offsets, token locations and shapes, affine, blur,
    noise); stroke counts and order are fixed. All ``K`` are polished together
    (:func:`batched_laplace`). A parse that reached the same maximum as an earlier one
    (same structure, within one standard deviation) is marked ``duplicate_of`` and not
    counted again: a basin's mass enters the sum once.

    :param image: the observed image (H, W), ink = 1; for the smooth image model give
        ``parts.with_smooth_rendering()``.
    :returns: the estimate and one :class:`LaplaceResult` per parse, in their order.
    """
    parts, types, tokens, image = _as_float64(parts, types, tokens, image)
    space = _parse_space(parts, types, tokens, image)
    results = polish(space, polish_steps, gradient_tolerance)
    kept: list[int] = []
    for k, result in enumerate(results):
        same = [
            j for j in kept if _same_structure(types, j, k) and _same_maximum(results[j], result)
        ]
        if same:
            results[k] = result._replace(duplicate_of=same[0])
        else:
            kept.append(k)
    log_marginal = torch.logsumexp(torch.stack([results[k].log_marginal for k in kept]), 0)
    return log_marginal, results
