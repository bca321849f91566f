"""Laplace approximations of log marginal likelihoods (paper App. D), with a Newton polish.

For a Pyro model and a mode of its latent sites, :func:`laplace_log_marginal` works in the
unconstrained space ``z`` of those sites (``biject_to`` of each site's support, with the
log-Jacobian added), takes the Hessian of ``f(z) = log p(x, z)`` from the model's trace with
``torch.autograd.functional.hessian(..., vectorize=True)`` in float64, symmetrizes it, and
returns

    log p(x) ~= f(z*) + d/2 log(2 pi) - 1/2 log det(-H).

The formula holds at a strict maximum, and a gradient optimizer stops near one, not at it.
``polish_steps`` Newton steps first move the point to the maximum: each solves
``(|-H| + mu I) dz = grad f``, with the eigenvalues of ``-H`` taken in absolute value so that
a step never descends along a direction of positive curvature, and the damping ``mu`` raised
until ``f`` rises and lowered after each success (Levenberg-Marquardt). The last Hessian is
the Laplace one.

A Hessian that is still not negative definite is handled explicitly: the log-determinant
uses the absolute values of the eigenvalues of ``-H``, floored at ``min_curvature``, and the
result says so (``positive_definite=False``) -- never a NaN.

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
from torch.distributions import biject_to


class LaplaceResult(NamedTuple):
    """Laplace's approximation at one mode.

    :param log_marginal: the estimate of log P(data): ``log_joint + d/2 log 2 pi - 1/2 log
        det(-H)``.
    :param log_joint: f(z*), the log joint at the mode, log-Jacobian of the unconstraining
        transforms included.
    :param log_det: log det(-H), after any eigenvalue floor.
    :param dim: number of continuous dimensions.
    :param positive_definite: whether -H was positive definite (the mode is a strict local maximum).
    :param mode: the (polished) mode, constrained site values.
    :param polish_gain: how much the Newton polish raised f (nats).
    :param smallest_curvature: the smallest eigenvalue of -H (negative: not a maximum).
    :param negative_curvatures: how many eigenvalues of -H are negative (0 at a maximum; a
        saddle point has some). ``log_det`` uses their absolute values.
    :param gradient_norm: the norm of the gradient of f at the returned point (0 at a mode).
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


def _supports(model, values: dict, args, kwargs) -> dict:
    trace = poutine.trace(poutine.condition(model, data=values)).get_trace(*args, **kwargs)
    missing = set(values) - {n for n, s in trace.nodes.items() if s["type"] == "sample"}
    if missing:
        raise ValueError(f"not sample sites of the model: {sorted(missing)}")
    return {name: trace.nodes[name]["fn"].support for name in values}


def laplace_log_marginal(
    model,
    mode: dict[str, torch.Tensor],
    *args,
    fixed: dict[str, torch.Tensor] | None = None,
    masks: dict[str, torch.Tensor] | None = None,
    min_curvature: float = 1e-6,
    polish_steps: int = 0,
    **kwargs,
) -> LaplaceResult:
    """Laplace estimate of log p(observed) around ``mode`` (constrained site values).

    :param mode: values of the continuous latent sites at (or near) the mode; they are the
        variables.
    :param fixed: values of other sites held fixed (e.g. discrete structure).
    :param masks: per site, a bool mask of the entries that are variables (others held at the
        mode, e.g. padding that the model masks out).
    :param polish_steps: Newton steps taken first (see the module docstring).
    """
    fixed, masks = dict(fixed or {}), dict(masks or {})
    names = list(mode)
    supports = _supports(model, {**fixed, **mode}, args, kwargs)
    transforms = {n: biject_to(supports[n]) for n in names}
    base = {n: transforms[n].inv(mode[n].detach().double()) for n in names}
    pick = {
        n: masks.get(n, torch.ones_like(base[n], dtype=torch.bool)).expand_as(base[n])
        for n in names
    }
    sizes = [int(pick[n].sum()) for n in names]
    z = torch.cat([base[n][pick[n]] for n in names]).detach()

    def values_of(z: torch.Tensor) -> tuple[dict, torch.Tensor]:
        values, log_jac = dict(fixed), z.new_zeros(())
        for n, chunk in zip(names, z.split(sizes)):
            u = base[n].masked_scatter(pick[n], chunk)
            x = transforms[n](u)
            log_jac = log_jac + (transforms[n].log_abs_det_jacobian(u, x) * pick[n]).sum()
            values[n] = x
        return values, log_jac

    def f(z: torch.Tensor) -> torch.Tensor:
        values, log_jac = values_of(z)
        trace = poutine.trace(poutine.condition(model, data=values)).get_trace(*args, **kwargs)
        return trace.log_prob_sum() + log_jac

    def curvature(z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Eigen-decomposition of -H (symmetrized) at ``z``."""
        hessian = torch.autograd.functional.hessian(f, z, vectorize=True)
        eig, vectors = torch.linalg.eigh(-0.5 * (hessian + hessian.T))
        return eig, vectors, hessian

    with pyro.validation_enabled(False):
        value = f(z).detach()
        start_value = value
        eig, vectors, _ = curvature(z)
        damping = 1.0
        for _ in range(polish_steps):
            zg = z.clone().requires_grad_(True)
            (grad,) = torch.autograd.grad(f(zg), zg)
            along = vectors.T @ grad
            improved = False
            for _try in range(12):
                # damped Newton on |eigenvalues|: an ascent direction along every eigenvector,
                # shortened where the curvature is small (Levenberg-Marquardt)
                step = vectors @ (along / (eig.abs() + damping))
                trial = f(z + step).detach()
                if torch.isfinite(trial) and trial > value:
                    z, value, improved = (z + step).detach(), trial, True
                    damping = max(damping / 3, 1e-3)
                    break
                damping *= 10
            if not improved or float(along.norm()) < 1e-6:
                break
            eig, vectors, _ = curvature(z)
        zg = z.clone().requires_grad_(True)
        (grad,) = torch.autograd.grad(f(zg), zg)
    positive = bool((eig > min_curvature).all())
    log_det = eig.abs().clamp(min=min_curvature).log().sum()
    d = z.numel()
    log_marginal = value + 0.5 * d * math.log(2 * math.pi) - 0.5 * log_det
    polished, _ = values_of(z)
    polished = {n: polished[n].detach() for n in names}
    gain = float(value - start_value)
    return LaplaceResult(
        log_marginal,
        value,
        log_det,
        d,
        positive,
        polished,
        gain,
        float(eig.min()),
        int((eig < 0).sum()),
        float(grad.norm()),
    )


def parse_log_marginal(
    parts, types, tokens, image: torch.Tensor, polish_steps: int = 3
) -> tuple[torch.Tensor, list[LaplaceResult]]:
    """log P(I) ~= logsumexp over the K parses of their Laplace estimates (float64).

    Each parse's mode is read from a :class:`~gns_pyro.inference.guides.ParseGuide` at the
    parse (the Delta sites' values), and its Hessian comes from the trace of
    :func:`~gns_pyro.inference.refinement.parse_model`: the variables are every continuous
    type and token site (start locations, offsets, token locations and shapes, affine, blur,
    noise); stroke counts and order are fixed. ``polish_steps`` Newton steps move each mode
    to its maximum first (see :func:`laplace_log_marginal`).
    """
    from pyro.poutine.util import site_is_subsample

    from gns_pyro.inference.guides import ParseGuide
    from gns_pyro.inference.refinement import parse_model
    from gns_pyro.models.token import TOKEN_SHAPES

    # .double() is in place: leave the caller's nets alone; weights are constants here
    parts = copy.deepcopy(parts).double().requires_grad_(False)
    img = image.to(device=types.locations.device, dtype=torch.float64)
    img = img.reshape(1, *image.shape[-2:])
    results = []
    for k in range(types.batch_size):
        # a token keeps its type's slots, so both trim alike
        t = types[k].trim().to(dtype=torch.float64)
        tok = tokens[k].trim().to(dtype=torch.float64)
        guide = ParseGuide(t, tok)
        with pyro.get_param_store().scope():
            trace = poutine.trace(guide).get_trace()
        mode = {
            n: s["value"].detach()
            for n, s in trace.nodes.items()
            if s["type"] == "sample" and not site_is_subsample(s)
        }
        masks = {TOKEN_SHAPES: t.offset_mask.unsqueeze(-1)}
        results.append(
            laplace_log_marginal(
                parse_model, mode, parts, t, img, masks=masks, polish_steps=polish_steps
            )
        )
    log_marginal = torch.logsumexp(torch.stack([r.log_marginal for r in results]), 0)
    return log_marginal, results
