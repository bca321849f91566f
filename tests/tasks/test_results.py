import json
import os
import stat

import numpy as np
import pytest
import torch

from gns_pyro.tasks.results import ResultStore, image_digest, read_result, write_result


def test_round_trip(tmp_path):
    write_result(tmp_path / "a.json", {"correct": True})
    assert read_result(tmp_path / "a.json") == {"correct": True}


def test_results_get_the_mode_a_plain_open_would_give(tmp_path):
    write_result(tmp_path / "a.json", {"correct": True})
    mask = os.umask(0o022)
    os.umask(mask)
    assert stat.S_IMODE((tmp_path / "a.json").stat().st_mode) == 0o666 & ~mask


@pytest.mark.parametrize(
    "content", [b"\x00\xff random bytes \xfe", b"[]", b'"a string"', b"3", b"null", b"{"]
)
def test_anything_but_a_json_object_is_redone(tmp_path, content):
    store = ResultStore(tmp_path)
    path = store.path("r", {"k": 1})
    path.write_bytes(content)
    assert read_result(path) is None
    assert read_result(tmp_path / "missing.json") is None
    assert store.get("r", {"k": 1}) is None
    store.put("r", {"k": 1}, {"value": 2})
    assert store.counts() == {"reused": 0, "computed": 0, "recomputed": 1, "missing": 0}


def test_store_reuses_only_results_made_from_the_same_key(tmp_path):
    key = {"k": 5, "weights": "ab", "image": "cd", "settings": {"steps": (1, 2)}}
    store = ResultStore(tmp_path)
    assert store.get("x", key) is None
    saved = store.put("x", key, {"value": 1.5})
    assert saved["key"] == key
    assert json.loads(store.path("x", key).read_text())["value"] == 1.5
    again = ResultStore(tmp_path)
    assert again.get("x", key)["value"] == 1.5  # tuples survive the JSON round trip
    for changed in ({**key, "k": 1}, {**key, "weights": "zz"}, {**key, "image": "ee"}):
        assert again.get("x", changed) is None
    assert again.get("y", key) is None  # never made
    assert again.counts() == {"reused": 1, "computed": 0, "recomputed": 0, "missing": 2}
    again.put("x", {**key, "k": 1}, {"value": 0.0})  # another setting: a file of its own
    assert again.counts()["computed"] == 1 and again.counts()["missing"] == 1


def test_two_settings_coexist_in_one_folder(tmp_path):
    """A shared result folder keeps the results of every setting: none overwrites another."""
    first, second = ResultStore(tmp_path), ResultStore(tmp_path)
    first.put("run01_item01", {"steps": 75}, {"value": "slow"})
    second.put("run01_item01", {"steps": 30}, {"value": "fast"})
    assert len(list(tmp_path.glob("run01_item01.*.json"))) == 2
    assert ResultStore(tmp_path).get("run01_item01", {"steps": 75})["value"] == "slow"
    assert ResultStore(tmp_path).get("run01_item01", {"steps": 30})["value"] == "fast"


def test_a_result_saved_under_the_older_unkeyed_name_is_still_found(tmp_path):
    write_result(tmp_path / "a.json", {"value": 3, "key": {"k": 1}})
    assert ResultStore(tmp_path).get("a", {"k": 1})["value"] == 3
    assert ResultStore(tmp_path).get("a", {"k": 2}) is None


def test_a_result_copied_over_another_is_not_taken_for_it(tmp_path):
    store = ResultStore(tmp_path)
    store.put("a", {"image": "1"}, {"value": "a"})
    store.put("b", {"image": "2"}, {"value": "b"})
    store.path("b", {"image": "2"}).write_text(store.path("a", {"image": "1"}).read_text())
    assert ResultStore(tmp_path).get("b", {"image": "2"}) is None


def test_image_digest_is_the_same_for_tensors_and_arrays_and_sees_one_pixel():
    image = np.zeros((105, 105), bool)
    assert image_digest(image) == image_digest(torch.from_numpy(image))
    assert image_digest(image) == image_digest(torch.from_numpy(image).float())
    image[3, 4] = True
    assert image_digest(image) != image_digest(np.zeros((105, 105), bool))


def test_a_result_without_its_required_fields_is_recomputed(tmp_path):
    ResultStore(tmp_path).put("a", {"k": 1}, {"value": 1.0})
    store = ResultStore(tmp_path, required=("value", "correct"))
    assert store.get("a", {"k": 1}) is None  # right key, but no "correct": not trusted
    store.put("a", {"k": 1}, {"value": 1.0, "correct": True})
    assert store.counts()["recomputed"] == 1
    assert ResultStore(tmp_path, required=("correct",)).get("a", {"k": 1})["correct"] is True
