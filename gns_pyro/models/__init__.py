"""The character model as Pyro programs: GenerateType over a part domain."""

from gns_pyro.models.character import CharacterParts
from gns_pyro.models.joint import (
    character_model,
    joint_conditions,
    joint_log_prob,
    joint_trace,
    sample_exemplars,
)
from gns_pyro.models.sites import type_conditions
from gns_pyro.models.token import TokenPrior, generate_token, image_model
from gns_pyro.models.traces import conditioned_trace, trace_log_prob
from gns_pyro.models.type_prior import ContinuousType, generate_type, type_log_prob

__all__ = [
    "CharacterParts",
    "ContinuousType",
    "TokenPrior",
    "character_model",
    "conditioned_trace",
    "generate_token",
    "generate_type",
    "image_model",
    "joint_conditions",
    "joint_log_prob",
    "joint_trace",
    "sample_exemplars",
    "trace_log_prob",
    "type_conditions",
    "type_log_prob",
]
