"""Training the type prior: maximum likelihood of the observed GenerateType program.

Conditioning the program on real drawings makes the canvas at stroke ``i`` the render of the
true strokes before it, so the teacher-forced log-likelihood is ``trace.log_prob_sum()`` of
``generate_type(parts, parses=batch)``; training maximizes it with Adam.

Data: the background stroke drawings of every available alphabet except those excluded
(default: Tagalog, held out for the parsing evaluation), split by character (10% of characters,
fixed seed) into training and validation. Each epoch writes a checkpoint atomically;
``resume=True`` continues from it. The best epoch by validation NLL is kept, and the run ends
with a JSON record: data used, settings, epochs, wall time, train and validation NLL per
drawing and per stroke, and two ablations (untrained nets; trained nets with a blank canvas).

Example (shell)::

    gns-pyro train --out runs/type_prior --epochs 30          # then --resume after a kill
"""

from __future__ import annotations

import dataclasses
import math
import pickle
import platform
import shutil
import time
from pathlib import Path

import pyro
import torch
from pyro import poutine

import gns_pyro
from gns_pyro.data.dataset import SplineDataset, load_spline_dataset
from gns_pyro.errors import GNSError
from gns_pyro.fileio import atomic_write_bytes, file_sha256, save_json
from gns_pyro.models.character import CharacterParts
from gns_pyro.models.type_prior import generate_type, type_log_prob
from gns_pyro.parses import Parses
from gns_pyro.pretrained import TYPE_PRIOR_RECORD, TYPE_PRIOR_WEIGHTS, save_type_prior


@dataclasses.dataclass
class TrainSettings:
    """How the type prior is trained.

    :param epochs: most passes over the training drawings.
    :param batch_size: drawings per Adam step.
    :param lr: initial learning rate.
    :param lr_decay: factor applied to the learning rate when validation NLL stalls.
    :param lr_patience: epochs without improvement before a decay.
    :param early_stop: epochs without improvement before training stops.
    :param grad_clip: gradient norm clip.
    :param seed: seed of the split, the batch order and initialization.
    :param val_fraction: fraction of characters held out for validation.
    :param exclude: alphabets never trained on (Tagalog is the parsing test set).
    :param max_drawings: use only this many drawings (smoke tests); None for all.
    :param device: torch device to train on.
    :param data: ``"omniglot"`` (the background strokes) or ``"kanji"`` (KanjiVG, one drawing
        per character; ``max_drawings`` then picks a seeded subset of characters).
    """

    epochs: int = 30
    batch_size: int = 64
    lr: float = 1e-3
    lr_decay: float = 0.5  # multiply the learning rate by this when validation stalls
    lr_patience: int = 2  # epochs without improvement before decaying
    early_stop: int = 6  # epochs without improvement before stopping
    grad_clip: float = 5.0
    seed: int = 0
    val_fraction: float = 0.1
    exclude: tuple[str, ...] = ("Tagalog",)
    max_drawings: int | None = None  # use only this many drawings (smoke tests)
    device: str = "cpu"
    data: str = "omniglot"


def batches(n: int, batch_size: int, generator: torch.Generator | None = None):
    """Index tensors of ``batch_size`` items covering ``range(n)``, shuffled by ``generator`` (in
    order without one).
    """
    order = torch.randperm(n, generator=generator) if generator is not None else torch.arange(n)
    for start in range(0, n, batch_size):
        yield order[start : start + batch_size]


@torch.no_grad()
def evaluate_nll(parts: CharacterParts, parses: Parses, batch_size: int = 256) -> dict:
    """Mean negative log P(psi) per drawing and per stroke (eval mode, no gradients)."""
    was_training = parts.training
    parts.eval()
    total, strokes = 0.0, 0
    with pyro.validation_enabled(False):
        for idx in batches(len(parses), batch_size):
            batch = parses[idx].trim().to(parts.device)
            total -= float(type_log_prob(parts, batch).sum())
            strokes += int(batch.num_strokes.sum())
    parts.train(was_training)
    if not math.isfinite(total):
        raise GNSError("validation log-likelihood is not finite")
    return {"per_drawing": total / len(parses), "per_stroke": total / strokes}


def _data_record(train: SplineDataset, val: SplineDataset, settings: TrainSettings) -> dict:
    return {
        "source": settings.data,
        "split": "background" if settings.data == "omniglot" else "kanjivg main files",
        "alphabets": sorted(set(train.alphabets) | set(val.alphabets)),
        "excluded_alphabets": list(settings.exclude) if settings.data == "omniglot" else [],
        "spline_settings": train.settings.as_dict(),
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


@dataclasses.dataclass
class TrainState:
    """Everything a run carries from epoch to epoch (and saves in its checkpoint)."""

    parts: CharacterParts
    optimizer: torch.optim.Optimizer
    untrained: dict  # the initial weights, for the untrained-nets ablation
    history: list = dataclasses.field(default_factory=list)
    best_val: float = math.inf
    best_state: dict | None = None
    best_epoch: int = -1
    next_epoch: int = 0
    elapsed: float = 0.0

    def checkpoint(self, settings: TrainSettings) -> dict:
        """The state as plain tensors, numbers and settings (loaded with ``weights_only``)."""
        return {
            "epoch": self.next_epoch - 1,
            "model": self.parts.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "untrained": self.untrained,
            "history": self.history,
            "best_val": self.best_val,
            "best_state": self.best_state,
            "best_epoch": self.best_epoch,
            "elapsed": self.elapsed,
            "settings": dataclasses.asdict(settings),
        }


def load_training_data(
    settings: TrainSettings, data_dir=None, progress: bool = False
) -> tuple[SplineDataset, SplineDataset]:
    """The training and validation sets that ``settings`` describe (split by character)."""
    if settings.data == "kanji":
        from gns_pyro.data.kanjivg import load_kanji_dataset

        data = load_kanji_dataset(
            data_dir, max_kanji=settings.max_drawings, seed=settings.seed, progress=progress
        )
    elif settings.data == "omniglot":
        data = load_spline_dataset(data_dir, exclude_alphabets=settings.exclude, progress=progress)
        if settings.max_drawings:
            generator = torch.Generator().manual_seed(settings.seed)
            keep = torch.randperm(len(data), generator=generator)
            data = data.subset(keep[: settings.max_drawings].sort().values)
    else:
        raise GNSError(f"unknown training data {settings.data!r}: omniglot or kanji")
    train, val = data.split_by_character(settings.val_fraction, seed=settings.seed)
    if len(train) == 0 or len(val) == 0:
        raise GNSError("too few drawings for a training/validation split")
    return train, val


def start_or_resume(
    settings: TrainSettings, device: torch.device, checkpoint_path: Path, resume: bool
) -> TrainState:
    """Fresh nets and optimizer, or the state saved at ``checkpoint_path`` when resuming."""
    torch.manual_seed(settings.seed)
    pyro.set_rng_seed(settings.seed)
    parts = CharacterParts().to(device)
    state = TrainState(
        parts,
        torch.optim.Adam(parts.parameters(), lr=settings.lr),
        {k: v.clone() for k, v in parts.state_dict().items()},
    )
    if not (resume and checkpoint_path.exists()):
        return state
    try:  # weights_only: a checkpoint holds tensors, numbers and settings, never code to run
        ckpt = torch.load(checkpoint_path, map_location=device, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as err:
        raise GNSError(
            f"{checkpoint_path} is not a readable checkpoint ({err}); use another --out"
        ) from err
    # everything but the epoch budget must match: resuming may extend a run
    same = {k: v for k, v in ckpt["settings"].items() if k != "epochs"}
    if same != {k: v for k, v in dataclasses.asdict(settings).items() if k != "epochs"}:
        raise GNSError(
            f"{checkpoint_path} was made with other settings {ckpt['settings']}; "
            "use another --out or the same settings"
        )
    parts.load_state_dict(ckpt["model"])
    state.optimizer.load_state_dict(ckpt["optimizer"])
    state.untrained = ckpt["untrained"]
    state.history, state.best_val, state.best_state = (
        ckpt["history"],
        ckpt["best_val"],
        ckpt["best_state"],
    )
    state.best_epoch, state.next_epoch = ckpt["best_epoch"], ckpt["epoch"] + 1
    state.elapsed = ckpt["elapsed"]
    return state


def train_epoch(
    state: TrainState, train: SplineDataset, settings: TrainSettings, epoch: int, progress: bool
) -> float:
    """One pass of Adam steps over ``train`` (shuffled by the epoch's seed); returns the mean
    training NLL per drawing."""
    from tqdm import tqdm

    parts, device = state.parts, state.parts.device
    parts.train()
    generator = torch.Generator().manual_seed(settings.seed * 1000 + epoch)
    running, seen = 0.0, 0
    bar = tqdm(
        batches(len(train), settings.batch_size, generator),
        total=math.ceil(len(train) / settings.batch_size),
        desc=f"epoch {epoch + 1}/{settings.epochs}",
        disable=not progress,
        leave=False,
    )
    with pyro.validation_enabled(False):
        for idx in bar:
            batch = train.parses[idx].trim().to(device)
            trace = poutine.trace(generate_type).get_trace(parts, parses=batch)
            loss = -trace.log_prob_sum() / len(idx)
            if not torch.isfinite(loss):
                raise GNSError(f"training loss became {loss.item()} at epoch {epoch + 1}")
            state.optimizer.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(parts.parameters(), settings.grad_clip)
            state.optimizer.step()
            running += loss.item() * len(idx)
            seen += len(idx)
            bar.set_postfix(nll=f"{running / seen:.2f}")
    return running / seen


def run_epochs(
    state: TrainState,
    train: SplineDataset,
    val: SplineDataset,
    settings: TrainSettings,
    checkpoint_path: Path,
    progress: bool,
) -> None:
    """Epochs until the budget or early stopping: validate, keep the best weights, decay the
    learning rate when validation stalls, and checkpoint atomically after every epoch."""
    from tqdm import tqdm

    stale = sum(1 for _ in _since_best(state.history, state.best_epoch))
    for epoch in range(state.next_epoch, settings.epochs):
        if stale >= settings.early_stop:
            break
        t0 = time.perf_counter()
        train_nll = train_epoch(state, train, settings, epoch, progress)
        val_nll = evaluate_nll(state.parts, val.parses)
        seconds = time.perf_counter() - t0
        state.elapsed += seconds
        state.history.append(
            {
                "epoch": epoch + 1,
                "train_nll_per_drawing": train_nll,
                "val_nll_per_drawing": val_nll["per_drawing"],
                "val_nll_per_stroke": val_nll["per_stroke"],
                "lr": state.optimizer.param_groups[0]["lr"],
                "seconds": seconds,
            }
        )
        if val_nll["per_drawing"] < state.best_val:
            state.best_val, state.best_epoch = val_nll["per_drawing"], epoch + 1
            state.best_state = {
                k: v.detach().cpu().clone() for k, v in state.parts.state_dict().items()
            }
        stale = sum(1 for _ in _since_best(state.history, state.best_epoch))
        if stale and stale % settings.lr_patience == 0:
            for group in state.optimizer.param_groups:
                group["lr"] *= settings.lr_decay
        tqdm.write(  # one line per epoch, with or without progress bars
            f"epoch {epoch + 1}: train NLL {train_nll:.2f}, "
            f"val NLL {val_nll['per_drawing']:.2f} per drawing "
            f"({val_nll['per_stroke']:.2f} per stroke), {seconds:.0f} s"
        )
        state.next_epoch = epoch + 1
        ckpt = state.checkpoint(settings)
        atomic_write_bytes(checkpoint_path, lambda tmp, ckpt=ckpt: torch.save(ckpt, tmp))


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
    untrained = CharacterParts().to(device)
    untrained.load_state_dict(state.untrained)
    return {
        "gns_pyro_version": gns_pyro.__version__,
        "torch_version": torch.__version__,
        "pyro_version": pyro.__version__,
        "machine": f"{platform.machine()}, {torch.get_num_threads()} torch threads, {device}",
        "data": _data_record(train, val, settings),
        "settings": dataclasses.asdict(settings),
        "architecture": parts.config(),
        "epochs_run": len(state.history),
        "best_epoch": state.best_epoch,
        "wall_seconds": state.elapsed,
        "nll": {
            "train": evaluate_nll(parts, train.parses),
            "validation": evaluate_nll(parts, val.parses),
        },
        "ablations": {
            "untrained_nets": evaluate_nll(untrained, val.parses),
            "blank_canvas": evaluate_nll(parts.with_blank_canvas(), val.parses),
        },
        "history": state.history,
    }


def train_type_prior(
    out_dir: str | Path,
    settings: TrainSettings | None = None,
    data_dir: str | Path | None = None,
    resume: bool = False,
    progress: bool = True,
    install: bool = False,
) -> dict:
    """Train the nets; returns the training record (also written to ``out_dir``).

    The stages: :func:`load_training_data`, :func:`start_or_resume`, :func:`run_epochs`,
    :func:`training_record`; then the weights and the record are written (and, with
    ``install``, copied into the package as the shipped weights).
    """
    settings = settings or TrainSettings()
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    device = torch.device(settings.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        raise GNSError("--device cuda was asked for but CUDA is not available")
    if install and settings.data == "kanji":
        raise GNSError(
            "weights trained on KanjiVG (CC BY-SA 3.0) are not installed into the package"
        )
    train, val = load_training_data(settings, data_dir, progress)
    checkpoint_path = out_dir / "checkpoint.pt"
    state = start_or_resume(settings, device, checkpoint_path, resume)
    run_epochs(state, train, val, settings, checkpoint_path, progress)
    record = training_record(state, train, val, settings)
    save_type_prior(state.parts, out_dir / "type_prior.pt")
    # the record vouches for this exact file: loading checks it (a damaged copy is refused)
    record["weights_sha256"] = file_sha256(out_dir / "type_prior.pt")
    save_json(record, out_dir / "type_prior.json")
    if install:
        shutil.copyfile(out_dir / "type_prior.pt", TYPE_PRIOR_WEIGHTS)
        shutil.copyfile(out_dir / "type_prior.json", TYPE_PRIOR_RECORD)
    return record


def _since_best(history: list[dict], best_epoch: int):
    """Epochs after the best one."""
    return (h for h in history if h["epoch"] > best_epoch)
