"""``gns-pyro exemplars``: new exemplars of a character seen once
(:mod:`gns_pyro.tasks.exemplars`).

Shell::

    gns-pyro exemplars IMAGE.png --n 9 --out grid.png
"""

from __future__ import annotations

import argparse

from gns_pyro.cli import argtypes
from gns_pyro.cli.common import add_device_argument
from gns_pyro.cli.parse import IMAGE_HELP, add_image_arguments, read_image_and_prior


def add_parser(subparsers) -> None:
    """Register ``gns-pyro exemplars``."""
    p = subparsers.add_parser(
        "exemplars",
        help="draw new exemplars of a character from one image",
        description="Parse the image, then sample new tokens of its parses (App. C).",
    )
    p.add_argument("image", help=IMAGE_HELP)
    p.add_argument("--n", type=argtypes.count(1, 2_000), default=9)
    p.add_argument(
        "--temperature",
        type=argtypes.positive_float,
        default=8.0,
        help="parse choice ~ weight^(1/T) (default 8)",
    )
    p.add_argument("--k", type=argtypes.count(1, 50), default=5)
    p.add_argument("--seed", type=argtypes.seed, default=0)
    p.add_argument(
        "--weights",
        type=argtypes.input_path,
        default=None,
        help="type-prior weights (default: the shipped ones)",
    )
    p.add_argument("--out", type=argtypes.png_file, default="exemplars.png")
    add_image_arguments(p)
    add_device_argument(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """``gns-pyro exemplars``: the image and new exemplars of it, as one PNG grid."""
    import pyro
    import torch

    from gns_pyro.errors import GNSError
    from gns_pyro.inference.posterior import infer
    from gns_pyro.progress import Stages
    from gns_pyro.renderer import DEFAULT_BLUR, render
    from gns_pyro.tasks.exemplars import exemplars_from_posterior
    from gns_pyro.viz import save_grid

    if args.n < 1 or args.temperature <= 0:
        raise GNSError("--n must be >= 1 and --temperature > 0")
    stages = Stages("exemplars", args.quiet)
    image, parts = read_image_and_prior(args, stages)
    pyro.set_rng_seed(args.seed)
    post = infer(image, parts, k=args.k, seed=args.seed, progress=stages)
    tokens = exemplars_from_posterior(post, args.n, args.temperature)
    drawn = render(tokens, blur=DEFAULT_BLUR, noise=0.0, settings=parts.render_settings).cpu()
    pictures = torch.cat([image.float()[None], drawn])
    save_grid(pictures, args.out, ncols=min(10, args.n + 1))
    print(f"wrote the image and {args.n} new exemplars to {args.out}")
    return 0
