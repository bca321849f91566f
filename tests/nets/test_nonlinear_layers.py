"""Smooth nets: the part nets' log-probabilities are twice differentiable in their inputs
(what Laplace's method needs), checked against finite differences; ReLU nets are not."""

from __future__ import annotations

import pytest
import torch

from gns_pyro.nets.layers import activation_entry, activation_layer, pooling_layer
from gns_pyro.nets.location import LocationNet
from gns_pyro.nets.stroke import StrokeNet
from gns_pyro.nets.termination import TerminationNet


def _inputs(seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    canvas = torch.rand(2, 105, 105, generator=g, dtype=torch.float64)
    direction = torch.randn(2, 105, 105, generator=g, dtype=torch.float64)
    location = torch.tensor([[30.0, 40.0], [60.0, 52.0]], dtype=torch.float64)
    offsets = torch.randn(2, 4, 2, generator=g, dtype=torch.float64) * 5
    return canvas, direction, location, offsets


def _log_prob(activation: str, seed: int = 0):
    """t -> log p(start, offsets, stop | canvas + t d) through the location, stroke and
    termination nets (eval mode, float64), with the start point moving along t too."""
    torch.manual_seed(seed)
    location_net = LocationNet(activation=activation).double().eval()
    stroke_net = StrokeNet(hidden_size=32, attention_size=16, activation=activation)
    stroke_net = stroke_net.double().eval()
    termination_net = TerminationNet(activation=activation).double().eval()
    canvas, direction, location, offsets = _inputs(seed)
    has_prev = torch.tensor([False, True])

    def f(t: torch.Tensor) -> torch.Tensor:
        c = canvas + t * direction
        start = location + t * torch.tensor([3.0, -2.0], dtype=torch.float64)
        lp = location_net(c, start - 5.0, has_prev).log_prob(start).sum()
        forced = stroke_net.teacher_forced(c, start, offsets)
        lp = lp + stroke_net.offset_distribution(forced).log_prob(offsets).sum()
        end = stroke_net.forced_end_logit(forced)
        lp = lp + torch.nn.functional.logsigmoid(end[:, -1]).sum()
        return lp + torch.nn.functional.logsigmoid(termination_net(c)).sum()

    return f


def _derivatives(f, t: float):
    t = torch.tensor(t, dtype=torch.float64, requires_grad=True)
    (first,) = torch.autograd.grad(f(t), t, create_graph=True)
    (second,) = torch.autograd.grad(first, t)
    return first.detach(), second


@pytest.mark.parametrize("activation", ["silu", "gelu", "softplus"])
def test_smooth_nets_have_the_second_derivative_finite_differences_give(activation):
    f = _log_prob(activation)
    h = 1e-4
    for t in (0.0, 0.013, 0.05):
        _, second = _derivatives(f, t)
        ahead, _ = _derivatives(f, t + h)
        behind, _ = _derivatives(f, t - h)
        numeric = (ahead - behind) / (2 * h)
        assert second.abs() > 1e-3  # a curvature to compare, not zero against zero
        assert second.item() == pytest.approx(numeric.item(), rel=1e-3, abs=1e-4)


def test_relu_nets_have_kinks_where_the_second_derivative_jumps():
    """The first derivative of a ReLU net jumps between close points, while autograd's second
    derivative (zero across each ReLU) cannot see it: what the smooth nets remove."""
    f = _log_prob("relu")
    ts = torch.linspace(0.0, 0.05, 26).tolist()
    firsts = [_derivatives(f, t) for t in ts]
    mismatch = [
        abs((b[0] - a[0]).item() / (t1 - t0) - 0.5 * (a[1] + b[1]).item())
        for (t0, a), (t1, b) in zip(zip(ts, firsts), zip(ts[1:], firsts[1:]))
    ]
    scale = max(abs(s.item()) for _, s in firsts)
    assert max(mismatch) > 0.05 * scale


def test_relu_descriptions_stay_as_they_were_and_others_name_themselves():
    assert activation_entry("relu") == {}
    assert TerminationNet().config == {"channels": 64, "dropout": 0.25}
    assert TerminationNet(activation="silu").config["activation"] == "silu"
    assert isinstance(pooling_layer("relu"), torch.nn.MaxPool2d)
    assert isinstance(pooling_layer("gelu"), torch.nn.AvgPool2d)
    with pytest.raises(ValueError, match="unknown activation 'swish'"):
        activation_layer("swish")


def test_smooth_nets_round_trip_through_their_description():
    from gns_pyro.models.character import CharacterParts
    from gns_pyro.train import TrainSettings, new_parts

    parts = new_parts(TrainSettings(activation="silu", hidden_size=32, attention_size=16))
    again = CharacterParts.from_config(parts.config())
    assert again.config() == parts.config()
    assert isinstance(again.termination_net.cnn[1], torch.nn.SiLU)
