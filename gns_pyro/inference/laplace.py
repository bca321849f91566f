"""Laplace approximations of log marginal likelihoods (paper App. D).

For a Pyro model and a mode of its latent sites, :func:`laplace_log_marginal` works in the
unconstrained space ``z`` of those sites (``biject_to`` of each site's support, with the
log-Jacobian added), takes the Hessian of ``f(z) = log p(x, z)`` with
``torch.autograd.functional.hessian(..., vectorize=True)`` in float64, symmetrizes it, and
returns

    log p(x) ~= f(z*) + d/2 log(2 pi) - 1/2 log det(-H).

A Hessian that is not negative definite (the point is not a strict maximum) is handled
explicitly: the log-determinant uses the absolute values of the eigenvalues of ``-H``, floored
at ``min_curvature``, and the result says so (``positive_definite=False``) -- never a NaN.

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

import torch
from pyro import poutine
from torch.distributions import biject_to


class LaplaceResult(NamedTuple):
    log_marginal: torch.Tensor
    log_joint: torch.Tensor  # f(z*), log-Jacobian included
    log_det: torch.Tensor  # log det(-H) after any eigenvalue floor
    dim: int
    positive_definite: bool


def _supports(model, values: dict, args, kwargs) -> dict:
    trace = poutine.trace(poutine.condition(model, data=values)).get_trace(*args, **kwargs)
    missing = set(values) - set(trace.nodes)
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
    **kwargs,
) -> LaplaceResult:
    """Laplace estimate of log p(observed) around ``mode`` (constrained site values).

    :param mode: values of the continuous latent sites at the mode; they are the variables.
    :param fixed: values of other sites held fixed (e.g. discrete structure).
    :param masks: per site, a bool mask of the entries that are variables (others held at the
        mode, e.g. padding that the model masks out).
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
    z0 = torch.cat([base[n][pick[n]] for n in names]).detach()

    def f(z: torch.Tensor) -> torch.Tensor:
        values, log_jac = dict(fixed), z.new_zeros(())
        for n, chunk in zip(names, z.split(sizes)):
            u = base[n].masked_scatter(pick[n], chunk)
            x = transforms[n](u)
            log_jac = log_jac + (transforms[n].log_abs_det_jacobian(u, x) * pick[n]).sum()
            values[n] = x
        trace = poutine.trace(poutine.condition(model, data=values)).get_trace(*args, **kwargs)
        return trace.log_prob_sum() + log_jac

    log_joint = f(z0).detach()
    hessian = torch.autograd.functional.hessian(f, z0, vectorize=True)
    hessian = 0.5 * (hessian + hessian.T)
    eig = torch.linalg.eigvalsh(-hessian)
    positive = bool((eig > min_curvature).all())
    log_det = eig.abs().clamp(min=min_curvature).log().sum()
    d = z0.numel()
    log_marginal = log_joint + 0.5 * d * math.log(2 * math.pi) - 0.5 * log_det
    return LaplaceResult(log_marginal, log_joint, log_det, d, positive)


def parse_log_marginal(
    parts, types, tokens, image: torch.Tensor
) -> tuple[torch.Tensor, list[LaplaceResult]]:
    """log P(I) ~= logsumexp over the K modes of their Laplace estimates (float64).

    Each mode's variables are all continuous type and token sites (start locations, offsets,
    token locations and shapes, affine, blur, noise); stroke counts and order are fixed.
    """
    from gns_pyro.models.joint import character_model, joint_conditions
    from gns_pyro.models.token import TOKEN_SHAPES

    parts = copy.deepcopy(parts).double()  # .double() is in place: leave the caller's nets alone
    results = []
    for k in range(types.batch_size):
        t = types[k].trim().to(dtype=torch.float64)
        S, P = t.max_strokes, t.max_offsets
        tok = tokens[k].to(dtype=torch.float64)
        tok = tok.replace(
            locations=tok.locations[:, :S],
            offsets=tok.offsets[:, :S, :P],
            stroke_mask=t.stroke_mask,
            offset_mask=t.offset_mask,
        )
        values = joint_conditions(parts, t, tok)
        discrete = {n: v for n, v in values.items() if n.startswith(("end_", "stop_"))}
        mode = {n: v for n, v in values.items() if n not in discrete}
        masks = {TOKEN_SHAPES: t.offset_mask.unsqueeze(-1)}
        img = image.to(torch.float64).reshape(1, *image.shape[-2:])
        results.append(
            laplace_log_marginal(
                character_model, mode, parts, 1, fixed=discrete, masks=masks, image=img
            )
        )
    log_marginal = torch.logsumexp(torch.stack([r.log_marginal for r in results]), 0)
    return log_marginal, results
