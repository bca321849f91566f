"""The domain seam, from the outside: a toy domain written only from
:class:`gns_pyro.models.domain.PartDomain` (dots on a 16x16 canvas, each dot's position and the
decision to stop read from the canvas by tiny nets) samples, scores and trains through
``generate_type``; with a token and an image program
(:class:`gns_pyro.models.domain.TokenImageDomain`) it runs as a whole model through
``character_model``; and the character domain scores the same with and without its
teacher-forcing fast path."""

from __future__ import annotations

import pyro
import pyro.distributions as dist
import pytest
import torch
from pyro import poutine
from torch import nn

from gns_pyro.models.domain import PartDomain, TeacherForcing, TokenImageDomain
from gns_pyro.models.joint import character_model
from gns_pyro.models.sites import stop_conditions
from gns_pyro.models.traces import trace_log_prob
from gns_pyro.models.type_prior import generate_type, type_log_prob

SIDE = 16


class DotTypes:
    """A batch of toy types: up to ``max_parts`` dots each."""

    def __init__(self, points: torch.Tensor, mask: torch.Tensor):
        self.points, self.mask = points, mask  # (B, P, 2), (B, P)

    def __len__(self) -> int:
        return len(self.points)


class Dots(nn.Module):
    """Dots on a small canvas: the next dot is a Gaussian around a point read from the canvas
    by a linear net, and a linear net on the canvas gives the logit of stopping."""

    max_parts = 4
    image_size = SIDE

    def __init__(self):
        super().__init__()
        self.where = nn.Linear(SIDE * SIDE, 2)
        self.stop = nn.Linear(SIDE * SIDE, 1)
        self.log_scale = nn.Parameter(torch.tensor(0.5))

    @property
    def device(self) -> torch.device:
        return self.log_scale.device

    def init_state(self, batch_size):
        return torch.zeros(batch_size, SIDE, SIDE)

    def generate_part(self, index, state, alive, temperature):
        centre = SIDE / 2 + 4 * torch.tanh(self.where(state.flatten(1)))
        scale = self.log_scale.exp() * temperature
        return pyro.sample(f"dot_{index}", dist.Normal(centre, scale).to_event(1))

    def update_state(self, state, part, alive):
        rc = part.detach().round().long().clamp(0, SIDE - 1)
        ink = torch.zeros_like(state)
        ink[torch.arange(len(state)), rc[:, 1], rc[:, 0]] = alive.to(state.dtype)
        return state + ink

    def termination_logits(self, index, state):
        return self.stop(state.flatten(1)).squeeze(-1)

    def collect(self, parts, alive_per_part):
        points = torch.stack(parts, 1)
        return DotTypes(points, torch.stack(alive_per_part, 1))

    def conditions(self, types):
        data = {f"dot_{i}": types.points[:, i] for i in range(types.points.shape[1])}
        data.update(stop_conditions(types.mask.sum(1), self.max_parts))
        return data

    # token and image programs: a token jitters each dot; the image has a blob at each dot
    def generate_token(self, types, plate=None, jitter=0.5):
        noise = dist.Normal(types.points, jitter).mask(types.mask.unsqueeze(-1)).to_event(2)
        return DotTypes(pyro.sample("token_dots", noise), types.mask)

    def image_model(self, tokens, image=None, plate=None):
        grid = torch.stack(
            torch.meshgrid(torch.arange(float(SIDE)), torch.arange(float(SIDE)), indexing="xy"),
            -1,
        )  # (H, W, 2) as (x, y)
        d2 = ((grid[None, None] - tokens.points[:, :, None, None]) ** 2).sum(-1)
        ink = (torch.exp(-d2 / 2.0) * tokens.mask[..., None, None]).sum(1)
        probs = ink.clamp(0.01, 0.99)
        return pyro.sample("image", dist.Bernoulli(probs=probs).to_event(2), obs=image)


def test_a_toy_domain_meets_the_protocol():
    dots = Dots()
    assert isinstance(dots, PartDomain) and not isinstance(dots, TeacherForcing)
    assert isinstance(dots, TokenImageDomain)


def test_toy_domain_runs_as_a_whole_model():
    """character_model composes the toy domain's type, token and image programs: sampling,
    then conditioning on every sampled value, gives the same log joint, and the image is the
    domain's size."""
    pyro.set_rng_seed(3)
    dots = Dots()
    sampled = poutine.trace(character_model).get_trace(dots, batch_size=16)
    types, tokens, image = sampled.nodes["_RETURN"]["value"]
    assert image.shape == (16, SIDE, SIDE)
    assert torch.equal(tokens.mask, types.mask)
    data = dots.conditions(types)
    data["token_dots"] = tokens.points
    scored = poutine.trace(poutine.condition(character_model, data=data)).get_trace(
        dots, batch_size=16, image=image
    )
    assert torch.allclose(trace_log_prob(scored), trace_log_prob(sampled), atol=1e-4)
    # the image term is there and depends on the token: moving the dots lowers it
    moved = dict(data, token_dots=tokens.points + 3.0)
    worse = poutine.trace(poutine.condition(character_model, data=moved)).get_trace(
        dots, batch_size=16, image=image
    )
    worse.compute_log_prob()
    scored.compute_log_prob()
    assert (worse.nodes["image"]["log_prob"] < scored.nodes["image"]["log_prob"]).all()


def test_toy_domain_sample_condition_score_agree():
    pyro.set_rng_seed(0)
    dots = Dots()
    sampling = poutine.trace(generate_type).get_trace(dots, batch_size=32)
    types = sampling.nodes["_RETURN"]["value"]
    counts = types.mask.sum(1)
    assert counts.min() >= 1 and counts.max() <= Dots.max_parts
    assert len(set(counts.tolist())) > 1  # types of several lengths in one batch
    # the masks zero out the dots of finished types: they are absent from the types
    assert torch.equal(types.mask, types.mask.cummin(1).values)
    scored = type_log_prob(dots, types)
    assert scored.shape == (32,)
    assert torch.allclose(scored, trace_log_prob(sampling), atol=1e-5)
    # an independent computation of one type's log-probability, step by step
    b = int(counts.argmax())
    n = int(counts[b])
    state, expected = dots.init_state(1), torch.tensor(0.0)
    for i in range(n):
        centre = SIDE / 2 + 4 * torch.tanh(dots.where(state.flatten(1)))[0]
        expected = (
            expected + dist.Normal(centre, dots.log_scale.exp()).log_prob(types.points[b, i]).sum()
        )
        state = dots.update_state(state, types.points[b, i][None], torch.ones(1, dtype=torch.bool))
        if i < Dots.max_parts - 1:
            stop = dots.termination_logits(i, state)[0]
            expected = expected + dist.Bernoulli(logits=stop).log_prob(
                torch.tensor(float(i == n - 1))
            )
    assert scored[b].item() == pytest.approx(expected.item(), abs=1e-4)


def test_toy_domain_learns_by_maximum_likelihood_with_svi():
    """Types drawn from a 'teacher' Dots; a fresh 'student' fits them with SVI and an empty
    guide (every site observed: the ELBO is the log-likelihood)."""
    pyro.set_rng_seed(1)
    teacher = Dots()
    with torch.no_grad():
        teacher.log_scale.fill_(-0.5)
        teacher.stop.bias.fill_(1.0)
        data = generate_type(teacher, batch_size=256)
    pyro.clear_param_store()
    student = Dots()

    def model(types):
        return generate_type(student, parses=types)

    def guide(types):
        pass

    before = -type_log_prob(student, data).mean().item()
    svi = pyro.infer.SVI(model, guide, pyro.optim.Adam({"lr": 0.05}), pyro.infer.Trace_ELBO())
    for _ in range(150):
        svi.step(data)
    after = -type_log_prob(student, data).mean().item()
    assert after < before - 1.0, (before, after)
    assert student.log_scale.item() < 0.2  # moved towards the teacher's -0.5


def test_character_domain_scores_the_same_with_and_without_teacher_forcing():
    from gns_pyro.pretrained import load_type_prior
    from gns_pyro.sample import sample_types

    parts = load_type_prior()
    types, _ = sample_types(6, temperature=0.7, seed=2, parts=parts)

    class Plain(nn.Module):  # the character domain without its fast path
        def __init__(self, inner):
            super().__init__()
            self.inner = inner
            self.max_parts, self.image_size = inner.max_parts, inner.image_size

        @property
        def device(self):
            return self.inner.device

        def __getattr__(self, name):
            if name in ("init_state", "generate_part", "update_state", "termination_logits",
                        "collect", "conditions"):  # fmt: skip
                return getattr(self.inner, name)
            return super().__getattr__(name)

    plain = Plain(parts).eval()
    assert isinstance(plain, PartDomain) and not isinstance(plain, TeacherForcing)
    with torch.no_grad():
        fast, slow = type_log_prob(parts, types), type_log_prob(plain, types)
    assert torch.allclose(fast, slow, atol=1e-3), (fast, slow)
