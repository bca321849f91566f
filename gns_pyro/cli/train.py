"""``gns-pyro train``: train the type prior (:mod:`gns_pyro.train`); with ``--install``, copy
the result into the package's weights folder (:func:`gns_pyro.train.install_weights`)."""

from __future__ import annotations

import argparse
import dataclasses
import json

from gns_pyro.cli import argtypes
from gns_pyro.cli.common import add_strokes_argument
from gns_pyro.errors import GNSError
from gns_pyro.nets.layers import ACTIVATIONS
from gns_pyro.train import TrainSettings, train_type_prior


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``gns-pyro train``."""
    defaults = TrainSettings()
    p = subparsers.add_parser(
        "train",
        help="train the type prior's nets on Omniglot stroke data",
        description="Train the location, stroke and termination nets by maximum likelihood of "
        "the observed GenerateType program (pyro.infer.SVI with an empty guide, Adam under "
        "ReduceLROnPlateau, early stopping on the validation NLL). Writes OUT/type_prior.pt, "
        "OUT/type_prior.json (with the learning curve) and a checkpoint per epoch (continue "
        "with --resume).",
    )
    p.add_argument(
        "--data",
        choices=("omniglot", "kanji"),
        default=defaults.data,
        help="what to train on: Omniglot background strokes, or KanjiVG characters "
        "(pip install kanjivg)",
    )
    p.add_argument(
        "--data-dir",
        type=argtypes.input_path,
        default=None,
        help="Omniglot folder (default: $GNS_PYRO_DATA), or with --data kanji the folder of "
        "KanjiVG .svg files (default: the installed kanjivg package)",
    )
    p.add_argument(
        "--out",
        type=argtypes.out_folder,
        default="runs/type_prior",
        help="output folder (default %(default)s)",
    )
    p.add_argument(
        "--epochs",
        type=argtypes.count(1, 10_000),
        default=defaults.epochs,
        help="most epochs; training stops earlier when the validation NLL stalls",
    )
    p.add_argument(
        "--batch-size",
        type=argtypes.count(1, 4_096),
        default=defaults.batch_size,
        help="drawings per step",
    )
    p.add_argument(
        "--lr",
        type=argtypes.learning_rate,
        default=defaults.lr,
        help="initial learning rate (Adam), in (0, 10]",
    )
    p.add_argument(
        "--lr-decay",
        type=argtypes.open_fraction,
        default=defaults.lr_decay,
        help="multiply the learning rate by this when the validation NLL stalls",
    )
    p.add_argument(
        "--lr-patience",
        type=argtypes.count(1, 1_000),
        default=defaults.lr_patience,
        help="epochs without improvement before the learning rate decays",
    )
    p.add_argument(
        "--grad-clip",
        type=argtypes.positive_float,
        default=defaults.grad_clip,
        help="gradient norm clip, per parameter tensor",
    )
    p.add_argument(
        "--seed",
        type=argtypes.seed,
        default=defaults.seed,
        help="seed of the split and the batches",
    )
    p.add_argument(
        "--val-fraction",
        type=argtypes.open_fraction,
        default=defaults.val_fraction,
        help="fraction of characters held out for validation",
    )
    p.add_argument(
        "--exclude",
        nargs="*",
        default=list(defaults.exclude),
        help="alphabets left out of training (default: Tagalog)",
    )
    add_strokes_argument(p)
    p.add_argument(
        "--activation",
        choices=ACTIVATIONS,
        default=defaults.activation,
        help="the nets' nonlinearity: relu (with max-pooling; piecewise smooth) or a smooth one "
        "(with average pooling), which Laplace's method needs",
    )
    p.add_argument(
        "--max-drawings",
        type=argtypes.count(1, 10_000_000),
        default=None,
        help="use a subset (smoke runs)",
    )
    p.add_argument(
        "--min-stroke-length",
        type=argtypes.pixels,
        default=defaults.min_stroke_length,
        help="drop strokes whose pen path is shorter than this many pixels (0 keeps all; "
        "at most 1000)",
    )
    p.add_argument(
        "--hidden-size",
        type=argtypes.count(1, 4_096),
        default=defaults.hidden_size,
        help="LSTM units of the stroke net",
    )
    p.add_argument(
        "--attention-size",
        type=argtypes.count(1, 4_096),
        default=defaults.attention_size,
        help="attention width of the stroke net",
    )
    p.add_argument(
        "--stroke-dropout",
        type=argtypes.rate,
        default=defaults.stroke_dropout,
        help="dropout on the stroke net's LSTM output while training",
    )
    p.add_argument(
        "--augment-scale",
        type=argtypes.rate,
        default=defaults.augment_scale,
        help="warp each training drawing by per-axis scales in 1 +- this",
    )
    p.add_argument(
        "--augment-shift",
        type=argtypes.nonnegative_float,
        default=defaults.augment_shift,
        help="and shift it by up to this many pixels per axis",
    )
    p.add_argument(
        "--augment-rotate",
        type=argtypes.nonnegative_float,
        default=defaults.augment_rotate,
        help="and rotate it by up to this many degrees",
    )
    p.add_argument(
        "--augment-shear",
        type=argtypes.nonnegative_float,
        default=defaults.augment_shear,
        help="and shear it (x += k y) by k up to this",
    )
    p.add_argument(
        "--frame-penalty",
        type=argtypes.nonnegative_float,
        default=defaults.frame_penalty,
        help="weight of the penalty on the mass the nets put outside the frame at their own "
        "samples' states (0: maximum likelihood alone)",
    )
    p.add_argument(
        "--frame-samples",
        type=argtypes.count(1, 4_096),
        default=defaults.frame_samples,
        help="fresh samples of the prior per step for --frame-penalty",
    )
    p.add_argument(
        "--init-weights",
        default=defaults.init_weights,
        metavar="WEIGHTS",
        help="start from these trained weights (same architecture; dropout rates may differ) "
        "instead of random ones",
    )
    p.add_argument(
        "--image-size",
        type=argtypes.count(8, 1_024),
        default=defaults.image_size,
        help="canvas side in pixels (Omniglot: 105 only; kanji: KanjiVG's 109 units scaled to it)",
    )
    p.add_argument(
        "--early-stop",
        type=argtypes.count(1, 1_000),
        default=defaults.early_stop,
        help="stop after this many epochs without validation improvement",
    )
    p.add_argument(
        "--device", type=argtypes.device, default="cpu", help="cpu, cuda, cuda:N or auto"
    )
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    p.add_argument(
        "--install",
        action="store_true",
        help="also copy the result into the package's weights folder",
    )
    p.add_argument(
        "--quiet",
        "--no-progress",
        dest="no_progress",
        action="store_true",
        help="no progress bars (one line per epoch is still printed)",
    )
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """``gns-pyro train``: prints a JSON summary of the record."""
    # every TrainSettings field has its option of the same name
    names = {f.name for f in dataclasses.fields(TrainSettings)}
    values = {k: v for k, v in vars(args).items() if k in names}
    settings = TrainSettings(
        **{**values, "exclude": tuple(args.exclude), "strokes": tuple(args.strokes)}
    )
    if settings.strokes and settings.data != "omniglot":
        raise GNSError("--strokes adds Omniglot stroke files; it does not go with --data kanji")
    if args.install and settings.data == "kanji":  # refused before, not after, the training
        raise GNSError(
            "weights trained on KanjiVG (CC BY-SA 3.0) are not installed into the package"
        )
    record = train_type_prior(
        args.out,
        settings,
        data_dir=args.data_dir,
        resume=args.resume,
        progress=not args.no_progress,
    )
    if args.install:
        from gns_pyro.train import install_weights

        install_weights(args.out)
    summary = {
        "out": args.out,
        "epochs_run": record["epochs_run"],
        "steps": record["steps"],
        "best_epoch": record["best_epoch"],
        "wall_seconds": round(record["wall_seconds"], 1),
        "val_nll_per_drawing": record["nll"]["validation"]["per_drawing"],
        **{
            f"val_nll_per_drawing_{name}": value["per_drawing"]
            for name, value in record["nll"].get("validation_parts", {}).items()
        },
        "ablations": {k: v["per_drawing"] for k, v in record["ablations"].items()},
    }
    print(json.dumps(summary))
    return 0
