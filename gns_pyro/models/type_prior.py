"""GenerateType: the type prior P(psi) as a Pyro program.

Reads like the paper's pseudocode, batched over a plate of types (AIR-style: the loop runs to
the batch's largest part count and finished types are masked so they add exactly 0)::

    C <- blank canvas
    loop:  y_i ~ p(y | C);  x_i ~ p(x | y_i, C)     # GeneratePart (domain)
           C <- render(y_i, x_i, C)                  # canvas update (domain)
           v_i ~ Bernoulli(p(v | C))                 # termination
           stop if v_i

The same program samples new types (``generate_type(parts, batch_size=36)``), scores given
ones (``parses=`` observes them; or ``poutine.condition`` on :func:`type_conditions`), and
trains the nets (maximize ``trace.log_prob_sum()`` of the observed program).

Example::

    >>> from gns_pyro.models import CharacterParts
    >>> parts = CharacterParts().eval()
    >>> types = generate_type(parts, batch_size=4, temperature=0.5)        # sample
    >>> type_log_prob(parts, types).shape                                  # score
    torch.Size([4])
"""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import torch
from pyro import poutine
from pyro.distributions import TorchDistribution
from torch.distributions import constraints

from gns_pyro.models.domain import TeacherForcing
from gns_pyro.models.sites import stop_site, stop_value, types_plate
from gns_pyro.models.traces import trace_log_prob
from gns_pyro.parses import Parses

#: Sampling temperatures accepted by :func:`generate_type` (and ``--temperature``).
MIN_TEMPERATURE, MAX_TEMPERATURE = 0.01, 100.0


def generate_type(
    parts,
    batch_size: int | None = None,
    parses=None,
    temperature: float = 1.0,
    max_parts: int | None = None,
    plate=None,
):
    """Sample (or, with ``parses``, observe) a batch of types; returns the domain's parses.

    :param parts: the domain and its nets: a :class:`~gns_pyro.models.domain.PartDomain` (an
        ``nn.Module``; for characters a :class:`~gns_pyro.models.character.CharacterParts`).
    :param batch_size: number of types to sample (taken from ``parses`` when given).
    :param parses: types to observe: the program is conditioned on
        ``parts.conditions(parses)``, or, when the domain has the
        :class:`~gns_pyro.models.domain.TeacherForcing` fast path, reads its precomputed
        outputs. Both give the same sites and log-probabilities.
    :param temperature: sampling temperature (1 = the model; 0.5 for new concepts).
    :param max_parts: cap on parts (default, and at most, ``parts.max_parts``).
    :param plate: the plate of types when composed into a larger model.
    """
    if not MIN_TEMPERATURE <= temperature <= MAX_TEMPERATURE:
        # outside this range the scaled mixtures under- or overflow in float32 (NaN samples)
        raise ValueError(
            f"temperature must be in [{MIN_TEMPERATURE}, {MAX_TEMPERATURE}], got {temperature}"
        )
    pyro.module("type_prior", parts)
    # never past the nets' own cap: a weights file may build nets for fewer parts than asked
    max_parts = parts.max_parts if max_parts is None else min(max_parts, parts.max_parts)
    if parses is None:
        if batch_size is None or batch_size < 1:
            raise ValueError("give a positive batch_size or parses to observe")
        return _part_loop(parts, batch_size, temperature, max_parts, plate)
    if isinstance(parts, TeacherForcing):
        observed = parts.observe(parses)
        if int(observed.num_parts.max()) > max_parts:
            raise ValueError(
                f"parses have {int(observed.num_parts.max())} parts, over the cap {max_parts}"
            )
        return _part_loop(parts, len(parses), temperature, max_parts, plate, observed)
    conditioned = poutine.condition(_part_loop, data=parts.conditions(parses))
    return conditioned(parts, len(parses), temperature, max_parts, plate)


def _part_loop(parts, batch_size, temperature, max_parts, plate, observed=None):
    """The loop of GenerateType: parts until every type has stopped (or the cap)."""
    with types_plate(batch_size, plate):
        state = parts.init_state(batch_size) if observed is None else None
        alive = torch.ones(batch_size, dtype=torch.bool, device=parts.device)
        strokes, alive_per_part = [], []  # the parts generated (pen strokes, for characters)
        for i in range(max_parts):
            with poutine.mask(mask=alive):
                if observed is None:
                    stroke = parts.generate_part(i, state, alive, temperature)
                else:
                    stroke = parts.observed_part(i, temperature, observed)
            strokes.append(stroke)
            alive_per_part.append(alive)
            if i == max_parts - 1:
                break  # at the cap a type stops by force: no stop site
            if observed is None:
                state = parts.update_state(state, stroke, alive)
                logits, stop_obs = parts.termination_logits(i, state), None
            else:
                logits = parts.observed_termination_logits(i, observed)
                stop_obs = stop_value(observed.num_parts, i, logits.dtype)
            with poutine.mask(mask=alive):
                stop = pyro.sample(
                    stop_site(i), dist.Bernoulli(logits=logits / temperature), obs=stop_obs
                )
            alive = alive & (stop == 0)
            if not alive.any():
                break
    return parts.collect(strokes, alive_per_part)


def type_log_prob(parts, parses, max_parts: int | None = None) -> torch.Tensor:
    """log P(psi) of each parse (B,), from the trace of the observed program."""
    trace = poutine.trace(generate_type).get_trace(parts, parses=parses, max_parts=max_parts)
    return trace_log_prob(trace)


class ContinuousType(TorchDistribution):
    """GenerateType's density over the continuous values of types whose discrete structure is
    given: one site for the whole type instead of a site per start location and offset.

    The value is a :meth:`~gns_pyro.parses.Parses.table` (B, S, P + 1, 2) in the slots of
    ``structure``; :meth:`log_prob` is log P(psi) of :func:`generate_type` at
    ``structure.with_table(value)``, its discrete sites (end and stop flags) included, so it is
    a density in the continuous values up to the structure's fixed terms -- what MAP
    refinement and Laplace's method need. It is computed in one teacher-forced pass of the
    nets (``parts.observe`` and ``parts.observed_log_prob``), where the per-site program runs
    the stroke net offset by offset; the numbers are the same (``tests/models``).

    It only scores: its values come from a guide (e.g.
    :class:`~gns_pyro.inference.guides.ParseGuide`) or from ``poutine.condition``; sample new
    types with :func:`generate_type`.

    :param parts: a domain with the teacher-forcing fast path and ``observed_log_prob``
        (:class:`~gns_pyro.models.character.CharacterParts`).
    :param structure: the types whose stroke and offset counts are kept (values unused).

    Example::

        >>> with pyro.plate("types", len(structure)):                    # doctest: +SKIP
        ...     table = pyro.sample("type_table", ContinuousType(parts, structure))
    """

    arg_constraints: dict = {}
    support = constraints.independent(constraints.real, 3)

    def __init__(self, parts, structure: Parses, temperature: float = 1.0, validate_args=None):
        if not (isinstance(parts, TeacherForcing) and hasattr(parts, "observed_log_prob")):
            raise TypeError(
                f"{type(parts).__name__} has no teacher-forced observed_log_prob: "
                "score its types with generate_type(parts, parses=...)"
            )
        self.parts, self.structure, self.temperature = parts, structure, temperature
        B, S, P = structure.offset_mask.shape
        super().__init__(torch.Size([B]), torch.Size([S, P + 1, 2]), validate_args=validate_args)

    def log_prob(self, value: torch.Tensor) -> torch.Tensor:
        """log P(psi) (B,) of the types ``structure.with_table(value)``."""
        types = self.structure.with_table(value)
        return self.parts.observed_log_prob(self.parts.observe(types), self.temperature)

    def sample(self, sample_shape=torch.Size()):
        raise NotImplementedError(
            "ContinuousType only scores given values; sample types with generate_type"
        )

    def expand(self, batch_shape, _instance=None):
        if tuple(batch_shape) != tuple(self.batch_shape):
            raise ValueError(
                f"ContinuousType of {self.batch_shape[0]} types cannot be expanded to "
                f"{tuple(batch_shape)}"
            )
        return self
