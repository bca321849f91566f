"""The classifier judges: interval arithmetic, the group split, and judges that can and
cannot tell two sets apart."""

import pytest
import torch
import torch.nn.functional as F

from gns_pyro.evaluate.judges import (
    JudgeSettings,
    _split,
    binarize,
    held_out_groups,
    judge_accuracy,
    train_judge,
    two_sample_test,
    wilson_interval,
)

FAST = JudgeSettings(size=24, epochs=8, seed=0)


def _strokes(n: int, seed: int, width: int = 1) -> torch.Tensor:
    """``n`` 64 x 64 images of two random straight strokes, ``width`` pixels thick."""
    g = torch.Generator().manual_seed(seed)
    images = torch.zeros(n, 64, 64)
    t = torch.linspace(0, 1, 80)
    for i in range(n):
        for _ in range(2):
            a, b = torch.rand(2, 2, generator=g) * 48 + 8
            points = (a + t[:, None] * (b - a)).round().long()
            images[i, points[:, 1], points[:, 0]] = 1.0
    if width > 1:
        images = F.max_pool2d(images[:, None], width, 1, width // 2)[:, 0, :64, :64]
    return images > 0.5


def test_wilson_interval_of_known_counts():
    lo, hi = wilson_interval(4, 200)  # the README's 4 errors in 200 trials: 0.8-5.0%
    assert lo == pytest.approx(0.0078, abs=5e-5) and hi == pytest.approx(0.0503, abs=5e-5)
    assert wilson_interval(0, 10)[0] == 0.0
    assert wilson_interval(10, 10)[1] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="correct <= total"):
        wilson_interval(3, 2)


def test_split_keeps_each_group_on_one_side():
    groups = torch.arange(40).repeat_interleave(5)
    held = _split(groups, 0.3, torch.Generator().manual_seed(1))
    for g in groups.unique():
        assert held[groups == g].all() or not held[groups == g].any()
    assert int(held.sum()) == 12 * 5
    with pytest.raises(ValueError, match="two groups"):
        _split(torch.zeros(5, dtype=torch.long), 0.3, torch.Generator())


def test_a_judge_tells_thin_from_thick_strokes():
    result = two_sample_test(_strokes(150, 0), _strokes(150, 1, width=3), settings=FAST)
    assert result.accuracy > 0.9 and result.tested == 90
    assert result.chance == pytest.approx(0.5, abs=0.1)


def test_a_judge_cannot_tell_a_set_from_itself():
    result = two_sample_test(_strokes(150, 2), _strokes(150, 3), settings=FAST)
    assert 0.3 < result.accuracy < 0.7
    assert result.interval[0] < 0.5 < result.interval[1]


def test_judges_are_reproducible_and_score_other_images():
    images = torch.cat([_strokes(60, 4), _strokes(60, 5, width=3)])
    labels = torch.cat([torch.zeros(60), torch.ones(60)]).long()
    net, first = train_judge(images, labels, settings=FAST)
    _, again = train_judge(images, labels, settings=FAST)
    assert first == again
    other = judge_accuracy(net, _strokes(20, 6, width=3), torch.ones(20), FAST)
    assert other.tested == 20 and other.accuracy > 0.8


def test_an_alphabet_judge_names_three_styles_and_says_which_groups_it_held_out():
    # three "alphabets" (stroke widths 1, 3, 5), 10 "characters" of 6 drawings each
    images = torch.cat([_strokes(60, 7 + w, width=w) for w in (1, 3, 5)])
    labels = torch.arange(3).repeat_interleave(60)
    groups = torch.arange(30).repeat_interleave(6)
    _, result = train_judge(images, labels, groups, FAST)
    held = held_out_groups(groups, FAST)
    assert result.tested == int(torch.isin(groups, held).sum())  # exactly those groups tested
    assert result.accuracy > 0.8 and result.chance < 0.6
    shuffled = labels[torch.randperm(180, generator=torch.Generator().manual_seed(0))]
    _, by_chance = train_judge(images, shuffled, groups, FAST)  # labels carry no style
    assert by_chance.accuracy < 0.6


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="differ in size"):
        two_sample_test(_strokes(8, 0), torch.zeros(8, 32, 32, dtype=torch.bool))
    with pytest.raises(ValueError, match="at least 4 images"):
        two_sample_test(_strokes(3, 0), _strokes(3, 1))
    with pytest.raises(ValueError, match="NaN"):
        binarize(torch.full((2, 8, 8), float("nan")))
    with pytest.raises(ValueError, match="size must be"):
        JudgeSettings(size=4)
