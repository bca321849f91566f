import numpy as np
import pytest
import torch

from gns_pyro.parses import Parses, Tokens


def _drawings():
    rng = np.random.default_rng(0)
    return [
        [rng.normal(size=(2, 2)), rng.normal(size=(5, 2))],
        [rng.normal(size=(3, 2))],
        [rng.normal(size=(4, 2)), rng.normal(size=(2, 2)), rng.normal(size=(7, 2))],
    ]


def test_round_trip_and_shapes():
    drawings = _drawings()
    parses = Parses.from_control_points(drawings, dtype=torch.float64)
    assert parses.locations.shape == (3, 3, 2)
    assert parses.offsets.shape == (3, 3, 6, 2)
    assert parses.num_strokes.tolist() == [2, 1, 3]
    assert parses.num_control.tolist() == [[2, 5, 0], [3, 0, 0], [4, 2, 7]]
    back = parses.to_control_points_list()
    for d_in, d_out in zip(drawings, back):
        assert len(d_in) == len(d_out)
        for a, b in zip(d_in, d_out):
            np.testing.assert_allclose(a, b, atol=1e-12)


def test_offsets_are_differences_and_padding_is_zero():
    parses = Parses.from_control_points(_drawings(), dtype=torch.float64)
    assert (parses.offsets[~parses.offset_mask] == 0).all()
    assert (parses.locations[~parses.stroke_mask] == 0).all()
    cp = parses.control_points
    torch.testing.assert_close(
        cp[:, :, 1:] - cp[:, :, :-1], parses.offsets * parses.offset_mask[..., None]
    )


def test_index_cat_pad():
    parses = Parses.from_control_points(_drawings())
    one = parses[1]
    assert len(one) == 1 and one.num_strokes.tolist() == [1]
    both = Parses.cat([parses[1:2], Parses.from_control_points([[np.zeros((9, 2))]])])
    assert both.max_offsets == 8 and both.max_strokes == 3
    assert both.num_control.tolist() == [[3, 0, 0], [9, 0, 0]]
    sub = parses[torch.tensor([True, False, True])]
    assert sub.num_strokes.tolist() == [2, 3]
    with pytest.raises(ValueError, match="shrink"):
        parses.pad(1, 1)


def test_bad_shapes_rejected():
    with pytest.raises(ValueError, match="at least 2 control points"):
        Parses.from_control_points([[np.zeros((1, 2))]])
    with pytest.raises(ValueError, match="zero parses"):
        Parses.from_control_points([])
    good = Parses.from_control_points(_drawings())
    with pytest.raises(ValueError, match="locations"):
        Parses(good.locations[:, :1], good.offsets, good.stroke_mask, good.offset_mask)


def test_curves_follow_the_drawn_control_points_warp_included():
    import numpy as np
    import torch

    from gns_pyro.parses import Parses

    line = np.array([[10.0, 20.0], [30.0, 20.0], [50.0, 20.0]])
    types = Parses.from_control_points([[line], [line, line + [0.0, 30.0]]])
    assert [len(c) for c in types.curves()] == [1, 2]
    first = types.curves(points=7)[0][0]
    assert first.shape == (7, 2)
    np.testing.assert_allclose(first[0], line[0], atol=1e-5)  # clamped: ends on the end points
    np.testing.assert_allclose(first[-1], line[-1], atol=1e-5)
    np.testing.assert_allclose(first[:, 1], 20.0, atol=1e-5)
    # a token warp (scale x by 2 about the centroid) is applied to what is drawn
    tokens = Tokens.of(
        types[:1], torch.tensor([[2.0, 1.0, 0.0, 0.0]]), torch.ones(1), torch.ones(1) * 0.01
    )
    warped = tokens.drawn_control_points()[0][0]
    np.testing.assert_allclose(warped[:, 0], [-10.0, 30.0, 70.0], atol=1e-4)
    np.testing.assert_allclose(tokens.curves()[0][0][[0, -1], 0], [-10.0, 70.0], atol=1e-4)


def test_tokens_carry_render_variables_and_keep_their_types_slots():
    line = np.array([[10.0, 20.0], [30.0, 20.0], [50.0, 20.0]])
    types = Parses.from_control_points([[line], [line, line + [0.0, 30.0]]])
    tokens = Tokens.of(
        types, torch.tensor([[1.0, 1.0, 0.0, 0.0]] * 2), torch.ones(2), torch.ones(2)
    )
    # indexing, trimming, moving and concatenating keep tokens tokens, in their types' slots
    for derived in (tokens[1:], tokens[:1].trim(), tokens.to(dtype=torch.float64)):
        assert isinstance(derived, Tokens)
    assert tokens[:1].trim().same_slots(types[:1].trim())
    both = Tokens.cat([tokens[:1], tokens[1:]])
    assert isinstance(both, Tokens) and both.same_slots(types)
    torch.testing.assert_close(both.blur, tokens.blur)
    assert type(tokens.strokes) is Parses and tokens.strokes.same_slots(types)
    # a type is not a token, and a token needs all three render variables with their shapes
    with pytest.raises(TypeError, match="Parses.cat was given Tokens"):
        Parses.cat([types, tokens])
    with pytest.raises(ValueError, match="blur of shape"):
        Tokens.of(types, torch.ones(2, 4), torch.ones(3), torch.ones(2))
    assert not hasattr(types, "affine")
