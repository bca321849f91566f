"""``gns-pyro train-alphabet``: fit the alphabet level of the type prior
(:mod:`gns_pyro.train.style`): a style per training alphabet and the nets, jointly by SVI.

Shell::

    gns-pyro train-alphabet --init-weights weights/type_prior_v3_frame.pt --style-dim 8 \\
        --strokes ../shared/omniglot-reconstructed/strokes_background.zip --out runs/alphabet
"""

from __future__ import annotations

import argparse
import json

from gns_pyro.cli import argtypes
from gns_pyro.cli.common import add_device_argument, add_strokes_argument


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``gns-pyro train-alphabet``."""
    from gns_pyro.train.style import StyleSettings

    defaults = StyleSettings(init_weights="")
    p = subparsers.add_parser(
        "train-alphabet",
        help="fit the alphabet level: a style per alphabet, and the nets reading it",
        description="Fit GenerateAlphabet (a style z_a ~ Normal(0, I) per alphabet, read by the "
        "type prior's nets) to the background drawings by pyro.infer.SVI, with an AutoNormal "
        "guide over the training alphabets' styles, starting from trained type-prior weights. "
        "Writes OUT/alphabet_prior.pt (load it as --weights of sample --alphabet), "
        "OUT/alphabet_prior.json and a checkpoint per epoch (continue with --resume).",
    )
    p.add_argument(
        "--init-weights",
        required=True,
        metavar="WEIGHTS",
        help="trained type-prior weights the nets start from",
    )
    p.add_argument(
        "--style-dim",
        type=argtypes.count(1, 256),
        default=defaults.style_dim,
        help="size of an alphabet's style vector",
    )
    p.add_argument("--epochs", type=argtypes.count(1, 1_000), default=defaults.epochs)
    p.add_argument("--batch-size", type=argtypes.count(1, 4_096), default=defaults.batch_size)
    p.add_argument(
        "--lr-nets",
        type=argtypes.learning_rate_or_zero,
        default=defaults.lr_nets,
        help="Adam learning rate of the nets (0 keeps them as they are)",
    )
    p.add_argument(
        "--lr-style",
        type=argtypes.learning_rate,
        default=defaults.lr_style,
        help="Adam learning rate of the style adapter and of the guide",
    )
    p.add_argument("--seed", type=argtypes.seed, default=defaults.seed)
    p.add_argument(
        "--exclude",
        nargs="*",
        default=list(defaults.exclude),
        help="alphabets left out (default: Tagalog)",
    )
    add_strokes_argument(p)
    p.add_argument(
        "--max-drawings",
        type=argtypes.count(1, 10_000_000),
        default=None,
        help="use a subset (smoke runs)",
    )
    p.add_argument(
        "--data-dir",
        type=argtypes.input_path,
        default=None,
        help="Omniglot folder (default: $GNS_PYRO_DATA)",
    )
    p.add_argument(
        "--out",
        type=argtypes.out_folder,
        default="runs/alphabet_prior",
        help="output folder (default %(default)s)",
    )
    p.add_argument("--resume", action="store_true", help="continue from OUT/checkpoint.pt")
    add_device_argument(p)
    p.set_defaults(func=run)
    return p


def run(args: argparse.Namespace) -> int:
    """``gns-pyro train-alphabet``: prints a JSON summary of the record."""
    from gns_pyro.train.style import StyleSettings, train_alphabet_prior

    settings = StyleSettings(
        init_weights=args.init_weights,
        style_dim=args.style_dim,
        epochs=args.epochs,
        batch_size=args.batch_size,
        lr_nets=args.lr_nets,
        lr_style=args.lr_style,
        seed=args.seed,
        exclude=tuple(args.exclude),
        strokes=tuple(args.strokes),
        max_drawings=args.max_drawings,
        device=args.device,
    )
    record = train_alphabet_prior(args.out, settings, args.data_dir, resume=args.resume)
    summary = {
        "out": args.out,
        "epochs_run": record["epochs_run"],
        "wall_seconds": round(record["wall_seconds"], 1),
        "validation_nll": record["validation_nll"],
    }
    print(json.dumps(summary))
    return 0
