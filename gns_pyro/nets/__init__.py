"""Neural parts of the type prior: a bivariate GMM, the location, stroke and termination nets,
and the style adapter of the alphabet level."""

from gns_pyro.nets.gmm import BivariateGMM, gmm_from_raw
from gns_pyro.nets.location import LocationNet
from gns_pyro.nets.stroke import StrokeNet, StrokeState
from gns_pyro.nets.style import StyleAdapter, StyleShift
from gns_pyro.nets.termination import TerminationNet

__all__ = [
    "BivariateGMM",
    "LocationNet",
    "StrokeNet",
    "StrokeState",
    "StyleAdapter",
    "StyleShift",
    "TerminationNet",
    "gmm_from_raw",
]
