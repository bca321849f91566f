"""``gns-pyro judge``: classifier two-sample tests of the generation tasks
(:mod:`gns_pyro.tasks.judges`).

Shell::

    gns-pyro judge concepts --n 300 --seed 0 --json
    gns-pyro judge exemplars --characters 30 --seed 0 --out results/judge --json
    gns-pyro judge style --alphabets 5 --seed 0 --out results/judge --json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from gns_pyro.cli import argtypes
from gns_pyro.cli.common import add_device_argument, add_quiet_argument, device_of


def add_parser(subparsers) -> None:
    """Register ``gns-pyro judge concepts`` and ``gns-pyro judge exemplars``."""
    p = subparsers.add_parser(
        "judge",
        help="can a classifier tell generated characters from real ones? (C2ST)",
        description="Classifier two-sample tests: a small CNN trained to tell generated "
        "from real drawings, scored on held-out characters (50%%: indistinguishable).",
    )
    tests = p.add_subparsers(dest="test", metavar="TEST")
    tests.required = True
    concepts = tests.add_parser(
        "concepts", help="real background characters against unconditional samples"
    )
    concepts.add_argument("--n", type=argtypes.count(8, 964), default=600, help="characters a side")
    concepts.add_argument(
        "--temperature",
        type=argtypes.temperature,
        action="append",
        help="sampling temperature, repeatable (default: 0.5 and 1)",
    )
    exemplars = tests.add_parser(
        "exemplars", help="19 real drawings per character against 19 generated exemplars"
    )
    exemplars.add_argument(
        "--characters",
        type=argtypes.count(2, 659),
        default=30,
        help="evaluation characters (seeded)",
    )
    style = tests.add_parser(
        "style",
        help="an alphabet classifier on new characters drawn in the style of ten of each "
        "alphabet's (needs nets with an alphabet level)",
    )
    style.add_argument(
        "--alphabets",
        type=argtypes.count(2, 20),
        default=5,
        help="evaluation alphabets (seeded); ten characters of each are parsed",
    )
    style.add_argument(
        "--samples", type=argtypes.count(1, 500), default=20, help="new characters per alphabet"
    )
    style.add_argument(
        "--temperature", type=argtypes.temperature, default=0.5, help="of the new characters"
    )
    for command in (concepts, exemplars, style):
        command.add_argument("--data-dir", type=argtypes.input_path, default=None)
        command.add_argument("--seed", type=argtypes.seed, default=0)
        command.add_argument(
            "--epochs", type=argtypes.count(1, 1_000), default=60, help="judge training epochs"
        )
        command.add_argument(
            "--out",
            type=argtypes.out_folder,
            default="results/judge",
            help="where the report (and the parses of the exemplar and style tests) are kept",
        )
        command.add_argument(
            "--weights",
            type=argtypes.input_path,
            default=None,
            help="type-prior weights (default: the shipped ones; for style, the shipped "
            "alphabet-level ones)",
        )
        command.add_argument("--json", action="store_true", help="print the report as JSON")
        add_quiet_argument(command)
        add_device_argument(command)
        command.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Run one test, write ``OUT/judge_<test>.json`` atomically and print the accuracies."""
    import dataclasses

    from gns_pyro.data import Omniglot
    from gns_pyro.evaluate.judges import JudgeSettings
    from gns_pyro.fileio import atomic_write_bytes
    from gns_pyro.pretrained import load_alphabet_prior, load_type_prior
    from gns_pyro.progress import Progress
    from gns_pyro.tasks.judges import concepts_test, exemplars_test

    settings = JudgeSettings(epochs=args.epochs, seed=args.seed)
    load = load_alphabet_prior if args.test == "style" else load_type_prior
    parts = load(args.weights, device=device_of(args))
    out = Path(args.out)
    with Omniglot(args.data_dir) as data:
        if args.test == "style":
            from gns_pyro.tasks.style_judge import style_test

            with Progress(args.alphabets + 1, "judge style", args.quiet) as progress:
                report = style_test(
                    data,
                    parts,
                    args.alphabets,
                    args.samples,
                    args.temperature,
                    args.seed,
                    settings,
                    cache_dir=out / "parses",
                    progress=progress,
                )
        elif args.test == "concepts":
            temperatures = tuple(args.temperature or (0.5, 1.0))
            report = concepts_test(data, parts, args.n, temperatures, args.seed, settings)
        else:
            with Progress(args.characters, "judge exemplars", args.quiet) as progress:
                report = exemplars_test(
                    data, parts, args.characters, args.seed, settings, out / "parses", progress
                )
    report["settings"] = {
        "test": args.test,
        "seed": args.seed,
        "weights": args.weights or "shipped",
        "judge": dataclasses.asdict(settings),
    }
    text = json.dumps(report, indent=1)
    atomic_write_bytes(out / f"judge_{args.test}.json", lambda tmp: Path(tmp).write_text(text))
    if args.json:
        print(json.dumps(report))
    elif args.test == "style":
        for name in ("ceiling_held_out_real", "in_style"):
            result = report[name]
            lo, hi = result["interval"]
            print(
                f"{name}: alphabet accuracy {result['accuracy']:.1%} ({result['correct']} of "
                f"{result['tested']}; 95% {lo:.1%}-{hi:.1%})"
            )
        print(
            f"unconditional: {report['unconditional_share_per_alphabet']['mean']:.1%} per "
            f"alphabet (chance {report['chance']:.1%}); near copies of an example: "
            f"{report['novelty']['near_copies']} of {report['novelty']['generated']}"
        )
    else:
        for name, result in report["tests"].items():
            lo, hi = result["interval"]
            print(
                f"{name}: judge accuracy {result['accuracy']:.1%} "
                f"({result['correct']} of {result['tested']}; 95% {lo:.1%}-{hi:.1%})"
            )
    return 0
