"""Saved one-shot trials: whether one can be trusted, and the summary of many.

A trial file is reused only if it agrees with itself and with the run's label
(:func:`trusted_trial`); :func:`summarize_trials` counts errors overall and per run.
"""

from __future__ import annotations


def trusted_trial(result: dict, classes: list[str], truth: str) -> bool:
    """Whether a saved trial can be reused: it agrees with itself and with the run's label."""
    return consistent_trial(result, classes) and result.get("truth") == truth


def consistent_trial(result: dict, classes: list[str]) -> bool:
    """Whether a saved trial agrees with itself: its scores are finite numbers for exactly
    the run's classes, the prediction is their best, and ``correct`` says whether that is the
    truth. A result that fails is not trusted (and recomputed)."""
    try:
        scores = result["scores"]
        if sorted(scores) != sorted(classes):
            return False
        values = [float(scores[c]) for c in classes]
        finite = [v for v in values if v == v and abs(v) != float("inf")]
        if not finite or any(v != v or v == float("inf") for v in values):
            return False
        best = classes[max(range(len(classes)), key=lambda i: values[i])]
        predicted = result["predicted"]
        return predicted == best and result["correct"] is (predicted == result["truth"])
    except (KeyError, TypeError, ValueError, AttributeError):
        return False


def summarize_trials(results: list[dict], wall_seconds: float) -> dict:
    """Error counts and rates, overall and per run, of finished trial results."""
    per_run: dict[str, dict] = {}
    for r in results:
        entry = per_run.setdefault(r["run"], {"trials": 0, "errors": 0})
        entry["trials"] += 1
        entry["errors"] += int(not r["correct"])
    for entry in per_run.values():
        entry["error_rate"] = entry["errors"] / entry["trials"]
    trials = len(results)
    errors = sum(not r["correct"] for r in results)
    return {
        "trials": trials,
        "errors": errors,
        "error_rate": errors / trials if trials else None,
        "per_run": per_run,
        "wall_seconds": round(wall_seconds, 1),
    }
