"""Parse recovery: render real background drawings (not Tagalog) and parse the renders.

Reports the fraction whose MAP parse has the drawer's stroke count. JSON on the last line.

    python benchmarks/recovery.py [--n 30] [--seed 1]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from gns_pyro.data import Omniglot
from gns_pyro.data.preprocess import drawing_to_splines
from gns_pyro.inference import infer
from gns_pyro.parses import Parses
from gns_pyro.pretrained import load_type_prior
from gns_pyro.renderer import render


def main(args: argparse.Namespace) -> dict:
    parts = load_type_prior()
    with Omniglot(args.data_dir) as data:
        keys = [k for k in data.keys("background", "strokes") if k[0] != "Tagalog"]
        rng = np.random.default_rng(args.seed)
        pick = rng.choice(len(keys), args.n, replace=False)
        drawings = [data.read_drawing(*keys[i]) for i in pick]
    truth = Parses.from_control_points([drawing_to_splines(d.strokes) for d in drawings])
    images = render(truth, blur=0.5, noise=0.0) > 0.5
    start, correct = time.perf_counter(), 0
    for image, n in zip(images, truth.num_strokes.tolist()):
        correct += int(infer(image, parts).map.num_strokes.item() == n)
    result = {
        "n": args.n,
        "correct": correct,
        "fraction": correct / args.n,
        "seconds": round(time.perf_counter() - start, 1),
    }
    print(json.dumps(result))
    return result


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--n", type=int, default=30)
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args(argv)


if __name__ == "__main__":
    main(parse_args())
