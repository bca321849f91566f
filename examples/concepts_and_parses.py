"""Sample new concepts from the shipped type prior, render a token of each, and parse it back.

Shows the three programs working together: GenerateType samples types, GenerateToken and the
image model make an image of each, and inference recovers a parse from the image alone. Prints
one JSON object on its last line: for each concept, its stroke count and the MAP parse's.

    python examples/concepts_and_parses.py --n 4 --seed 0 --steps 60
"""

from __future__ import annotations

import argparse
import json

import pyro
import torch

from gns_pyro.inference import RefineSettings, infer
from gns_pyro.models import sample_exemplars
from gns_pyro.pretrained import load_type_prior
from gns_pyro.renderer import render
from gns_pyro.sample import sample_types


def main(args: argparse.Namespace) -> dict:
    parts = load_type_prior()
    types, _ = sample_types(args.n, temperature=0.5, seed=args.seed, parts=parts)
    pyro.set_rng_seed(args.seed)
    with torch.no_grad():
        images = render(sample_exemplars(types, 1), blur=0.5, noise=0.0) > 0.5
    rows = []
    for i, image in enumerate(images):
        post = infer(
            image, parts, k=args.k, seed=args.seed, refine_settings=RefineSettings(steps=args.steps)
        )
        rows.append(
            {
                "concept": i,
                "strokes": int(types.num_strokes[i]),
                "parsed_strokes": int(post.map.num_strokes.item()),
                "weights": [round(float(w), 3) for w in post.weights],
            }
        )
    result = {"concepts": rows}
    print(json.dumps(result))
    return result


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=4)
    parser.add_argument("--k", type=int, default=3)
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args(argv)


if __name__ == "__main__":
    main(parse_args())
