"""``gns-pyro sample``: new concepts drawn from the type prior (:mod:`gns_pyro.sample`).

Shell::

    gns-pyro sample --n 36 --temperature 0.5 --seed 0 --out concepts.png --json
    gns-pyro sample --n 4 --exemplars 9 --seed 0 --out grid.png   # 9 new tokens of each
    gns-pyro sample --n 12 --nearest --out novelty.png   # each beside its nearest background image
"""

from __future__ import annotations

import argparse
import json

from gns_pyro.cli import argtypes
from gns_pyro.cli.common import add_device_argument, device_of
from gns_pyro.errors import GNSError
from gns_pyro.sample import MAX_SAMPLE_STROKES

#: most types one `gns-pyro sample` run draws: memory grows with the batch (one batch of
#: 100,000 needed over 20 GB)
MAX_CLI_SAMPLES = 2000


def add_parser(subparsers) -> argparse.ArgumentParser:
    """Register ``gns-pyro sample``."""
    p = subparsers.add_parser(
        "sample",
        help="draw new character types (concepts) from the type prior",
        description="Sample new character types from the trained type prior and write a grid "
        "of their renders. Strokes in --json are control points (x = column, y = row, pixels).",
    )
    p.add_argument(
        "--n",
        type=argtypes.positive_int_at_most(
            MAX_CLI_SAMPLES, "; draw more with several runs and different --seed values"
        ),
        default=36,
        help=f"number of types, at most {MAX_CLI_SAMPLES} per run (default 36)",
    )
    p.add_argument(
        "--temperature",
        type=argtypes.temperature,
        default=0.5,
        help="0.01 to 100; default 0.5 (new concepts)",
    )
    p.add_argument("--seed", type=argtypes.seed, default=0)
    p.add_argument(
        "--max-strokes",
        type=argtypes.count(1, 100),
        default=MAX_SAMPLE_STROKES,
        help="a concept stops by force after this many strokes (default %(default)s)",
    )
    p.add_argument(
        "--out", type=argtypes.png_file, default="concepts.png", help="grid image to write (PNG)"
    )
    p.add_argument("--weights", default=None, help="weights file (default: the shipped ones)")
    p.add_argument(
        "--exemplars",
        type=argtypes.count(0, 100),
        default=0,
        help=f"also draw this many exemplars (new tokens) of each concept (n × exemplars at "
        f"most {MAX_CLI_SAMPLES * 10})",
    )
    p.add_argument(
        "--nearest",
        action="store_true",
        help="draw each concept beside its nearest background image (needs the Omniglot data)",
    )
    p.add_argument(
        "--data-dir", default=None, help="Omniglot data folder for --nearest ($GNS_PYRO_DATA)"
    )
    p.add_argument("--json", action="store_true", help="print the types as one JSON object")
    add_device_argument(p)
    p.set_defaults(func=run)
    return p


def _check(args: argparse.Namespace) -> None:
    """Refuse flags that argparse lets through but do not go together."""
    if args.temperature <= 0:
        raise GNSError(f"--temperature must be positive, got {args.temperature}")
    if args.n < 1:
        raise GNSError(f"--n must be at least 1, got {args.n}")
    if args.exemplars < 0:
        raise GNSError(f"--exemplars must be >= 0, got {args.exemplars}")
    if args.n * args.exemplars > MAX_CLI_SAMPLES * 10:
        raise GNSError(
            f"--n {args.n} × --exemplars {args.exemplars} is over {MAX_CLI_SAMPLES * 10} tokens "
            "in one run; use fewer"
        )
    if args.exemplars and args.nearest:
        raise GNSError("choose one of --exemplars and --nearest")


def run(args: argparse.Namespace) -> int:
    """``gns-pyro sample``: new concepts (and exemplars, or nearest background images)."""
    from gns_pyro.models.joint import sample_exemplars
    from gns_pyro.pretrained import load_type_prior
    from gns_pyro.renderer import render
    from gns_pyro.sample import (
        sample_types,
        save_exemplar_grid,
        save_nearest_grid,
        tokens_to_json,
        types_to_json,
    )
    from gns_pyro.viz import save_grid

    _check(args)
    parts = load_type_prior(args.weights, device=device_of(args))
    types, log_prob = sample_types(
        args.n, args.temperature, args.seed, parts, max_strokes=args.max_strokes
    )
    records = types_to_json(types, log_prob)
    if args.nearest:
        records = save_nearest_grid(types, records, args.out, args.data_dir)
    elif args.exemplars:
        tokens = sample_exemplars(types, args.exemplars)
        drawn = tokens_to_json(tokens)
        for i, record in enumerate(records):
            record["exemplars"] = drawn[i * args.exemplars : (i + 1) * args.exemplars]
        save_exemplar_grid(types, tokens, args.out, parts.render_settings)  # the domain's size
    else:
        save_grid(render(types, settings=parts.render_settings), args.out)
    if args.json:
        print(
            json.dumps(
                {
                    "seed": args.seed,
                    "temperature": args.temperature,
                    "max_strokes": args.max_strokes,
                    "exemplars": args.exemplars,
                    "weights": args.weights or "shipped",
                    "device": args.device,
                    "out": args.out,
                    "types": records,
                }
            )
        )
    else:
        extra = f" with {args.exemplars} exemplars each" if args.exemplars else ""
        if args.nearest:
            sims = [r["nearest_similarity"] for r in records]
            extra = f" beside their nearest background images (similarity {min(sims):.2f}"
            extra += f"-{max(sims):.2f})"
        print(f"wrote {args.n} new concepts{extra} to {args.out}")
    return 0
