"""The ``gns-pyro data`` command: ``download``, ``info`` and ``check-render``.

Example (shell)::

    gns-pyro data download --what all        # into $GNS_PYRO_DATA or ~/.cache/gns_pyro/omniglot
    gns-pyro data info --json                # counts of what the data folder holds
    gns-pyro data check-render --n 1000      # renderer vs official images (mean IoU)
"""

from __future__ import annotations

import argparse
import json

from gns_pyro.cli import argtypes
from gns_pyro.cli.common import add_strokes_argument
from gns_pyro.data.download import BASE_URL, WHAT, download_omniglot
from gns_pyro.data.omniglot import COMPONENTS, ENV_VAR, Omniglot, resolve_data_dir


def add_parser(subparsers: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add the ``data`` command and its subcommands to the top-level ``subparsers``."""
    parser = subparsers.add_parser(
        "data",
        help="download and inspect the Omniglot data",
        description="Download and inspect the Omniglot data.",
    )
    commands = parser.add_subparsers(dest="data_command", metavar="SUBCOMMAND")
    commands.required = True
    data_dir_help = (
        f"the Omniglot data folder (default: ${ENV_VAR}, else ~/.cache/gns_pyro/omniglot)"
    )

    dl = commands.add_parser(
        "download",
        help="fetch the official Omniglot files",
        description="Fetch the official Omniglot files (github.com/brendenlake/omniglot), "
        "verify them, and skip those already present.",
    )
    dl.add_argument("--data-dir", type=argtypes.input_path, default=None, help=data_dir_help)
    dl.add_argument(
        "--what",
        choices=WHAT,
        default="all",
        help="which files: images, strokes, one-shot runs, or all (default)",
    )
    dl.add_argument(
        "--base-url",
        default=BASE_URL,
        help="where the official python/ folder lives (a mirror, file:// URL or "
        "local folder); default: %(default)s",
    )
    dl.add_argument(
        "--quiet",
        "--no-progress",
        dest="no_progress",
        action="store_true",
        help="do not show progress bars",
    )
    dl.set_defaults(func=run_download)

    inf = commands.add_parser(
        "info",
        help="count what the data folder holds",
        description="Count the alphabets, characters and drawings of each Omniglot part "
        "present in the data folder, and the one-shot runs.",
    )
    inf.add_argument("--data-dir", type=argtypes.input_path, default=None, help=data_dir_help)
    add_strokes_argument(inf)
    inf.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object (on the last line) instead of a table",
    )
    inf.set_defaults(func=run_info)

    chk = commands.add_parser(
        "check-render",
        help="compare rendered stroke data with the official images",
        description="Convert seeded drawings to minimal splines, render them, binarize at 0.5 "
        "and report the IoU with the official PNGs of the same drawers.",
    )
    chk.add_argument("--data-dir", type=argtypes.input_path, default=None, help=data_dir_help)
    chk.add_argument("--split", choices=("background", "evaluation"), default="background")
    add_strokes_argument(chk)
    chk.add_argument(
        "--n", type=argtypes.count(1, 100_000), default=500, help="number of drawings (default 500)"
    )
    chk.add_argument("--seed", type=argtypes.seed, default=0)
    chk.add_argument(
        "--min-stroke-length",
        type=argtypes.pixels,
        default=0.0,
        help="drop strokes with a shorter pen path (pixels), as training does (default 0)",
    )
    chk.add_argument(
        "--smooth",
        action="store_true",
        help="render with the smooth image model (Gaussian ink, soft saturation) that "
        "likelihood uses for Laplace's method",
    )
    chk.add_argument("--json", action="store_true", help="print one JSON object")
    chk.set_defaults(func=run_check_render)
    return parser


def run_download(args: argparse.Namespace) -> int:
    """``gns-pyro data download``: fetch the official Omniglot files."""
    root = resolve_data_dir(args.data_dir)
    results = download_omniglot(
        root, what=args.what, base_url=args.base_url, progress=False if args.no_progress else None
    )
    for name, status in results:
        note = "already present and valid" if status == "present" else "downloaded and verified"
        print(f"{name}: {note}")
    print(f"Omniglot data folder: {root}")
    return 0


def run_check_render(args: argparse.Namespace) -> int:
    """``gns-pyro data check-render``: IoU of our renders of stroke data against the official
    images.
    """
    from gns_pyro.data.fidelity import render_iou
    from gns_pyro.data.preprocess import SplineSettings
    from gns_pyro.renderer import RenderSettings

    result = render_iou(
        resolve_data_dir(args.data_dir),
        n=args.n,
        seed=args.seed,
        split=args.split,
        settings=SplineSettings(min_stroke_length=args.min_stroke_length),
        strokes=args.strokes,
        render_settings=RenderSettings(smooth=args.smooth),
    )
    if args.json:
        print(json.dumps(result))
        return 0
    print(
        f"{result['n']} drawings: mean IoU {result['mean_iou']:.4f}, "
        f"median {result['median_iou']:.4f}, min {result['min_iou']:.4f}"
        + (f" ({result['dropped']} left with no stroke, skipped)" if result["dropped"] else "")
    )
    width = max(map(len, result["per_alphabet"]), default=0)
    for alphabet, value in result["per_alphabet"].items():
        n = result["per_alphabet_n"][alphabet]
        print(f"  {alphabet:{width}s} {value:.4f} ({n} drawings)")
    return 0


def run_info(args: argparse.Namespace) -> int:
    """``gns-pyro data info``: count what the data folder holds."""
    root = resolve_data_dir(args.data_dir)
    # raises DataNotFoundError (exit 2) with the download hint
    with Omniglot(root, strokes=args.strokes) as data:
        counts = data.info()
    if args.json:
        print(json.dumps({**counts, "data_dir": str(root)}))
        return 0
    print(f"Omniglot data folder: {root}")
    print(f"{'':20s} {'alphabets':>10s} {'characters':>11s} {'drawings':>9s}")
    for component in COMPONENTS:
        c = counts[component]
        print(f"{component:20s} {c['alphabets']:10d} {c['characters']:11d} {c['drawings']:9d}")
    print(f"{'one-shot runs':20s} {counts['one_shot_runs']:10d}")
    for split, sources in counts.get("stroke_sources", {}).items():
        print(f"stroke sources ({split}), in the order read; the first holding a drawing wins:")
        for c in sources:
            print(
                f"  {c['source']}: {c['drawings']} drawings, {c['added']} used, "
                f"{c['overlapping']} already in an earlier source"
            )
    return 0
