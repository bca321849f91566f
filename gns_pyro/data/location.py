"""Where the Omniglot data lives: ``--data-dir``, else ``$GNS_PYRO_DATA``, else the per-user
cache folder; and the advice every "data not found" error gives.
"""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "GNS_PYRO_DATA"
"""Environment variable naming the data folder (overridden by an explicit ``--data-dir``)."""


def download_hint(what: str | None = None) -> str:
    """The advice given with every "data not found" error."""
    option = f" --what {what}" if what else ""
    return f"run `gns-pyro data download{option}` (or pass --data-dir / set {ENV_VAR})"


def default_data_dir() -> Path:
    """The per-user cache folder used when neither ``--data-dir`` nor ``GNS_PYRO_DATA`` is given.

    ``$XDG_CACHE_HOME/gns_pyro/omniglot``, or ``~/.cache/gns_pyro/omniglot``.

    Example::

        >>> default_data_dir().name
        'omniglot'
    """
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(cache) / "gns_pyro" / "omniglot"


def resolve_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """Where the Omniglot data lives: ``data_dir`` if given, else ``$GNS_PYRO_DATA``, else
    :func:`default_data_dir`. The folder need not exist yet (``download`` creates it).

    Example::

        >>> resolve_data_dir("/tmp/omniglot")
        PosixPath('/tmp/omniglot')
    """
    if data_dir is None or str(data_dir) == "":
        data_dir = os.environ.get(ENV_VAR) or default_data_dir()
    return Path(data_dir).expanduser()
