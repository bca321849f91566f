"""``gns-pyro parse`` and ``gns-pyro marginal``: parse one image; its Laplace log P(I).

Also the options and reading of the one image that ``parse``, ``marginal`` and ``exemplars``
take (:func:`add_image_arguments`, :func:`read_image_and_prior`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys

from gns_pyro.cli import argtypes
from gns_pyro.cli.common import add_device_argument, add_quiet_argument, device_of
from gns_pyro.cli.likelihood import add_marginal_arguments
from gns_pyro.data.images import OMNIGLOT_IMAGE_SIZE, load_image
from gns_pyro.errors import GNSError
from gns_pyro.inference.posterior import check_image, infer
from gns_pyro.inference.refinement import RefineSettings
from gns_pyro.progress import Stages

IMAGE_HELP = (
    "a 105x105 binary or grayscale PNG, dark ink on white (any size with --resize; the size "
    "that --weights were trained on, if not Omniglot's)"
)


def add_image_arguments(parser) -> None:
    """``--resize`` and ``--quiet``, shared by the commands that read one image."""
    parser.add_argument(
        "--resize",
        action="store_true",
        help="accept a drawing of any size: crop to the ink, pad, shrink to the model's "
        "frame (105x105), binarize",
    )
    add_quiet_argument(parser)


def read_image(path: str, resize: bool = False, size: int = OMNIGLOT_IMAGE_SIZE):
    """The image at ``path``, checked (and resized when asked) for a ``size``-pixel frame."""
    return check_image(load_image(path, resize=resize, size=size), size)


def read_image_and_prior(args, stages=None):
    """The command's image and type prior (``--weights``, ``--device``).

    With the shipped prior (Omniglot's 105 px) the image is checked first, so bad input fails
    before any model loads; other weights are loaded first, and the image must fit the frame
    they were trained on (their ``image_size``).
    """
    from gns_pyro.pretrained import load_type_prior

    out = getattr(args, "out", None)
    if out and os.path.exists(out) and os.path.exists(args.image):
        if os.path.samefile(out, args.image):
            raise GNSError(f"--out {out} is the input image: the picture would overwrite it")
    device = device_of(args)
    image = read_image(args.image, args.resize) if args.weights is None else None
    parts = load_type_prior(args.weights, device=device)
    if stages is not None:
        stages("loaded the type prior")
    if image is None:
        image = read_image(args.image, args.resize, parts.image_size)
    return image, parts


def add_parsers(subparsers) -> None:
    """Register ``gns-pyro parse`` and ``gns-pyro marginal``."""
    p = subparsers.add_parser(
        "parse",
        help="infer the strokes of a character image",
        description="Propose parses from the image skeleton, choose stroke order and direction "
        "by the type prior, refine the best K against the image, and weight them.",
    )
    p.add_argument("image", help=IMAGE_HELP)
    p.add_argument("--k", type=argtypes.count(1, 50), default=5, help="parses to keep (default 5)")
    p.add_argument(
        "--steps",
        type=argtypes.count(1, 10_000),
        default=RefineSettings().steps,
        help="refinement steps",
    )
    p.add_argument("--seed", type=argtypes.seed, default=0)
    p.add_argument(
        "--weights",
        type=argtypes.input_path,
        default=None,
        help="type-prior weights (default: shipped)",
    )
    p.add_argument(
        "--out", type=argtypes.png_file, default=None, help="write a picture of the parses (PNG)"
    )
    p.add_argument("--json", action="store_true", help="print the parses as one JSON object")
    add_image_arguments(p)
    add_device_argument(p)
    p.set_defaults(func=run_parse)

    m = subparsers.add_parser(
        "marginal",
        help="Laplace estimate of log P(image)",
        description="Parse the image, then sum Laplace approximations at the K refined modes.",
    )
    m.add_argument("image", help=IMAGE_HELP)
    m.add_argument("--k", type=argtypes.count(1, 50), default=5)
    m.add_argument("--steps", type=argtypes.count(1, 10_000), default=RefineSettings().steps)
    m.add_argument("--seed", type=argtypes.seed, default=0)
    m.add_argument(
        "--weights",
        type=argtypes.input_path,
        default=None,
        help="type-prior weights (default: the shipped ones)",
    )
    add_marginal_arguments(m)
    m.add_argument("--json", action="store_true")
    add_image_arguments(m)
    add_device_argument(m)
    m.set_defaults(func=run_marginal)


def _image_and_prior(args):
    """The checked image, the type prior and the progress stages of a one-image command."""
    if args.k < 1:
        from gns_pyro.errors import GNSError

        raise GNSError(f"--k must be at least 1, got {args.k}")
    stages = Stages(args.command, args.quiet)
    image, parts = read_image_and_prior(args, stages)
    return image, parts, stages


def _posterior(args):
    image, parts, stages = _image_and_prior(args)
    post = infer(
        image,
        parts,
        k=args.k,
        seed=args.seed,
        refine_settings=RefineSettings(steps=args.steps),
        progress=stages,
    )
    if len(post.log_weights) < args.k:
        print(
            f"gns-pyro: note: {len(post.log_weights)} distinct parse(s) found, fewer than "
            f"--k {args.k} (the skeleton allows no more)",
            file=sys.stderr,
        )
    return image, parts, post


def run_parse(args: argparse.Namespace) -> int:
    """``gns-pyro parse``: the posterior over parses of one image."""
    _, _, post = _posterior(args)
    if args.out:
        post.plot(args.out)
    if args.json:
        record = {
            "image": args.image,
            "settings": _settings(args),
            "proposals": post.num_proposals,
            "parses": post.to_json(),
        }
        print(json.dumps(record))
    else:
        for i, (parse, w) in enumerate(zip(post.to_json(), post.weights)):
            print(
                f"parse {i}: {len(parse['strokes'])} strokes, log weight "
                f"{parse['log_weight']:.1f}, weight {float(w):.3f}"
            )
    return 0


def _settings(args) -> dict:
    """What shaped a command's result, for its JSON output."""
    from gns_pyro.pretrained import TYPE_PRIOR_WEIGHTS

    names = ("k", "steps", "seed", "polish_steps", "renderer", "check_is", "resize", "device")
    settings = {name: getattr(args, name) for name in names if hasattr(args, name)}
    settings["weights"] = str(args.weights or TYPE_PRIOR_WEIGHTS)
    return settings


def run_marginal(args: argparse.Namespace) -> int:
    """``gns-pyro marginal``: the Laplace estimate of log P(I) of one image."""
    from gns_pyro.tasks.likelihood import image_log_marginal

    image, parts, stages = _image_and_prior(args)
    result = image_log_marginal(
        parts,
        image,
        args.k,
        args.seed,
        args.polish_steps,
        args.renderer,
        args.check_is,
        RefineSettings(steps=args.steps),
        progress=stages,
    )
    summary = {
        "image": args.image,
        "settings": _settings(args),
        **result,
        "per_pixel": result["log_marginal"] / image.numel(),
        "dims": [m["dim"] for m in result["modes_detail"]],
    }
    if args.json:
        print(json.dumps(summary))
    else:
        print(
            f"Laplace log P(I) ~ {summary['log_marginal']:.1f} nats "
            f"({summary['per_pixel']:.4f} per pixel) from {summary['distinct_modes']} distinct "
            f"of {summary['modes']} modes, {summary['converged']} converged"
        )
        check = summary.get("importance")
        if check:
            print(
                f"importance sampling: {check['log_marginal']:.1f} +- "
                f"{check['standard_error']:.2f} nats, ESS {check['effective_sample_size']:.0f} "
                f"of {check['samples']}, ELBO {check['elbo']:.1f}"
            )
    return 0
