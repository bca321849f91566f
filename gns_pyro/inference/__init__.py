"""Inference: bottom-up proposals, order search, refinement, posterior over parses."""

from gns_pyro.inference.posterior import Posterior, infer
from gns_pyro.inference.refinement import RefineSettings, refine
from gns_pyro.inference.walks import WalkSettings, propose_strokes

__all__ = ["Posterior", "RefineSettings", "WalkSettings", "infer", "propose_strokes", "refine"]
