"""How the type prior is trained: :class:`TrainSettings`, the nets they build, and what the
settings of an older checkpoint mean (:func:`checkpoint_settings`), so that its run resumes.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path

import torch

from gns_pyro.data.images import OMNIGLOT_IMAGE_SIZE
from gns_pyro.errors import GNSError
from gns_pyro.models.character import MAX_PARAMETERS, CharacterParts
from gns_pyro.nets.canvas import IMPLICIT_IMAGE_SIZE
from gns_pyro.nets.layers import IMPLICIT_ACTIVATION
from gns_pyro.nets.location import LocationNet
from gns_pyro.nets.stroke import ATTENTION_SIZE, HIDDEN_SIZE, StrokeNet
from gns_pyro.nets.termination import TerminationNet

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
    "image_size": IMPLICIT_IMAGE_SIZE,
    "frame_penalty": 0.0,
    "frame_samples": 32,
    "init_weights": None,
    "strokes": (),
    "activation": IMPLICIT_ACTIVATION,
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
    :param strokes: extra Omniglot stroke sources read after the data folder's official files
        (zips or folders named ``strokes_background...``, such as the reconstructed strokes of
        all 30 alphabets; the official file wins where both hold a drawing). The validation
        characters are then the ones the official files alone would hold out (so validation
        NLLs stay comparable with runs on them) plus ``val_fraction`` of the other characters,
        drawn from every alphabet; the record reports the NLL of each part.
    :param activation: the nets' nonlinearity (:mod:`gns_pyro.nets.layers`): ``"relu"`` (with
        max-pooling; the log-probabilities are then only piecewise smooth) or a smooth one,
        ``"silu"``, ``"gelu"`` or ``"softplus"`` (with average pooling).
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
    image_size: int = OMNIGLOT_IMAGE_SIZE
    frame_penalty: float = 0.0
    frame_samples: int = 32
    init_weights: str | None = None
    strokes: tuple[str, ...] = ()
    activation: str = IMPLICIT_ACTIVATION


def new_parts(settings: TrainSettings) -> CharacterParts:
    """Untrained nets of the architecture ``settings`` asks for.

    :raises GNSError: the architecture has more than
        :data:`~gns_pyro.models.character.MAX_PARAMETERS` parameters (counted before any
        weight is allocated).
    """
    count = CharacterParts.parameter_count(lambda: _build_parts(settings))
    if count > MAX_PARAMETERS:
        raise GNSError(
            f"--hidden-size {settings.hidden_size} and --attention-size "
            f"{settings.attention_size} build nets of {count:,} parameters, over the cap of "
            f"{MAX_PARAMETERS:,}"
        )
    return _build_parts(settings)


def _build_parts(settings: TrainSettings) -> CharacterParts:
    return CharacterParts(
        location_net=LocationNet(image_size=settings.image_size, activation=settings.activation),
        stroke_net=StrokeNet(
            hidden_size=settings.hidden_size,
            attention_size=settings.attention_size,
            dropout=settings.stroke_dropout,
            image_size=settings.image_size,
            activation=settings.activation,
        ),
        termination_net=TerminationNet(activation=settings.activation),
        image_size=settings.image_size,
    )


def checkpoint_settings(saved: dict) -> dict:
    """The settings a checkpoint was made with, complete: a setting that a checkpoint of an
    older version lacks had that version's fixed behaviour (:data:`SETTINGS_BEFORE_THEY_EXISTED`).
    """
    return {**SETTINGS_BEFORE_THEY_EXISTED, **saved}


def check_resumable(saved: dict, settings: TrainSettings, checkpoint_path: Path) -> None:
    """Everything but the epoch budget must match for a run to resume (resuming may extend it).

    :param saved: the checkpoint's ``settings`` entry, as written.
    :raises GNSError: the checkpoint was made with other settings.
    """
    then, now = checkpoint_settings(saved), dataclasses.asdict(settings)
    differ = [k for k in sorted(set(then) | set(now)) if k != "epochs" and _differ(k, then, now)]
    if differ:
        changes = "; ".join(f"{k}: {then.get(k)!r} then, {now.get(k)!r} now" for k in differ)
        raise GNSError(
            f"{checkpoint_path} was made with other settings ({changes}); "
            "use another --out or the same settings"
        )


#: What a checkpoint of ``gns-pyro train`` holds (``TrainState.checkpoint``).
CHECKPOINT_FIELDS = (
    "epoch", "model", "optimizer", "untrained", "history", "best_val", "best_state",
    "best_epoch", "steps", "elapsed", "settings",
)  # fmt: skip


def check_checkpoint(ckpt, checkpoint_path: Path) -> None:
    """Refuse a checkpoint that is not one of ``gns-pyro train``'s or contradicts itself:
    every field present and of its type, one history entry per finished epoch (numbered 1 to
    ``epoch + 1``), the best epoch among them with the best validation objective, finite
    numbers and tensors throughout.

    :raises GNSError: one line naming the checkpoint and what is wrong with it.
    """
    problem = _checkpoint_problem(ckpt)
    if problem:
        raise GNSError(
            f"{checkpoint_path} is not a checkpoint to resume from ({problem}); "
            "use another --out, or delete it to start again"
        )


def _checkpoint_problem(ckpt) -> str | None:
    if not isinstance(ckpt, dict):
        return f"it holds a {type(ckpt).__name__}, not a checkpoint"
    missing = [k for k in CHECKPOINT_FIELDS if k not in ckpt]
    if missing:
        return f"no {', '.join(missing)}"
    epoch, history, best_epoch = ckpt["epoch"], ckpt["history"], ckpt["best_epoch"]
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (epoch, best_epoch)):
        return "epoch numbers that are not integers"
    if not isinstance(history, list) or not all(isinstance(h, dict) for h in history):
        return "a history that is not a list of epochs"
    if not -1 <= epoch < len(history) + 1 or [h.get("epoch") for h in history] != list(
        range(1, epoch + 2)
    ):
        return f"epoch {epoch} with a history of {len(history)} epochs"
    numbers = [ckpt["best_val"], ckpt["steps"], ckpt["elapsed"]]
    numbers += [v for h in history for v in h.values()]
    if not all(isinstance(v, (int, float)) and math.isfinite(v) for v in numbers):
        return "a number that is not finite"
    if history:
        objective = [h.get("val_objective", h.get("val_nll_per_drawing")) for h in history]
        best = ckpt["best_val"]
        if (
            not 1 <= best_epoch <= len(history)
            or not best == min(objective) == objective[best_epoch - 1]
        ):
            return f"best epoch {best_epoch} is not the best of its history"
    tensors = [ckpt["model"], ckpt["best_state"] or {}, ckpt["untrained"], ckpt["optimizer"]]
    if not all(_finite_tensors(t) for t in tensors):
        return "weights or optimizer state that are not finite"
    return None


def _finite_tensors(tree) -> bool:
    """Whether every floating tensor in a nest of dicts and lists is finite."""
    if isinstance(tree, torch.Tensor):
        return not tree.is_floating_point() or bool(torch.isfinite(tree).all())
    if isinstance(tree, dict):
        return all(_finite_tensors(v) for v in tree.values())
    if isinstance(tree, (list, tuple)):
        return all(_finite_tensors(v) for v in tree)
    return True


def _differ(key: str, then: dict, now: dict) -> bool:
    if key == "strokes":  # the same files, however the path was spelled
        resolve = lambda paths: [Path(p).resolve() for p in paths or ()]  # noqa: E731
        return resolve(then.get(key)) != resolve(now.get(key))
    return then.get(key) != now.get(key)


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
