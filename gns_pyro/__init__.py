"""gns-pyro: Generative Neuro-Symbolic models of concepts as Pyro programs.

The first model is the handwritten-character model of Feinman & Lake (ICLR 2021). The entry
points a user needs are importable from the package itself (they load on first use, so
``import gns_pyro`` stays quick):

Example::

    >>> import gns_pyro
    >>> parts = gns_pyro.load_type_prior()                       # the shipped nets
    >>> types, log_prob = gns_pyro.sample_types(4, temperature=0.5, seed=0, parts=parts)
    >>> images = gns_pyro.render(gns_pyro.sample_exemplars(types, 1)) > 0.5
    >>> post = gns_pyro.infer(images[0], parts, k=2)             # doctest: +SKIP
    >>> log_p, modes = gns_pyro.parse_log_marginal(parts, post.types, post.tokens, images[0])
    ...                                                          # doctest: +SKIP

* nets and weights: :func:`load_type_prior`, :func:`save_type_prior`, :class:`CharacterParts`,
  and the nets with an alphabet level, :func:`load_alphabet_prior`;
* the model as Pyro programs: :func:`generate_type`, :func:`generate_alphabet` (the alphabet
  level above it), :func:`generate_token`,
  :func:`image_model`, :func:`character_model`, :func:`token_image_model`, and scoring with
  :func:`type_log_prob`, :func:`joint_log_prob`, :func:`conditioned_trace`;
* sampling and drawing: :func:`sample_types`, :func:`sample_in_style` (new characters of the
  alphabet of a few given ones), :func:`sample_exemplars`, :func:`render`;
* inference: :func:`infer` (-> :class:`Posterior`), :func:`refine_parses`,
  :func:`refit_tokens`, their settings, and Laplace marginals (:func:`laplace_log_marginal`,
  :func:`parse_log_marginal`);
* data: :class:`Parses` (one batched parse representation) and :class:`Tokens` (parses of
  tokens: strokes plus warp, blur and noise), :func:`load_image`,
  :class:`Omniglot`, and :class:`GNSError`, the base of every error gns-pyro raises.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

#: public name -> the module that defines it
_ENTRY_POINTS = {
    # nets and weights
    "CharacterParts": "gns_pyro.models.character",
    "load_type_prior": "gns_pyro.pretrained",
    "save_type_prior": "gns_pyro.pretrained",
    "load_alphabet_prior": "gns_pyro.pretrained",
    # the model as Pyro programs
    "generate_type": "gns_pyro.models.type_prior",
    "generate_token": "gns_pyro.models.token",
    "image_model": "gns_pyro.models.token",
    "TokenPrior": "gns_pyro.models.token",
    "character_model": "gns_pyro.models.joint",
    "token_image_model": "gns_pyro.models.joint",
    "type_log_prob": "gns_pyro.models.type_prior",
    "generate_alphabet": "gns_pyro.models.alphabet",
    "trace_log_prob": "gns_pyro.models.traces",
    "joint_log_prob": "gns_pyro.models.joint",
    "conditioned_trace": "gns_pyro.models.traces",
    "type_conditions": "gns_pyro.models.sites",
    "token_conditions": "gns_pyro.models.joint",
    # sampling and drawing
    "sample_types": "gns_pyro.sample",
    "sample_in_style": "gns_pyro.sample",
    "sample_exemplars": "gns_pyro.models.joint",
    "render": "gns_pyro.renderer",
    # inference
    "infer": "gns_pyro.inference.posterior",
    "Posterior": "gns_pyro.inference.posterior",
    "check_image": "gns_pyro.inference.posterior",
    "refine_parses": "gns_pyro.inference.refinement",
    "refit_tokens": "gns_pyro.inference.refinement",
    "RefineSettings": "gns_pyro.inference.refinement",
    "RefitSettings": "gns_pyro.inference.refinement",
    "WalkSettings": "gns_pyro.inference.walks",
    "laplace_log_marginal": "gns_pyro.inference.laplace",
    "parse_log_marginal": "gns_pyro.inference.laplace",
    # data and errors
    "Parses": "gns_pyro.parses",
    "Tokens": "gns_pyro.parses",
    "load_image": "gns_pyro.data.images",
    "Omniglot": "gns_pyro.data.omniglot",
    "GNSError": "gns_pyro.errors",
}

__all__ = sorted(_ENTRY_POINTS)


def __getattr__(name: str):
    module = _ENTRY_POINTS.get(name)
    if module is None:
        raise AttributeError(f"module 'gns_pyro' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
