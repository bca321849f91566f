"""Sphinx configuration of the API reference (``sphinx-build -W -b html docs docs/_build``)."""

project = "gns-pyro"
author = "gns-pyro developers"
extensions = ["sphinx.ext.autodoc", "sphinx.ext.viewcode"]
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": True}
autodoc_member_order = "bysource"
autodoc_typehints = "description"
exclude_patterns = ["_build", "*.png"]
html_theme = "alabaster"
suppress_warnings = ["ref.python"]  # ambiguous short names across modules
