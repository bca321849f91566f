"""Continuous refinement of parses as Pyro inference: a Delta guide, ``SVI`` and ``pyro.optim``.

The target is the character model itself. For parse refinement it is :func:`parse_model`:
:func:`~gns_pyro.models.joint.character_model` with each parse's discrete structure (the
``end_*`` and ``stop_*`` flags, hence its stroke and offset counts) conditioned and the image
observed; its continuous sites -- type start locations and offsets, token locations and
shapes, the affine warp, blur and pixel noise -- are latent. :func:`refine` optimizes the same
log joint through :func:`collapsed_parse_model`, where each type's continuous values are one
site whose density takes one teacher-forced pass of the nets (half the cost of a step of the
per-site program, which runs the stroke net offset by offset). For the token refit of one-shot
classification it is :func:`~gns_pyro.models.joint.token_image_model` with the types given.
:class:`~gns_pyro.inference.guides.ParseGuide` puts a point mass on every latent site of a
whole batch of parses, and ``SVI`` with ``Trace_ELBO`` maximizes the log joint (the ELBO of a
Delta guide is the log joint at its point).

The schedule (:class:`RefineSettings`): each kind of variable has its own Adam learning rate
(``pyro.optim.ClippedAdam`` with a callable ``optim_args``), optionally decayed geometrically
each step (``lr_decay``; the finishing phase of a token refit uses it so that late steps polish
instead of jitter); each parse keeps the best state it has visited, so refinement never lowers
its log joint; the loop stops when no parse has improved by more than ``tol`` over
``patience`` steps, or after ``steps``. ``benchmarks/convergence.py`` measures how close the
defaults come to the optimum of a 1,500-step reference run, and at what cost.

Example::

    >>> refined = refine(parts, types, initial_tokens(types), image)    # doctest: +SKIP
    >>> refined.log_joint, refined.types, refined.tokens                 # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import dataclasses

import pyro
import torch
from pyro import poutine
from pyro.infer import SVI, Trace_ELBO

from gns_pyro.inference.guides import ParseGuide
from gns_pyro.models.joint import character_model, token_image_log_prob, token_image_model
from gns_pyro.models.sites import TYPE_TABLE, type_conditions, types_plate
from gns_pyro.models.token import DEFAULT_TOKEN_PRIOR, TokenPrior
from gns_pyro.models.traces import trace_log_prob
from gns_pyro.models.type_prior import ContinuousType
from gns_pyro.parses import Parses, Tokens
from gns_pyro.renderer import RenderSettings


@dataclasses.dataclass(frozen=True)
class RefineSettings:
    """Schedule of a refinement (parse refinement or token refit).

    :param steps: most SVI steps.
    :param lr_coordinates: Adam step (pixels) of locations, offsets, shapes and the warp's shift.
    :param lr_affine: Adam step of the warp's two scales.
    :param lr_render: Adam step of blur and noise in their unconstrained (logit) coordinates.
    :param lr_decay: every learning rate is multiplied by this after each step.
    :param patience: stop once no parse has improved by more than ``tol`` for this many steps.
    :param tol: improvement (nats) that counts.
    :param init_blur: starting blur sigma of new tokens (pixels).
    :param init_noise: starting pixel noise of new tokens.
    :param downsample: token refits only: steer by the coarse image model on blocks of this
        side (:class:`~gns_pyro.renderer.RenderSettings`), which is several times cheaper per
        step while the blur is wide; the log joints reported are still the full model's,
        evaluated once at the end.
    """

    steps: int = 75
    lr_coordinates: float = 0.3
    lr_affine: float = 0.01
    lr_render: float = 0.1
    lr_decay: float = 1.0
    patience: int = 20
    tol: float = 0.05
    init_blur: float = 2.0
    init_noise: float = 0.05
    downsample: int = 1

    def __post_init__(self):
        if self.downsample < 1:
            raise ValueError(f"downsample must be at least 1, got {self.downsample}")

    def optim_args(self, param_name: str) -> dict:
        """Adam arguments of one guide param (for ``pyro.optim.ClippedAdam``)."""
        kind = param_name.rsplit(".", 1)[-1]
        if kind == "affine_scale":
            lr = self.lr_affine
        elif kind in ("blur", "noise"):
            lr = self.lr_render
        else:
            lr = self.lr_coordinates
        # ClippedAdam clamps each gradient entry; image gradients are large, and a clamp would
        # change Adam's step directions, so the clamp is set out of reach
        return {"lr": lr, "lrd": self.lr_decay, "clip_norm": 1e12}


#: The first phase of parse refinement: tokens fitted to the image with the types held (no
#: nets in the loop, so each step costs about a tenth of a joint one).
TOKEN_FIT = RefineSettings(steps=150, lr_coordinates=0.5, lr_affine=0.02, lr_render=0.2)


@dataclasses.dataclass
class Refined:
    """Result of :func:`refine`: the best state of each parse and its log joint."""

    types: Parses
    tokens: Tokens
    log_joint: torch.Tensor  # (K,) at the returned state
    start_log_joint: torch.Tensor  # (K,) before refinement
    steps: int


# ------------------------------------------------------------------------------------- models
def parse_model(
    parts, structure: Parses, image: torch.Tensor, token_prior: TokenPrior = DEFAULT_TOKEN_PRIOR
):
    """The character model for a batch of parses of ``image``: discrete structure conditioned.

    Only the ``end_*`` and ``stop_*`` sites of ``structure`` are fixed; every continuous site
    is latent, for a guide to give values. The nets are the model's given, not learned here:
    their ``pyro.module`` params are hidden from inference.

    :param structure: parses whose stroke and offset counts are used (not their values).
    :param image: (H, H) or one per parse (B, H, H), ink = 1, on the domain's frame.
    """
    B = structure.batch_size
    images = image.expand(B, *image.shape[-2:]).to(structure.locations.dtype)
    discrete = type_conditions(structure, parts.max_parts, parts.max_steps, continuous=False)
    model = poutine.block(poutine.condition(character_model, data=discrete), hide_types=["param"])
    return model(parts, batch_size=B, image=images, token_prior=token_prior)


def collapsed_parse_model(
    parts, structure: Parses, image: torch.Tensor, token_prior: TokenPrior = DEFAULT_TOKEN_PRIOR
):
    """:func:`parse_model` with each type's continuous values as one site.

    ``type_table`` (B, S, P + 1, 2) holds every start location and offset
    (:meth:`~gns_pyro.parses.Parses.table`); its density
    (:class:`~gns_pyro.models.type_prior.ContinuousType`) is GenerateType's log P(psi) for the
    structure of ``structure``, end and stop flags included, computed in one teacher-forced
    pass of the nets. The log joint is the same as :func:`parse_model`'s at the same values;
    a step costs about half as much, because the per-site program runs the stroke net one
    offset at a time. Its values come from a guide (``ParseGuide(..., type_table=True)``);
    the token and image programs are the domain's own, as in :func:`parse_model`.
    """
    B = structure.batch_size
    images = image.expand(B, *image.shape[-2:]).to(structure.locations.dtype)
    plate = types_plate(B)
    with plate:
        table = pyro.sample(TYPE_TABLE, ContinuousType(parts, structure))
    types = structure.with_table(table)
    theta = parts.generate_token(types, plate=plate, token_prior=token_prior)
    return parts.image_model(theta, images, plate=plate)


def refit_model(
    types: Parses,
    image: torch.Tensor,
    token_prior: TokenPrior = DEFAULT_TOKEN_PRIOR,
    render_settings: RenderSettings | None = None,
):
    """P(theta, I | psi) for given types: the token refit's target (types fixed, image observed;
    ``render_settings`` with ``downsample``: its coarse approximation)."""
    images = image.expand(types.batch_size, *image.shape[-2:]).to(types.locations.dtype)
    return token_image_model(types, images, token_prior, render_settings)


class MapELBO(Trace_ELBO):
    """``Trace_ELBO`` for point-mass guides that also keeps each plate item's log joint.

    The plate of parses is dim -1; :attr:`log_joint` holds the (B,) log joints of the last
    traced state (before the optimizer's update). The loss and gradients are Trace_ELBO's.
    """

    def __init__(self):
        super().__init__(max_plate_nesting=1)
        self.log_joint: torch.Tensor | None = None

    def loss_and_grads(self, model, guide, *args, **kwargs):
        """Trace_ELBO's loss and gradients; also stores the (B,) log joints in :attr:`log_joint`."""
        model_trace, guide_trace = self._get_trace(model, guide, args, kwargs)
        per_item = trace_log_prob(model_trace) - trace_log_prob(guide_trace)
        self.log_joint = per_item.detach()
        loss = -per_item.sum()
        if loss.requires_grad:
            loss.backward()
        return loss.item()

    @torch.no_grad()
    def evaluate(self, model, guide, *args, **kwargs) -> torch.Tensor:
        """(B,) log joints at the guide's current point."""
        model_trace, guide_trace = self._get_trace(model, guide, args, kwargs)
        return (trace_log_prob(model_trace) - trace_log_prob(guide_trace)).detach()


@contextlib.contextmanager
def frozen(module):
    """Within the block no gradient reaches ``module``'s weights (restored afterwards)."""
    if module is None:
        yield
        return
    flags = [(p, p.requires_grad) for p in module.parameters()]
    for p, _ in flags:
        p.requires_grad_(False)
    try:
        yield
    finally:
        for p, flag in flags:
            p.requires_grad_(flag)


# ------------------------------------------------------------------------------------- tokens
def initial_tokens(types: Parses, settings: RefineSettings = RefineSettings()) -> Tokens:
    """Tokens equal to their types, identity warp, the settings' initial blur and noise."""
    K = types.batch_size
    like = types.locations
    affine = torch.tensor([1.0, 1.0, 0.0, 0.0], dtype=like.dtype, device=like.device).expand(K, 4)
    return Tokens.of(
        types,
        affine.clone(),
        torch.full((K,), settings.init_blur, dtype=like.dtype, device=like.device),
        torch.full((K,), settings.init_noise, dtype=like.dtype, device=like.device),
    )


# ------------------------------------------------------------------------------------ driving
def run_svi(
    model, guide: ParseGuide, args: tuple, settings: RefineSettings
) -> tuple[torch.Tensor, torch.Tensor, int]:
    """Drive ``guide`` with SVI; leave it at each parse's best state.

    Runs in the caller's param store (use ``pyro.get_param_store().scope()`` to isolate it).
    :returns: ``(best, start, steps)``: best and starting log joints (B,), steps taken.
    """
    elbo = MapELBO()
    svi = SVI(model, guide, pyro.optim.ClippedAdam(settings.optim_args), elbo)
    best = start = best_state = None
    history_best, stale, taken = -float("inf"), 0, 0
    for _ in range(settings.steps):
        taken += 1
        state = guide.unconstrained_state()  # the state that this step's trace scores
        svi.step(*args)
        current = elbo.log_joint
        if best is None:
            start, best, best_state = current.clone(), current.clone(), state
        else:
            better = current > best
            best = torch.where(better, current, best)
            for name, value in state.items():
                best_state[name][better] = value[better]
        total = float(best.sum())
        if total > history_best + settings.tol:
            history_best, stale = total, 0
        else:
            stale += 1
            if stale >= settings.patience:
                break
    final = elbo.evaluate(model, guide, *args)
    if best is None:
        return final, final.clone(), 0
    better = final > best
    best = torch.where(better, final, best)
    state = guide.unconstrained_state()
    for name, value in state.items():
        best_state[name][better] = value[better]
    guide.load_state(best_state)
    return best, start, taken


def refine(
    parts,
    types: Parses,
    tokens: Tokens,
    image: torch.Tensor,
    settings: RefineSettings = RefineSettings(),
    refine_type: bool = True,
    token_prior: TokenPrior = DEFAULT_TOKEN_PRIOR,
) -> Refined:
    """Refine ``K`` parses of one image (105, 105) (or of K images (K, 105, 105)).

    With ``refine_type=False`` the type is given, only the token is fitted, and the objective
    (and ``log_joint``) is log P(theta, I | psi) (token refit); ``parts`` is then unused.
    A token refit with ``settings.downsample > 1`` steps by the coarse image model, keeps the
    state that is best by it, and reports the full model's log joints at that state and at
    the start.
    """
    types = types.map(torch.Tensor.detach)
    guide = ParseGuide(
        types, tokens, fit_type=refine_type, token_prior=token_prior, type_table=refine_type
    )
    coarse = None
    if refine_type:
        if settings.downsample > 1:
            raise ValueError(
                "the coarse image model (downsample) is for token refits; joint refinement "
                "scores the domain's own image model"
            )
        model, args = collapsed_parse_model, (parts, types, image, token_prior)
    else:
        if settings.downsample > 1:
            coarse = RenderSettings(size=image.shape[-1], downsample=settings.downsample)
        model, args = refit_model, (types, image, token_prior, coarse)
    with pyro.get_param_store().scope(), pyro.validation_enabled(False), frozen(parts):
        best, start, steps = run_svi(model, guide, args, settings)
        if coarse is not None:  # the coarse model steered: report the full model's values
            best = MapELBO().evaluate(refit_model, guide, types, image, token_prior)
            images = image.expand(types.batch_size, *image.shape[-2:]).to(types.locations.dtype)
            start = token_image_log_prob(types, tokens, images, token_prior)
        return Refined(guide.types(), guide.tokens(), best, start, steps)


def refine_parses(
    parts,
    types: Parses,
    image: torch.Tensor,
    settings: RefineSettings = RefineSettings(),
    token_fit: RefineSettings = TOKEN_FIT,
    token_prior: TokenPrior = DEFAULT_TOKEN_PRIOR,
) -> Refined:
    """Refine new parses of an image in two phases: fit the tokens with the types held, then
    refine types and tokens together (:func:`refine`).

    The first phase does the bulk of the image fitting at a fraction of the cost: the nets
    only score the type, which it leaves alone. Measured on 10 evaluation images
    (``benchmarks/convergence.py``), 150 + 75 steps reach the log joint of a 1,500-step joint
    refinement. ``start_log_joint`` is the joint at the parses before either phase.
    """
    tokens = initial_tokens(types, token_fit)
    fitted = refine(
        None, types, tokens, image, token_fit, refine_type=False, token_prior=token_prior
    )
    refined = refine(parts, types, fitted.tokens, image, settings, token_prior=token_prior)
    with torch.no_grad(), pyro.validation_enabled(False):
        from gns_pyro.models.joint import joint_log_prob

        images = image.expand(types.batch_size, *image.shape[-2:])
        refined.start_log_joint = joint_log_prob(parts, types, tokens, images)
    refined.steps += fitted.steps
    return refined


def _ink_moments(ink: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Centroid and per-axis spread (x, y) of ink images (B, H, W), each (B, 2)."""
    H, W = ink.shape[-2:]
    ys = torch.arange(H, dtype=ink.dtype, device=ink.device)
    xs = torch.arange(W, dtype=ink.dtype, device=ink.device)
    mass = ink.sum((-2, -1)).clamp(min=1e-6)
    px, py = ink.sum(-2) / mass[:, None], ink.sum(-1) / mass[:, None]  # marginals over x, y
    mean = torch.stack([(px * xs).sum(-1), (py * ys).sum(-1)], -1)
    var = torch.stack(
        [(px * (xs - mean[:, :1]) ** 2).sum(-1), (py * (ys - mean[:, 1:]) ** 2).sum(-1)], -1
    )
    return mean, var.clamp(min=1.0).sqrt()


def aligned_tokens(
    types: Parses, images: torch.Tensor, settings: RefineSettings = RefineSettings()
) -> Tokens:
    """Initial tokens whose warp matches each type's ink to its image by moments.

    The scale (clamped to [0.7, 1.4]) matches the ink's spread per axis and the translation its
    centroid: a start that puts the strokes on the target's ink, so that a short refit fits
    shape rather than spending its steps on moving the whole character.
    """
    from gns_pyro.renderer import RenderSettings, control_point_centroid, render

    tokens = initial_tokens(types, settings)
    images = images.expand(types.batch_size, *images.shape[-2:]).to(types.locations.dtype)
    frame = RenderSettings(size=images.shape[-1])
    with torch.no_grad():
        drawn = render(types, blur=settings.init_blur, noise=0.0, settings=frame)
        c_type, s_type = _ink_moments(drawn)
        c_image, s_image = _ink_moments(images)
        scale = (s_image / s_type).clamp(0.7, 1.4)
        pivot = control_point_centroid(types.control_points, types.num_control)
        shift = c_image - (pivot + scale * (c_type - pivot))
    return tokens.replace(affine=torch.cat([scale, shift], -1))


@dataclasses.dataclass(frozen=True)
class RefitStart:
    """One starting point of a token refit: blur, pixel noise, and the warp to start from."""

    blur: float
    noise: float
    aligned: bool  # moment-matched warp (:func:`aligned_tokens`), else the identity


@dataclasses.dataclass(frozen=True)
class RefitSettings:
    """Schedule of a token refit: several starts raced, the best one finished.

    The refit objective is rugged (a stroke can settle on the wrong ink and stay there), and
    which local optimum a run reaches depends on where it starts. Each parse is refit from
    every start in ``starts`` for ``race.steps`` steps, all in one batch; the best of its runs
    continues for ``finish.steps`` steps. The defaults start wide -- blur 14 px and pixel
    noise 0.44, the reference's reset values, so the likelihood is smooth at first -- and
    anneal by learning blur and noise down with everything else.
    """

    starts: tuple[RefitStart, ...] = (
        RefitStart(14.0, 0.44, False),
        RefitStart(14.0, 0.44, True),
        RefitStart(4.0, 0.1, True),
    )
    race: RefineSettings = RefineSettings(
        steps=100,
        lr_coordinates=1.0,
        lr_affine=0.05,
        lr_render=0.4,
        patience=10**9,
    )
    finish: RefineSettings = RefineSettings(
        steps=100,
        lr_coordinates=0.5,
        lr_affine=0.05,
        lr_render=0.4,
        lr_decay=0.1 ** (1 / 100),
        patience=20,
    )

    def __post_init__(self):
        if not self.starts:
            raise ValueError("a refit needs at least one start")


def start_tokens(types: Parses, images: torch.Tensor, start: RefitStart) -> Tokens:
    """Tokens of ``types`` at one refit start (blur and noise reset, warp chosen)."""
    settings = RefineSettings(init_blur=start.blur, init_noise=start.noise)
    if start.aligned:
        return aligned_tokens(types, images, settings)
    return initial_tokens(types, settings)


def refit_tokens(
    types: Parses,
    image: torch.Tensor,
    settings: RefitSettings = RefitSettings(),
    token_prior: TokenPrior = DEFAULT_TOKEN_PRIOR,
) -> Refined:
    """Refit the tokens of many parses (types fixed) to one image, batched.

    E.g. all 20 x 5 training parses of a 20-way trial against one test image (or ``image``
    (B, 105, 105), one per parse). ``log_joint`` of the result is each parse's refit
    log P(theta, I | psi) at the best state found; see :class:`RefitSettings` for the schedule.
    """
    B = types.batch_size
    images = image.expand(B, *image.shape[-2:]).to(types.locations.dtype)
    R = len(settings.starts)
    starts = Tokens.cat([start_tokens(types, images, st) for st in settings.starts])
    if R > 1 or settings.finish.steps == 0:
        raced = refine(
            None,
            Parses.cat([types] * R),
            starts,
            images.repeat(R, 1, 1),
            settings.race,
            refine_type=False,
            token_prior=token_prior,
        )
        values = raced.log_joint.view(R, B)
        winner = values.argmax(0) * B + torch.arange(B, device=values.device)
        start_log_joint = raced.start_log_joint.view(R, B).max(0).values
        if settings.finish.steps == 0:
            return Refined(
                types, raced.tokens[winner], raced.log_joint[winner], start_log_joint, raced.steps
            )
        starts, race_steps = raced.tokens[winner], raced.steps
    else:
        start_log_joint, race_steps = None, 0
    finished = refine(
        None, types, starts, images, settings.finish, refine_type=False, token_prior=token_prior
    )
    if start_log_joint is not None:
        finished.start_log_joint = start_log_joint
    finished.steps += race_steps
    return finished
