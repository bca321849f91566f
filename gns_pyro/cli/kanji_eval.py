"""``gns-pyro kanji-eval``: parses of held-out KanjiVG characters scored against KanjiVG's
strokes, for a type prior trained with ``--data kanji`` (:mod:`gns_pyro.tasks.kanji_eval`).

Shell::

    gns-pyro kanji-eval --weights runs/kanji/type_prior.pt --n 40 --json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from gns_pyro.cli import argtypes
from gns_pyro.cli.common import add_device_argument, add_quiet_argument, device_of


def add_parser(subparsers) -> None:
    """Register ``gns-pyro kanji-eval``."""
    p = subparsers.add_parser(
        "kanji-eval",
        help="score parses of held-out KanjiVG characters (a prior trained with --data kanji)",
        description="Parsing score on held-out KanjiVG characters, for a type prior trained "
        "on KanjiVG.",
    )
    p.add_argument(
        "--weights", type=argtypes.input_path, required=True, help="type prior trained on KanjiVG"
    )
    p.add_argument("--n", type=argtypes.count(1, 10_000), default=40, help="held-out kanji")
    p.add_argument(
        "--max-strokes", type=argtypes.count(1, 100), default=None, help="only kanji this simple"
    )
    p.add_argument("--k", type=argtypes.count(1, 50), default=5, help="parses per image")
    p.add_argument("--seed", type=argtypes.seed, default=0)
    p.add_argument(
        "--data-dir",
        type=argtypes.input_path,
        default=None,
        help="KanjiVG .svg folder (default: installed)",
    )
    p.add_argument("--out", type=argtypes.out_folder, default="results/kanji_eval")
    p.add_argument("--json", action="store_true")
    add_quiet_argument(p)
    add_device_argument(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """``gns-pyro kanji-eval``: prints the summary."""
    from gns_pyro.tasks.kanji_eval import run_kanji_eval
    from gns_pyro.tasks.parse_eval import print_scores
    from gns_pyro.tasks.results import store_line

    summary = run_kanji_eval(
        args.weights,
        Path(args.out),
        args.n,
        args.seed,
        args.max_strokes,
        args.k,
        args.data_dir,
        device_of(args),
        args.quiet,
    )
    if args.json:
        print(json.dumps(summary))
    else:
        print_scores(summary)
        print(f"{summary['kanji']} kanji ({summary['refused']} refused){store_line(summary)}")
    return 0
