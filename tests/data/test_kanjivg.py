"""The KanjiVG reader: stroke count and order, coordinates on the 109x109 canvas, Béziers
sampled on the curve, and bad SVG input as one clear error."""

from __future__ import annotations

import numpy as np
import pytest

from gns_pyro.data.kanjivg import CANVAS, kanjivg_files, path_points, read_kanji
from gns_pyro.errors import DataError, DataNotFoundError

HEADER = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<svg xmlns="http://www.w3.org/2000/svg" width="109" height="109" viewBox="0 0 109 109" '
    'xmlns:kvg="http://kanjivg.tagaini.net">\n'
)


def svg(paths: dict[int, str], element: str = "十") -> bytes:
    """A KanjiVG-style file whose strokes are listed out of order (the reader must sort)."""
    body = "".join(
        f'<path id="kvg:05341-s{n}" kvg:type="㇐" d="{d}"/>\n' for n, d in reversed(paths.items())
    )
    return (
        HEADER + f'<g id="kvg:StrokePaths_05341"><g id="kvg:05341" kvg:element="{element}">\n'
        f"{body}</g></g>\n"
        '<g id="kvg:StrokeNumbers_05341"><text>1</text></g></svg>\n'
    ).encode()


CROSS = {
    1: "M14.5,50.5c20,-1 60,-1.5 80,-0.5",  # the horizontal stroke, drawn first
    2: "M54,12.25c0.5,1.5 0.75,3 0.75,5L55,96",  # then the vertical: a curve, then a line
}


def test_strokes_come_in_canonical_order_on_the_canvas():
    kanji = read_kanji(svg(CROSS), name="cross")
    assert kanji.character == "十" and len(kanji.strokes) == 2
    horizontal, vertical = kanji.strokes
    assert np.ptp(horizontal[:, 0]) > 70 and np.ptp(horizontal[:, 1]) < 3
    assert np.ptp(vertical[:, 1]) > 80 and np.ptp(vertical[:, 0]) < 3
    for stroke in kanji.strokes:
        assert (stroke >= 0).all() and (stroke <= CANVAS).all()
        gaps = np.linalg.norm(np.diff(stroke, axis=0), axis=1)
        assert gaps.max() < 2.0  # densely sampled along the path
    np.testing.assert_allclose(horizontal[0], [14.5, 50.5])
    np.testing.assert_allclose(horizontal[-1], [94.5, 50.0])  # relative end point
    np.testing.assert_allclose(vertical[-1], [55.0, 96.0])


def test_bezier_points_lie_on_the_curve():
    """A cubic with collinear controls stays on its line; S reflects the last control."""
    points = path_points("M0,0C10,10 20,20 30,30S50,50 60,60")
    np.testing.assert_allclose(points[:, 0], points[:, 1], atol=1e-9)
    np.testing.assert_allclose(points[-1], [60, 60])
    # the midpoint of a symmetric cubic is (p0 + 3 p1 + 3 p2 + p3) / 8
    arch = path_points("M0,0C0,40 40,40 40,0")
    assert arch[:, 1].max() == pytest.approx(30.0, abs=0.05)


def test_numbers_without_separators_parse():
    a = path_points("M11,54.25c3.19,0.62,6.25,0.75,9.73,0.5c20.64-1.5,50.39-5.12,68.58-5.24")
    b = path_points(
        "M 11 54.25 c 3.19 0.62 6.25 0.75 9.73 0.5 c 20.64 -1.5 50.39 -5.12 68.58 -5.24"
    )
    np.testing.assert_allclose(a, b)
    np.testing.assert_allclose(a[-1], [11 + 9.73 + 68.58, 54.25 + 0.5 - 5.24])


@pytest.mark.parametrize(
    "content, match",
    [
        (b"<svg", "not a readable SVG"),
        (b"not xml at all", "not a readable SVG"),
        (HEADER.encode() + b"</svg>", "no KanjiVG stroke paths"),
        (svg({1: "M10,10Q20,20 30,30"}), "not moves, lines and B"),
        (svg({1: "M10,10c1,2,3"}), "needs 6 numbers"),
        (svg({1: "10,10c1,2,3,4,5,6"}), "starts with a number"),
        (svg({1: "M10,10"}), "draws nothing"),
        (svg({1: "M10,10L900,10"}), "outside the 109x109 canvas"),
        (svg({1: "M1,1L5,5", 3: "M1,1L5,5"}), "not 1..2"),
    ],
)
def test_bad_svg_is_one_clear_error(content, match):
    with pytest.raises(DataError, match=match) as info:
        read_kanji(content, name="bad.svg")
    assert "\n" not in str(info.value) and "bad.svg" in str(info.value)


def test_missing_files_and_folders_are_named(tmp_path):
    with pytest.raises(DataNotFoundError, match="not found"):
        read_kanji(tmp_path / "05341.svg")
    with pytest.raises(DataNotFoundError, match="no KanjiVG"):
        kanjivg_files(tmp_path)
    (tmp_path / "05341.svg").write_bytes(svg(CROSS))
    kanji = read_kanji(kanjivg_files(tmp_path)[0])
    assert kanji.codepoint == "05341" and len(kanji.strokes) == 2


def test_the_installed_kanjivg_files_read_with_their_stroke_counts():
    """Real files from the kanjivg package (a dev dependency): 一 has one stroke, 十 two,
    木 four, 書 ten; every point of 200 files lies on the canvas."""
    files = {f.stem: f for f in kanjivg_files()}
    for code, count, char in (("04e00", 1, "一"), ("05341", 2, "十"), ("06728", 4, "木"),
                              ("066f8", 10, "書")):  # fmt: skip
        kanji = read_kanji(files[code])
        assert (kanji.character, len(kanji.strokes)) == (char, count)
    one = read_kanji(files["04e00"]).strokes[0]
    assert one[0, 0] < one[-1, 0]  # drawn left to right
    rng = np.random.default_rng(0)
    for path in rng.choice(sorted(files.values()), size=200, replace=False):
        for stroke in read_kanji(path).strokes:
            assert (stroke > -5).all() and (stroke < CANVAS + 5).all(), path
