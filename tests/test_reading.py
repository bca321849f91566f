"""The reading boundary (gns_pyro.reading): FIFOs, devices, folders, oversized files, hostile
JSON, pickles and zip bombs are refused with one line, quickly, never read whole."""

from __future__ import annotations

import json
import os
import pickle
import sys
import time
import zipfile

import pytest
import torch

from gns_pyro import reading
from gns_pyro.reading import (
    UntrustedFile,
    check_file,
    load_tensors,
    open_zip,
    read_bytes,
    read_json,
    read_zip_member,
)

posix = pytest.mark.skipif(sys.platform == "win32", reason="POSIX special files")


@posix
@pytest.mark.parametrize("reader", [read_bytes, read_json, load_tensors])
def test_a_fifo_is_refused_at_once(tmp_path, reader):
    fifo = tmp_path / "result.json"
    os.mkfifo(fifo)  # nobody writes: reading it would block forever
    start = time.monotonic()
    with pytest.raises(UntrustedFile, match=r"result.json is a FIFO, not a regular file"):
        reader(fifo, "result")
    assert time.monotonic() - start < 1


@posix
def test_a_device_and_a_folder_are_refused(tmp_path):
    with pytest.raises(UntrustedFile, match="/dev/zero is a character device"):
        read_bytes("/dev/zero", "image")  # would never end
    with pytest.raises(UntrustedFile, match="is a folder"):
        read_json(tmp_path, "result")
    with pytest.raises(FileNotFoundError):
        check_file(tmp_path / "missing.json", "result")


def test_a_file_over_the_cap_of_its_kind_is_refused_unread(tmp_path, monkeypatch):
    big = tmp_path / "weights.pt"
    with open(big, "wb") as f:  # sparse: 9 GB that take no space
        f.truncate(9 << 30)
    with pytest.raises(UntrustedFile, match=r"holds 9,663,676,416 bytes, more than a weights"):
        load_tensors(big, "weights")
    monkeypatch.setitem(reading.SIZE_LIMITS, "result", 10)
    small = tmp_path / "r.json"
    small.write_text('{"a": 12345}')
    with pytest.raises(UntrustedFile, match="more than a result may"):
        read_json(small, "result")
    with pytest.raises(ValueError, match="unknown file kind"):
        read_bytes(small, "poem")


@pytest.mark.parametrize(
    "text, problem",
    [
        ('{"x": NaN}', "NaN"),
        ('{"x": ' + "9" * 5000 + "}", "not valid JSON"),  # beyond Python's int digit limit
        ("[" * 100_000 + "]" * 100_000, "not valid JSON|deeper"),
        ("[" * 65 + "]" * 65, "nests deeper than 64"),
        ('{"x": 1', "not valid JSON"),
        (b"\xff\xfe\x00binary", "not valid JSON"),
    ],
)
def test_hostile_json_is_not_trusted(tmp_path, text, problem):
    path = tmp_path / "result.json"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(UntrustedFile, match=problem):
        read_json(path, "result")


def test_json_that_is_fine_reads_back(tmp_path):
    path = tmp_path / "result.json"
    value = {"scores": {"a": -1.5, "b": float("-inf")}, "nested": [[[1, 2]]], "s": "é"}
    path.write_text(json.dumps(value))
    assert read_json(path, "result") == value  # -inf: a class never rescored


def test_a_pickle_in_a_tensor_file_never_runs(tmp_path):
    marker = tmp_path / "ran"

    class Payload:
        def __reduce__(self):
            return (open, (str(marker), "w"))

    path = tmp_path / "cache.pt"
    path.write_bytes(pickle.dumps({"key": Payload()}))
    with pytest.raises(UntrustedFile, match="not a tensor file gns-pyro can load"):
        load_tensors(path, "parse_cache")
    assert not marker.exists()
    torch.save({"x": torch.ones(2)}, path)
    assert torch.equal(load_tensors(path, "parse_cache")["x"], torch.ones(2))


def test_zips_are_checked_before_anything_is_extracted(tmp_path, monkeypatch):
    path = tmp_path / "strokes_background.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("a.txt", "0" * 100_000)  # compresses to almost nothing
        zf.writestr("b.txt", "1")
    with open_zip(path) as zf:
        assert read_zip_member(zf, "b.txt", "drawing") == b"1"
        monkeypatch.setitem(reading.SIZE_LIMITS, "drawing", 1000)
        with pytest.raises(UntrustedFile, match="a.txt unpacks to 100,000 bytes"):
            read_zip_member(zf, "a.txt", "drawing")
    monkeypatch.setattr(reading, "MAX_ZIP_UNCOMPRESSED", 50_000)
    with pytest.raises(UntrustedFile, match="would unpack to 100,001 bytes"):
        open_zip(path)
    monkeypatch.setattr(reading, "MAX_ZIP_MEMBERS", 1)
    with pytest.raises(UntrustedFile, match="has 2 members"):
        open_zip(path)


@posix
def test_a_fifo_image_is_one_error_from_load_image(tmp_path):
    from gns_pyro.data.images import load_image
    from gns_pyro.errors import DataError

    fifo = tmp_path / "char.png"
    os.mkfifo(fifo)
    with pytest.raises(DataError, match="char.png is a FIFO"):
        load_image(fifo)


def test_a_result_holding_nan_is_recomputed(tmp_path):
    from gns_pyro.tasks.results import ResultStore

    store = ResultStore(tmp_path)
    store.put("image1", {"k": 1}, {"log_marginal": -400.0})
    path = next(tmp_path.glob("*.json"))
    path.write_text(path.read_text().replace("-400.0", "NaN"))
    assert store.get("image1", {"k": 1}) is None  # not trusted: redone ...
    store.put("image1", {"k": 1}, {"log_marginal": -401.0})
    assert store.recomputed == 1  # ... and counted as such
