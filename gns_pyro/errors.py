"""Exceptions that name the problem a user must fix.

Every user-facing failure (missing data, malformed image, corrupt archive, incompatible
weights) raises one of these rather than letting an error surface from deep inside torch.
"""


class GNSError(Exception):
    """Base class of gns-pyro's own errors."""


class DataError(GNSError, ValueError):
    """Input data is missing, malformed or inconsistent (e.g. corrupt zip, wrong image size)."""


class DataNotFoundError(DataError, FileNotFoundError):
    """The Omniglot data folder (or a file expected in it) does not exist."""


class WeightsError(GNSError, ValueError):
    """Trained weights are missing, unreadable, or made for another architecture."""
