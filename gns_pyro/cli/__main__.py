"""``python -m gns_pyro.cli``: the ``gns-pyro`` command (:func:`gns_pyro.cli.main`)."""

import sys

from gns_pyro.cli import main

sys.exit(main())
