"""The training loop: the observed program and its loss, the optimizer, epochs of SVI steps
with validation, early stopping and a checkpoint after each, and :func:`evaluate_nll`.
"""

from __future__ import annotations

import dataclasses
import math
import time
from pathlib import Path

import pyro
import torch
from pyro import poutine

from gns_pyro.data.dataset import SplineDataset, load_spline_dataset
from gns_pyro.data.images import OMNIGLOT_IMAGE_SIZE
from gns_pyro.data.omniglot import Omniglot, resolve_data_dir
from gns_pyro.data.preprocess import SplineSettings
from gns_pyro.errors import GNSError
from gns_pyro.fileio import atomic_write_bytes
from gns_pyro.models.character import CharacterParts
from gns_pyro.models.frame import frame_penalty
from gns_pyro.models.type_prior import generate_type, type_log_prob
from gns_pyro.parses import Parses
from gns_pyro.reading import UntrustedFile, load_tensors
from gns_pyro.train.augment import augment
from gns_pyro.train.settings import (
    TrainSettings,
    check_checkpoint,
    check_resumable,
    load_initial_weights,
    new_parts,
)


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


def type_model(parts: CharacterParts, batch: Parses) -> None:
    """The observed GenerateType program, scaled to a mean over the batch's drawings (so the
    gradient size does not depend on the batch size)."""
    with poutine.scale(scale=1.0 / len(batch)):
        generate_type(parts, parses=batch)


def empty_guide(parts: CharacterParts, batch: Parses) -> None:
    """Every site of :func:`type_model` is observed: nothing to guess."""


class FramePenalizedLoss:
    """An SVI loss: ``Trace_ELBO``'s (the batch's mean NLL per drawing, every site being
    observed) plus ``weight`` times :func:`~gns_pyro.models.frame.frame_penalty` of
    ``num_samples`` fresh samples of the prior being trained."""

    def __init__(self, weight: float, num_samples: int):
        self.weight, self.num_samples = weight, num_samples
        self.elbo = pyro.infer.Trace_ELBO()

    def __call__(self, model, guide, parts: CharacterParts, batch: Parses) -> torch.Tensor:
        nll = self.elbo.differentiable_loss(model, guide, parts, batch)
        return nll + self.weight * frame_penalty(parts, self.num_samples)


def training_loss(settings: TrainSettings):
    """``Trace_ELBO`` (maximum likelihood), or with ``frame_penalty`` the
    :class:`FramePenalizedLoss`."""
    if settings.frame_penalty > 0:
        return FramePenalizedLoss(settings.frame_penalty, settings.frame_samples)
    return pyro.infer.Trace_ELBO()


def make_optimizer(settings: TrainSettings) -> pyro.optim.PyroLRScheduler:
    """Adam under ``ReduceLROnPlateau``, as a ``pyro.optim`` scheduler with gradient clipping."""
    return pyro.optim.ReduceLROnPlateau(
        {
            "optimizer": torch.optim.Adam,
            "optim_args": {"lr": settings.lr},
            "factor": settings.lr_decay,
            # torch counts the epochs *beyond* patience: decay on the lr_patience-th stale one
            "patience": settings.lr_patience - 1,
        },
        clip_args={"clip_norm": settings.grad_clip},
    )


@dataclasses.dataclass
class TrainState:
    """Everything a run carries from epoch to epoch (and saves in its checkpoint)."""

    parts: CharacterParts
    optimizer: pyro.optim.PyroLRScheduler
    svi: pyro.infer.SVI
    untrained: dict  # the initial weights, for the untrained-nets ablation
    history: list = dataclasses.field(default_factory=list)
    best_val: float = math.inf
    best_state: dict | None = None
    best_epoch: int = -1
    next_epoch: int = 0
    steps: int = 0
    elapsed: float = 0.0

    @property
    def lr(self) -> float:
        """The current learning rate (every parameter has the same schedule)."""
        for scheduler in self.optimizer.optim_objs.values():
            return scheduler.optimizer.param_groups[0]["lr"]
        return self._pending_lr

    _pending_lr: float = math.nan

    def checkpoint(self, settings: TrainSettings) -> dict:
        """The state as plain tensors, numbers and settings (loaded with ``weights_only``)."""
        return {
            "epoch": self.next_epoch - 1,
            "model": self.parts.state_dict(),
            "optimizer": self.optimizer.get_state(),
            "untrained": self.untrained,
            "history": self.history,
            "best_val": self.best_val,
            "best_state": self.best_state,
            "best_epoch": self.best_epoch,
            "steps": self.steps,
            "elapsed": self.elapsed,
            "settings": dataclasses.asdict(settings),
        }


def load_training_data(
    settings: TrainSettings, data_dir=None, progress: bool = False
) -> tuple[SplineDataset, SplineDataset]:
    """The training and validation sets that ``settings`` describe (split by character)."""
    splines = SplineSettings(min_stroke_length=settings.min_stroke_length)
    if settings.data == "kanji":
        from gns_pyro.data.kanjivg import load_kanji_dataset

        data = load_kanji_dataset(
            data_dir,
            settings=splines,
            max_kanji=settings.max_drawings,
            seed=settings.seed,
            progress=progress,
            image_size=settings.image_size,
        )
    elif settings.data == "omniglot":
        if settings.image_size != OMNIGLOT_IMAGE_SIZE:
            raise GNSError(
                f"Omniglot's drawings are on a {OMNIGLOT_IMAGE_SIZE} px canvas; image size "
                f"{settings.image_size} is for other data (--data kanji)"
            )
        data = load_spline_dataset(
            data_dir,
            exclude_alphabets=settings.exclude,
            settings=splines,
            progress=progress,
            strokes=settings.strokes,
        )
        if settings.max_drawings:
            generator = torch.Generator().manual_seed(settings.seed)
            keep = torch.randperm(len(data), generator=generator)
            data = data.subset(keep[: settings.max_drawings].sort().values)
    else:
        raise GNSError(f"unknown training data {settings.data!r}: omniglot or kanji")
    if settings.data == "omniglot" and settings.strokes:
        held = validation_characters(data, settings, data_dir)
        train, val = data.split_holding(held["official_split"] | held["all_alphabets"])
        val = dataclasses.replace(val, groups=held)
    else:
        train, val = data.split_by_character(settings.val_fraction, seed=settings.seed)
    if len(train) == 0 or len(val) == 0:
        raise GNSError("too few drawings for a training/validation split")
    return train, val


def validation_characters(data: SplineDataset, settings: TrainSettings, data_dir=None) -> dict:
    """The validation characters of a run with extra stroke sources, in two named parts:
    ``"official_split"``, those that the data folder's official stroke files alone would hold
    out (the validation set of every run without extra sources, so that NLLs stay
    comparable), and ``"all_alphabets"``, ``val_fraction`` of the other characters of
    ``data``, drawn from every alphabet.
    """
    splines = SplineSettings(min_stroke_length=settings.min_stroke_length)
    with Omniglot(resolve_data_dir(data_dir)) as plain:
        present = set(plain.alphabets("background", kind="strokes"))
    exclude = [a for a in settings.exclude if a in present]  # others only come with extras
    official = load_spline_dataset(data_dir, exclude_alphabets=exclude, settings=splines)
    legacy = official.held_characters(settings.val_fraction, seed=settings.seed)
    legacy &= set(data.character_ids)  # (a smoke test's subset may lack some)
    return {
        "official_split": legacy,
        "all_alphabets": data.held_characters(settings.val_fraction, settings.seed, legacy),
    }


def start_or_resume(
    settings: TrainSettings, device: torch.device, checkpoint_path: Path, resume: bool
) -> TrainState:
    """Fresh nets and optimizer, or the state saved at ``checkpoint_path`` when resuming.

    The param store is cleared: the optimizer must see exactly these nets (``pyro.module``
    would otherwise hand it tensors of nets registered earlier under the same name).
    """
    torch.manual_seed(settings.seed)
    pyro.set_rng_seed(settings.seed)
    pyro.clear_param_store()
    parts = new_parts(settings).to(device)
    optimizer = make_optimizer(settings)
    state = TrainState(
        parts,
        optimizer,
        pyro.infer.SVI(type_model, empty_guide, optimizer, training_loss(settings)),
        {k: v.clone() for k, v in parts.state_dict().items()},
        _pending_lr=settings.lr,
    )
    if settings.init_weights is not None:
        load_initial_weights(parts, settings.init_weights)
    if not (resume and checkpoint_path.exists()):
        return state
    try:  # a regular file of sane size, loaded from the bytes read: tensors and plain values
        ckpt = load_tensors(checkpoint_path, "checkpoint", map_location=device)
    except UntrustedFile as err:
        raise GNSError(f"{err} (not a readable checkpoint); use another --out") from None
    check_checkpoint(ckpt, checkpoint_path)
    check_resumable(ckpt["settings"], settings, checkpoint_path)
    parts.load_state_dict(ckpt["model"])
    optimizer.set_state(ckpt["optimizer"])  # taken up by each parameter at its first step
    lrs = [o["optimizer"]["param_groups"][0]["lr"] for o in ckpt["optimizer"].values()]
    state._pending_lr = lrs[0] if lrs else settings.lr
    state.untrained = ckpt["untrained"]
    state.history, state.best_val, state.best_state = (
        ckpt["history"],
        ckpt["best_val"],
        ckpt["best_state"],
    )
    state.best_epoch, state.next_epoch = ckpt["best_epoch"], ckpt["epoch"] + 1
    state.steps, state.elapsed = ckpt["steps"], ckpt["elapsed"]
    return state


#: fresh samples that measure the frame penalty after each epoch (seeded: comparable epochs)
FRAME_CHECK_SAMPLES = 256


def measure_frame_penalty(parts: CharacterParts, seed: int = 0) -> float:
    """:func:`~gns_pyro.models.frame.frame_penalty` of :data:`FRAME_CHECK_SAMPLES` seeded
    samples at T = 1, without disturbing the global random state that training draws from."""
    rng = pyro.util.get_rng_state()
    try:
        pyro.set_rng_seed(seed)
        with torch.no_grad():
            return float(frame_penalty(parts, FRAME_CHECK_SAMPLES))
    finally:
        pyro.util.set_rng_state(rng)


def _check_param_store(parts: CharacterParts) -> None:
    """The param store must hold exactly the nets being trained (see :func:`start_or_resume`)."""
    stored = {id(v) for v in pyro.get_param_store().values()}
    own = {id(v) for v in parts.parameters() if v.requires_grad}
    if stored != own:
        raise GNSError(
            "the Pyro param store holds parameters other than the nets being trained; "
            "call pyro.clear_param_store() before training"
        )


def train_epoch(
    state: TrainState, train: SplineDataset, settings: TrainSettings, epoch: int, progress: bool
) -> float:
    """One pass of SVI steps over ``train`` (shuffled by the epoch's seed); returns the mean
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
            batch = train.parses[idx].trim()
            batch = augment(
                batch,
                settings.augment_scale,
                settings.augment_shift,
                generator,
                parts.image_size,
                settings.augment_rotate,
                settings.augment_shear,
            )
            loss = state.svi.step(parts, batch.to(device))  # mean NLL per drawing of the batch
            if not math.isfinite(loss):
                raise GNSError(f"training loss became {loss} at epoch {epoch + 1}")
            if state.steps == 0 or seen == 0:
                _check_param_store(parts)
            state.steps += 1
            running += loss * len(idx)
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
    """Epochs until the budget or early stopping: validate, keep the best weights, let the
    scheduler decay the learning rate when validation stalls, and checkpoint atomically after
    every epoch."""
    from tqdm import tqdm

    stale = sum(1 for _ in _since_best(state.history, state.best_epoch))
    for epoch in range(state.next_epoch, settings.epochs):
        if stale >= settings.early_stop:
            break
        t0 = time.perf_counter()
        lr = state.lr
        train_nll = train_epoch(state, train, settings, epoch, progress)
        val_nll = evaluate_nll(state.parts, val.parses)
        seconds = time.perf_counter() - t0
        state.elapsed += seconds
        state.history.append(
            {
                "epoch": epoch + 1,
                "steps": state.steps,
                "train_nll_per_drawing": train_nll,
                "val_nll_per_drawing": val_nll["per_drawing"],
                "val_nll_per_stroke": val_nll["per_stroke"],
                "lr": lr,
                "seconds": seconds,
            }
        )
        # the validation value of the training objective: NLL, plus the weighted frame penalty
        criterion, penalty_note = val_nll["per_drawing"], ""
        if settings.frame_penalty > 0:
            penalty = measure_frame_penalty(state.parts)
            criterion += settings.frame_penalty * penalty
            state.history[-1].update(frame_penalty=penalty, val_objective=criterion)
            penalty_note = f", frame penalty {penalty:.3f} (objective {criterion:.2f})"
        if criterion < state.best_val:
            state.best_val, state.best_epoch = criterion, epoch + 1
            state.best_state = {
                k: v.detach().cpu().clone() for k, v in state.parts.state_dict().items()
            }
        stale = sum(1 for _ in _since_best(state.history, state.best_epoch))
        state.optimizer.step(criterion)  # ReduceLROnPlateau reads the validation objective
        tqdm.write(  # one line per epoch, with or without progress bars
            f"epoch {epoch + 1}: train {'objective' if penalty_note else 'NLL'} {train_nll:.2f}, "
            f"val NLL {val_nll['per_drawing']:.2f} per drawing "
            f"({val_nll['per_stroke']:.2f} per stroke){penalty_note}, lr {lr:.2g}, "
            f"{seconds:.0f} s"
        )
        state.next_epoch = epoch + 1
        ckpt = state.checkpoint(settings)
        atomic_write_bytes(checkpoint_path, lambda tmp, ckpt=ckpt: torch.save(ckpt, tmp))


def _since_best(history: list[dict], best_epoch: int):
    """Epochs after the best one."""
    return (h for h in history if h["epoch"] > best_epoch)
