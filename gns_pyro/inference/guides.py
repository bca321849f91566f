"""Delta guides over the continuous sites of the character model, one guide per parse batch.

Refinement is MAP inference written the Pyro way: a guide of ``pyro.param`` s and ``Delta``
sites, driven by :class:`pyro.infer.SVI`. :class:`ParseGuide` covers every continuous latent
site of :func:`~gns_pyro.models.joint.character_model` for a batch of ``B`` parses whose
discrete structure (stroke counts, the ``end_*`` and ``stop_*`` flags) is conditioned:

==========================  ==========================  ========================
param (``{name}.`` prefix)  shape                       sites it gives values to
==========================  ==========================  ========================
``type_locations``          (B, S, 2)                   ``loc_{i}``
``type_offsets``            (B, S, P, 2)                ``offset_{i}_{t}``
``token_locations``         (B, S, 2)                   ``token_locations``
``token_shapes``            (B, S, P, 2)                ``token_shapes``
``affine_scale``            (B, 2)                      ``affine`` (first half)
``affine_shift``            (B, 2)                      ``affine`` (second half)
``blur``, ``noise``         (B,), interval-constrained  ``blur``, ``noise``
==========================  ==========================  ========================

One tensor per kind of variable, whatever the number of strokes, so an optimizer step is a
few large updates and each kind can have its own learning rate (see
:func:`~gns_pyro.inference.refinement.refine`). With ``fit_type=False`` the guide covers only
the token sites: paired with :func:`~gns_pyro.models.joint.token_image_model` it is the token
refit of one-shot classification.

With ``type_table=True`` the type's values are one site, ``type_table``, for
:func:`~gns_pyro.inference.refinement.collapsed_parse_model`, whose type density is computed in
one teacher-forced pass (what :func:`~gns_pyro.inference.refinement.refine` uses).

Any other Pyro guide works with the same models: ``AutoNormal(parse_model)`` gives a local
Gaussian posterior around each parse instead of a point (see the inference notebook).

Example::

    >>> guide = ParseGuide(types, tokens)                                  # doctest: +SKIP
    >>> svi = SVI(parse_model, guide, pyro.optim.Adam({"lr": 0.1}), Trace_ELBO())  # doctest: +SKIP
    >>> svi.step(parts, types, image); guide.types(), guide.tokens()       # doctest: +SKIP
"""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch
from torch.distributions import constraints

from gns_pyro.models.sites import TYPE_TABLE, loc_site, offset_site, types_plate
from gns_pyro.models.token import (
    AFFINE,
    BLUR,
    DEFAULT_TOKEN_PRIOR,
    NOISE,
    TOKEN_LOCATIONS,
    TOKEN_SHAPES,
    TokenPrior,
    type_shapes,
    with_shapes,
)
from gns_pyro.parses import Parses, Tokens

#: The guide's variables, in the order of the table above.
TYPE_PARAMS = ("type_locations", "type_offsets")
TOKEN_PARAMS = ("token_locations", "token_shapes", "affine_scale", "affine_shift", "blur", "noise")


class ParseGuide:
    """Point-mass guide for a batch of parses (see the module docstring).

    :param types: the parses' types; their stroke structure is fixed, their continuous values
        are the starting point (``fit_type=True``) or held fixed (``fit_type=False``).
    :param tokens: starting :class:`~gns_pyro.parses.Tokens`, in the slots of ``types``.
    :param fit_type: whether the type sites are latent (parse refinement) or given (refit).
    :param type_table: give the type's values as the one ``type_table`` site of
        :func:`~gns_pyro.inference.refinement.collapsed_parse_model` instead of one site per
        start location and offset (:func:`~gns_pyro.inference.refinement.parse_model`); the
        params are the same.
    :param name: prefix of the guide's params in the param store, as Pyro's autoguides use
        their class name: the names are fixed, never drawn from a global counter, so a guide
        built twice names its params alike. Guides that share one param store need distinct
        names; refinement runs each guide in a param store of its own
        (``pyro.get_param_store().scope()``), where its params start from ``types`` and
        ``tokens`` again.
    """

    def __init__(
        self,
        types: Parses,
        tokens: Tokens,
        fit_type: bool = True,
        name: str = "ParseGuide",
        token_prior: TokenPrior = DEFAULT_TOKEN_PRIOR,
        type_table: bool = False,
    ):
        if not isinstance(tokens, Tokens):
            raise TypeError(
                "tokens must be Tokens, with affine, blur and noise (see initial_tokens), "
                f"got {type(tokens).__name__}"
            )
        if not tokens.same_slots(types):
            raise ValueError("tokens are not in their types' stroke and offset slots")
        self.structure = types.map(torch.Tensor.detach)
        self.fit_type = fit_type
        self.type_table = type_table
        self.name = name
        self.constraints = {
            "blur": constraints.interval(*token_prior.blur_range),
            "noise": constraints.interval(*token_prior.noise_range),
        }
        lo_b, hi_b = token_prior.blur_range
        lo_n, hi_n = token_prior.noise_range
        # start strictly inside the intervals: a value on the boundary has no unconstrained twin
        self.init = {
            "type_locations": types.locations,
            "type_offsets": types.offsets,
            "token_locations": tokens.locations,
            "token_shapes": type_shapes(tokens),
            "affine_scale": tokens.affine[:, :2],
            "affine_shift": tokens.affine[:, 2:],
            "blur": tokens.blur.clamp(lo_b + 1e-3 * (hi_b - lo_b), hi_b - 1e-3 * (hi_b - lo_b)),
            "noise": tokens.noise.clamp(lo_n + 1e-3 * (hi_n - lo_n), hi_n - 1e-3 * (hi_n - lo_n)),
        }
        self.init = {k: v.detach().clone() for k, v in self.init.items()}
        counts = types.offset_mask.sum(-1)  # (B, S)
        #: type sites: (site name, stroke, step or None) -- the sites the model samples
        self.type_sites = []
        for i in range(types.max_strokes):
            self.type_sites.append((loc_site(i), i, None))
            for t in range(int(counts[:, i].max())):
                self.type_sites.append((offset_site(i, t), i, t))

    @property
    def param_names(self) -> tuple[str, ...]:
        """Names of this guide's entries in Pyro's param store."""
        names = (TYPE_PARAMS if self.fit_type else ()) + TOKEN_PARAMS
        return tuple(f"{self.name}.{n}" for n in names)

    def _param(self, key: str) -> torch.Tensor:
        constraint = self.constraints.get(key, constraints.real)
        # a fresh copy: the optimizer updates params in place, and the guide's starting point
        # must survive that (a guide can be run again in a new param store)
        return pyro.param(
            f"{self.name}.{key}", lambda: self.init[key].clone(), constraint=constraint
        )

    def values(self) -> dict[str, torch.Tensor]:
        """The guide's current variables (constrained), keyed without the prefix."""
        keys = (TYPE_PARAMS if self.fit_type else ()) + TOKEN_PARAMS
        return {k: self._param(k) for k in keys}

    def __call__(self, *args, **kwargs):
        """The guide program; takes (and ignores) the model's arguments."""
        B = self.structure.batch_size
        v = self.values()
        with types_plate(B):
            if self.fit_type and self.type_table:
                table = torch.cat([v["type_locations"].unsqueeze(2), v["type_offsets"]], 2)
                pyro.sample(TYPE_TABLE, dist.Delta(table, event_dim=3))
            elif self.fit_type:
                for site, i, t in self.type_sites:
                    value = v["type_locations"][:, i] if t is None else v["type_offsets"][:, i, t]
                    pyro.sample(site, dist.Delta(value, event_dim=1))
            pyro.sample(TOKEN_LOCATIONS, dist.Delta(v["token_locations"], event_dim=2))
            pyro.sample(TOKEN_SHAPES, dist.Delta(v["token_shapes"], event_dim=3))
            affine = torch.cat([v["affine_scale"], v["affine_shift"]], -1)
            pyro.sample(AFFINE, dist.Delta(affine, event_dim=1))
            pyro.sample(BLUR, dist.Delta(v["blur"]))
            pyro.sample(NOISE, dist.Delta(v["noise"]))

    # ---------------------------------------------------------------------- reading the state
    def types(self) -> Parses:
        """The current types (the given ones when ``fit_type`` is False)."""
        if not self.fit_type:
            return self.structure
        v = self.values()
        mask = self.structure.offset_mask.unsqueeze(-1)
        return self.structure.replace(
            locations=v["type_locations"].detach() * self.structure.stroke_mask.unsqueeze(-1),
            offsets=v["type_offsets"].detach() * mask,
        )

    def tokens(self) -> Tokens:
        """The current tokens: strokes plus ``affine``, ``blur`` and ``noise``."""
        v = {k: x.detach() for k, x in self.values().items()}
        return Tokens.of(
            with_shapes(self.structure, v["token_locations"], v["token_shapes"]),
            torch.cat([v["affine_scale"], v["affine_shift"]], -1),
            v["blur"],
            v["noise"],
        )

    def unconstrained_state(self) -> dict[str, torch.Tensor]:
        """Copies of the params as the optimizer sees them (unconstrained)."""
        self.values()  # creates the params on first use
        store = pyro.get_param_store()
        return {n: store[n].unconstrained().detach().clone() for n in self.param_names}

    def load_state(self, state: dict[str, torch.Tensor]) -> None:
        """Set the params from :meth:`unconstrained_state` values (in place, keeps optimizers)."""
        store = pyro.get_param_store()
        with torch.no_grad():
            for n, value in state.items():
                store[n].unconstrained().copy_(value)
