"""Termination net: does the type stop after this stroke? p(v_i | canvas)."""

from __future__ import annotations

import torch
from torch import nn

from gns_pyro.nets.canvas import downsample
from gns_pyro.nets.layers import (
    IMPLICIT_ACTIVATION,
    activation_entry,
    activation_layer,
    pooling_layer,
)


class TerminationNet(nn.Module):
    """CNN on the canvas after a stroke -> logit of "stop here".

    Four blocks of [conv 3x3 (64 ch) -> ReLU -> batch norm -> max-pool -> dropout] take the
    28x28 canvas to 64 features; a 64 -> 64 -> 1 head gives the logit. With a smooth
    ``activation`` (:mod:`gns_pyro.nets.layers`) ReLU becomes that and max-pooling averaging.

    Example::

        >>> TerminationNet()(torch.zeros(3, 105, 105)).shape
        torch.Size([3])
    """

    def __init__(
        self, channels: int = 64, dropout: float = 0.25, activation: str = IMPLICIT_ACTIVATION
    ):
        super().__init__()
        self.config = {"channels": channels, "dropout": dropout, **activation_entry(activation)}
        blocks, c_in = [], 1
        for _ in range(4):
            blocks += [
                nn.Conv2d(c_in, channels, 3, padding=1),
                activation_layer(activation),
                nn.BatchNorm2d(channels),
                pooling_layer(activation),
                nn.Dropout(dropout),
            ]
            c_in = channels
        self.cnn = nn.Sequential(*blocks, nn.Flatten())
        self.head = nn.Sequential(
            nn.Linear(channels, 64), activation_layer(activation), nn.Linear(64, 1)
        )

    def forward(self, canvas: torch.Tensor) -> torch.Tensor:
        """Stop logits (N,) for canvases (N, H, W)."""
        return self.head(self.cnn(downsample(canvas))).squeeze(-1)
