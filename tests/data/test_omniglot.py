"""The Omniglot reader: counts, records, one-shot runs, layouts, junk and bad archives."""

from __future__ import annotations

import io
import pickle
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from gns_pyro.data import Omniglot, default_data_dir, parse_strokes, resolve_data_dir
from gns_pyro.errors import DataError, DataNotFoundError


@pytest.fixture(scope="module")
def data(omniglot_dir):
    with Omniglot(omniglot_dir) as data:
        yield data


# ---------------------------------------------------------------------------- helpers


def stroke_text(n_strokes: int = 2, seed: int = 0) -> str:
    """A stroke file in the official layout: one START, a BREAK after every stroke."""
    rng = np.random.default_rng(seed)
    lines = ["START"]
    t = 0
    for _ in range(n_strokes):
        for _ in range(int(rng.integers(2, 6))):
            x, y = rng.uniform(0, 105), -rng.uniform(0, 105)
            lines.append(f"{x:.6f},{y:.6f},{t}")
            t += 17
        lines.append("BREAK")
    return "\n".join(lines) + "\n"


def write_zip(path: Path, entries: dict[str, str | bytes]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in entries.items():
            zf.writestr(name, content)
    return path


def independent_parse(text: str) -> list[np.ndarray]:
    """A second, deliberately different parser: split on the marker lines, then np.loadtxt."""
    blocks, current = [], []
    for line in text.splitlines():
        if line.strip() in ("START", "BREAK"):
            blocks.append(current)
            current = []
        elif line.strip():
            current.append(line)
    blocks.append(current)
    return [np.loadtxt(io.StringIO("\n".join(b)), delimiter=",", ndmin=2) for b in blocks if b]


# ---------------------------------------------------------------------------- shared data


@pytest.mark.data
def test_info_counts(data, omniglot_dir, omniglot_counts):
    assert data.info() == omniglot_counts


@pytest.mark.data
def test_drawing_matches_its_file(data, omniglot_dir):
    drawing = next(data.drawings("background", alphabets=["Latin"]))
    assert (drawing.split, drawing.alphabet, drawing.character) == (
        "background",
        "Latin",
        "character01",
    )
    assert drawing.drawer == int(drawing.stem.split("_")[1])
    # Find the same file by hand in whichever stroke zip holds it.
    member_tail = f"Latin/character01/{drawing.stem}.txt"
    text = None
    for archive in sorted(omniglot_dir.glob("strokes_background*.zip")):
        with zipfile.ZipFile(archive) as zf:
            names = [n for n in zf.namelist() if n.endswith(member_tail) and "__MACOSX" not in n]
            if names:
                text = zf.read(names[0]).decode()
                break
    assert text is not None
    expected = independent_parse(text)
    assert len(drawing.strokes) == len(expected) >= 1
    for got, want in zip(drawing.strokes, expected):
        assert got.dtype == np.float64 and got.ndim == 2 and got.shape[1] == 3
        np.testing.assert_array_equal(got, want)


@pytest.mark.data
def test_drawings_sorted_and_deduplicated(data):
    # Greek is in both small zips; each drawing must still appear once.
    greek = [(d.character, d.stem) for d in data.drawings("background", alphabets="Greek")]
    assert len(greek) == len(set(greek)) == 24 * 20
    numbers = [int(c[len("character") :]) for c, _ in greek]
    assert numbers == sorted(numbers)
    assert data.alphabets("background", kind="strokes")[:2] == ["Balinese", "Early_Aramaic"]


@pytest.mark.data
def test_image_read_back(data):
    record = next(data.images("evaluation"))
    img = record.image
    assert img.shape == (105, 105) and img.dtype == torch.bool
    assert 0 < img.float().mean().item() < 0.5
    assert torch.equal(
        data.read_image(record.alphabet, record.character, record.stem, split="evaluation"), img
    )


@pytest.mark.data
def test_image_of_drawing(data):
    drawings = list(data.drawings("background", alphabets=["Tagalog"]))[:40]
    for drawing in drawings:
        img = data.image_of(drawing)
        assert img.shape == (105, 105) and img.any()


@pytest.mark.data
def test_one_shot_runs(data, omniglot_dir, omniglot_counts):
    runs = data.one_shot_runs()
    assert len(runs) == omniglot_counts["one_shot_runs"]
    assert [r.name for r in runs] == [f"run{i:02d}" for i in range(1, len(runs) + 1)]
    for run in runs:
        assert list(run.training) == [f"class{i:02d}" for i in range(1, 21)]
        assert list(run.test) == [f"item{i:02d}" for i in range(1, 21)]
        assert len(run.pairs) == 20
        assert sorted(t for t, _ in run.pairs) == list(run.test)
        assert all(c in run.training for _, c in run.pairs)
        img = run.test["item01"]
        assert img.shape == (105, 105) and img.dtype == torch.bool and img.any()
    assert runs[0].labels["item01"] == runs[0].pairs[0][1]


@pytest.mark.data
@pytest.mark.parametrize("where", ["all_runs.zip", "one-shot-classification/all_runs.zip"])
@pytest.mark.parametrize("prefix", ["", "all_runs/"])
def test_one_shot_runs_from_zip(data, omniglot_dir, tmp_path, where, prefix):
    source = omniglot_dir / "one-shot-classification"
    entries: dict[str, str | bytes] = {"__MACOSX/._run01": b"junk", f"{prefix}.DS_Store": b"x"}
    for run in ("run01", "run02"):
        for path in sorted((source / run).rglob("*")):
            if path.is_file():
                entries[f"{prefix}{path.relative_to(source).as_posix()}"] = path.read_bytes()
    write_zip(tmp_path / where, entries)
    runs = Omniglot(tmp_path).one_shot_runs()
    assert [r.name for r in runs] == ["run01", "run02"]
    reference = data.one_shot_run("run01")
    assert runs[0].pairs == reference.pairs
    assert all(torch.equal(runs[0].training[k], reference.training[k]) for k in reference.training)
    assert all(torch.equal(runs[0].test[k], reference.test[k]) for k in reference.test)
    assert Omniglot(tmp_path).info()["one_shot_runs"] == 2


@pytest.mark.data
def test_run_folders_directly_in_root(omniglot_dir, tmp_path):
    shutil.copytree(omniglot_dir / "one-shot-classification" / "run03", tmp_path / "run03")
    runs = Omniglot(tmp_path).one_shot_runs()
    assert [r.name for r in runs] == ["run03"] and len(runs[0].pairs) == 20


@pytest.mark.data
def test_pickles_after_use(data):
    # DataLoader workers receive a pickled copy; open zip handles must not travel.
    next(data.drawings())
    copy = pickle.loads(pickle.dumps(data))
    assert next(copy.drawings()).stem == next(data.drawings()).stem


# ---------------------------------------------------------------------------- synthetic layouts


def test_junk_entries_ignored(tmp_path):
    write_zip(
        tmp_path / "strokes_background_small1.zip",
        {
            "strokes_background_small1/": b"",
            "strokes_background_small1/.DS_Store": b"\0\0junk",
            "__MACOSX/": b"",
            "__MACOSX/strokes_background_small1/._.DS_Store": b"junk",
            "__MACOSX/strokes_background_small1/Latin/character01/._0001_01.txt": b"junk",
            "strokes_background_small1/Latin/character01/._x.txt": b"junk",
            "strokes_background_small1/Latin/character01/0001_01.txt": stroke_text(seed=1),
            "strokes_background_small1/Latin/character02/0002_01.txt": stroke_text(seed=2),
        },
    )
    data = Omniglot(tmp_path)
    assert data.info()["strokes_background"] == {"alphabets": 1, "characters": 2, "drawings": 2}
    assert [d.stem for d in data.drawings()] == ["0001_01", "0002_01"]


def test_small_variants_overlap_counts_once(tmp_path):
    same = stroke_text(seed=1)
    write_zip(
        tmp_path / "strokes_background_small1.zip",
        {
            "strokes_background_small1/Greek/character01/0001_01.txt": same,
            "strokes_background_small1/Balinese/character01/0005_01.txt": stroke_text(seed=5),
        },
    )
    write_zip(
        tmp_path / "strokes_background_small2.zip",
        {
            "strokes_background_small2/Greek/character01/0001_01.txt": same,
            "strokes_background_small2/Greek/character01/0001_02.txt": stroke_text(seed=3),
        },
    )
    counts = Omniglot(tmp_path).info()["strokes_background"]
    assert counts == {"alphabets": 2, "characters": 2, "drawings": 3}


def test_full_and_small_overlap_counts_once(tmp_path):
    write_zip(
        tmp_path / "strokes_background.zip",
        {
            "strokes_background/Greek/character01/0001_01.txt": stroke_text(seed=1),
            "strokes_background/Greek/character01/0001_02.txt": stroke_text(seed=2),
        },
    )
    write_zip(
        tmp_path / "strokes_background_small1.zip",
        {
            "strokes_background_small1/Greek/character01/0001_01.txt": stroke_text(seed=9),
            "strokes_background_small1/Greek/character02/0002_01.txt": stroke_text(seed=3),
        },
    )
    data = Omniglot(tmp_path)
    assert data.info()["strokes_background"]["drawings"] == 3
    # The full variant wins where both hold a drawing.
    first = data.read_drawing("Greek", "character01", "0001_01")
    expected = parse_strokes(stroke_text(seed=1))
    assert all(np.array_equal(a, b) for a, b in zip(first.strokes, expected))


def test_folder_preferred_over_zip(tmp_path):
    write_zip(
        tmp_path / "strokes_evaluation.zip",
        {
            "strokes_evaluation/Atlantean/character01/0001_01.txt": stroke_text(seed=1),
            "strokes_evaluation/Atlantean/character01/0001_02.txt": stroke_text(seed=2),
        },
    )
    folder = tmp_path / "strokes_evaluation" / "Atlantean" / "character01"
    folder.mkdir(parents=True)
    (folder / "0001_01.txt").write_text(stroke_text(seed=1))
    (folder / ".DS_Store").write_bytes(b"junk")
    (folder / "._0001_01.txt").write_bytes(b"junk")
    data = Omniglot(tmp_path)
    assert data.info()["strokes_evaluation"]["drawings"] == 1
    assert [d.stem for d in data.drawings("evaluation")] == ["0001_01"]


def test_empty_folder_falls_back_to_zip(tmp_path):
    write_zip(
        tmp_path / "strokes_evaluation.zip",
        {
            "strokes_evaluation/Atlantean/character01/0001_01.txt": stroke_text(seed=1),
        },
    )
    (tmp_path / "strokes_evaluation").mkdir()
    assert Omniglot(tmp_path).info()["strokes_evaluation"]["drawings"] == 1


@pytest.mark.data
def test_extracted_image_folder(omniglot_dir, tmp_path):
    with zipfile.ZipFile(omniglot_dir / "images_evaluation.zip") as zf:
        members = sorted(
            n for n in zf.namelist() if "/Atlantean/character01/" in n and n.endswith(".png")
        )[:3]
        for name in members:
            target = tmp_path / name
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(zf.read(name))
    data = Omniglot(tmp_path)
    assert data.info()["images_evaluation"] == {"alphabets": 1, "characters": 1, "drawings": 3}
    images = list(data.images("evaluation"))
    assert [r.stem for r in images] == [Path(n).stem for n in members]
    assert all(r.image.shape == (105, 105) for r in images)


# ---------------------------------------------------------------------------- parsing


def test_parse_strokes_formats():
    # START ... BREAK per stroke, and the official "one START, BREAK between strokes" layout.
    a = parse_strokes("START\n1,-2,0\n3,-4,5\nBREAK\nSTART\n6,-7,8\nBREAK\n")
    b = parse_strokes("START\n1,-2,0\n3,-4,5\nBREAK\n6,-7,8\nBREAK\n")
    for strokes in (a, b):
        assert [s.tolist() for s in strokes] == [[[1, -2, 0], [3, -4, 5]], [[6, -7, 8]]]
        assert all(s.dtype == np.float64 for s in strokes)


def test_parse_strokes_skips_empty_blocks():
    strokes = parse_strokes(b"START\nBREAK\nSTART\n1.5,-2.25,3\nBREAK\nBREAK\n")
    assert [s.tolist() for s in strokes] == [[[1.5, -2.25, 3.0]]]


def test_parse_strokes_bad_line_names_file_and_line():
    with pytest.raises(DataError, match=r"x\.txt, line 3"):
        parse_strokes("START\n1,2,3\n1,2\nBREAK\n", name="x.txt")


# ---------------------------------------------------------------------------- errors


def test_missing_data_dir(tmp_path):
    with pytest.raises(DataNotFoundError, match="download"):
        Omniglot(tmp_path / "nowhere")


def test_split_without_strokes(tmp_path):
    with pytest.raises(DataNotFoundError, match="download"):
        next(Omniglot(tmp_path).drawings("evaluation"))


@pytest.mark.data
def test_unknown_split_and_alphabet(data):
    with pytest.raises(DataError, match="split"):
        next(data.drawings("test"))
    with pytest.raises(DataError, match="Klingon"):
        next(data.drawings(alphabets=["Klingon"]))


def test_corrupt_zip(tmp_path):
    rng = np.random.default_rng(0)
    (tmp_path / "images_background.zip").write_bytes(rng.bytes(4096))
    with pytest.raises(DataError, match="images_background.zip"):
        Omniglot(tmp_path).info()


@pytest.mark.data
def test_truncated_zip(omniglot_dir, tmp_path):
    real = (omniglot_dir / "strokes_background_small1.zip").read_bytes()
    (tmp_path / "strokes_background_small1.zip").write_bytes(real[: len(real) // 2])
    with pytest.raises(DataError, match=r"strokes_background_small1\.zip.*(corrupt|truncated)"):
        Omniglot(tmp_path).info()


def test_corrupt_member(tmp_path):
    # A zip whose listing is fine but whose data is damaged: the reader names file and entry.
    path = write_zip(
        tmp_path / "strokes_background.zip",
        {
            "strokes_background/Latin/character01/0001_01.txt": stroke_text(n_strokes=40),
        },
    )
    raw = bytearray(path.read_bytes())
    raw[60:90] = bytes(30)
    path.write_bytes(bytes(raw))
    data = Omniglot(tmp_path)
    assert data.info()["strokes_background"]["drawings"] == 1
    with pytest.raises(DataError, match=r"strokes_background\.zip.*0001_01"):
        next(data.drawings())


# ---------------------------------------------------------------------------- location


def test_data_dir_resolution(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.delenv("GNS_PYRO_DATA", raising=False)
    assert default_data_dir() == tmp_path / "cache" / "gns_pyro" / "omniglot"
    assert resolve_data_dir() == default_data_dir()
    monkeypatch.setenv("GNS_PYRO_DATA", str(tmp_path / "env"))
    assert resolve_data_dir() == tmp_path / "env"
    assert resolve_data_dir(tmp_path / "explicit") == tmp_path / "explicit"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_data_dir() == tmp_path / "home" / ".cache" / "gns_pyro" / "omniglot"


@pytest.mark.data
@pytest.mark.parametrize(
    "damage, message",
    [
        ("empty labels", "no label lines"),
        ("extra training png", "no test item's class"),
        ("contradictory duplicate", "labelled twice"),
        ("unlabelled test png", "have no label"),
    ],
)
def test_inconsistent_runs_are_refused(omniglot_dir, tmp_path, damage, message):
    run = tmp_path / "run03"
    shutil.copytree(omniglot_dir / "one-shot-classification" / "run03", run)
    labels = run / "class_labels.txt"
    lines = labels.read_text().splitlines()
    if damage == "empty labels":
        labels.write_text("")
    elif damage == "extra training png":
        shutil.copyfile(run / "training" / "class01.png", run / "training" / "class21.png")
    elif damage == "contradictory duplicate":
        test, train = lines[0].split()
        other = next(t for _, t in (line.split() for line in lines) if t != train)
        labels.write_text("\n".join([*lines, f"{test} {other}"]) + "\n")
    else:
        shutil.copyfile(run / "test" / "item01.png", run / "test" / "item21.png")
    with pytest.raises(DataError, match=message):
        Omniglot(tmp_path).one_shot_run("run03")
