"""Classifier judges: a small CNN, a held-out split by group, accuracy with a 95% interval.

A classifier two-sample test (C2ST) trains a classifier to tell two sets of images apart and
reports its accuracy on held-out images: 50% means it cannot tell them apart, 100% that it
always can. It stands in for the "visual Turing tests" of the papers, where people judged
the drawings. :func:`two_sample_test` is the C2ST; :func:`train_judge` is the classifier
underneath, which also serves for judges with more than two classes (e.g. which alphabet a
drawing belongs to).

Both sides must reach the classifier in the same format, or it wins on format instead of
content: :func:`binarize` turns ink probabilities (the renderer's) and official images alike
into 0/1 images, and the judge then pools every image to ``settings.size`` pixels by area.

The split is by *group* (a character, say): no group has images on both sides of the split,
so a judge cannot win by recognising a character it was trained on.

Example::

    >>> real = torch.rand(200, 105, 105) > 0.9                     # doctest: +SKIP
    >>> fake = torch.rand(200, 105, 105) > 0.9                     # doctest: +SKIP
    >>> two_sample_test(real, fake).accuracy                       # doctest: +SKIP
    0.48...
"""

from __future__ import annotations

import dataclasses
import math

import torch
from torch import nn
from torch.nn import functional as F


@dataclasses.dataclass(frozen=True)
class JudgeSettings:
    """How a judge is trained.

    :param size: side the images are pooled to (by area) before the CNN reads them.
    :param epochs: passes over the training images.
    :param batch_size: images per Adam step.
    :param lr: Adam's step size.
    :param test_fraction: share of the groups held out for the accuracy.
    :param seed: seeds the split, the weights and the batches: a judge is reproducible.
    """

    size: int = 35
    epochs: int = 60
    batch_size: int = 64
    lr: float = 3e-3
    test_fraction: float = 0.3
    seed: int = 0

    def __post_init__(self):
        if not 8 <= self.size <= 128:
            raise ValueError(f"size must be in [8, 128], got {self.size}")
        if not 0.0 < self.test_fraction < 1.0:
            raise ValueError(f"test_fraction must be in (0, 1), got {self.test_fraction}")
        if self.epochs < 1 or self.batch_size < 1 or not self.lr > 0:
            raise ValueError("epochs and batch_size must be at least 1 and lr positive")


@dataclasses.dataclass(frozen=True)
class JudgeResult:
    """A judge's accuracy on its held-out images.

    :ivar accuracy: correct / tested.
    :ivar correct: held-out images classified right.
    :ivar tested: held-out images.
    :ivar interval: 95% Wilson score interval of the accuracy.
    :ivar chance: accuracy of always answering the most frequent held-out class.
    :ivar train_accuracy: accuracy on the training images (how well it learned at all); None
        for a trained judge scored on other images (:func:`judge_accuracy`).
    :ivar train_images: images it was trained on.
    """

    accuracy: float
    correct: int
    tested: int
    interval: tuple[float, float]
    chance: float
    train_accuracy: float | None
    train_images: int

    def to_json(self) -> dict:
        """The result as plain JSON values."""
        return {**dataclasses.asdict(self), "interval": list(self.interval)}


def wilson_interval(correct: int, total: int, z: float = 1.959964) -> tuple[float, float]:
    """Wilson score interval of a binomial proportion ``correct / total`` (95% by default)."""
    if total < 1 or not 0 <= correct <= total:
        raise ValueError(f"need 0 <= correct <= total and total >= 1, got {correct}/{total}")
    p = correct / total
    centre = (p + z * z / (2 * total)) / (1 + z * z / total)
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / (1 + z * z / total)
    return max(0.0, centre - half), min(1.0, centre + half)


def binarize(images: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """0/1 float images (N, H, W) from ink probabilities or bool images (ink = 1)."""
    if images.dim() != 3:
        raise ValueError(f"images must be a batch (N, H, W), got shape {tuple(images.shape)}")
    if images.dtype == torch.bool:
        return images.float()
    if not torch.isfinite(images).all():
        raise ValueError("images hold NaN or infinite values")
    return (images > threshold).float()


class JudgeNet(nn.Module):
    """Three 3x3 convolutions (16, 32, 64 channels, SiLU, the first two max-pooled), global
    average pooling and a linear read-out: small enough to train on a CPU in seconds."""

    def __init__(self, num_classes: int):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1),
            nn.SiLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1),
            nn.SiLU(),
            nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1),
            nn.SiLU(),
            nn.AdaptiveAvgPool2d(1),
        )
        self.readout = nn.Linear(64, num_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N, classes) of images (N, 1, size, size)."""
        return self.readout(self.features(x).flatten(1))


def _pooled(images: torch.Tensor, size: int) -> torch.Tensor:
    return F.adaptive_avg_pool2d(binarize(images).unsqueeze(1), size)


def _split(groups: torch.Tensor, fraction: float, generator: torch.Generator):
    """Boolean mask of held-out images: a seeded ``fraction`` of the distinct groups."""
    distinct = groups.unique()
    if len(distinct) < 2:
        raise ValueError("a judge needs at least two groups, one to train on and one to test")
    order = distinct[torch.randperm(len(distinct), generator=generator)]
    held = order[: max(1, min(len(distinct) - 1, round(fraction * len(distinct))))]
    return torch.isin(groups, held)


def held_out_groups(
    groups: torch.Tensor, settings: JudgeSettings = JudgeSettings()
) -> torch.Tensor:
    """The groups that :func:`train_judge` holds out for its accuracy with these settings
    (so a task can pick, say, examples among the groups the judge was trained on)."""
    generator = torch.Generator().manual_seed(settings.seed)
    groups = torch.as_tensor(groups)
    return groups[_split(groups, settings.test_fraction, generator)].unique()


def _accuracy(net: JudgeNet, x: torch.Tensor, y: torch.Tensor) -> tuple[int, int]:
    with torch.no_grad():
        predicted = torch.cat([net(chunk).argmax(-1) for chunk in x.split(512)])
    return int((predicted == y).sum()), len(y)


def train_judge(
    images: torch.Tensor,
    labels: torch.Tensor,
    groups: torch.Tensor | None = None,
    settings: JudgeSettings = JudgeSettings(),
) -> tuple[JudgeNet, JudgeResult]:
    """Train a judge on a seeded split of ``images`` and score it on the held-out part.

    :param images: (N, H, W) bool images or ink probabilities (binarized at 0.5).
    :param labels: (N,) class of each image, 0 .. C - 1.
    :param groups: (N,) group of each image (e.g. its character); a group is wholly on one
        side of the split. Default: every image its own group.
    :returns: the trained net (in eval mode) and its :class:`JudgeResult`.
    """
    labels = torch.as_tensor(labels, dtype=torch.long)
    if images.dim() != 3 or len(images) != len(labels):
        raise ValueError(
            f"need images (N, H, W) and N labels, got {tuple(images.shape)} and {len(labels)}"
        )
    groups = torch.arange(len(labels)) if groups is None else torch.as_tensor(groups)
    if len(groups) != len(labels):
        raise ValueError(f"{len(groups)} groups for {len(labels)} images")
    num_classes = int(labels.max()) + 1
    if num_classes < 2 or labels.min() < 0:
        raise ValueError("labels must be 0 .. C - 1 with at least two classes")
    generator = torch.Generator().manual_seed(settings.seed)
    held = _split(groups, settings.test_fraction, generator)
    x = _pooled(images, settings.size)
    x_train, y_train, x_test, y_test = x[~held], labels[~held], x[held], labels[held]
    with torch.random.fork_rng():
        torch.manual_seed(settings.seed)
        net = JudgeNet(num_classes)
    optimizer = torch.optim.Adam(net.parameters(), lr=settings.lr)
    net.train()
    for _ in range(settings.epochs):
        order = torch.randperm(len(y_train), generator=generator)
        for batch in order.split(settings.batch_size):
            optimizer.zero_grad()
            F.cross_entropy(net(x_train[batch]), y_train[batch]).backward()
            optimizer.step()
    net.eval()
    correct, tested = _accuracy(net, x_test, y_test)
    train_correct, trained = _accuracy(net, x_train, y_train)
    chance = float(torch.bincount(y_test, minlength=num_classes).max()) / tested
    return net, JudgeResult(
        accuracy=correct / tested,
        correct=correct,
        tested=tested,
        interval=wilson_interval(correct, tested),
        chance=chance,
        train_accuracy=train_correct / trained,
        train_images=trained,
    )


def judge_accuracy(
    net: JudgeNet, images: torch.Tensor, labels: torch.Tensor, settings: JudgeSettings
) -> JudgeResult:
    """Accuracy of a trained judge on other images (e.g. generated ones), with its interval."""
    labels = torch.as_tensor(labels, dtype=torch.long)
    correct, tested = _accuracy(net, _pooled(images, settings.size), labels)
    chance = float(torch.bincount(labels).max()) / tested
    return JudgeResult(
        correct / tested, correct, tested, wilson_interval(correct, tested), chance, None, 0
    )


def two_sample_test(
    real: torch.Tensor,
    generated: torch.Tensor,
    real_groups: torch.Tensor | None = None,
    generated_groups: torch.Tensor | None = None,
    settings: JudgeSettings = JudgeSettings(),
) -> JudgeResult:
    """C2ST: held-out accuracy of a judge trained to tell ``real`` from ``generated``.

    The larger side is subsampled (seeded) to the size of the smaller, so chance is 50%.
    Groups name what must not straddle the split: give the same group to a real drawing and to
    the generated ones of the same character, and a character is wholly train or wholly test.

    :param real: (N, H, W) bool images or ink probabilities.
    :param generated: (M, H, W), the same frame.
    """
    if real.shape[1:] != generated.shape[1:]:
        raise ValueError(
            f"real and generated images differ in size: {tuple(real.shape[1:])} and "
            f"{tuple(generated.shape[1:])}"
        )
    n = min(len(real), len(generated))
    if n < 4:
        raise ValueError(f"a two-sample test needs at least 4 images a side, got {n}")
    generator = torch.Generator().manual_seed(settings.seed + 1)
    real_groups = torch.arange(len(real)) if real_groups is None else torch.as_tensor(real_groups)
    if generated_groups is None:  # distinct from every real group
        generated_groups = real_groups.max() + 1 + torch.arange(len(generated))
    generated_groups = torch.as_tensor(generated_groups)
    pick_real = torch.randperm(len(real), generator=generator)[:n]
    pick_generated = torch.randperm(len(generated), generator=generator)[:n]
    images = torch.cat([binarize(real[pick_real]), binarize(generated[pick_generated])])
    labels = torch.cat([torch.zeros(n, dtype=torch.long), torch.ones(n, dtype=torch.long)])
    groups = torch.cat([real_groups[pick_real], generated_groups[pick_generated]])
    return train_judge(images, labels, groups, settings)[1]
