"""Training the type prior: maximum likelihood of the observed GenerateType program, with SVI.

Conditioning the program on real drawings makes the canvas at stroke ``i`` the render of the
true strokes before it. Every site of ``generate_type(parts, parses=batch)`` is observed, so
with an empty guide ``Trace_ELBO`` is exactly the negative log-likelihood, and
``pyro.infer.SVI`` with ``pyro.optim.ReduceLROnPlateau`` (Adam, the learning rate decayed when
the validation NLL stalls) is maximum-likelihood training. The nets reach the optimizer through
``pyro.module`` and the param store, which is cleared first so it holds exactly these nets.

Data: the background stroke drawings of every available alphabet except those excluded
(default: Tagalog, held out for the parsing evaluation), strokes shorter than
``min_stroke_length`` pixels dropped (drawings left with none dropped too), split by character
(10% of characters, fixed seed) into training and validation. Each epoch writes a checkpoint
atomically; ``resume=True`` continues from it. Training stops early when the validation NLL has
not improved for ``early_stop`` epochs; the best epoch is kept, and the run ends with a JSON
record: data used, settings, epochs, steps, wall time and device, the learning curve, train and
validation NLL per drawing and per stroke, and two ablations (untrained nets; trained nets with
a blank canvas). The returned nets are frozen and in eval mode.

Two options go beyond maximum likelihood. ``frame_penalty`` adds to every step's loss the mass
that the nets' mixtures put outside the frame at the states of fresh samples of the prior
(:mod:`gns_pyro.models.frame`): the data never leave the page, so nothing else teaches the nets
what to do where their own samples wander. ``init_weights`` starts from trained weights; the
shipped prior is a maximum-likelihood run fine-tuned that way (see the README).

Example (shell)::

    gns-pyro train --out runs/type_prior --epochs 60          # then --resume after a kill
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
from gns_pyro.data.preprocess import SplineSettings
from gns_pyro.errors import GNSError
from gns_pyro.fileio import atomic_write_bytes, file_sha256, save_json
from gns_pyro.models.character import CharacterParts
from gns_pyro.models.frame import frame_penalty
from gns_pyro.models.type_prior import generate_type, type_log_prob
from gns_pyro.nets.stroke import ATTENTION_SIZE, HIDDEN_SIZE, StrokeNet
from gns_pyro.parses import Parses
from gns_pyro.pretrained import TYPE_PRIOR_RECORD, TYPE_PRIOR_WEIGHTS, save_type_prior
from gns_pyro.renderer import IMAGE_SIZE

#: Strokes shorter than this (pen path, pixels) are dropped from the training drawings: 5.7% of
#: the strokes are under 1 px (pen dots) and 7.4% under 5 px. The paper drops strokes under a
#: minimum length but the released code does not give the type prior's threshold (its
#: sketch-model loader uses 20 px, which drops 15.8% of the strokes, many of them real ticks).
MIN_STROKE_LENGTH = 5.0


#: What versions of gns-pyro without these training settings did (so their checkpoints resume).
SETTINGS_BEFORE_THEY_EXISTED = {
    "min_stroke_length": 0.0,
    "hidden_size": 128,
    "attention_size": 32,
    "stroke_dropout": 0.0,
    "augment_scale": 0.0,
    "augment_shift": 0.0,
    "augment_rotate": 0.0,
    "augment_shear": 0.0,
    "image_size": 105,
    "frame_penalty": 0.0,
    "frame_samples": 32,
    "init_weights": None,
}


@dataclasses.dataclass
class TrainSettings:
    """How the type prior is trained.

    :param epochs: most passes over the training drawings.
    :param batch_size: drawings per SVI step.
    :param lr: initial learning rate (Adam).
    :param lr_decay: factor applied to the learning rate when validation NLL stalls.
    :param lr_patience: epochs without improvement before a decay.
    :param early_stop: epochs without improvement before training stops.
    :param grad_clip: gradient norm clip, per parameter tensor (``pyro.optim`` ``clip_norm``).
    :param min_stroke_length: strokes whose pen path is shorter (pixels) are dropped before
        training, and drawings left with none; 0 keeps every stroke.
    :param hidden_size: LSTM units of the stroke net.
    :param attention_size: width of the stroke net's attention layer.
    :param stroke_dropout: dropout on the stroke net's LSTM output (training only).
    :param augment_scale: each training drawing of a batch is warped, about its centroid, by
        per-axis scales drawn from ``1 +- augment_scale``...
    :param augment_shift: ...and shifted by up to this many pixels per axis (a drawing that
        would leave the frame is kept as it is); 0 and 0 train on the drawings as they are.
    :param augment_rotate: ...rotated by up to this many degrees...
    :param augment_shear: ...and sheared (``x += k y``) by ``k`` up to this, before the scales.
    :param seed: seed of the split, the batch order and initialization.
    :param val_fraction: fraction of characters held out for validation.
    :param exclude: alphabets never trained on (Tagalog is the parsing test set).
    :param max_drawings: use only this many drawings (smoke tests); None for all.
    :param device: torch device to train on.
    :param data: ``"omniglot"`` (the background strokes) or ``"kanji"`` (KanjiVG, one drawing
        per character; ``max_drawings`` then picks a seeded subset of characters).
    :param image_size: side of the canvas the nets read and the drawings are placed on, in
        pixels: a setting of the domain. Omniglot's drawings are on 105 px, the only size
        they take; KanjiVG's 109-unit canvas is scaled to it (109 keeps its own units).
    :param frame_penalty: weight of the frame penalty
        (:func:`~gns_pyro.models.frame.frame_penalty`) of ``frame_samples`` fresh samples of
        the prior (T = 1), added to every step's loss: it teaches the nets to keep the pen on
        the page at the states their own samples reach, which the data never visit. Early
        stopping and the learning-rate schedule then read the same objective on validation:
        NLL plus ``frame_penalty`` times the penalty of 256 seeded samples; the history's
        training figure is then of the whole objective too. 0 trains by maximum likelihood
        alone.
    :param frame_samples: fresh samples per step for the frame penalty.
    :param init_weights: a weights file to start from instead of a random initialization (a
        fine-tuning run); its architecture must be the one these settings build (dropout
        rates may differ).
    """

    epochs: int = 60
    batch_size: int = 64
    lr: float = 1e-3
    lr_decay: float = 0.5  # multiply the learning rate by this when validation stalls
    lr_patience: int = 2  # epochs without improvement before decaying
    early_stop: int = 6  # epochs without improvement before stopping
    grad_clip: float = 5.0
    min_stroke_length: float = MIN_STROKE_LENGTH
    hidden_size: int = HIDDEN_SIZE
    attention_size: int = ATTENTION_SIZE
    stroke_dropout: float = 0.1
    augment_scale: float = 0.15
    augment_shift: float = 6.0
    augment_rotate: float = 0.0
    augment_shear: float = 0.0
    seed: int = 0
    val_fraction: float = 0.1
    exclude: tuple[str, ...] = ("Tagalog",)
    max_drawings: int | None = None  # use only this many drawings (smoke tests)
    device: str = "cpu"
    data: str = "omniglot"
    image_size: int = IMAGE_SIZE
    frame_penalty: float = 0.0
    frame_samples: int = 32
    init_weights: str | None = None


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
        "drawings_dropped": train.dropped,  # every stroke under min_stroke_length
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


def new_parts(settings: TrainSettings) -> CharacterParts:
    """Untrained nets of the architecture ``settings`` asks for."""
    return CharacterParts(
        stroke_net=StrokeNet(
            hidden_size=settings.hidden_size,
            attention_size=settings.attention_size,
            dropout=settings.stroke_dropout,
            image_size=settings.image_size,
        ),
        image_size=settings.image_size,
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
        if settings.image_size != IMAGE_SIZE:
            raise GNSError(
                f"Omniglot's drawings are on a {IMAGE_SIZE} px canvas; image size "
                f"{settings.image_size} is for other data (--data kanji)"
            )
        data = load_spline_dataset(
            data_dir, exclude_alphabets=settings.exclude, settings=splines, progress=progress
        )
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
    try:  # weights_only: a checkpoint holds tensors, numbers and settings, never code to run
        ckpt = torch.load(checkpoint_path, map_location=device, weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as err:
        raise GNSError(
            f"{checkpoint_path} is not a readable checkpoint ({err}); use another --out"
        ) from err
    # everything but the epoch budget must match: resuming may extend a run. A setting that a
    # checkpoint of an older version lacks had that version's fixed behaviour.
    saved = {**SETTINGS_BEFORE_THEY_EXISTED, **ckpt.get("settings", {})}
    same = {k: v for k, v in saved.items() if k != "epochs"}
    if same != {k: v for k, v in dataclasses.asdict(settings).items() if k != "epochs"}:
        raise GNSError(
            f"{checkpoint_path} was made with other settings {ckpt.get('settings')}; "
            "use another --out or the same settings"
        )
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


def _shapes(config: dict) -> dict:
    """An architecture description without its dropout rates, which hold no weights."""
    return {
        key: _shapes(value) if isinstance(value, dict) else value
        for key, value in config.items()
        if key != "dropout"
    }


def load_initial_weights(parts: CharacterParts, path: str | Path) -> None:
    """Copy trained weights (checked as :func:`~gns_pyro.pretrained.load_type_prior` checks
    them) into ``parts``, which must be of the same architecture; dropout rates may differ
    (fine-tuning with more or less dropout than the start was trained with)."""
    from gns_pyro.pretrained import load_type_prior

    trained = load_type_prior(path)
    if _shapes(trained.config()) != _shapes(parts.config()):
        raise GNSError(
            f"--init-weights {path} holds nets built as {trained.config()}, but these settings "
            f"build {parts.config()}; give the settings those weights were trained with"
        )
    with torch.no_grad():
        parts.load_state_dict(trained.state_dict())


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


def augment(
    parses: Parses,
    scale: float,
    shift: float,
    generator: torch.Generator | None = None,
    image_size: int = IMAGE_SIZE,
    rotate: float = 0.0,
    shear: float = 0.0,
) -> Parses:
    """Each drawing warped about its control-point centroid: sheared (``x += k y``, ``|k| <=
    shear``), scaled per axis by factors in ``1 +- scale``, rotated by up to ``rotate`` degrees,
    then shifted by up to ``shift`` pixels per axis. Drawings that the warp would take outside
    the ``image_size`` frame are left as they are.

    With ``rotate = shear = 0`` this is the token model's kind of warp (per-axis scale and
    shift); rotation and shear make new "characters" out of the training ones, which the
    validation NLL on unseen characters rewards."""
    from gns_pyro.renderer import control_point_centroid

    if scale == 0 and shift == 0 and rotate == 0 and shear == 0:
        return parses
    B = len(parses)

    def uniform(width, *shape):
        return (torch.rand(B, *shape, generator=generator) * 2 - 1) * width

    dtype, device = parses.locations.dtype, parses.locations.device
    scales, shifts = 1 + uniform(scale, 2), uniform(shift, 2)
    # drawn only when asked for, so runs without them keep their exact sequence of warps
    angle = uniform(math.radians(rotate)) if rotate else torch.zeros(B)
    k = uniform(shear) if shear else torch.zeros(B)
    cos, sin, zero, one = angle.cos(), angle.sin(), torch.zeros(B), torch.ones(B)
    rotation = torch.stack([cos, -sin, sin, cos], -1).view(B, 2, 2)
    shearing = torch.stack([one, k, zero, one], -1).view(B, 2, 2)
    linear = (rotation @ torch.diag_embed(scales) @ shearing).to(device, dtype)
    c = control_point_centroid(parses.control_points, parses.num_control)[:, None, None, :]
    points = parses.control_points - c
    shifts = shifts.to(device, dtype)[:, None, None, :]
    warped = torch.einsum("bij,bskj->bski", linear, points) + c + shifts
    real = torch.arange(warped.shape[2], device=device) < parses.num_control.unsqueeze(-1)
    outside = ((warped < 0) | (warped > image_size - 1)).any(-1) & real
    keep = outside.flatten(1).any(1)  # (B,) drawings that stay as they are
    warped = torch.where(keep[:, None, None, None], parses.control_points, warped)
    offsets = (warped[:, :, 1:] - warped[:, :, :-1]) * parses.offset_mask.unsqueeze(-1)
    locations = warped[:, :, 0] * parses.stroke_mask.unsqueeze(-1)
    return parses.replace(locations=locations, offsets=offsets)


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
    import json

    from gns_pyro.pretrained import load_type_prior

    start = load_type_prior(settings.init_weights)
    record_path = Path(settings.init_weights).with_suffix(".json")
    try:
        record = json.loads(record_path.read_text())
    except (OSError, ValueError):
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
    if settings.init_weights is not None:
        from gns_pyro.pretrained import load_type_prior

        load_type_prior(settings.init_weights)  # a bad file is named before the data are read
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
    # outside training the nets are only read: frozen, in eval mode, out of the param store
    state.parts.eval().requires_grad_(False)
    pyro.clear_param_store()
    return record


def _since_best(history: list[dict], best_epoch: int):
    """Epochs after the best one."""
    return (h for h in history if h["epoch"] > best_epoch)
