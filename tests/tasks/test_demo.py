import json

from gns_pyro.cli import main


def test_demo_runs_without_data(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("GNS_PYRO_DATA", str(tmp_path / "no-data-here"))
    out = tmp_path / "demo"
    argv = [
        "demo",
        "--out",
        str(out),
        "--concepts",
        "4",
        "--ways",
        "2",
        "--parse-steps",
        "5",
        "--refit-steps",
        "3",
    ]
    assert main(argv) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary == json.loads((out / "summary.json").read_text())
    assert set(summary["files"]) == {
        "concepts.png",
        "one_shot_images.png",
        "parse.png",
        "exemplars.png",
    }
    assert summary["one_shot"]["ways"] == 2 and 0 <= summary["one_shot"]["correct"] <= 2
    for name in summary["files"]:
        assert (out / name).stat().st_size > 0
