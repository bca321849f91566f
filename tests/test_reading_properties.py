"""Property tests of the reading boundary: random bytes, random JSON and random tensors, as
each kind of file the project reads, give a correct result, a "not trusted" answer (None:
recompute) or one gns-pyro error -- never another exception, a hang, a NaN or an unbounded
allocation. Every example runs under an address-space limit a little above what the process
already holds, and an alarm."""

from __future__ import annotations

import contextlib
import io
import json
import math
import resource
import signal
import sys
import zipfile

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gns_pyro.data.images import load_image
from gns_pyro.errors import GNSError
from gns_pyro.parses import Parses, Tokens
from gns_pyro.pretrained import load_type_prior
from gns_pyro.reading import open_zip
from gns_pyro.tasks.classify import consistent_trial, load_posterior
from gns_pyro.tasks.results import read_result

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX limits and alarms")

#: memory an example may allocate beyond what the process holds, and seconds it may take
HEADROOM = 1 << 31
SECONDS = 20
EXAMPLES = settings(
    max_examples=40,
    deadline=None,  # the alarm bounds time; first calls into torch are slow
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def _virtual_size() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmSize:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmSize")


class Hang(Exception):
    pass


@contextlib.contextmanager
def bounded():
    """Run the block under an address-space limit and an alarm (both restored after)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    resource.setrlimit(resource.RLIMIT_AS, (_virtual_size() + HEADROOM, hard))

    def ring(signum, frame):
        raise Hang(f"no answer within {SECONDS} s")

    previous = signal.signal(signal.SIGALRM, ring)
    signal.alarm(SECONDS)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)
        resource.setrlimit(resource.RLIMIT_AS, (soft, hard))


def json_values():
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(min_value=-(10**400), max_value=10**400)
        | st.floats(allow_nan=True, allow_infinity=True)
        | st.text(max_size=12)
    )
    return st.recursive(
        scalars,
        lambda inner: (
            st.lists(inner, max_size=4)
            | st.dictionaries(
                st.sampled_from(["scores", "predicted", "truth", "correct", "x"])
                | st.text(max_size=6),
                inner,
                max_size=5,
            )
        ),
        max_leaves=25,
    )


def file_bytes():
    """Random bytes, random JSON text, deep nesting, and zip archives of random members."""
    nested = st.integers(1, 5000).map(lambda n: ("[" * n + "]" * n).encode())
    as_json = json_values().map(lambda v: json.dumps(v, allow_nan=True).encode())
    return st.one_of(st.binary(max_size=3000), as_json, nested, zips())


@st.composite
def zips(draw):
    buffer = io.BytesIO()
    names = ["run01/class_labels.txt", "run01/test/item01.png", "run01/training/class01.png"]
    with zipfile.ZipFile(buffer, "w") as archive:
        for name in draw(st.lists(st.sampled_from(names), max_size=3, unique=True)):
            archive.writestr(name, draw(st.binary(max_size=200)))
    data = buffer.getvalue()
    cut = draw(st.integers(0, len(data)))
    return data[:cut] if draw(st.booleans()) else data


def test_the_limits_bind():
    """The bounds are real: an allocation past the headroom fails, and a hang is cut off."""
    with pytest.raises(MemoryError):
        with bounded():
            bytearray(2 * HEADROOM)
    with pytest.raises(Hang):
        with bounded():
            signal.setitimer(signal.ITIMER_REAL, 0.2)  # as the alarm would, sooner
            while True:
                pass


@given(data=file_bytes())
@EXAMPLES
def test_any_bytes_as_a_result_or_trial(tmp_path, data):
    path = tmp_path / "trial.json"
    path.write_bytes(data)
    with bounded():
        result = read_result(path)
        if result is not None:
            assert isinstance(result, dict)
            trusted = consistent_trial(result, ["class01", "class02"])
            if trusted:
                scores = result["scores"]
                assert all(math.isfinite(scores[c]) for c in ("class01", "class02"))
                best = max(scores, key=scores.get)
                assert result["predicted"] == best
                assert result["correct"] == (best == result["truth"])


@given(data=file_bytes())
@EXAMPLES
def test_any_bytes_as_an_image_or_a_runs_zip(tmp_path, data):
    image, archive = tmp_path / "x.png", tmp_path / "all_runs.zip"
    image.write_bytes(data)
    archive.write_bytes(data)
    with bounded():
        try:
            loaded = load_image(image)
            assert loaded.shape == (105, 105) and loaded.dtype == torch.bool
        except GNSError:
            pass
        try:
            open_zip(archive).close()
        except GNSError:
            pass


def tensors():
    shapes = st.lists(st.integers(0, 4), min_size=0, max_size=4)
    dtypes = st.sampled_from([torch.float32, torch.float64, torch.int64, torch.bool])
    fills = st.sampled_from([0.0, 1.0, -1.0, float("nan"), float("inf"), 1e30])
    return st.builds(lambda s, d, f: torch.full(s, f).to(d), shapes, dtypes, fills)


@given(
    fields=st.fixed_dictionaries(
        {
            name: tensors()
            for name in ("locations", "offsets", "stroke_mask", "offset_mask", "log_weights")
        }
    ),
    num_proposals=json_values(),
)
@EXAMPLES
def test_any_tensors_as_a_parse_cache(tmp_path, fields, num_proposals):
    path = tmp_path / "class01.pt"
    key = {"image": "x"}
    types = {n: fields[n] for n in ("locations", "offsets", "stroke_mask", "offset_mask")}
    payload = {
        "key": json.dumps(key, sort_keys=True),
        "image": torch.zeros(105, 105, dtype=torch.bool),
        "types": types,
        "tokens": {**types, "affine": fields["log_weights"], "blur": fields["log_weights"]},
        "log_weights": fields["log_weights"],
        "num_proposals": num_proposals,
    }
    torch.save(payload, path)
    with bounded():
        post = load_posterior(path, key)
    if post is not None:  # trusted: a real posterior with finite numbers
        assert isinstance(post.types, Parses) and isinstance(post.tokens, Tokens)
        assert torch.isfinite(post.log_weights).all()


@given(data=file_bytes(), record=json_values())
@EXAMPLES
def test_any_bytes_as_weights_with_any_record(tmp_path, data, record):
    weights = tmp_path / "prior.pt"
    weights.write_bytes(data)
    if record is not None:
        (tmp_path / "prior.json").write_text(json.dumps(record, allow_nan=True))
    with bounded():
        with pytest.raises(GNSError):
            load_type_prior(weights)
