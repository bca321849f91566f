import pytest

from gns_pyro.tasks.results import read_result, write_result


def test_round_trip(tmp_path):
    write_result(tmp_path / "a.json", {"correct": True})
    assert read_result(tmp_path / "a.json") == {"correct": True}


@pytest.mark.parametrize(
    "content", [b"\x00\xff random bytes \xfe", b"[]", b'"a string"', b"3", b"null", b"{"]
)
def test_anything_but_a_json_object_is_redone(tmp_path, content):
    path = tmp_path / "r.json"
    path.write_bytes(content)
    assert read_result(path) is None
    assert read_result(tmp_path / "missing.json") is None
