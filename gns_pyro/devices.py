"""Choosing the torch device by name: ``cpu``, ``cuda``, ``cuda:N`` or ``auto``.

Everything runs on the CPU by default; ``cuda`` (or ``cuda:1``, or ``auto`` for CUDA when
present) moves the nets and every tensor of a job there. The command line's ``--device``
(:mod:`gns_pyro.cli.common`) is checked with :func:`resolve_device`.
"""

from __future__ import annotations

import torch

from gns_pyro.errors import GNSError


def resolve_device(name: str | None) -> torch.device:
    """The device named by ``name`` (``None`` -> CPU), or a :class:`GNSError` saying why not."""
    if name is None or name == "cpu":
        return torch.device("cpu")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, ValueError):
        raise GNSError(
            f"--device {name!r} is not a torch device (use cpu, cuda, cuda:N or auto)"
        ) from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise GNSError(f"--device {name} asked for CUDA, but this torch build sees no CUDA device")
    if device.type not in ("cpu", "cuda"):
        raise GNSError(f"--device {name}: only cpu and cuda are supported")
    return device
