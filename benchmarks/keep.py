"""What a smaller ``--keep`` would have predicted, read from saved one-shot trials.

Each trial file of ``gns-pyro classify`` keeps the screen's score of every class and the full
refit's score of the ``keep`` classes the screen ranked best. With ``keep = k`` smaller than
the one the trials were run with, the prediction would have been the best full score among the
screen's ``k`` best classes, and the true class's rank in the screen says whether ``k`` keeps
it. This script counts, per setting found in the folder, the errors for each smaller ``k`` and
the screen ranks of the true classes. It is an estimate, not a rerun: the full refits of the
kept classes run as one batch whose early stop looks at all of them, so a smaller batch can
stop at another step.

    python benchmarks/keep.py --trials results/classify/trials
"""

from __future__ import annotations

import argparse
import collections
import json
from pathlib import Path

from gns_pyro.reading import read_json
from gns_pyro.tasks.results import IMPLICIT_SETTINGS


def _setting(trial: dict) -> str:
    # settings added later are absent from older files at the value those versions used
    settings = {**IMPLICIT_SETTINGS, **trial.get("settings", {})}
    return json.dumps({k: settings[k] for k in sorted(settings)}, sort_keys=True)


def main(args: argparse.Namespace) -> dict:
    groups: dict[str, dict] = collections.defaultdict(dict)
    for path in sorted(Path(args.trials).glob("*.json")):
        trial = read_json(path, "result")
        if trial.get("truth") in trial.get("screen_scores", {}):
            groups[_setting(trial)][(trial["run"], trial["item"])] = trial
    report = []
    for setting, trials in sorted(groups.items()):
        keep = json.loads(setting).get("keep", 3)
        errors = collections.Counter()
        ranks = collections.Counter()
        for trial in trials.values():
            screen = sorted(trial["screen_scores"], key=lambda c: -trial["screen_scores"][c])
            ranks[screen.index(trial["truth"]) + 1] += 1
            for k in range(1, keep + 1):
                predicted = max(screen[:k], key=lambda c: trial["scores"][c])
                errors[k] += predicted != trial["truth"]
        row = {
            "settings": json.loads(setting),
            "trials": len(trials),
            "errors_by_keep": dict(sorted(errors.items())),
            "truth_screen_rank": dict(sorted(ranks.items())),
        }
        report.append(row)
        print(json.dumps(row))
    return {"groups": report}


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--trials", required=True, help="a classify --out folder's trials/")
    return p.parse_args(argv)


if __name__ == "__main__":
    main(parse_args())
