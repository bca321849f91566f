import json
from types import SimpleNamespace

import pytest
import torch

import gns_pyro.tasks.classify as classify
from gns_pyro.cli.common import parse_selection
from gns_pyro.errors import GNSError
from gns_pyro.inference.posterior import Posterior
from gns_pyro.inference.refinement import initial_tokens
from gns_pyro.parses import Parses, Tokens
from gns_pyro.tasks.results import shard_block


def test_grouped_logsumexp_matches_torch():
    values = torch.randn(12, dtype=torch.float64) * 50
    groups = torch.tensor([0, 0, 1, 2, 2, 2, 1, 0, 3, 3, 1, 2])
    out = classify._grouped_logsumexp(values, groups, 4)
    for g in range(4):
        assert out[g].item() == pytest.approx(values[groups == g].logsumexp(0).item(), rel=1e-12)


def test_selection_and_summary():
    assert parse_selection("1-3,7") == [1, 2, 3, 7]
    assert parse_selection("2, 2,1") == [1, 2]
    for bad in ("abc", "5-1", "1-", "1-2-3", "0", "", "1,,2"):
        with pytest.raises(GNSError, match="--select"):
            parse_selection(bad)
    results = [
        {"run": "run01", "correct": True},
        {"run": "run01", "correct": False},
        {"run": "run02", "correct": True},
    ]
    s = classify.summarize_trials(results, 12.0)
    assert s["trials"] == 3 and s["errors"] == 1 and s["error_rate"] == pytest.approx(1 / 3)
    assert s["per_run"]["run01"]["error_rate"] == 0.5


def _fake_posterior(image, strokes=1):
    parses = Parses.from_control_points([[torch.tensor([[10.0, 10.0], [50.0, 50.0]])] * strokes])
    return Posterior(image, parses, initial_tokens(parses), torch.tensor([-100.0]), 1)


def _two_item_run(monkeypatch):
    """A run of two blank classes and two test items (class02 and class01), parsed by a
    stand-in (no nets)."""
    images = {f"class{i:02d}": torch.zeros(105, 105, dtype=torch.bool) for i in (1, 2)}
    tests = {f"item{i:02d}": torch.zeros(105, 105, dtype=torch.bool) for i in (1, 2)}
    monkeypatch.setattr(
        classify, "cached_posterior", lambda parts, image, path, s: _fake_posterior(image)
    )
    return SimpleNamespace(
        name="run01", training=images, test=tests, labels={"item01": "class02", "item02": "class01"}
    )


def test_classify_run_writes_results_and_resumes(tmp_path, monkeypatch, capsys):
    run = _two_item_run(monkeypatch)
    calls = []

    def fake_scores(class_posts, test_post, settings):
        calls.append(1)
        score = torch.tensor([0.0, 1.0])  # always class02
        return {"score": score, "screen": score}

    monkeypatch.setattr(classify, "trial_scores", fake_scores)
    results = classify.classify_run(None, run, tmp_path)
    assert [r["correct"] for r in results] == [True, False]
    assert len(calls) == 2
    [saved_path] = (tmp_path / "trials").glob("run01_item01.*.json")
    saved = json.loads(saved_path.read_text())
    assert saved["predicted"] == "class02"
    lines = capsys.readouterr().err.splitlines()  # a start line, then one per trial
    trials = [line for line in lines if line.startswith("classify run01 ")]
    assert lines[0] == "classify run01: 2 item(s) to do"
    assert any(line.startswith("classify run01: class images 2/2: class02") for line in lines)
    assert trials[0].startswith("classify run01 1/2: item01 right")
    assert trials[1].startswith("classify run01 2/2: item02 wrong (class02, truth class01)")
    again = classify.classify_run(None, run, tmp_path, quiet=True)  # resume: nothing recomputed
    assert len(calls) == 2 and [r["item"] for r in again] == ["item01", "item02"]
    assert capsys.readouterr().err == ""


def test_trial_scores_shapes_and_two_way_rule():
    from gns_pyro.models import CharacterParts  # noqa: F401  (nets are not needed for refits)

    img_a = torch.zeros(105, 105, dtype=torch.bool)
    img_a[30:33, 20:85] = True
    img_b = torch.zeros(105, 105, dtype=torch.bool)
    img_b[20:85, 50:53] = True
    line_a = Parses.from_control_points([[torch.tensor([[20.0, 31.0], [84.0, 31.0]])]])
    line_b = Parses.from_control_points([[torch.tensor([[51.0, 20.0], [51.0, 84.0]])]])
    posts = [
        Posterior(img_a, line_a, initial_tokens(line_a), torch.tensor([-300.0]), 1),
        Posterior(img_b, line_b, initial_tokens(line_b), torch.tensor([-300.0]), 1),
    ]
    test = Posterior(img_a, line_a, initial_tokens(line_a), torch.tensor([-300.0]), 1)
    settings = classify.ClassifySettings(screen_steps=0, race_steps=10, refit_steps=10)
    terms = classify.trial_scores(posts, test, settings)
    assert terms["score"].shape == (2,)
    torch.testing.assert_close(
        terms["score"],
        terms["log_class_given_test"] + terms["log_test_given_class"] - terms["log_class"],
    )
    assert int(terms["score"].argmax()) == 0  # the same horizontal bar wins


def test_trial_scores_screen_then_rescore_the_kept_classes():
    bars = []
    for row in (31, 51, 71):  # three horizontal bars at different heights
        img = torch.zeros(105, 105, dtype=torch.bool)
        img[row - 1 : row + 2, 20:85] = True
        line = Parses.from_control_points([[torch.tensor([[20.0, row], [84.0, row]])]])
        bars.append(Posterior(img, line, initial_tokens(line), torch.tensor([-300.0]), 1))
    vertical = torch.zeros(105, 105, dtype=torch.bool)
    vertical[20:85, 50:53] = True
    v_line = Parses.from_control_points([[torch.tensor([[51.0, 20.0], [51.0, 84.0]])]])
    posts = [Posterior(vertical, v_line, initial_tokens(v_line), torch.tensor([-300.0]), 1), *bars]
    settings = classify.ClassifySettings(screen_steps=3, keep=2, race_steps=20, refit_steps=40)
    terms = classify.trial_scores(posts, bars[1], settings)
    kept = torch.isfinite(terms["score"])
    assert int(kept.sum()) == 2
    assert torch.equal(kept, terms["screen"] >= terms["screen"].topk(2).values[-1])
    assert not bool(kept[0])  # the vertical bar is screened out
    assert int(terms["score"].argmax()) == 2  # the same bar wins after rescoring
    # rescoring races several starts and refits longer: the kept classes' scores only improve
    assert bool((terms["score"][kept] >= terms["screen"][kept] - 1e-6).all())


def test_exemplars_from_posterior_pick_parses_by_tempered_weights():
    from gns_pyro.tasks.exemplars import exemplars_from_posterior

    a = Parses.from_control_points([[torch.tensor([[20.0, 30.0], [80.0, 30.0]])]])
    b = Parses.from_control_points([[torch.tensor([[50.0, 10.0], [50.0, 90.0]])]])
    types = Parses.cat([a, b])
    img = torch.zeros(105, 105, dtype=torch.bool)
    post = Posterior(img, types, initial_tokens(types), torch.tensor([0.0, -1000.0]), 2)
    g = torch.Generator().manual_seed(0)
    cold = exemplars_from_posterior(post, 50, temperature=1.0, generator=g)
    # at T = 1 the second parse (weight e^-1000) is never chosen: all exemplars are horizontal
    spans = (cold.control_points[:, 0, 1] - cold.control_points[:, 0, 0]).abs()
    assert (spans[:, 0] > spans[:, 1]).all()
    post_even = Posterior(img, types, initial_tokens(types), torch.tensor([0.0, -8.0]), 2)
    hot = exemplars_from_posterior(post_even, 200, temperature=8.0, generator=g)
    spans = (hot.control_points[:, 0, 1] - hot.control_points[:, 0, 0]).abs()
    vertical = (spans[:, 1] > spans[:, 0]).float().mean()
    assert 0.15 < vertical < 0.4  # e^-1 / (1 + e^-1) = 0.27
    with pytest.raises(ValueError, match="temperature"):
        exemplars_from_posterior(post, 3, temperature=0)


def test_parse_cache_is_keyed_by_settings_weights_and_image(tmp_path):
    from gns_pyro.models import CharacterParts

    img = torch.zeros(105, 105, dtype=torch.bool)
    post = _fake_posterior(img)
    path = tmp_path / "class01.pt"
    torch.manual_seed(0)
    parts = CharacterParts().eval()
    made = classify.ClassifySettings(k=3, parse_steps=150)
    key = classify.parse_key(parts, img, made)
    classify.save_posterior(post, path, key)
    back = classify.load_posterior(path, key)
    torch.testing.assert_close(back.log_weights, post.log_weights)
    # refit settings do not touch parses; parse settings, weights and the image do
    same = classify.parse_key(parts, img, classify.ClassifySettings(k=3, parse_steps=150, keep=2))
    assert classify.load_posterior(path, same) is not None
    assert (
        classify.load_posterior(
            path, classify.parse_key(parts, img, classify.ClassifySettings(k=5))
        )
        is None
    )
    other_image = img.clone()
    other_image[50, 50] = True
    assert classify.load_posterior(path, classify.parse_key(parts, other_image, made)) is None
    other_parts = CharacterParts().eval()
    assert classify.load_posterior(path, classify.parse_key(other_parts, img, made)) is None
    path.write_bytes(b"damaged")
    assert classify.load_posterior(path, key) is None


@pytest.mark.parametrize(
    "tamper",
    ["another_image", "image_shape", "more_weights", "fewer_tokens", "other_slots", "k_above"],
)
def test_a_parse_cache_whose_parts_disagree_is_not_trusted(tmp_path, tamper):
    """A cache edited by hand (its key left intact) used to crash the trial with torch's own
    shape error; each inconsistency now means "parse again"."""
    import dataclasses

    from gns_pyro.models import CharacterParts

    img = torch.zeros(105, 105, dtype=torch.bool)
    img[40:60, 50] = True
    torch.manual_seed(0)
    parts = CharacterParts().eval()
    key = classify.parse_key(parts, img, classify.ClassifySettings(k=1))
    post = _fake_posterior(img)
    path = tmp_path / "class01.pt"
    classify.save_posterior(post, path, key)
    assert classify.load_posterior(path, key) is not None  # the untouched cache is used
    if tamper == "another_image":
        post = dataclasses.replace(post, image=torch.zeros(105, 105, dtype=torch.bool))
    elif tamper == "image_shape":
        post = dataclasses.replace(post, image=img[:, :2])
    elif tamper == "more_weights":
        post = dataclasses.replace(post, log_weights=torch.tensor([-100.0, -101.0]))
    elif tamper == "fewer_tokens":
        post = dataclasses.replace(post, tokens=post.tokens[:0])
    elif tamper == "other_slots":
        two = Parses.from_control_points([[torch.tensor([[10.0, 10.0], [50.0, 50.0]])] * 2])
        post = dataclasses.replace(post, tokens=initial_tokens(two))
    elif tamper == "k_above":
        both = _fake_posterior(img)
        post = Posterior(
            img,
            Parses.cat([both.types, both.types]),
            Tokens.cat([both.tokens, both.tokens]),
            torch.tensor([-100.0, -100.0]),
            1,
        )
    classify.save_posterior(post, path, key)
    assert classify.load_posterior(path, key) is None


def test_parse_cache_never_runs_code_from_the_file(tmp_path):
    """A pickled payload planted in a cache file is refused, not executed."""
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (marker.write_text, ("pwned",))

    path = tmp_path / "class01.pt"
    torch.save({"key": "x", "image": Payload()}, path)
    assert classify.load_posterior(path, {"k": 1}) is None
    assert not marker.exists()


def test_results_made_with_other_settings_are_redone(tmp_path, monkeypatch):
    images = {"class01": torch.zeros(105, 105, dtype=torch.bool)}
    run = SimpleNamespace(
        name="run01",
        training=images,
        test={"item01": images["class01"]},
        labels={"item01": "class01"},
    )
    monkeypatch.setattr(
        classify, "cached_posterior", lambda parts, image, path, s: _fake_posterior(image)
    )
    calls = []

    def fake_scores(class_posts, test_post, settings):
        calls.append(settings.refit_steps)
        return {"score": torch.tensor([0.0]), "screen": torch.tensor([0.0])}

    monkeypatch.setattr(classify, "trial_scores", fake_scores)
    classify.classify_run(None, run, tmp_path, classify.ClassifySettings(refit_steps=50))
    classify.classify_run(None, run, tmp_path, classify.ClassifySettings(refit_steps=50))
    classify.classify_run(None, run, tmp_path, classify.ClassifySettings(refit_steps=80))
    assert calls == [50, 80]
    # the same settings with another test image (same run and item name): redone
    run.test["item01"] = run.test["item01"].clone()
    run.test["item01"][40, 40] = True
    classify.classify_run(None, run, tmp_path, classify.ClassifySettings(refit_steps=80))
    assert calls == [50, 80, 80]


def test_empty_runs_folder_and_empty_shard_are_errors(tmp_path, omniglot_dir, capsys):
    import shutil

    from gns_pyro.cli import main

    (tmp_path / "empty").mkdir()
    assert main(["classify", "--runs", str(tmp_path / "empty"), "--out", str(tmp_path / "o")]) == 2
    assert "no one-shot runs" in capsys.readouterr().err
    shutil.copytree(omniglot_dir / "one-shot-classification" / "run03", tmp_path / "r" / "run03")
    argv = ["classify", "--runs", str(tmp_path / "r"), "--out", str(tmp_path / "o")]
    assert main([*argv, "--shard", "25/30"]) == 2
    assert "20 trial(s)" in capsys.readouterr().err and not (tmp_path / "o" / "trials").exists()


def test_shards_are_contiguous_blocks_that_cover_every_trial_once():
    tasks = [(f"run{r:02d}", f"item{i:02d}") for r in range(1, 11) for i in range(1, 21)]
    ten = [shard_block(tasks, i, 10) for i in range(1, 11)]
    assert all({run for run, _ in block} == {f"run{i:02d}"} for i, block in enumerate(ten, 1))
    for n in (1, 3, 7, 30, 200, 250):
        blocks = [shard_block(tasks, i, n) for i in range(1, n + 1)]
        assert sum(blocks, []) == tasks  # every trial once, in order
        sizes = [len(b) for b in blocks]
        assert max(sizes) - min(sizes) <= 1
        # a shard touches at most one run more than its share of runs needs
        assert all(len({r for r, _ in b}) <= -(-len(b) // 20) + 1 for b in blocks)


@pytest.mark.data
def test_two_local_submitit_jobs_parse_each_image_once(
    tmp_path, omniglot_dir, capsys, kept_job_folders
):
    """A two-class run classified by two local jobs: images are parsed in a first stage (two
    each), trials in a second; the merged summary reads both trials back."""
    import shutil

    from gns_pyro.cli import main

    source = omniglot_dir / "one-shot-classification" / "run03"
    run = tmp_path / "runs" / "run03"
    pairs = [line.split() for line in (source / "class_labels.txt").read_text().splitlines()[:2]]
    for folder in ("test", "training"):
        (run / folder).mkdir(parents=True)
    for test, train in pairs:
        for name in (test, train):
            shutil.copy(source.parent / name, run / name.split("/", 1)[1])
    (run / "class_labels.txt").write_text("".join(f"{a} {b}\n" for a, b in pairs))
    argv = ["classify", "--runs", str(tmp_path / "runs"), "--out", str(tmp_path / "out")]
    argv += ["--k", "1", "--parse-steps", "10", "--screen-steps", "0", "--race-steps", "5"]
    argv += ["--refit-steps", "5", "--json"]
    assert main([*argv, "--workers", "2", "--threads", "1"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["trials"] == 2 and summary["reused"] == 2 and summary["missing"] == 0
    assert len(list((tmp_path / "out" / "parses" / "run03").glob("*.pt"))) == 4
    assert not (tmp_path / "out" / ".jobs").exists()  # job pickles never live in --out
    assert len(kept_job_folders) == 2  # one private folder per stage
    logs = sorted(log for jobs in kept_job_folders for log in jobs.glob("*_log.err"))
    parsed = [line for log in logs for line in log.read_text().splitlines() if "parse " in line]
    assert len(parsed) == 4  # stage 1: four images, each parsed by one job
    assert main([*argv, "--summarize"]) == 0
    merged = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert merged["trials"] == 2 and merged["computed"] == 0
    assert merged["errors"] == summary["errors"]


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_one_trial_runs_on_cuda():
    """Parsing and a two-way trial with every tensor on the GPU (skipped without CUDA)."""
    from gns_pyro.inference import RefineSettings, infer
    from gns_pyro.pretrained import load_type_prior

    parts = load_type_prior(device="cuda")
    images = []
    for rows, cols in (((20, 80), (50, 53)), ((50, 53), (20, 80))):  # a bar, then a dash
        image = torch.zeros(105, 105, dtype=torch.bool)
        image[rows[0] : rows[1], cols[0] : cols[1]] = True
        images.append(image)
    tiny = RefineSettings(steps=5)
    posts = [infer(img, parts, k=2, refine_settings=tiny, token_fit=tiny) for img in images]
    test = infer(images[0].clone(), parts, k=2, refine_settings=tiny, token_fit=tiny)
    assert test.types.locations.device.type == "cuda"
    settings = classify.ClassifySettings(k=2, screen_steps=0, race_steps=5, refit_steps=5)
    scores = classify.trial_scores(posts, test, settings)["score"]
    assert scores.device.type == "cuda" and torch.isfinite(scores).all()
    assert int(scores.argmax()) == 0  # the bar is the bar's class


def _tiny_posterior():
    import numpy as np

    from gns_pyro.inference.posterior import Posterior
    from gns_pyro.inference.refinement import initial_tokens
    from gns_pyro.parses import Parses

    types = Parses.from_control_points([[np.array([[20.0, 20.0], [60.0, 80.0]])]] * 2)
    image = torch.zeros(105, 105, dtype=torch.bool)
    image[40:60, 40:60] = True
    return Posterior(image, types, initial_tokens(types), torch.tensor([-400.0, -402.0]), 7)


def test_a_parse_cache_holding_nan_is_parsed_again(tmp_path):
    from gns_pyro.tasks.classify import load_posterior, save_posterior
    from gns_pyro.tasks.results import image_digest

    post = _tiny_posterior()
    key = {"image": image_digest(post.image), "settings": 1}
    save_posterior(post, tmp_path / "x.pt", key)
    assert torch.equal(load_posterior(tmp_path / "x.pt", key).log_weights, post.log_weights)
    post.tokens.locations[1, 0, 0] = float("nan")
    save_posterior(post, tmp_path / "x.pt", key)
    assert load_posterior(tmp_path / "x.pt", key) is None
    (tmp_path / "y.pt").write_bytes(b"not a tensor file")
    assert load_posterior(tmp_path / "y.pt", key) is None


def test_a_trial_result_that_contradicts_itself_is_not_trusted():
    from gns_pyro.tasks.classify import consistent_trial

    classes = ["class01", "class02", "class03"]
    good = {
        "predicted": "class02",
        "truth": "class02",
        "correct": True,
        "scores": {"class01": -900.0, "class02": -850.0, "class03": float("-inf")},
    }
    assert consistent_trial(good, classes)
    assert not consistent_trial({**good, "correct": False}, classes)  # predicted == truth
    assert not consistent_trial({**good, "predicted": "class01"}, classes)  # not the best
    nan = {**good, "scores": {**good["scores"], "class01": float("nan")}}
    assert not consistent_trial(nan, classes)
    assert not consistent_trial({**good, "scores": {"class02": -850.0}}, classes)
    assert not consistent_trial({**good, "scores": "lots"}, classes)
    assert not consistent_trial({k: v for k, v in good.items() if k != "truth"}, classes)
    wrong = {**good, "truth": "class03", "correct": False}
    assert consistent_trial(wrong, classes)


def test_the_screen_refits_only_the_best_parses_of_each_image(monkeypatch):
    """``screen_parses=1``: the screen sees each image's most probable parse alone; the full
    refit of the kept classes still sees all of them."""
    img = torch.zeros(105, 105, dtype=torch.bool)
    img[30:33, 20:85] = True
    short = Parses.from_control_points([[torch.tensor([[30.0, 31.0], [70.0, 31.0]])]])
    long = Parses.from_control_points([[torch.tensor([[20.0, 31.0], [84.0, 31.0]])]])
    both = Parses.cat([short, long])
    weights = torch.tensor([-310.0, -300.0])  # the second parse is the better one
    post = Posterior(img, both, initial_tokens(both), weights, 2)
    best = post.best(1)
    assert torch.equal(best.types.control_points, long.control_points)
    torch.testing.assert_close(best.log_weights, torch.tensor([-300.0]))
    assert len(post.best(5).types) == 2
    with pytest.raises(ValueError, match="at least one"):
        post.best(0)
    seen = []
    original = classify.two_way_scores

    def spy(class_posteriors, test_posterior, refit):
        seen.append([len(p.types) for p in class_posteriors] + [len(test_posterior.types)])
        return original(class_posteriors, test_posterior, refit)

    monkeypatch.setattr(classify, "two_way_scores", spy)
    settings = classify.ClassifySettings(
        screen_steps=2, screen_parses=1, keep=1, race_steps=2, refit_steps=2
    )
    classify.trial_scores([post, post, post], post, settings)
    assert seen == [[1, 1, 1, 1], [2, 2]]  # the screen: best parse; the full refit: all
    with pytest.raises(ValueError, match="screen_parses"):
        classify.ClassifySettings(screen_parses=0)


def test_settings_added_later_leave_old_keys_unchanged():
    """A setting at the value older versions used implicitly is not in the key, so caches and
    results made before it existed stay valid; any other value changes the key."""
    from gns_pyro.inference.refinement import RefineSettings

    old = {f.name for f in classify.dataclasses.fields(classify.ClassifySettings)} - {
        "screen_parses",
        "race_downsample",
    }
    at_old_value = classify.ClassifySettings(screen_parses=5, race_downsample=1)
    assert set(classify.settings_key(at_old_value)) == old
    assert classify.settings_key(classify.ClassifySettings(screen_parses=1))["screen_parses"] == 1
    assert "downsample" not in classify.settings_key(RefineSettings())
    assert classify.settings_key(RefineSettings(downsample=2))["downsample"] == 2


def test_the_race_can_steer_by_the_coarse_image_model_but_the_screen_does_not():
    coarse = classify.ClassifySettings(race_downsample=2)
    assert coarse.full_refit().race.downsample == 2
    assert coarse.full_refit().finish.downsample == 1  # the finish and the scores are full
    assert coarse.screen_refit().race.downsample == 1
    assert classify.ClassifySettings().full_refit().race.downsample == 1
    assert classify.settings_key(coarse)["race_downsample"] == 2
    with pytest.raises(ValueError, match="race_downsample"):
        classify.ClassifySettings(race_downsample=0)


def test_a_contradicting_trial_is_counted_as_recomputed_not_reused(tmp_path, monkeypatch):
    run = _two_item_run(monkeypatch)
    monkeypatch.setattr(
        classify,
        "trial_scores",
        lambda c, t, s: {"score": torch.tensor([0.0, 1.0]), "screen": torch.tensor([0.0, 1.0])},
    )
    classify.classify_run(None, run, tmp_path)
    [path] = (tmp_path / "trials").glob("run01_item01.*.json")
    edited = json.loads(path.read_text())
    path.write_text(json.dumps({**edited, "correct": False}))  # predicted == truth, yet wrong
    store = classify.trial_store(tmp_path)
    summary = classify.classify_run(None, run, tmp_path, summarize=True, store=store)
    assert len(summary) == 1 and store.counts()["missing"] == 1 and store.reused == 1
    store = classify.trial_store(tmp_path)
    results = classify.classify_run(None, run, tmp_path, store=store)
    assert [r["correct"] for r in results] == [True, False]
    assert (store.reused, store.computed, store.recomputed) == (1, 0, 1)
