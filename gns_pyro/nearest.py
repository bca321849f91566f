"""Nearest background image to a new concept: a novelty check for sampled types.

A sampled concept that is a near copy of a training character is memorized, not new. Images
are compared by the cosine similarity of their ink blurred with a Gaussian (``sigma`` pixels)
and pooled to 35 x 35, so strokes a few pixels apart still overlap. The features of all
background images are computed once and cached beside the processed splines
(``$GNS_PYRO_CACHE``).

Example::

    >>> from gns_pyro.nearest import BackgroundIndex
    >>> index = BackgroundIndex.load()                     # doctest: +SKIP
    >>> keys, similarity = index.nearest(images)           # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import torch
import torch.nn.functional as F

from gns_pyro.fileio import atomic_write_bytes
from gns_pyro.reading import load_tensors

#: Version of the feature definition; cached indexes of another version are rebuilt.
FEATURE_VERSION = 1


def image_features(images: torch.Tensor, sigma: float = 2.0, pool: int = 3) -> torch.Tensor:
    """Unit-norm features (B, D) of ink images (B, 105, 105): blurred, average-pooled ink."""
    x = images.to(torch.float32).unsqueeze(1)
    radius = int(3 * sigma)
    t = torch.arange(-radius, radius + 1, dtype=torch.float32)
    g = torch.exp(-0.5 * (t / sigma) ** 2)
    g = g / g.sum()
    x = F.conv2d(x, g.view(1, 1, 1, -1), padding=(0, radius))
    x = F.conv2d(x, g.view(1, 1, -1, 1), padding=(radius, 0))
    x = F.avg_pool2d(x, pool).flatten(1)
    return x / x.norm(dim=1, keepdim=True).clamp(min=1e-12)


@dataclasses.dataclass
class BackgroundIndex:
    """Features of every image of a split, with their ``alphabet/character/stem`` keys."""

    keys: list[str]
    features: torch.Tensor  # (N, D)

    @classmethod
    def build(cls, data, split: str = "background", batch: int = 2048) -> BackgroundIndex:
        """Features of every image of ``split`` of an open :class:`~gns_pyro.data.Omniglot`."""
        keys, chunks, images = [], [], []
        for item in data.images(split):
            keys.append(f"{item.alphabet}/{item.character}/{item.stem}")
            images.append(item.image)
            if len(images) == batch:
                chunks.append(image_features(torch.stack(images)))
                images = []
        if images:
            chunks.append(image_features(torch.stack(images)))
        if not keys:
            from gns_pyro.errors import DataError

            raise DataError(f"no {split} images in {data.root}")
        return cls(keys, torch.cat(chunks))

    @classmethod
    def load(
        cls,
        data_dir: str | os.PathLike | None = None,
        split: str = "background",
        cache_dir: str | os.PathLike | None = None,
    ) -> BackgroundIndex:
        """The cached index of ``split`` for this data folder, built (and cached) if missing."""
        from gns_pyro.data import Omniglot
        from gns_pyro.data.dataset import check_cache_folder, default_cache_dir

        with Omniglot(data_dir) as data:
            cache = Path(cache_dir) if cache_dir is not None else default_cache_dir()
            # keyed by the image files themselves: changed data never meets a stale index
            path = (
                cache / f"nearest-v{FEATURE_VERSION}-{split}-{data.fingerprint('images', split)}.pt"
            )
            if path.exists():
                try:
                    saved = load_tensors(path, "nearest_cache")
                    return cls(list(saved["keys"]), saved["features"])
                except Exception:  # damaged cache: rebuild
                    pass
            check_cache_folder(cache)  # before the images are read, not after
            index = cls.build(data, split)
        atomic_write_bytes(
            path, lambda tmp: torch.save({"keys": index.keys, "features": index.features}, tmp)
        )
        return index

    def nearest(self, images: torch.Tensor) -> tuple[list[int], torch.Tensor]:
        """Index into ``keys`` of each image's nearest neighbour, and the similarity (B,)."""
        similarity = image_features(images) @ self.features.T
        best, index = similarity.max(dim=1)
        return index.tolist(), best
