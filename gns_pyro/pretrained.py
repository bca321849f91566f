"""Trained weights shipped with the package, and loading/saving them safely.

A weights file is ``torch.save`` of ``{"format", "config", "state_dict"}``: the architecture
description (:meth:`CharacterParts.config`) travels with the tensors, so loading weights made
for another architecture fails with a clear :class:`~gns_pyro.errors.WeightsError` instead of a
shape error from inside torch. The training record (data, settings, scores) lies beside it as
JSON.

Example::

    >>> from gns_pyro.pretrained import load_type_prior
    >>> parts = load_type_prior()          # the shipped weights, in eval mode  # doctest: +SKIP
"""

from __future__ import annotations

import hashlib
import io
import os
import warnings
from pathlib import Path

import torch

from gns_pyro.errors import WeightsError
from gns_pyro.fileio import atomic_write_bytes
from gns_pyro.models.character import MAX_PARAMETERS, CharacterParts
from gns_pyro.reading import UntrustedFile, read_bytes, read_json

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
TYPE_PRIOR_WEIGHTS = WEIGHTS_DIR / "type_prior.pt"
TYPE_PRIOR_RECORD = WEIGHTS_DIR / "type_prior.json"
#: the hierarchical prior's nets (with their style adapter), from ``gns-pyro train-alphabet``
ALPHABET_PRIOR_WEIGHTS = WEIGHTS_DIR / "alphabet_prior.pt"
FORMAT = 1


def save_type_prior(parts: CharacterParts, path: str | os.PathLike) -> None:
    """Save the nets' weights and architecture description to ``path``, atomically."""
    state = {k: v.detach().cpu() for k, v in parts.state_dict().items()}
    payload = {"format": FORMAT, "config": parts.config(), "state_dict": state}
    atomic_write_bytes(Path(path), lambda tmp: torch.save(payload, tmp))


def _check_against_record(path: Path, data: bytes) -> None:
    """A weights file whose record (``<name>.json`` beside it) names a checksum must match it
    (``data``: the file's bytes, the ones that are then loaded)."""
    record_path = path.with_suffix(".json")
    if not record_path.is_file():
        return  # a user's own weights without a record: nothing to check against
    try:
        expected = read_json(record_path, "record").get("weights_sha256")
    except (OSError, UntrustedFile, AttributeError):
        raise WeightsError(f"the record {record_path} beside {path} is not readable JSON") from None
    if expected is not None and hashlib.sha256(data).hexdigest() != expected:
        raise WeightsError(
            f"{path} does not match the checksum in its record {record_path.name} "
            "(damaged or replaced); reinstall gns-pyro or retrain"
        )


def _load_failure(err: Exception) -> str:
    """One line saying why ``torch.load(..., weights_only=True)`` refused a file (torch's own
    message runs to many lines of advice to load it unsafely, which we never do)."""
    text = str(err)
    if "Unsupported global" in text:
        return "it holds Python objects other than tensors and plain values, which are never loaded"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    detail = next((line for line in lines if "Unsupported operand" in line), None)
    if detail is None and lines and not lines[0].startswith("Weights only load failed"):
        detail = lines[0]
    return f"not a readable torch file ({detail or type(err).__name__})"


def weights_digest(parts) -> str:
    """Short digest of a module's weights (state dict contents): caches of results made with
    these nets record it, and results made with other weights are not reused."""
    if parts is None:
        return "none"
    h = hashlib.sha256()
    for name, tensor in sorted(parts.state_dict().items()):
        h.update(name.encode())
        h.update(tensor.detach().to("cpu").contiguous().numpy().tobytes())
    return h.hexdigest()[:16]


#: architecture sizes in a weights file's description must lie in [1, MAX_SIZE] before any
#: net is built (a file claiming hidden_size=10**6 would otherwise allocate terabytes)
MAX_SIZE = 4096


#: deepest nesting a weights file's architecture description may have (it nests 3 deep)
MAX_CONFIG_DEPTH = 16


def _check_sizes(config, path: Path, where: str = "config", depth: int = 0) -> None:
    if depth > MAX_CONFIG_DEPTH:
        raise WeightsError(f"{path}: its architecture description is nested too deeply")
    if isinstance(config, dict):
        for key, value in config.items():
            _check_sizes(value, path, f"{where}.{key}", depth + 1)
    elif isinstance(config, (list, tuple)):
        if not config:  # a net needs at least one layer of each kind it lists
            raise WeightsError(f"{path}: {where} is an empty list of sizes")
        for i, value in enumerate(config):
            _check_sizes(value, path, f"{where}[{i}]", depth + 1)
    elif isinstance(config, bool):
        return
    elif isinstance(config, int) and not 1 <= config <= MAX_SIZE:
        raise WeightsError(f"{path}: {where} = {config} is not a size in [1, {MAX_SIZE}]")
    elif isinstance(config, float) and not 0.0 <= config < 1.0:
        raise WeightsError(f"{path}: {where} = {config} is not a rate in [0, 1)")


def load_type_prior(
    path: str | os.PathLike | None = None, device: str | torch.device | None = None
) -> CharacterParts:
    """Load trained type-prior nets (default: the weights shipped in ``gns_pyro/weights``).

    :raises WeightsError: missing or unreadable file, a file that does not match the checksum
        in the training record beside it, non-finite values, or weights of another
        architecture.
    """
    path = Path(path) if path is not None else TYPE_PRIOR_WEIGHTS
    if not path.exists():
        raise WeightsError(
            f"no trained weights at {path}; train them with `gns-pyro train` "
            "(or reinstall gns-pyro, which ships them)"
        )
    # the bytes are read once (a regular file of sane size), hashed and loaded: what is
    # checked is what is used
    data = read_bytes(path, "weights")
    _check_against_record(path, data)
    try:
        with warnings.catch_warnings():  # torch warns in lines of its own on old formats
            warnings.simplefilter("ignore")
            payload = torch.load(io.BytesIO(data), map_location="cpu", weights_only=True)
    except Exception as err:
        reason = _load_failure(err)
        raise WeightsError(f"cannot read weights file {path}: {reason}") from None
    if (
        not isinstance(payload, dict)
        or payload.get("format") != FORMAT
        or not isinstance(payload.get("config"), dict)
        or not isinstance(payload.get("state_dict"), dict)
    ):
        raise WeightsError(
            f"{path} is not a gns-pyro type-prior weights file (format {FORMAT} expected)"
        )
    _check_sizes(payload["config"], path)
    try:
        count = CharacterParts.parameter_count(
            lambda: CharacterParts.from_config(payload["config"])
        )
        if count > MAX_PARAMETERS:
            raise WeightsError(
                f"{path}: its architecture description builds nets of {count:,} parameters, "
                f"over the cap of {MAX_PARAMETERS:,}"
            )
        parts = CharacterParts.from_config(payload["config"])
    except WeightsError:
        raise
    except (KeyError, TypeError, IndexError, ValueError) as err:
        raise WeightsError(f"{path}: unknown architecture description ({err})") from err
    expected = CharacterParts().config()
    mismatch = parts.state_dict().keys() ^ payload["state_dict"].keys()
    if mismatch:
        raise WeightsError(
            f"{path} was made for another architecture: parameters {sorted(mismatch)[:5]} "
            "do not match this version of gns-pyro"
        )
    try:
        parts.load_state_dict(payload["state_dict"])
    except RuntimeError as err:
        raise WeightsError(
            f"{path} does not fit its architecture description {payload['config']} "
            f"(this version builds {expected}): {str(err).splitlines()[0]}"
        ) from err
    broken = [
        k for k, v in parts.state_dict().items() if v.is_floating_point() and not v.isfinite().all()
    ]
    if broken:
        raise WeightsError(f"{path} holds NaN or infinite values (in {broken[:3]})")
    parts = parts.to(device or "cpu").eval()
    # inference only reads the nets: no gradient is ever computed for their weights
    parts.requires_grad_(False)
    return parts


def load_alphabet_prior(
    path: str | os.PathLike | None = None, device: str | torch.device | None = None
) -> CharacterParts:
    """Load nets with an alphabet level (a style adapter; default: the shipped ones), checked
    as :func:`load_type_prior` checks weights.

    :raises WeightsError: as :func:`load_type_prior`, or weights without an alphabet level.
    """
    path = Path(path) if path is not None else ALPHABET_PRIOR_WEIGHTS
    if not path.exists() and path == ALPHABET_PRIOR_WEIGHTS:
        raise WeightsError(
            f"no alphabet-level weights at {path}; train them with `gns-pyro train-alphabet`"
        )
    parts = load_type_prior(path, device)
    if parts.style_dim == 0:
        raise WeightsError(
            f"{path} holds a type prior without an alphabet level (no style); give weights "
            "from `gns-pyro train-alphabet`"
        )
    return parts
