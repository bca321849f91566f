"""Omniglot data: download, zip/folder readers, one-shot runs, images as ink masks.

Example::

    >>> from gns_pyro.data import Omniglot
    >>> data = Omniglot()  # $GNS_PYRO_DATA or ~/.cache/gns_pyro/omniglot  # doctest: +SKIP
    >>> data.info()["one_shot_runs"]                                       # doctest: +SKIP
    20
"""

from gns_pyro.data.dataset import SplineDataset, default_cache_dir, load_spline_dataset
from gns_pyro.data.download import OFFICIAL_FILES, download_omniglot
from gns_pyro.data.fidelity import render_iou
from gns_pyro.data.images import IMAGE_SIZE, OMNIGLOT_IMAGE_SIZE, load_image
from gns_pyro.data.omniglot import (
    CharacterImage,
    Drawing,
    Omniglot,
    OneShotRun,
    default_data_dir,
    info,
    parse_strokes,
    resolve_data_dir,
)
from gns_pyro.data.preprocess import SplineSettings, drawing_to_splines

__all__ = [
    "IMAGE_SIZE",
    "OFFICIAL_FILES",
    "OMNIGLOT_IMAGE_SIZE",
    "CharacterImage",
    "Drawing",
    "Omniglot",
    "OneShotRun",
    "SplineDataset",
    "SplineSettings",
    "default_cache_dir",
    "default_data_dir",
    "download_omniglot",
    "drawing_to_splines",
    "info",
    "load_image",
    "load_spline_dataset",
    "parse_strokes",
    "render_iou",
    "resolve_data_dir",
]
