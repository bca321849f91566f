"""Stroke net: the trajectory of a stroke, p(x_i | y_i, canvas), one offset at a time.

A small CNN turns the canvas (plus coordinate channels) into a 14x14 grid of 64-d annotation
vectors. At each step, additive attention driven by the LSTM's top hidden state picks a context
vector (scaled by a sigmoid gate); a 2-layer LSTM reads the embedded previous offset, the
embedded current pen position and the context, and its output gives a 2-D GMM over the next
offset (pixels) and the logit of "this offset is the stroke's last".

Sampling and scoring use the same :meth:`StrokeNet.step`; :meth:`StrokeNet.teacher_forced`
runs it over known offsets of many strokes at once.

Example::

    >>> net = StrokeNet()
    >>> state = net.start(torch.zeros(2, 105, 105), torch.full((2, 2), 50.0))
    >>> raw, state = net.step(state)
    >>> net.offset_distribution(raw).batch_shape, net.end_logit(raw).shape
    (torch.Size([2]), torch.Size([2]))
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from gns_pyro.nets.canvas import downsample, normalize_points, with_coordinates
from gns_pyro.nets.gmm import PARAMS_PER_COMPONENT, BivariateGMM, gmm_from_raw

#: Pixels per network unit of an offset (a typical control-point step is ~10 px).
OFFSET_SCALE = 10.0


class StrokeState(NamedTuple):
    """Everything the stroke net carries from one step to the next."""

    annotations: torch.Tensor  # (N, L, D) canvas annotation vectors
    keys: torch.Tensor  # (N, L, A) their attention projections
    hidden: tuple[torch.Tensor, ...]  # per LSTM layer (N, H)
    cell: tuple[torch.Tensor, ...]
    pen: torch.Tensor  # (N, 2) current pen position, pixels
    prev_offset: torch.Tensor  # (N, 2) last offset, pixels (zero before the first)


class StrokeNet(nn.Module):
    """The stroke (trajectory) network: an LSTM with attention over the canvas that emits, at each
    step, a Gaussian mixture over the next offset and the logit that the stroke ends.

    :param num_components: mixture components per offset.
    :param hidden_size: LSTM hidden units.
    :param attention_size: width of the attention layer.
    :param annotation_size: channels of the canvas features attended to.
    :param num_layers: LSTM layers.
    """

    def __init__(
        self,
        num_components: int = 20,
        hidden_size: int = 128,
        attention_size: int = 32,
        annotation_size: int = 64,
        num_layers: int = 2,
    ):
        super().__init__()
        self.config = {
            "num_components": num_components,
            "hidden_size": hidden_size,
            "attention_size": attention_size,
            "annotation_size": annotation_size,
            "num_layers": num_layers,
        }
        self.num_components = num_components
        self.encoder = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1),
            nn.ReLU(),
            nn.Conv2d(32, annotation_size, 3, padding=1),
            nn.ReLU(),
            nn.MaxPool2d(2),
        )
        self.att_key = nn.Linear(annotation_size, attention_size)
        self.att_query = nn.Linear(hidden_size, attention_size)
        self.att_score = nn.Linear(attention_size, 1)
        self.gate = nn.Linear(hidden_size, annotation_size)
        self.embed_offset = nn.Linear(2, 16)
        self.embed_pen = nn.Linear(2, 16)
        sizes = [32 + annotation_size] + [hidden_size] * (num_layers - 1)
        self.cells = nn.ModuleList(nn.LSTMCell(s, hidden_size) for s in sizes)
        self.head = nn.Linear(hidden_size, PARAMS_PER_COMPONENT * num_components + 1)

    def start(self, canvas: torch.Tensor, location: torch.Tensor) -> StrokeState:
        """Initial state for strokes starting at ``location`` (N, 2) on ``canvas`` (N, 105, 105)."""
        grid = self.encoder(with_coordinates(downsample(canvas)))  # (N, D, 14, 14)
        annotations = grid.flatten(2).transpose(1, 2)  # (N, 196, D)
        N, H = canvas.shape[0], self.cells[0].hidden_size
        zeros = canvas.new_zeros(N, H)
        return StrokeState(
            annotations,
            self.att_key(annotations),
            tuple(zeros for _ in self.cells),
            tuple(zeros for _ in self.cells),
            location.to(canvas.dtype),
            canvas.new_zeros(N, 2),
        )

    def step(self, state: StrokeState) -> tuple[torch.Tensor, StrokeState]:
        """Raw outputs (N, 6K + 1) for the next offset, and the state with the LSTM advanced."""
        query = state.hidden[-1]
        scores = self.att_score(torch.tanh(state.keys + self.att_query(query).unsqueeze(1)))
        weights = scores.softmax(dim=1)  # (N, L, 1)
        context = (weights * state.annotations).sum(1) * torch.sigmoid(self.gate(query))
        x = torch.cat(
            [
                torch.tanh(self.embed_offset(state.prev_offset / OFFSET_SCALE)),
                torch.tanh(self.embed_pen(normalize_points(state.pen))),
                context,
            ],
            dim=-1,
        )
        hidden, cell = [], []
        for layer, lstm in enumerate(self.cells):
            h, c = lstm(x, (state.hidden[layer], state.cell[layer]))
            hidden.append(h)
            cell.append(c)
            x = h
        return self.head(x), state._replace(hidden=tuple(hidden), cell=tuple(cell))

    @staticmethod
    def advance(state: StrokeState, offset: torch.Tensor) -> StrokeState:
        """Move the pen by the offset just drawn (N, 2)."""
        return state._replace(pen=state.pen + offset, prev_offset=offset)

    def teacher_forced(
        self,
        canvas: torch.Tensor,
        location: torch.Tensor,
        offsets: torch.Tensor,
        lengths: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Raw outputs (N, P, 6K + 1) for every step of known offsets (N, P, 2).

        With ``lengths`` (N,), step ``t`` only runs the strokes longer than ``t`` (the rest get
        zeros): strokes are sorted by length so each step works on a prefix of the batch, which
        saves most of the work when a few long strokes set ``P``.
        """
        N, P, _ = offsets.shape
        if lengths is None:
            lengths = torch.full((N,), P, dtype=torch.long, device=offsets.device)
        order = lengths.argsort(descending=True)
        canvas, location, offsets, lengths = (
            canvas[order],
            location[order],
            offsets[order],
            lengths[order],
        )
        active = [
            int(n)
            for n in (
                lengths.unsqueeze(0) > torch.arange(P, device=lengths.device).unsqueeze(1)
            ).sum(1)
        ]
        state = self.start(canvas, location)
        outputs = []
        for t in range(P):
            n = active[t]
            if n == 0:
                break
            state = StrokeState(
                *(
                    tuple(x[:n] for x in field) if isinstance(field, tuple) else field[:n]
                    for field in state
                )
            )
            raw, state = self.step(state)
            outputs.append(torch.nn.functional.pad(raw, (0, 0, 0, N - n)))
            state = self.advance(state, offsets[:n, t])
        out = torch.stack(outputs, dim=1)
        out = torch.nn.functional.pad(out, (0, 0, 0, P - out.shape[1]))
        return out[order.argsort()]

    def offset_distribution(self, raw: torch.Tensor, temperature: float = 1.0) -> BivariateGMM:
        """The next-offset mixture of raw step outputs, at ``temperature``."""
        return gmm_from_raw(
            raw[..., :-1], self.num_components, OFFSET_SCALE, temperature=temperature
        )

    @staticmethod
    def end_logit(raw: torch.Tensor) -> torch.Tensor:
        """Logit that the stroke ends after this step, from raw step outputs."""
        return raw[..., -1]
