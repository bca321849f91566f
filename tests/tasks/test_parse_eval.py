import json

import numpy as np
import pytest

from gns_pyro.cli import main
from gns_pyro.tasks.parse_eval import compare, consistent_comparison, modified_hausdorff


def test_modified_hausdorff_and_assignment():
    line = np.stack([np.linspace(0, 50, 51), np.zeros(51)], 1)
    other = line + [0.0, 3.0]
    assert modified_hausdorff(line, line) == 0.0
    assert modified_hausdorff(line, other) == pytest.approx(3.0)
    assert modified_hausdorff(line, line[::-1]) == 0.0  # direction does not matter
    far = line + [0.0, 40.0]
    result = compare([far, line], [line, far + [0, 1.0]])  # swapped order, matched optimally
    assert result["count_correct"] and result["matched_distance"] == pytest.approx(0.5)
    assert not compare([line], [line, far])["count_correct"]


@pytest.mark.data
def test_parse_eval_command(omniglot_dir, tmp_path, capsys):
    argv = [
        "parse-eval",
        "--data-dir",
        str(omniglot_dir),
        "--n",
        "1",
        "--out",
        str(tmp_path),
        "--json",
    ]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["images"] == 1
    for method in ("gns", "baseline"):
        assert 0 <= summary[method]["count_accuracy"] <= 1
        assert np.isfinite(summary[method]["matched_distance"])
    saved = list(tmp_path.glob("Tagalog_*.json"))
    assert len(saved) == 1
    assert main(argv) == 0  # resumes from the saved result
    assert "(saved)" in capsys.readouterr().err
    record = json.loads(saved[0].read_text())
    other = {**record, "key": {**record["key"], "weights": "made-with-other-weights"}}
    saved[0].write_text(json.dumps(other))
    assert main(argv) == 0  # a result made with other weights is redone
    captured = capsys.readouterr()
    assert "(saved)" not in captured.err
    assert json.loads(captured.out.strip().splitlines()[-1])["recomputed"] == 1
    assert json.loads(saved[0].read_text())["key"] == record["key"]
    # a hand-edited result that contradicts itself is redone, not summarized
    record = json.loads(saved[0].read_text())
    gns = record["gns"]
    lie = {**gns, "count_correct": not gns["count_correct"]}
    saved[0].write_text(json.dumps({**record, "gns": lie}))
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["recomputed"] == 1
    assert json.loads(saved[0].read_text())["gns"] == gns


def test_a_comparison_that_contradicts_itself_is_not_consistent():
    line = np.stack([np.linspace(0, 10, 11), np.zeros(11)], 1)
    other = line + [0.0, 5.0]
    good = json.loads(json.dumps(compare([line, other], [line, other])))
    assert consistent_comparison(good)
    assert consistent_comparison(json.loads(json.dumps(compare([line], [line, other]))))
    for edit in (
        {"count_correct": False},  # the counts agree
        {"predicted_strokes": 3},  # then the counts disagree, yet count_correct says right
        {"matched_distance": -5.0},
        {"matched_distance": float("inf")},
        {"matched_distance": "3.2"},
        {"human_strokes": 0},
        {"predicted_strokes": 2.0},
        {"order_correct": "yes"},
    ):
        assert not consistent_comparison({**good, **edit}), edit
    wrong_count = json.loads(json.dumps(compare([line], [line, other])))
    assert not consistent_comparison({**wrong_count, "order_correct": True})
    assert not consistent_comparison({k: v for k, v in good.items() if k != "human_strokes"})
    assert not consistent_comparison(None)


@pytest.mark.data
def test_likelihood_on_two_local_submitit_jobs_then_summarize(
    omniglot_dir, tmp_path, capsys, kept_job_folders
):
    """The engine end to end: two submitit LocalExecutor jobs (one image each), merged."""
    argv = ["likelihood", "--data-dir", str(omniglot_dir), "--n", "2", "--k", "1"]
    argv += ["--polish-steps", "1", "--out", str(tmp_path), "--json"]
    assert main([*argv, "--workers", "2", "--threads", "1"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["images"] == 2 and summary["modes"] == 2 and summary["reused"] == 2
    assert len(list(tmp_path.glob("*.json"))) == 2
    assert not (tmp_path / ".jobs").exists()  # job pickles never live in --out
    [jobs] = kept_job_folders
    logs = list(jobs.glob("*_log.err"))
    assert len(logs) == 2  # two jobs ran, each with its own log
    assert main([*argv, "--summarize"]) == 0  # read back, nothing redone
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["images"] == 2 and summary["computed"] == 0 and summary["wall_seconds"] < 5
    assert np.isfinite(summary["mean_log_marginal"]) and summary["mean_per_pixel"] < 0
    assert 0 <= summary["negative_definite_fraction"] <= 1
    assert main([*argv[:4], "3", *argv[5:], "--summarize"]) == 0  # a third image: missing
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["images"] == 2 and summary["missing"] == 1 and summary["computed"] == 0


def test_parse_shard_names_the_form():
    from gns_pyro.cli.common import parse_shard
    from gns_pyro.errors import GNSError

    assert parse_shard(None) == (1, 1) and parse_shard("2/4") == (2, 4)
    for bad in ("x", "0/4", "3/2", "1-2", "1/"):
        with pytest.raises(GNSError, match="shard"):
            parse_shard(bad)
    with pytest.raises(GNSError, match=r"SLURM_ARRAY_TASK_ID \+ 1"):  # 0-based index: a hint
        parse_shard("0/4")


def test_seeded_order_is_prefix_stable_and_distinct():
    from gns_pyro.tasks.results import seeded_order

    long = seeded_order(1000, 200, seed=3)
    assert len(set(long)) == 200 and all(0 <= i < 1000 for i in long)
    assert seeded_order(1000, 50, seed=3) == long[:50]
    assert seeded_order(1000, 50, seed=4) != long[:50]
    assert sorted(seeded_order(7, 100, seed=0)) == list(range(7))


def test_order_is_right_only_when_the_matching_keeps_the_order():
    line = np.stack([np.linspace(0, 50, 51), np.zeros(51)], 1)
    far = line + [0.0, 40.0]
    assert compare([line, far], [line, far])["order_correct"]
    assert not compare([far, line], [line, far])["order_correct"]  # same strokes, swapped
    assert not compare([line], [line, far])["order_correct"]  # wrong count: never in order
