import json

import numpy as np
import torch

from gns_pyro.cli import main
from gns_pyro.parses import Parses
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
    tokens = Parses.from_control_points(strokes)
    identity = tokens_to_json(tokens)[0]["strokes"][0]
    np.testing.assert_allclose(identity, [[10.0, 20.0], [30.0, 40.0]])
    shifted = tokens.replace(affine=torch.tensor([[1.0, 1.0, 5.0, -3.0]]))  # scales 1, shift
    record = tokens_to_json(shifted)[0]
    np.testing.assert_allclose(record["strokes"][0], [[15.0, 17.0], [35.0, 37.0]])
    assert record["affine"] == [1.0, 1.0, 5.0, -3.0]
