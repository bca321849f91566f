"""Location net: where the next stroke starts, p(y_i | canvas, previous stroke's end)."""

from __future__ import annotations

import torch
from torch import nn

from gns_pyro.nets.canvas import (
    IMPLICIT_IMAGE_SIZE,
    downsample,
    frame,
    image_size_entry,
    normalize_points,
    with_coordinates,
)
from gns_pyro.nets.gmm import PARAMS_PER_COMPONENT, BivariateGMM, gmm_from_raw
from gns_pyro.nets.layers import IMPLICIT_ACTIVATION, activation_entry, pooling_layer


class LocationNet(nn.Module):
    """CNN on the canvas (+ the previous stroke's end point) -> 2-D GMM over the start point.

    Four blocks of [conv 3x3 -> batch norm -> tanh -> max-pool -> dropout] with 16/32/64/128
    channels take the 28x28 canvas (plus coordinate channels) to a 128-d feature; the previous
    end point (normalized, with a flag that is 0 for the first stroke) adds 16 features; a
    144 -> 128 -> 6K head gives the mixture. Means are in pixels. With a smooth ``activation``
    (:mod:`gns_pyro.nets.layers`) the blocks pool by averaging (tanh is smooth already).

    Example::

        >>> net = LocationNet()
        >>> gmm = net(torch.zeros(4, 105, 105), torch.zeros(4, 2), torch.zeros(4, dtype=torch.bool))
        >>> gmm.batch_shape, gmm.event_shape
        (torch.Size([4]), torch.Size([2]))
    """

    def __init__(
        self,
        num_components: int = 20,
        channels=(16, 32, 64, 128),
        dropout: float = 0.25,
        image_size: int = IMPLICIT_IMAGE_SIZE,
        activation: str = IMPLICIT_ACTIVATION,
    ):
        super().__init__()
        self.config = {
            "num_components": num_components,
            "channels": list(channels),
            "dropout": dropout,
            **activation_entry(activation),
        }
        self.config.update(image_size_entry(image_size))
        self.image_size = image_size
        self.num_components = num_components
        blocks, c_in = [], 3
        for c in channels:
            blocks += [
                nn.Conv2d(c_in, c, 3, padding=1),
                nn.BatchNorm2d(c),
                nn.Tanh(),
                pooling_layer(activation),
                nn.Dropout(dropout),
            ]
            c_in = c
        self.cnn = nn.Sequential(*blocks, nn.Flatten())
        self.prev = nn.Linear(3, 16)
        self.head = nn.Sequential(
            nn.Linear(channels[-1] + 16, 128),
            nn.Tanh(),
            nn.Linear(128, PARAMS_PER_COMPONENT * num_components),
        )

    def raw(
        self, canvas: torch.Tensor, prev_end: torch.Tensor, has_prev: torch.Tensor
    ) -> torch.Tensor:
        """Raw mixture outputs (N, 6K) for canvases (N, H, W) and previous ends (N, 2)."""
        feats = self.cnn(with_coordinates(downsample(canvas)))
        prev = torch.cat(
            [
                normalize_points(prev_end, self.image_size) * has_prev.unsqueeze(-1),
                has_prev.unsqueeze(-1),
            ],
            -1,
        )
        return self.head(torch.cat([feats, torch.tanh(self.prev(prev.to(feats.dtype)))], -1))

    def distribution(self, raw: torch.Tensor, temperature: float = 1.0) -> BivariateGMM:
        """The start-location mixture of the net's raw outputs, at ``temperature``."""
        centre, half_width = frame(self.image_size)
        return gmm_from_raw(raw, self.num_components, half_width, centre, temperature=temperature)

    def forward(self, canvas, prev_end, has_prev, temperature: float = 1.0) -> BivariateGMM:
        """Start-location mixture given the canvas and the previous stroke's end."""
        return self.distribution(self.raw(canvas, prev_end, has_prev), temperature)
