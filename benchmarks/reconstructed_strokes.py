"""What the reconstructed strokes' simplification costs, measured on the 8 alphabets whose
official stroke files exist (issue 24, "quantify the simplification first").

Three measurements, each printing one JSON object on its last line:

* ``compare``: for every drawing held by both the official files and the reconstruction,
  minimal-spline control points per stroke, strokes per drawing and render IoU against the
  official image, official against reconstructed; and the shipped prior's NLL per drawing on
  the official validation drawings against the reconstructed versions of the same drawings.
* ``train --source official|official-matched|reconstructed``: train the type prior (default
  settings) on the 7 training alphabets read from one source alone (``official-matched``: the
  official drawings that the reconstruction holds too, so that only the simplification
  differs), holding out the official validation
  characters, and score it on the official validation drawings (the best of ``--epochs``
  epochs, early stopping as in training). Run the two side by side (one thread each) and
  compare their ``official_validation_nll``. ``--activation`` trains smooth nets instead
  (``--source official --activation silu``: the choice of activation by validation NLL).

::

    python benchmarks/reconstructed_strokes.py compare
    python benchmarks/reconstructed_strokes.py train --source official --out runs/sim_official
    python benchmarks/reconstructed_strokes.py train --source reconstructed --out runs/sim_recon
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch

from gns_pyro.data import Omniglot
from gns_pyro.data.dataset import load_spline_dataset
from gns_pyro.data.preprocess import SplineSettings, drawing_to_splines
from gns_pyro.fileio import save_json
from gns_pyro.parses import Parses
from gns_pyro.pretrained import load_type_prior
from gns_pyro.renderer import render
from gns_pyro.train import TrainSettings, evaluate_nll, run_epochs, start_or_resume

HERE = Path(__file__).resolve().parents[1]
OFFICIAL = HERE.parent / "shared" / "omniglot"
RECONSTRUCTED = HERE.parent / "shared" / "omniglot-reconstructed"


def official_split(settings: TrainSettings, official_dir: Path):
    """The official training alphabets' data and its validation split, as training makes it."""
    splines = SplineSettings(min_stroke_length=settings.min_stroke_length)
    data = load_spline_dataset(official_dir, exclude_alphabets=settings.exclude, settings=splines)
    held = data.held_characters(settings.val_fraction, seed=settings.seed)
    return data, held


def compare(args) -> dict:
    settings = TrainSettings()
    splines = SplineSettings(min_stroke_length=settings.min_stroke_length)
    with Omniglot(args.official) as official, Omniglot(args.reconstructed) as recon:
        both = sorted(set(official.keys()) & set(recon.keys()))
        points = {"official": [], "reconstructed": []}
        strokes = {"official": [], "reconstructed": []}
        ious = {"official": [], "reconstructed": []}
        for start in range(0, len(both), 250):
            chunk = both[start : start + 250]
            images = torch.stack([official.read_image(*key) for key in chunk])
            for name, data in (("official", official), ("reconstructed", recon)):
                fits = [drawing_to_splines(data.read_drawing(*key).strokes) for key in chunk]
                strokes[name] += [len(f) for f in fits]
                points[name] += [len(s) for f in fits for s in f]
                with torch.no_grad():
                    ink = render(Parses.from_control_points(fits)) > 0.5
                inter = (ink & images).sum((1, 2)).double()
                union = (ink | images).sum((1, 2)).double().clamp(min=1)
                ious[name] += (inter / union).tolist()
    result = {"drawings_in_both": len(both)}
    for name in ("official", "reconstructed"):
        result[name] = {
            "control_points_per_stroke": float(np.mean(points[name])),
            "strokes_per_drawing": float(np.mean(strokes[name])),
            "render_iou_mean": float(np.mean(ious[name])),
        }
    same = np.array(strokes["official"]) == np.array(strokes["reconstructed"])
    result["same_stroke_count"] = float(same.mean())

    # the shipped prior on the official validation drawings and on their reconstructions
    data, held = official_split(settings, args.official)
    val = data.split_holding(held)[1]
    recon = load_spline_dataset(
        args.reconstructed, alphabets=sorted(set(val.alphabets)), settings=splines
    )
    recon_keys = {k: i for i, k in enumerate(zip(recon.alphabets, recon.characters, recon.stems))}
    val_keys = list(zip(val.alphabets, val.characters, val.stems))
    paired = [i for i, k in enumerate(val_keys) if k in recon_keys]
    parts = load_type_prior()
    official_nll = evaluate_nll(parts, val.parses[torch.tensor(paired)])
    recon_nll = evaluate_nll(
        parts, recon.parses[torch.tensor([recon_keys[val_keys[i]] for i in paired])]
    )
    result["shipped_prior_validation_nll"] = {
        "drawings": len(paired),
        "of_validation_drawings": len(val),
        "official": official_nll,
        "reconstructed": recon_nll,
        "difference_per_drawing": recon_nll["per_drawing"] - official_nll["per_drawing"],
    }
    return result


def train(args) -> dict:
    torch.manual_seed(0)
    settings = TrainSettings(epochs=args.epochs, activation=args.activation)
    data, held = official_split(settings, args.official)
    train_official, val = data.split_holding(held)
    if args.source == "official":
        train_set = train_official
    elif args.source == "official-matched":  # only the drawings the reconstruction holds too
        with Omniglot(args.reconstructed) as recon:
            there = set(recon.keys())
        keys = zip(train_official.alphabets, train_official.characters, train_official.stems)
        train_set = train_official.subset([i for i, k in enumerate(keys) if k in there])
    else:
        splines = SplineSettings(min_stroke_length=settings.min_stroke_length)
        recon = load_spline_dataset(
            args.reconstructed, alphabets=sorted(set(data.alphabets)), settings=splines
        )
        train_set = recon.split_holding(held)[0]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    started = time.time()
    state = start_or_resume(settings, torch.device("cpu"), out / "checkpoint.pt", args.resume)
    run_epochs(state, train_set, val, settings, out / "checkpoint.pt", progress=False)
    state.parts.load_state_dict(state.best_state)
    result = {
        "source": args.source,
        "train_drawings": len(train_set),
        "train_characters": len(set(train_set.character_ids)),
        "validation_drawings": len(val),
        "validation_characters": len(held),
        "epochs_run": len(state.history),
        "best_epoch": state.best_epoch,
        "activation": args.activation,
        "official_validation_nll": evaluate_nll(state.parts, val.parses),
        "wall_seconds": time.time() - started,
        "threads": torch.get_num_threads(),
        "history": state.history,
    }
    save_json(result, out / "result.json")
    return result


def main(args) -> dict:
    torch.set_num_threads(args.threads)
    result = compare(args) if args.command == "compare" else train(args)
    print(json.dumps({k: v for k, v in result.items() if k != "history"}))
    return result


def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=("compare", "train"))
    parser.add_argument("--official", type=Path, default=OFFICIAL, help="official data folder")
    parser.add_argument(
        "--reconstructed", type=Path, default=RECONSTRUCTED, help="reconstructed data folder"
    )
    parser.add_argument(
        "--source", choices=("official", "official-matched", "reconstructed"), default="official"
    )
    parser.add_argument("--out", default="runs/simplification")
    parser.add_argument("--resume", action="store_true")
    parser.add_argument(
        "--epochs", type=int, default=12, help="epoch budget of each training (same for both)"
    )
    parser.add_argument("--activation", default="relu", help="the nets' nonlinearity")
    parser.add_argument("--threads", type=int, default=1)
    return parser.parse_args(argv)


if __name__ == "__main__":
    main(parse_args())
