"""Parsing score on held-out KanjiVG characters, for a type prior trained on KanjiVG.

The characters a prior never saw (neither in training nor validation) are rendered with the
model's renderer from their KanjiVG strokes, parsed, and the MAP parse's strokes are compared
with KanjiVG's: stroke count, stroke order (with the right count, the optimal matching pairs
the k-th parsed stroke with the k-th KanjiVG stroke), and matched-stroke distance, beside the
skeleton-edge baseline (:mod:`gns_pyro.tasks.parse_eval` does the same for Omniglot).

Shell::

    gns-pyro kanji-eval --weights runs/kanji/type_prior.pt --n 40 --json
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from gns_pyro.data.images import OMNIGLOT_IMAGE_SIZE
from gns_pyro.errors import GNSError
from gns_pyro.progress import Progress
from gns_pyro.reading import read_json
from gns_pyro.tasks.results import ResultStore, image_digest


def held_out_files(record: dict, folder=None) -> list[Path]:
    """The main KanjiVG files that a prior's training (described by its ``record``) never
    loaded: the seeded subset that :func:`~gns_pyro.data.kanjivg.load_kanji_dataset` chose
    is recomputed from the record's settings and left out."""
    from gns_pyro.data.kanjivg import is_base_file, kanjivg_files

    settings = record.get("settings", {})
    if settings.get("data") != "kanji":
        raise GNSError("these weights were not trained on KanjiVG (record: data != 'kanji')")
    files = [f for f in kanjivg_files(folder) if is_base_file(f)]
    size = settings.get("max_drawings")
    if size is None or size >= len(files):
        raise GNSError("the prior was trained on every KanjiVG character: none is held out")
    chosen = set(np.random.default_rng(settings["seed"]).choice(len(files), size, replace=False))
    return [f for i, f in enumerate(files) if i not in chosen]


def render_kanji(strokes_motor, size: int = OMNIGLOT_IMAGE_SIZE) -> torch.Tensor:  # noqa: F821
    """The (size, size) ink mask of a kanji's strokes, fitted as splines and drawn by the
    model's renderer (default blur, no noise), binarized at 0.5."""
    from gns_pyro.data.preprocess import drawing_to_splines
    from gns_pyro.parses import Parses
    from gns_pyro.renderer import DEFAULT_BLUR, RenderSettings, render

    parses = Parses.from_control_points([drawing_to_splines(strokes_motor)])
    frame = RenderSettings(size=size)
    return (render(parses, blur=DEFAULT_BLUR, noise=0.0, settings=frame)[0] > 0.5).cpu()


def run_kanji_eval(
    weights,
    out_dir,
    n: int = 40,
    seed: int = 0,
    max_strokes: int | None = None,
    k: int = 5,
    folder=None,
    device=None,
    quiet: bool = False,
) -> dict:
    """Parse ``n`` seeded held-out kanji (CJK unified ideographs; of at most ``max_strokes``
    strokes, if given) and score them; one JSON result per kanji in ``out_dir`` (resumable)."""
    from types import SimpleNamespace

    from gns_pyro.data.kanjivg import kanji_to_motor, read_kanji
    from gns_pyro.pretrained import load_type_prior, weights_digest
    from gns_pyro.tasks.parse_eval import evaluate_image, summarize_scores

    start = time.perf_counter()
    if weights is None:
        raise GNSError("--weights: give the type prior trained with `gns-pyro train --data kanji`")
    record_path = Path(weights).with_suffix(".json")
    try:
        record = read_json(record_path, "record")
    except (OSError, ValueError):  # UntrustedFile is a ValueError too
        raise GNSError(f"no readable training record {record_path} beside {weights}") from None
    files = held_out_files(record, folder)
    parts = load_type_prior(weights, device=device)
    # kanji proper (CJK unified ideographs), not the kana and Latin letters KanjiVG also has
    files = [f for f in files if 0x4E00 <= int(f.stem, 16) <= 0x9FFF]
    order = np.random.default_rng(seed).permutation(len(files))
    chosen = []
    for i in order:
        kanji = read_kanji(files[i])
        if max_strokes is None or len(kanji.strokes) <= max_strokes:
            chosen.append(kanji)
        if len(chosen) == n:
            break
    made_with = {"k": k, "seed": seed, "weights": weights_digest(parts)}
    store = ResultStore(out_dir, required=("gns", "baseline"))
    progress = Progress(len(chosen), "kanji-eval", quiet)
    results = []
    for kanji in chosen:
        motor = kanji_to_motor(kanji, parts.image_size)  # drawn on the prior's own frame
        image = render_kanji(motor, parts.image_size)
        key = {**made_with, "image": image_digest(image)}
        saved = store.get(kanji.codepoint, key)
        if saved is None:
            try:
                result = evaluate_image(parts, SimpleNamespace(strokes=motor), image, k, seed)
            except GNSError as err:  # e.g. a skeleton too large to walk: counted, not fatal
                result = {"refused": str(err)}
            result.update(character=kanji.character, strokes=len(kanji.strokes))
            saved = store.put(kanji.codepoint, key, {"gns": None, "baseline": None, **result})
        results.append(saved)
        note = "refused" if saved.get("refused") else f"{saved['gns']['predicted_strokes']} strokes"
        progress.update(f"{kanji.character} ({len(kanji.strokes)} strokes): {note}")
    progress.close()
    scored = [r for r in results if not r.get("refused")]
    summary = {"kanji": len(results), "refused": len(results) - len(scored)}
    scores = summarize_scores(scored)
    summary.update(gns=scores["gns"], baseline=scores["baseline"])
    right_count = [r["gns"] for r in scored if r["gns"]["count_correct"]]
    summary["gns"]["order_accuracy_given_count"] = (
        float(np.mean([r["order_correct"] for r in right_count])) if right_count else None
    )
    summary["mean_strokes"] = float(np.mean([r["strokes"] for r in results])) if results else None
    summary.update(store.counts())
    summary["wall_seconds"] = round(time.perf_counter() - start, 1)
    return summary
