"""``gns-pyro sample``: new concepts drawn from the type prior (:mod:`gns_pyro.sample`).

Shell::

    gns-pyro sample --n 36 --temperature 0.5 --seed 0 --out concepts.png --json
    gns-pyro sample --n 4 --exemplars 9 --seed 0 --out grid.png   # 9 new tokens of each
    gns-pyro sample --n 12 --nearest --out novelty.png   # each beside its nearest background image
    gns-pyro sample --alphabet my_alphabet/ --n 12 --out in_style.png   # new ones in its style
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from gns_pyro.cli import argtypes
from gns_pyro.cli.common import add_device_argument, device_of
from gns_pyro.errors import GNSError
from gns_pyro.sample import MAX_SAMPLE_STROKES, MAX_STYLE_IMAGES, MIN_STYLE_IMAGES

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
    p.add_argument(
        "--weights",
        type=argtypes.input_path,
        default=None,
        help="weights file (default: the shipped ones)",
    )
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
        "--data-dir",
        type=argtypes.input_path,
        default=None,
        help="Omniglot data folder for --nearest ($GNS_PYRO_DATA)",
    )
    p.add_argument(
        "--alphabet",
        type=argtypes.input_path,
        default=None,
        metavar="DIR",
        help=f"draw new characters in the style of the alphabet whose characters are the PNG "
        f"images in DIR ({MIN_STYLE_IMAGES} to {MAX_STYLE_IMAGES}, e.g. ten): each is parsed, "
        "the alphabet's style is inferred from the parses, and new types are drawn in it "
        "(--weights: nets with an alphabet level, default the shipped ones)",
    )
    p.add_argument(
        "--k",
        type=argtypes.count(1, 50),
        default=5,
        help="with --alphabet: parses kept per image (the best one is used)",
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
    if args.alphabet is not None and (args.exemplars or args.nearest):
        raise GNSError("--alphabet draws plain new characters: leave out --exemplars and --nearest")


def alphabet_images(folder: str) -> list[Path]:
    """The PNG images of an ``--alphabet`` folder, sorted; a one-line error for a missing or
    empty folder, other files in it, or a count outside the bounds. Hidden files are ignored."""
    path = Path(folder)
    if not path.exists():
        raise GNSError(f"--alphabet folder not found: {path}")
    if not path.is_dir():
        raise GNSError(f"--alphabet {path} is not a folder (give a folder of PNG images)")
    entries = sorted(p for p in path.iterdir() if not p.name.startswith("."))
    others = [p.name for p in entries if p.suffix.lower() != ".png" or not p.is_file()]
    if others:
        raise GNSError(
            f"--alphabet {path} holds entries that are not PNG images: {', '.join(others[:5])}"
        )
    if not MIN_STYLE_IMAGES <= len(entries) <= MAX_STYLE_IMAGES:
        raise GNSError(
            f"--alphabet {path} holds {len(entries)} PNG image(s); give {MIN_STYLE_IMAGES} to "
            f"{MAX_STYLE_IMAGES} characters of the alphabet"
        )
    return entries


def run_alphabet(args: argparse.Namespace) -> int:
    """``gns-pyro sample --alphabet DIR``: new characters in the style of DIR's."""
    import torch

    from gns_pyro.pretrained import load_alphabet_prior
    from gns_pyro.progress import Stages
    from gns_pyro.sample import sample_in_style, save_style_grid, style_masks, types_to_json

    files = alphabet_images(args.alphabet)
    parts = load_alphabet_prior(args.weights, device=device_of(args))
    images = style_masks(files, parts.image_size)
    stages = Stages("sample --alphabet", quiet=getattr(args, "quiet", False))
    result = sample_in_style(
        images,
        args.n,
        parts,
        temperature=args.temperature,
        seed=args.seed,
        k=args.k,
        max_strokes=args.max_strokes,
        progress=stages,
    )
    save_style_grid(torch.stack(images).cpu(), result.types, args.out, parts.render_settings)
    if args.json:
        print(
            json.dumps(
                {
                    "alphabet": str(args.alphabet),
                    "given": [
                        {"image": f.name, **record}
                        for f, record in zip(
                            files, types_to_json(result.given, torch.zeros(len(files)))
                        )
                    ],
                    "style": {
                        "loc": [round(float(v), 4) for v in result.style.loc],
                        "scale": [round(float(v), 4) for v in result.style.scale],
                    },
                    "seed": args.seed,
                    "temperature": args.temperature,
                    "weights": args.weights or "shipped",
                    "out": args.out,
                    "types": types_to_json(result.types, result.log_prob),
                }
            )
        )
    else:
        print(
            f"wrote {args.n} new characters in the style of {len(files)} given ones to {args.out}"
        )
    return 0


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
    if args.alphabet is not None:
        return run_alphabet(args)
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
