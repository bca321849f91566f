"""A training run and its record: :func:`train_type_prior` runs the stages and writes the
weights with a JSON record (versions, data, settings, learning curve, NLLs, ablations) beside
them; :func:`install_weights` makes a finished run the package's shipped weights.
"""

from __future__ import annotations

import dataclasses
import platform
import shutil
from pathlib import Path

import pyro
import torch

import gns_pyro
from gns_pyro.data.dataset import SplineDataset
from gns_pyro.errors import GNSError
from gns_pyro.fileio import file_sha256, save_json
from gns_pyro.pretrained import (
    TYPE_PRIOR_RECORD,
    TYPE_PRIOR_WEIGHTS,
    load_type_prior,
    save_type_prior,
)
from gns_pyro.reading import read_json
from gns_pyro.train.loop import (
    TrainState,
    evaluate_nll,
    load_training_data,
    measure_frame_penalty,
    run_epochs,
    start_or_resume,
)
from gns_pyro.train.settings import TrainSettings, new_parts

#: Where a run writes its weights and their record (``out_dir`` of :func:`train_type_prior`).
WEIGHTS_NAME, RECORD_NAME = "type_prior.pt", "type_prior.json"


def _data_record(train: SplineDataset, val: SplineDataset, settings: TrainSettings) -> dict:
    return {
        "source": settings.data,
        "split": "background" if settings.data == "omniglot" else "kanjivg main files",
        "alphabets": sorted(set(train.alphabets) | set(val.alphabets)),
        "excluded_alphabets": list(settings.exclude) if settings.data == "omniglot" else [],
        "spline_settings": train.settings.as_dict(),
        "drawings_dropped": train.dropped,  # every stroke under min_stroke_length
        "stroke_sources": train.sources,  # where drawings came from; official files first
        "train": {
            "drawings": len(train),
            "characters": len(set(train.character_ids)),
            "strokes": int(train.parses.num_strokes.sum()),
            "mean_strokes_per_drawing": float(train.parses.num_strokes.float().mean()),
        },
        "validation": {
            "drawings": len(val),
            "characters": len(set(val.character_ids)),
            "strokes": int(val.parses.num_strokes.sum()),
        },
    }


def _validation_parts_nll(parts, val: SplineDataset) -> dict:
    """``{"validation_parts": {name: NLL}}`` for a validation set in named parts, else {}."""
    if not val.groups:
        return {}
    ids = val.character_ids
    out = {}
    for name, characters in val.groups.items():
        index = [i for i, c in enumerate(ids) if c in characters]
        if index:
            out[name] = {
                "characters": len(characters),
                "drawings": len(index),
                **evaluate_nll(parts, val.parses[torch.tensor(index)]),
            }
    return {"validation_parts": out}


def training_record(
    state: TrainState, train: SplineDataset, val: SplineDataset, settings: TrainSettings
) -> dict:
    """The record of a finished run (the best epoch's weights loaded into ``state.parts``):
    versions, data, settings, learning curve, NLLs and the two ablations."""
    if state.best_state is None:
        raise GNSError("no epoch was trained (epochs = 0?)")
    parts, device = state.parts, state.parts.device
    parts.load_state_dict(state.best_state)
    parts.eval()
    untrained = new_parts(settings).to(device)
    untrained.load_state_dict(state.untrained)
    return {
        "gns_pyro_version": gns_pyro.__version__,
        "torch_version": torch.__version__,
        "pyro_version": pyro.__version__,
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads, {device}",
        "data": _data_record(train, val, settings),
        "settings": dataclasses.asdict(settings),
        "architecture": parts.config(),
        "device": str(device),
        "epochs_run": len(state.history),
        "steps": state.steps,
        "best_epoch": state.best_epoch,
        "stopped_early": len(state.history) < settings.epochs,
        "wall_seconds": state.elapsed,
        "nll": {
            "train": evaluate_nll(parts, train.parses),
            "validation": evaluate_nll(parts, val.parses),
            **_validation_parts_nll(parts, val),
        },
        "ablations": {
            "untrained_nets": evaluate_nll(untrained, val.parses),
            "blank_canvas": evaluate_nll(parts.with_blank_canvas(), val.parses),
        },
        "history": state.history,
        **_initial_weights_record(settings, val),
    }


def _initial_weights_record(settings: TrainSettings, val: SplineDataset) -> dict:
    """What a fine-tuning run started from: the file, its checksum, its validation NLL and
    frame penalty, and the training record beside it (when there is one), so the record of
    the fine-tuned weights carries the whole history."""
    if settings.init_weights is None:
        return {}
    start = load_type_prior(settings.init_weights)
    record_path = Path(settings.init_weights).with_suffix(".json")
    try:
        record = read_json(record_path, "record")
    except (OSError, ValueError):  # UntrustedFile is a ValueError too
        record = None  # weights without a (readable) record: nothing more to keep
    return {
        "init_weights": {
            "path": str(settings.init_weights),
            "sha256": file_sha256(settings.init_weights),
            "validation_nll": evaluate_nll(start, val.parses),
            "frame_penalty": measure_frame_penalty(start),
            "record": record,
        }
    }


def train_type_prior(
    out_dir: str | Path,
    settings: TrainSettings | None = None,
    data_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
) -> dict:
    """Train the nets; returns the training record (also written to ``out_dir``).

    The stages: :func:`load_training_data`, :func:`start_or_resume`, :func:`run_epochs`,
    :func:`training_record`; then the weights and the record are written
    (:func:`install_weights` copies them into the package as the shipped weights).
    """
    settings = settings or TrainSettings()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = torch.device(settings.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise GNSError("--device cuda was asked for but CUDA is not available")
    if settings.init_weights is not None:
        load_type_prior(settings.init_weights)  # a bad file is named before the data are read
    train, val = load_training_data(settings, data_dir, progress)
    checkpoint_path = out_dir / "checkpoint.pt"
    state = start_or_resume(settings, device, checkpoint_path, resume)
    run_epochs(state, train, val, settings, checkpoint_path, progress)
    record = training_record(state, train, val, settings)
    save_type_prior(state.parts, out_dir / WEIGHTS_NAME)
    # the record vouches for this exact file: loading checks it (a damaged copy is refused)
    record["weights_sha256"] = file_sha256(out_dir / WEIGHTS_NAME)
    save_json(record, out_dir / RECORD_NAME)
    # outside training the nets are only read: frozen, in eval mode, out of the param store
    state.parts.eval().requires_grad_(False)
    pyro.clear_param_store()
    return record


def install_weights(run_dir: str | Path) -> None:
    """Copy a finished run's weights and JSON record (``type_prior.pt`` and
    ``type_prior.json`` in ``run_dir``) into the package's weights folder, where
    :func:`~gns_pyro.pretrained.load_type_prior` finds them by default.

    The weights are checked first as loading checks them (against the record's checksum,
    among others), so a damaged run never replaces the shipped weights.

    :raises GNSError: the run has no readable record, or its weights were trained on KanjiVG
        (CC BY-SA 3.0), which the package does not ship; a
        :class:`~gns_pyro.errors.WeightsError` for weights that do not load.
    """
    run_dir = Path(run_dir)
    weights, record_path = run_dir / WEIGHTS_NAME, run_dir / RECORD_NAME
    try:
        record = read_json(record_path, "record")
    except (OSError, ValueError) as err:  # UntrustedFile is a ValueError too
        raise GNSError(f"no readable training record {record_path} ({err})") from None
    settings = record.get("settings") if isinstance(record, dict) else None
    if not isinstance(settings, dict):
        raise GNSError(f"{record_path} is not a training record (no settings)")
    if settings.get("data") == "kanji":
        raise GNSError(
            "weights trained on KanjiVG (CC BY-SA 3.0) are not installed into the package"
        )
    load_type_prior(weights)
    shutil.copyfile(weights, TYPE_PRIOR_WEIGHTS)
    shutil.copyfile(record_path, TYPE_PRIOR_RECORD)
