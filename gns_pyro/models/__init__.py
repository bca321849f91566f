"""The character model as Pyro programs: GenerateType over a part domain."""

from gns_pyro.models.character import CharacterParts
from gns_pyro.models.sites import type_conditions
from gns_pyro.models.type_prior import generate_type, trace_log_prob, type_log_prob

__all__ = ["CharacterParts", "generate_type", "trace_log_prob", "type_conditions", "type_log_prob"]
