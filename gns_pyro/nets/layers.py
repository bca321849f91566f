"""The nonlinear layers a part net is built with, by name.

``"relu"`` is what the first trained nets use: ReLU, and max-pooling in the convolution stacks.
Both are only piecewise smooth, so a log-probability through them has kinks where its second
derivative jumps, and Laplace's method (which reads curvature) sees them. The smooth choices
(``"silu"``, ``"gelu"``, ``"softplus"``) replace ReLU by that activation and max-pooling by
average pooling, which makes the nets infinitely differentiable in their inputs. Tanh layers
(smooth already) stay tanh in every choice.

Example::

    >>> activation_layer("silu")
    SiLU()
    >>> pooling_layer("silu")
    AvgPool2d(kernel_size=2, stride=2, padding=0)
"""

from __future__ import annotations

from torch import nn

#: Nonlinearities by name (see the module docstring).
ACTIVATIONS = {"relu": nn.ReLU, "silu": nn.SiLU, "gelu": nn.GELU, "softplus": nn.Softplus}

#: The activation of nets whose architecture description names none (all nets trained before
#: the choice existed); descriptions of such nets still leave it unwritten.
IMPLICIT_ACTIVATION = "relu"


def check_activation(name: str) -> str:
    """``name`` if it is one of :data:`ACTIVATIONS`.

    :raises ValueError: naming the choices.
    """
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {', '.join(ACTIVATIONS)}")
    return name


def activation_layer(name: str) -> nn.Module:
    """A new activation module of this name."""
    return ACTIVATIONS[check_activation(name)]()


def pooling_layer(name: str) -> nn.Module:
    """2x2 pooling: max for ``"relu"`` nets, average for the smooth ones."""
    check_activation(name)
    return nn.MaxPool2d(2) if name == "relu" else nn.AvgPool2d(2)


def activation_entry(name: str) -> dict:
    """The architecture-description entry naming an activation: nothing for
    :data:`IMPLICIT_ACTIVATION`, so descriptions of nets trained before the choice existed read
    as they always have."""
    return {} if check_activation(name) == IMPLICIT_ACTIVATION else {"activation": name}
