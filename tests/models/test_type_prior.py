import numpy as np
import pyro
import pytest
import torch
import torch.nn.functional as F

from gns_pyro.models import CharacterParts, generate_type, type_conditions, type_log_prob
from gns_pyro.models.traces import conditioned_trace, trace_log_prob
from gns_pyro.parses import Parses
from gns_pyro.renderer import broaden, stroke_ink


@pytest.fixture(scope="module")
def parts():
    torch.manual_seed(0)
    return CharacterParts().double().eval()


def _parses():
    rng = np.random.default_rng(3)
    drawings = []
    for n_strokes in (1, 3, 2):
        strokes = []
        for _ in range(n_strokes):
            n = int(rng.integers(2, 7))
            start = rng.uniform(20, 80, size=2)
            strokes.append(start + np.cumsum(np.vstack([[0, 0], rng.normal(0, 6, (n - 1, 2))]), 0))
        drawings.append(strokes)
    return Parses.from_control_points(drawings, dtype=torch.float64)


def _independent_log_prob(parts, item: Parses) -> float:
    """log P(psi) of one parse, stepping the nets by hand (no plate, no Pyro)."""
    cps = item.to_control_points_list()[0]
    total = 0.0
    ink = torch.zeros(1, 105, 105, dtype=torch.float64)
    prev_end, has_prev = torch.zeros(1, 2, dtype=torch.float64), torch.zeros(1, dtype=torch.bool)
    for i, cp in enumerate(cps):
        cp = torch.as_tensor(cp)
        canvas = broaden(ink)
        loc = parts.location_net(canvas, prev_end, has_prev)
        total += loc.log_prob(cp[0]).item()
        state = parts.stroke_net.start(canvas, cp[:1])
        offsets = cp[1:] - cp[:-1]
        for t in range(len(offsets)):
            raw, state = parts.stroke_net.step(state)
            total += parts.stroke_net.offset_distribution(raw).log_prob(offsets[t]).item()
            end_logit = parts.stroke_net.end_logit(state, offsets[t : t + 1]).item()
            is_last = t == len(offsets) - 1
            total += F.logsigmoid(
                torch.tensor(end_logit if is_last else -end_logit, dtype=torch.float64)
            ).item()
            state = parts.stroke_net.advance(state, offsets[t : t + 1])
        ink = ink + stroke_ink(cp[None, None], torch.tensor([[len(cp)]]), torch.tensor([[True]]))
        stop_logit = parts.termination_net(broaden(ink)).item()
        stops = i == len(cps) - 1
        total += F.logsigmoid(
            torch.tensor(stop_logit if stops else -stop_logit, dtype=torch.float64)
        ).item()
        prev_end, has_prev = cp[-1:].clone(), torch.ones(1, dtype=torch.bool)
    return total


def test_log_prob_equals_independent_computation(parts):
    parses = _parses()
    batched = type_log_prob(parts, parses)
    for b in range(len(parses)):
        assert batched[b].item() == pytest.approx(_independent_log_prob(parts, parses[b]), rel=1e-9)


def test_padding_and_batch_companions_do_not_matter(parts):
    parses = _parses()
    lp = type_log_prob(parts, parses)
    padded = type_log_prob(parts, parses.pad(parses.max_strokes + 2, parses.max_offsets + 3))
    torch.testing.assert_close(padded, lp)
    for b in range(len(parses)):
        torch.testing.assert_close(type_log_prob(parts, parses[b]), lp[b : b + 1])


def test_sample_observe_condition_agree(parts):
    pyro.set_rng_seed(1)
    types = generate_type(parts, batch_size=6)
    assert types.stroke_mask[:, 0].all()
    observed = type_log_prob(parts, types)
    data = type_conditions(types, parts.max_parts, parts.max_steps)
    trace = conditioned_trace(generate_type, data, parts, batch_size=6)
    torch.testing.assert_close(trace_log_prob(trace), observed)
    assert torch.isfinite(observed).all()
    # the conditioned run reproduces the types exactly
    again = trace.nodes["_RETURN"]["value"]
    torch.testing.assert_close(again.control_points, types.control_points)


def test_conditioning_on_unknown_name_is_an_error(parts):
    types = generate_type(parts, batch_size=2)
    data = type_conditions(types, parts.max_parts, parts.max_steps)
    data["loc_99"] = torch.zeros(2, 2, dtype=torch.float64)
    with pytest.raises(ValueError, match="loc_99"):
        conditioned_trace(generate_type, data, parts, batch_size=2)


def test_stroke_cap_and_temperature(parts):
    pyro.set_rng_seed(0)
    capped = generate_type(parts, batch_size=20, max_parts=2)
    assert capped.num_strokes.max() <= 2
    trace = pyro.poutine.trace(generate_type).get_trace(parts, batch_size=20, max_parts=2)
    assert "stop_1" not in trace.nodes and "stop_0" in trace.nodes
    cold = generate_type(parts, batch_size=10, temperature=0.5)
    assert torch.isfinite(cold.offsets).all()
    for extreme in (0, 1e-46, 1e39, float("nan")):
        with pytest.raises(ValueError, match=r"temperature must be in \[0.01, 100"):
            generate_type(parts, batch_size=2, temperature=extreme)
    for edge in (0.01, 100.0):  # the ends of the range still give finite strokes
        assert torch.isfinite(generate_type(parts, batch_size=4, temperature=edge).offsets).all()
    with pytest.raises(ValueError, match="batch_size"):
        generate_type(parts)


def test_a_cap_above_the_nets_own_is_the_nets_own():
    """Nets built for one part (a weights file may say max_strokes 1) are never asked for a
    second, whatever cap a caller gives; their samples score under their own cap."""
    torch.manual_seed(0)
    one = CharacterParts(max_strokes=1).eval()
    pyro.set_rng_seed(0)
    types = generate_type(one, batch_size=6, max_parts=10)
    assert types.num_strokes.max() == 1
    assert torch.isfinite(type_log_prob(one, types)).all()


def test_masked_sites_add_exactly_zero(parts):
    parses = _parses()
    trace = pyro.poutine.trace(generate_type).get_trace(parts, parses=parses)
    trace.compute_log_prob()
    # parse 0 has one stroke: every site of strokes 1.. adds exactly 0 for it
    for name, node in trace.nodes.items():
        if node["type"] == "sample" and name != "types" and name.split("_")[1] != "0":
            assert node["log_prob"][0].item() == 0.0


def test_gradients_reach_every_net(parts):
    net = CharacterParts().double().train()
    loss = -type_log_prob(net, _parses()).sum()
    loss.backward()
    for name, module in [
        ("location", net.location_net),
        ("stroke", net.stroke_net),
        ("termination", net.termination_net),
    ]:
        grads = [p.grad for p in module.parameters() if p.requires_grad]
        assert all(g is not None and torch.isfinite(g).all() for g in grads), name
        assert sum(g.abs().sum() for g in grads) > 0, name


def test_observe_rejects_bad_parses(parts):
    parses = _parses()
    with pytest.raises(ValueError, match="at least one stroke"):
        type_log_prob(parts, parses.replace(stroke_mask=torch.zeros_like(parses.stroke_mask)))
    with pytest.raises(ValueError, match="over the cap"):
        type_log_prob(parts, parses, max_parts=1)


def test_end_flag_depends_on_the_offset_it_ends_after(parts):
    """Two parses that differ only in a stroke's last offset give that stroke's end flag
    different probabilities: the decision to stop sees where the stroke went."""
    from pyro import poutine

    from gns_pyro.models import generate_type

    a = [np.array([[20.0, 20.0], [40.0, 25.0], [60.0, 30.0]])]
    b = [np.array([[20.0, 20.0], [40.0, 25.0], [45.0, 70.0]])]
    parses = Parses.from_control_points([a, b], dtype=torch.float64)
    trace = poutine.trace(generate_type).get_trace(parts, parses=parses)
    trace.compute_log_prob()
    first_end, last_end = trace.nodes["end_0_0"]["log_prob"], trace.nodes["end_0_1"]["log_prob"]
    assert first_end[0].item() == pytest.approx(first_end[1].item(), abs=1e-12)
    assert abs(last_end[0].item() - last_end[1].item()) > 1e-4


def test_image_size_is_a_setting_of_the_character_domain():
    """A character domain on 48 px canvases: its nets normalize to that frame, sampling and
    teacher-forced scoring agree, and the size travels with the architecture description."""
    from pyro import poutine

    torch.manual_seed(0)
    parts = CharacterParts(image_size=48).double().eval()
    assert parts.init_state(2).canvas.shape == (2, 48, 48)
    pyro.set_rng_seed(0)
    trace = poutine.trace(generate_type).get_trace(parts, batch_size=6)
    types = trace.nodes["_RETURN"]["value"]
    scored = type_log_prob(parts, types)
    assert torch.allclose(scored, trace_log_prob(trace), atol=1e-6)
    rebuilt = CharacterParts.from_config(parts.config())
    assert rebuilt.image_size == 48 and rebuilt.stroke_net.image_size == 48
    assert CharacterParts().config().get("image_size") is None  # Omniglot's stays implicit
    # the first stroke's start mixture is centred on the 48 px frame, not on 105 px
    blank = torch.zeros(1, 48, 48, dtype=torch.float64)
    no_prev = torch.zeros(1, dtype=torch.bool)
    centre = parts.location_net(blank, torch.zeros(1, 2, dtype=torch.float64), no_prev).mean
    assert (centre.abs() < 48).all()
    with pytest.raises(ValueError, match="image sizes"):
        CharacterParts(stroke_net=parts.stroke_net, image_size=105)


def test_conditions_of_an_untrimmed_slice_name_only_sites_that_exist(parts):
    """A slice of a batch keeps the batch's stroke slots; its conditions must not name the
    sites of strokes that none of its parses has."""
    parses = _parses()
    shortest = parses[0:1]  # one stroke, in a batch with three-stroke slots
    assert shortest.max_strokes == 3
    data = type_conditions(shortest, parts.max_parts, parts.max_steps)
    assert "loc_1" not in data and "loc_0" in data
    trace = conditioned_trace(generate_type, data, parts, batch_size=1)
    assert trace_log_prob(trace).item() == pytest.approx(
        type_log_prob(parts, shortest).item(), rel=1e-9
    )


def test_type_sites_are_named_apart_from_every_other_site():
    from gns_pyro.models.sites import end_site, is_type_site, loc_site, offset_site, stop_site

    assert all(
        is_type_site(n) for n in (loc_site(0), offset_site(1, 2), end_site(3, 4), stop_site(2))
    )
    others = ("token_locations", "affine", "image", "type_table", "loc", "offset_1", "loc_a",
              "stop_1_2", "end_1", "style", "offset_1_2_3")  # fmt: skip
    assert not any(is_type_site(n) for n in others)
