"""The domain seam of GenerateType.

GenerateType is a loop over GeneratePart on a canvas. What a *part* is (a pen stroke, a dot, a
voxel block), how the canvas changes when a part is added, and which networks give the part and
termination distributions belong to a domain; the loop, the plate, the masks, the stop sites
and the stopping rule do not. :func:`gns_pyro.models.type_prior.generate_type` drives any
object with the :class:`PartDomain` interface; :class:`gns_pyro.models.character.CharacterParts`
is the handwritten-character one, and ``tests/models/test_domain_seam.py`` builds a toy domain
(dots on a small canvas) from this interface alone.

A domain that also supplies a token model and an image model (:class:`TokenImageDomain`:
``generate_token`` and ``image_model``, Pyro programs in the same plate) gets the whole model
P(type, token, image) from :func:`gns_pyro.models.joint.character_model`, which composes the
three programs and nothing else.

Scoring given types needs nothing more: ``generate_type(domain, parses=...)`` conditions the
sampling program on :meth:`PartDomain.conditions`. A domain may add the optional
:class:`TeacherForcing` fast path, which computes every net output for known types in one
batched pass instead of part by part.

Example (the shape of a domain; see the toy domain test for a working one)::

    class Dots(torch.nn.Module):
        max_parts = 5                        # cap on parts per type
        image_size = 16                      # canvas side, pixels

        def init_state(self, batch_size): ...          # blank canvases
        def generate_part(self, index, state, alive, temperature):
            return pyro.sample(f"dot_{index}", ...)     # a Pyro program
        def update_state(self, state, part, alive): ...  # draw the part
        def termination_logits(self, index, state): ...  # (B,) logits of stopping
        def collect(self, generated, alive_per_part): ...  # -> a batch with len()
        def conditions(self, types): ...                # site values, stop sites included
"""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable

import torch


@runtime_checkable
class PartDomain(Protocol):
    """What :func:`~gns_pyro.models.type_prior.generate_type` needs from a domain (every method
    batched over a plate of B types). A domain is a ``torch.nn.Module`` (its nets are registered
    with ``pyro.module``)."""

    #: cap on parts per type: at the cap a type stops without a stop site
    max_parts: int
    #: side of the square canvas the domain draws on, pixels
    image_size: int

    @property
    def device(self) -> torch.device:
        """Where the domain's tensors live."""

    def init_state(self, batch_size: int) -> Any:
        """Blank canvas (and any context, e.g. the previous part's end) for ``batch_size``
        types."""

    def generate_part(self, index: int, state: Any, alive: torch.Tensor, temperature: float) -> Any:
        """Pyro sub-program that samples part ``index`` of every type given its canvas
        ``state`` (its sites are masked to the ``alive`` types by the caller); returns the
        part. Under ``poutine.condition`` its sites take their values from the conditions."""

    def update_state(self, state: Any, part: Any, alive: torch.Tensor) -> Any:
        """Add ``part`` to the canvas of the types where ``alive``."""

    def termination_logits(self, index: int, state: Any) -> torch.Tensor:
        """Logit (B,) of stopping after part ``index``, read from the updated canvas."""

    def collect(self, generated: list, alive_per_part: list[torch.Tensor]) -> Any:
        """Pack the generated parts into the domain's batched container of types (which
        supports ``len()``)."""

    def conditions(self, types: Any) -> dict[str, torch.Tensor]:
        """Site values that make the program reproduce ``types``: every part site and every
        stop site (use :func:`gns_pyro.models.sites.stop_conditions`), values of padded
        entries arbitrary (they are masked)."""


@runtime_checkable
class TokenImageDomain(Protocol):
    """What :func:`~gns_pyro.models.joint.character_model` needs from a domain beyond
    :class:`PartDomain`: the token and image programs, run in the plate of types it is given."""

    def generate_token(self, types: Any, plate=None, **options) -> Any:
        """Pyro program of one token per type (motor noise, warps, render settings); returns
        the tokens. ``options`` are the domain's own (the character domain: ``token_prior``)."""

    def image_model(self, tokens: Any, image: torch.Tensor | None = None, plate=None) -> Any:
        """Pyro program of the image given the tokens, observed when ``image`` is given; its
        images have the domain's ``image_size``."""


@runtime_checkable
class TeacherForcing(Protocol):
    """Optional fast path for scoring known types: all net outputs in one batched pass."""

    def observe(self, types: Any) -> Any:
        """Run the nets over every part of ``types`` at once; the result must have a
        ``num_parts`` (B,) tensor of part counts."""

    def observed_part(self, index: int, temperature: float, observed: Any) -> Any:
        """Pyro sub-program that observes part ``index`` with the precomputed outputs."""

    def observed_termination_logits(self, index: int, observed: Any) -> torch.Tensor:
        """Logit (B,) of stopping after part ``index``, precomputed."""
