"""What the type prior draws: strokes per sample and how often the ink stays inside the frame.

For each temperature, ``--n`` seeded samples from the prior (no stroke cap but the model's own,
so the numbers describe the model), then the same with the cap that ``gns-pyro sample``
applies. Each result is :func:`gns_pyro.sample.sample_statistics` plus the training drawings'
mean stroke count (from the weights' record) and the ratio to it. Prints one JSON object on its
last line::

    python benchmarks/prior_samples.py [--weights W.pt] [--n 1000] [--temperatures 1 0.5]
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import torch

from gns_pyro.pretrained import TYPE_PRIOR_RECORD, load_type_prior
from gns_pyro.sample import MAX_SAMPLE_STROKES, sample_statistics


def main(args: argparse.Namespace) -> dict:
    torch.set_num_threads(args.threads)
    parts = load_type_prior(args.weights)
    record = Path(args.weights).with_suffix(".json") if args.weights else TYPE_PRIOR_RECORD
    data_strokes = json.loads(record.read_text())["data"]["train"]["mean_strokes_per_drawing"]
    result = {"weights": args.weights or "shipped", "data_mean_strokes": data_strokes}
    for temperature in args.temperatures:
        for cap in (None, MAX_SAMPLE_STROKES):
            stats = sample_statistics(parts, args.n, temperature, args.seed, max_strokes=cap)
            stats["ratio_to_data"] = stats["mean_strokes"] / data_strokes
            result[f"T={temperature:g}, cap {stats['max_strokes']}"] = stats
    print(json.dumps(result))
    return result


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--weights", default=None, help="weights file (default: the shipped)")
    parser.add_argument("--n", type=int, default=1000)
    parser.add_argument("--temperatures", type=float, nargs="+", default=[1.0, 0.5])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    return parser.parse_args(argv)


if __name__ == "__main__":
    main(parse_args())
