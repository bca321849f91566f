"""Property test: any small image, of any size and PIL mode, thrown at the user-facing path
(``load_image`` -> ``check_image`` -> ``infer``) gives either a clear :class:`GNSError` or a
posterior with finite weights that sum to 1, within a time bound. Tiny inference settings keep
each example to a few seconds."""

from __future__ import annotations

import io
import os
import time

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from gns_pyro.data.images import load_image
from gns_pyro.errors import GNSError
from gns_pyro.inference import RefineSettings, infer
from gns_pyro.inference.posterior import check_image
from gns_pyro.inference.walks import WalkSettings

MODES = ["1", "L", "LA", "P", "RGB", "RGBA", "I;16", "I", "F", "CMYK"]
#: seconds one example may take with the tiny settings below (they take ~1-5 s)
TIME_BOUND = 60.0
TINY = dict(
    k=2,
    walks=WalkSettings(num_walks=10),
    refine_settings=RefineSettings(steps=3),
    token_fit=RefineSettings(steps=3),
    max_configs=4,
    total_configs=8,
)


@st.composite
def pictures(draw):
    """A page of random size with noise, specks, lines or blobs in dark ink."""
    # 105 a side most often, so that most examples get as far as inference
    side = st.one_of(st.just(105), st.just(105), st.just(105), st.integers(1, 300))
    width, height = draw(side), draw(side)
    kind = draw(st.sampled_from(["blank", "noise", "specks", "lines", "blobs", "mixed"]))
    rng = np.random.default_rng(draw(st.integers(0, 2**31)))
    page = Image.new("L", (width, height), 255)
    pen = ImageDraw.Draw(page)
    if kind in ("noise", "mixed"):
        level = draw(st.floats(0.0, 0.6))
        ink = rng.random((height, width)) < level
        page = Image.fromarray(np.where(ink, 0, 255).astype(np.uint8), "L")
        pen = ImageDraw.Draw(page)
    if kind in ("specks", "mixed"):
        for _ in range(draw(st.integers(1, 80))):
            x, y = rng.integers(0, width), rng.integers(0, height)
            pen.point((int(x), int(y)), fill=0)
    if kind in ("lines", "mixed"):
        for _ in range(draw(st.integers(1, 6))):
            xy = [int(v) for v in rng.integers(0, max(width, height), 4)]
            pen.line(xy, fill=0, width=int(rng.integers(1, 6)))
    if kind in ("blobs", "mixed"):
        for _ in range(draw(st.integers(1, 4))):
            x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, height))
            pen.ellipse(
                [x0, y0, x0 + int(rng.integers(1, 40)), y0 + int(rng.integers(1, 40))], fill=0
            )
    return page.convert(draw(st.sampled_from(MODES)))


@pytest.fixture(scope="module")
def parts():
    from gns_pyro.pretrained import load_type_prior

    return load_type_prior()


@settings(
    max_examples=int(os.environ.get("GNS_PYRO_PROPERTY_EXAMPLES", 60)),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(picture=pictures(), as_png=st.booleans())
def test_any_image_gives_a_clear_error_or_a_normalized_posterior(parts, picture, as_png):
    start = time.perf_counter()
    source = picture
    if as_png:
        buffer = io.BytesIO()
        try:
            picture.save(buffer, format="PNG")
        except OSError:  # a mode PNG cannot hold (CMYK, F): PIL's own refusal, not ours
            return
        source = buffer.getvalue()
    try:
        image = check_image(load_image(source))
        post = infer(image, parts, **TINY)
    except GNSError as err:
        event(f"refused: {str(err).split(':')[-1][:50]}")
        assert str(err) and "\n" not in str(err)  # a clear, one-line reason
    else:
        event("parsed")
        weights = post.log_weights.softmax(0)
        assert torch.isfinite(post.log_weights).all()
        assert float(weights.sum()) == pytest.approx(1.0, abs=1e-6)
        assert 1 <= len(weights) <= TINY["k"]
    assert time.perf_counter() - start < TIME_BOUND
