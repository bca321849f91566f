import json

import numpy as np
import pytest
import torch

from gns_pyro.cli import main
from gns_pyro.parses import Parses, Tokens
from gns_pyro.sample import tokens_to_json


def test_sample_json_carries_its_settings_and_exemplars(tmp_path, capsys):
    out = tmp_path / "grid.png"
    argv = ["sample", "--n", "2", "--exemplars", "3", "--seed", "4", "--json", "--out", str(out)]
    assert main(argv) == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert record["seed"] == 4 and record["exemplars"] == 3 and out.exists()
    assert len(record["types"]) == 2
    for concept in record["types"]:
        assert len(concept["exemplars"]) == 3
        for token in concept["exemplars"]:
            # a token has the strokes of its type, warped; with its warp, blur and noise
            assert len(token["strokes"]) == len(concept["strokes"])
            assert len(token["affine"]) == 4 and len(token["blur"]) == 1


def test_tokens_to_json_applies_the_warp():
    strokes = [[torch.tensor([[10.0, 20.0], [30.0, 40.0]])]]
    types = Parses.from_control_points(strokes)
    tokens = Tokens.of(types, torch.tensor([[1.0, 1.0, 0.0, 0.0]]), torch.ones(1), torch.ones(1))
    identity = tokens_to_json(tokens)[0]["strokes"][0]
    np.testing.assert_allclose(identity, [[10.0, 20.0], [30.0, 40.0]])
    shifted = tokens.replace(affine=torch.tensor([[1.0, 1.0, 5.0, -3.0]]))  # scales 1, shift
    record = tokens_to_json(shifted)[0]
    np.testing.assert_allclose(record["strokes"][0], [[15.0, 17.0], [35.0, 37.0]])
    assert record["affine"] == [1.0, 1.0, 5.0, -3.0]


def test_sample_caps_the_strokes_of_a_concept(tmp_path, capsys):
    from gns_pyro.models import CharacterParts
    from gns_pyro.sample import MAX_SAMPLE_STROKES, sample_types

    # untrained nets rarely stop: the cap is what ends their types
    torch.manual_seed(0)
    parts = CharacterParts().eval()
    with torch.no_grad():
        parts.termination_net.head[-1].bias.fill_(-20.0)  # "never stop"
    types, log_prob = sample_types(3, temperature=1.0, seed=0, parts=parts)
    assert (types.num_strokes == MAX_SAMPLE_STROKES).all()
    assert torch.isfinite(log_prob).all()
    types, _ = sample_types(3, temperature=1.0, seed=0, parts=parts, max_strokes=2)
    assert (types.num_strokes == 2).all()
    out = tmp_path / "grid.png"
    argv = ["sample", "--n", "2", "--max-strokes", "1", "--json", "--out", str(out)]
    assert main(argv) == 0
    record = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert record["max_strokes"] == 1
    assert all(len(t["strokes"]) == 1 for t in record["types"])


def test_sample_statistics_count_ink_inside_the_domains_own_frame():
    """The statistics describe the same seeded samples that ``sample_types`` draws, and ink
    is inside when every rendered point lies in ``[0, image_size - 1]`` of the domain."""
    import pyro
    import torch

    from gns_pyro.models import CharacterParts
    from gns_pyro.renderer import sample_strokes
    from gns_pyro.sample import sample_statistics, sample_types

    torch.manual_seed(0)
    parts = CharacterParts(image_size=48).eval()  # untrained: strokes go anywhere
    stats = sample_statistics(parts, n=30, temperature=1.0, seed=3, batch_size=30)
    pyro.set_rng_seed(3)
    types, _ = sample_types(30, 1.0, None, parts)
    assert stats["mean_strokes"] == float(types.num_strokes.float().mean())
    inside = []
    for b in range(30):
        keep = types.stroke_mask[b]
        points, ink = sample_strokes(types.control_points[b][keep], types.num_control[b][keep])
        drawn = points[ink > 0]
        inside.append(bool(((drawn >= 0) & (drawn <= 47)).all()))
    assert stats["fraction_inside_frame"] == pytest.approx(sum(inside) / 30)
    assert 0 < stats["fraction_inside_frame"] < 1  # the check can go either way here
    f = sum(inside) / 30
    assert stats["fraction_inside_frame_se"] == pytest.approx((f * (1 - f) / 30) ** 0.5, rel=1e-5)


@pytest.mark.parametrize("value", ["1e39", "1e-46", "0.001", "101"])
def test_sample_refuses_temperatures_outside_the_range(value, capsys):
    with pytest.raises(SystemExit):
        main(["sample", "--temperature", value])
    assert "a temperature must be in [0.01, 100]" in capsys.readouterr().err


def test_a_sampler_giving_non_finite_values_is_an_error(monkeypatch):
    """Whatever the cause, sample_types never hands NaN strokes on."""
    import gns_pyro.sample as sample_module
    from gns_pyro.errors import GNSError

    real = sample_module.generate_type

    def broken(*args, **kwargs):
        types = real(*args, **kwargs)
        types.locations[0] = float("nan")
        return types

    monkeypatch.setattr(sample_module, "generate_type", broken)
    with pytest.raises(GNSError, match="non-finite"):
        sample_module.sample_types(2, 1.0, seed=0)
