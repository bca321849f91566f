"""Stroke net: the trajectory of a stroke, p(x_i | y_i, canvas), one offset at a time.

A small CNN turns the canvas (plus coordinate channels) into a 14x14 grid of annotation
vectors. The LSTM's initial state is built from the canvas (mean annotation) and the start
point, so the first offset already depends on both. At each step, additive attention driven by
the LSTM's top hidden state picks a context vector (scaled by a sigmoid gate); the LSTM reads
the embedded previous offset, the embedded current pen position and the context, and its output
gives a 2-D GMM over the next offset (pixels).

The "this offset is the stroke's last" flag is decided *after* the offset is drawn: the end
head reads the top hidden state, the offset and the pen position it lands on (outside
[-1, 1] when the pen has left the frame), so whether a stroke stops depends on where it went.

Sampling and scoring use the same :meth:`StrokeNet.step` and :meth:`StrokeNet.end_logit`;
:meth:`StrokeNet.teacher_forced` runs them over known offsets of many strokes at once.

Example::

    >>> net = StrokeNet()
    >>> state = net.start(torch.zeros(2, 105, 105), torch.full((2, 2), 50.0))
    >>> raw, state = net.step(state)
    >>> offset = net.offset_distribution(raw).sample()
    >>> offset.shape, net.end_logit(state, offset).shape
    (torch.Size([2, 2]), torch.Size([2]))
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

from gns_pyro.nets.canvas import (
    IMPLICIT_IMAGE_SIZE,
    downsample,
    image_size_entry,
    normalize_points,
    with_coordinates,
)
from gns_pyro.nets.gmm import PARAMS_PER_COMPONENT, BivariateGMM, gmm_from_raw
from gns_pyro.nets.layers import (
    IMPLICIT_ACTIVATION,
    activation_entry,
    activation_layer,
    pooling_layer,
)

#: Default sizes of the LSTM and of its attention layer: the reference's (and the shipped
#: weights'). At equal epochs they beat 128 and 32 by about a nat of validation NLL per drawing
#: (epoch 9: 89.6 against 90.9) for 1.3 times the time per training step.
HIDDEN_SIZE = 256
ATTENTION_SIZE = 256
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
    step, a Gaussian mixture over the next offset, and, once the offset is known, the logit that
    the stroke ends with it.

    :param num_components: mixture components per offset.
    :param hidden_size: LSTM hidden units.
    :param attention_size: width of the attention layer.
    :param annotation_size: channels of the canvas features attended to.
    :param num_layers: LSTM layers.
    :param dropout: dropout on the top LSTM output before the mixture head (training only).
    :param image_size: side of the frame that points are normalized to.
    :param activation: the canvas encoder's nonlinearity (:mod:`gns_pyro.nets.layers`):
        ``"relu"`` with max-pooling, or a smooth one with average pooling.
    """

    def __init__(
        self,
        num_components: int = 20,
        hidden_size: int = HIDDEN_SIZE,
        attention_size: int = ATTENTION_SIZE,
        annotation_size: int = 64,
        num_layers: int = 2,
        image_size: int = IMPLICIT_IMAGE_SIZE,
        dropout: float = 0.0,
        activation: str = IMPLICIT_ACTIVATION,
    ):
        super().__init__()
        self.config = {
            "num_components": num_components,
            "hidden_size": hidden_size,
            "attention_size": attention_size,
            "annotation_size": annotation_size,
            "num_layers": num_layers,
            "dropout": dropout,
            **activation_entry(activation),
        }
        self.config.update(image_size_entry(image_size))
        self.image_size = image_size
        self.num_components = num_components
        self.encoder = nn.Sequential(
            nn.Conv2d(3, 32, 3, padding=1),
            activation_layer(activation),
            nn.Conv2d(32, annotation_size, 3, padding=1),
            activation_layer(activation),
            pooling_layer(activation),
        )
        self.att_key = nn.Linear(annotation_size, attention_size)
        self.att_query = nn.Linear(hidden_size, attention_size)
        self.att_score = nn.Linear(attention_size, 1)
        self.gate = nn.Linear(hidden_size, annotation_size)
        self.embed_offset = nn.Linear(2, 16)
        self.embed_pen = nn.Linear(2, 16)
        sizes = [32 + annotation_size] + [hidden_size] * (num_layers - 1)
        self.cells = nn.ModuleList(nn.LSTMCell(s, hidden_size) for s in sizes)
        self.head = nn.Linear(hidden_size, PARAMS_PER_COMPONENT * num_components)
        self.drop = nn.Dropout(dropout)
        # initial (h, c) of every layer from the mean annotation and the embedded start point
        self.embed_start = nn.Linear(2, 16)
        self.init_state = nn.Linear(annotation_size + 16, 2 * num_layers * hidden_size)
        # end of stroke: top hidden state + the offset just drawn + where the pen landed
        self.end_offset = nn.Linear(2, 16)
        self.end_pen = nn.Linear(2, 16)
        self.end_head = nn.Sequential(nn.Linear(hidden_size + 32, 64), nn.Tanh(), nn.Linear(64, 1))

    def start(self, canvas: torch.Tensor, location: torch.Tensor) -> StrokeState:
        """Initial state for strokes starting at ``location`` (N, 2) on ``canvas`` (N, H, W)."""
        grid = self.encoder(with_coordinates(downsample(canvas)))  # (N, D, 14, 14)
        annotations = grid.flatten(2).transpose(1, 2)  # (N, 196, D)
        N, H = canvas.shape[0], self.cells[0].hidden_size
        location = location.to(canvas.dtype)
        start = torch.cat(
            [
                annotations.mean(1),
                torch.tanh(self.embed_start(normalize_points(location, self.image_size))),
            ],
            -1,
        )
        init = torch.tanh(self.init_state(start)).view(N, 2, len(self.cells), H)
        return StrokeState(
            annotations,
            self.att_key(annotations),
            tuple(init[:, 0].unbind(1)),
            tuple(init[:, 1].unbind(1)),
            location,
            canvas.new_zeros(N, 2),
        )

    def step(self, state: StrokeState) -> tuple[torch.Tensor, StrokeState]:
        """Raw mixture outputs (N, 6K) for the next offset, and the state with the LSTM
        advanced (the state :meth:`end_logit` reads)."""
        query = state.hidden[-1]
        scores = self.att_score(torch.tanh(state.keys + self.att_query(query).unsqueeze(1)))
        weights = scores.softmax(dim=1)  # (N, L, 1)
        context = (weights * state.annotations).sum(1) * torch.sigmoid(self.gate(query))
        x = torch.cat(
            [
                torch.tanh(self.embed_offset(state.prev_offset / OFFSET_SCALE)),
                torch.tanh(self.embed_pen(normalize_points(state.pen, self.image_size))),
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
        return self.head(self.drop(x)), state._replace(hidden=tuple(hidden), cell=tuple(cell))

    def end_logit(self, state: StrokeState, offset: torch.Tensor) -> torch.Tensor:
        """Logit (N,) that the stroke ends with ``offset`` (N, 2), the offset just drawn from
        the mixture of the step that gave ``state`` (called before :meth:`advance`)."""
        x = torch.cat(
            [
                state.hidden[-1],
                torch.tanh(self.end_offset(offset / OFFSET_SCALE)),
                torch.tanh(self.end_pen(normalize_points(state.pen + offset, self.image_size))),
            ],
            -1,
        )
        return self.end_head(x).squeeze(-1)

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
        """Outputs (N, P, 6K + 1) for every step of known offsets (N, P, 2): the step's raw
        mixture outputs followed by the end logit of the known offset of that step.

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
            end = self.end_logit(state, offsets[:n, t])
            outputs.append(
                torch.nn.functional.pad(torch.cat([raw, end[:, None]], -1), (0, 0, 0, N - n))
            )
            state = self.advance(state, offsets[:n, t])
        out = torch.stack(outputs, dim=1)
        out = torch.nn.functional.pad(out, (0, 0, 0, P - out.shape[1]))
        return out[order.argsort()]

    def offset_distribution(self, raw: torch.Tensor, temperature: float = 1.0) -> BivariateGMM:
        """The next-offset mixture of raw step outputs (of :meth:`step`, or the first 6K columns
        of :meth:`teacher_forced`), at ``temperature``."""
        mixture = raw[..., : PARAMS_PER_COMPONENT * self.num_components]
        return gmm_from_raw(mixture, self.num_components, OFFSET_SCALE, temperature=temperature)

    @staticmethod
    def forced_end_logit(forced: torch.Tensor) -> torch.Tensor:
        """End logit of the known offset, from :meth:`teacher_forced` outputs."""
        return forced[..., -1]
