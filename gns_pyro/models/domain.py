"""The domain seam of GenerateType.

GenerateType is a loop over GeneratePart on a canvas. What a *part* is (a pen stroke, a voxel
block), how the canvas changes when a part is added, and which networks give the part and
termination distributions belong to a domain; the loop, the plate, the masks and the stopping
rule do not. :func:`gns_pyro.models.type_prior.generate_type` drives any object with this
interface; :class:`gns_pyro.models.character.CharacterParts` is the handwritten-character one.
"""

from __future__ import annotations

from typing import Any, Protocol

import torch


class PartDomain(Protocol):
    """What :func:`generate_type` needs from a domain (all methods batched over types)."""

    #: cap on parts per type, and the parse container type the domain produces
    max_parts: int

    def init_state(self, batch_size: int) -> Any:
        """Blank canvas (and any context, e.g. the previous part's end) for ``batch_size`` types."""

    def generate_part(
        self, index: int, state: Any, alive: torch.Tensor, temperature: float, observed: Any
    ) -> Any:
        """Pyro sub-program emitting part ``index``'s sites; returns the part.

        ``observed`` is ``None`` when sampling, else what :meth:`observe` returned: the part is
        then read from it and its distributions come precomputed.
        """

    def update_state(self, state: Any, part: Any, alive: torch.Tensor) -> Any:
        """Add ``part`` to the canvas of the types where ``alive``."""

    def termination_logits(self, index: int, state: Any, observed: Any) -> torch.Tensor:
        """Logit (B,) of stopping after part ``index``, read from the updated canvas."""

    def observe(self, parses: Any) -> Any:
        """Precompute every net output for known parses in one batched pass (teacher forcing)."""

    def stop_values(self, parses: Any, index: int) -> torch.Tensor:
        """Observed value (B,) of the stop site after part ``index``."""

    def num_parts(self, parses: Any) -> int:
        """Number of part slots in ``parses`` (the loop runs this far when observing)."""

    def batch_size(self, parses: Any) -> int:
        """Number of types in ``parses``."""

    def collect(self, parts: list, alive_per_part: list[torch.Tensor]) -> Any:
        """Pack the generated parts into the domain's batched parse container."""
